import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { buildApp } from '../lib/app';
import { CLEANUP_MARGIN_SECONDS, executionTimeoutSeconds } from '../lib/config';
import {
  ALARM_TOPIC_KEY,
  DefinitionError,
  deriveDefinition,
  FUNCTIONS,
  lambdaTaskTimeoutSeconds,
  LEASE_TABLE_KEY,
  placeholders,
  REVISION_KEY,
  SUBSTITUTION_KEYS,
  WORKER_IDS_KEY,
} from '../lib/definition';
import {
  allowedActions,
  allStates,
  deployedDefinition,
  derivedTimeout,
  functionArnOf,
  lazySynth,
  logicalId,
  readRealDefinition,
  render,
  resourcesOfType,
  roleIdOf,
  statementsOfRole,
  substitute,
  synth,
  tempDir,
} from './helpers';

describe('state machine', () => {
  const lazy = lazySynth();
  const stateMachine = () => resourcesOfType(lazy().json, 'AWS::StepFunctions::StateMachine')[0];

  test('one Standard state machine', () => {
    const s = lazy();
    const sm = stateMachine()[1];
    assert.equal(resourcesOfType(s.json, 'AWS::StepFunctions::StateMachine').length, 1);
    assert.equal(sm.Properties.StateMachineType, 'STANDARD');
  });

  test('the definition comes from the file as an S3 asset with DefinitionSubstitutions', () => {
    const sm = stateMachine()[1];
    assert.ok(sm.Properties.DefinitionS3Location, 'DefinitionBody.fromFile stages the file as an asset');
    assert.equal(sm.Properties.DefinitionString, undefined);
    assert.deepEqual(Object.keys(sm.Properties.DefinitionSubstitutions).sort(), [...SUBSTITUTION_KEYS].sort());
  });

  test('the deployed definition equals the file, with TimeoutSeconds set from config', () => {
    const s = lazy();
    const smId = stateMachine()[0];
    const real = readRealDefinition();
    const { text } = deployedDefinition(s, smId);
    const expected = { ...real.json, TimeoutSeconds: executionTimeoutSeconds(s.config) };
    assert.deepEqual(JSON.parse(text), expected);
    // The committed config leaves it to the derivation.
    assert.equal(s.config.stateMachineTimeoutSeconds, null);
    assert.equal(JSON.parse(text).TimeoutSeconds, derivedTimeout(s.config));
  });

  test('substitutions: each function key is that function\'s published version, WorkerInstanceIds the configured ids, LeaseTableName the table', () => {
    const s = lazy();
    const sm = stateMachine()[1];
    const subs = sm.Properties.DefinitionSubstitutions;
    for (const f of FUNCTIONS) {
      const version = s.stack.functions[f.binary].currentVersion;
      assert.deepEqual(subs[f.key], { Ref: logicalId(version) }, `${f.key}: a version ARN, never $LATEST`);
      const resource = s.json.Resources[logicalId(version)];
      assert.equal(resource.Type, 'AWS::Lambda::Version');
      assert.deepEqual(resource.Properties.FunctionName, { Ref: logicalId(s.stack.functions[f.binary]) });
      assert.equal(resource.DeletionPolicy, 'Retain', 'a run in flight on an older workflow version still finds its function version');
    }
    assert.match(subs[REVISION_KEY], /^[0-9a-f]{12}$/);
    assert.equal(subs[WORKER_IDS_KEY], s.config.workerInstanceIds.join(','));
    assert.deepEqual(subs[LEASE_TABLE_KEY], { Ref: logicalId(s.stack.leaseTable) });
  });

  test('the file uses only known substitutions, every one except LeaseTableName, and that one exactly when it has DynamoDB tasks', () => {
    // LeaseTableName arrived with the run lease; a definition without lease
    // tasks (as the file was before) may leave it out, the app passes it anyway.
    const real = readRealDefinition();
    const used = placeholders(real.text);
    assert.deepEqual(used.filter((p) => !SUBSTITUTION_KEYS.includes(p)), [], 'unknown placeholders');
    assert.deepEqual(SUBSTITUTION_KEYS.filter((k) => k !== LEASE_TABLE_KEY && !used.includes(k)), [], 'unused substitutions');
    const dynamoTasks = allStates(real.json).filter(([, st]) => st.Type === 'Task' && String(st.Resource).startsWith('arn:aws:states:::dynamodb:'));
    assert.equal(used.includes(LEASE_TABLE_KEY), dynamoTasks.length > 0);
  });

  test('every DynamoDB task works on the lease table, and only on it', () => {
    const s = lazy();
    const [smId] = stateMachine();
    const { text, substitutions } = deployedDefinition(s, smId);
    const asl = JSON.parse(substitute(text, substitutions));
    const table = logicalId(s.stack.leaseTable); // its name, once CloudFormation substitutes it
    let tasks = 0;
    for (const [name, st] of allStates(asl)) {
      if (st.Type !== 'Task' || !String(st.Resource).startsWith('arn:aws:states:::dynamodb:')) continue;
      const args = st.Parameters ?? st.Arguments ?? {};
      assert.equal(args.TableName, table, `state ${name}: TableName`);
      assert.equal(args['TableName.$'], undefined, `state ${name}: a table from the state`);
      tasks++;
    }
    // Before the lease tasks land in the definition there are none to check.
    assert.equal(tasks > 0, readRealDefinition().text.includes('${LeaseTableName}'));
  });

  test('with substitutions applied: valid JSON, nothing left to substitute, each function is a Task resource', () => {
    const s = lazy();
    const smId = stateMachine()[0];
    const real = readRealDefinition();
    const { text, substitutions } = deployedDefinition(s, smId);
    const applied = substitute(text, substitutions);
    assert.equal(placeholders(applied).length, 0);
    const asl = JSON.parse(applied);
    // Equal to the file with the same substitutions applied.
    assert.deepEqual(asl, { ...JSON.parse(substitute(real.text, substitutions)), TimeoutSeconds: executionTimeoutSeconds(s.config) });

    const taskTargets = new Set<string>();
    for (const [, st] of allStates(asl)) {
      if (st.Type !== 'Task') continue;
      taskTargets.add(st.Resource);
      if (String(st.Resource).startsWith('arn:aws:states:::lambda:invoke')) {
        const fn = st.Parameters?.FunctionName ?? st.Arguments?.FunctionName;
        if (fn) taskTargets.add(fn);
      }
    }
    for (const f of FUNCTIONS) {
      const arn = functionArnOf(substitutions[f.key]);
      assert.ok(taskTargets.has(arn), `${f.binary} (${arn}) is not the resource of any Task state`);
    }
  });

  test('every Task the definition runs is allowed by the state machine role', () => {
    const s = lazy();
    const smId = stateMachine()[0];
    const sm = stateMachine()[1];
    const { text, substitutions } = deployedDefinition(s, smId);
    const asl = JSON.parse(substitute(text, substitutions));
    const allowed = allowedActions(statementsOfRole(s.json, roleIdOf(sm)));
    const fnArns = new Set(FUNCTIONS.map((f) => functionArnOf(substitutions[f.key])));
    // The IAM prefix of an SDK integration's service name, where they differ.
    const iamPrefix: Record<string, string> = { sfn: 'states' };
    for (const [name, st] of allStates(asl)) {
      if (st.Type !== 'Task') continue;
      const resource = String(st.Resource);
      const sdk = /^arn:aws:states:::(?:aws-sdk:)?([a-z0-9]+):([A-Za-z0-9]+)(\.\w+)?$/.exec(resource);
      if (fnArns.has(resource) || resource.startsWith('arn:aws:states:::lambda:invoke')) {
        assert.ok(allowed.includes('lambda:InvokeFunction'), name);
      } else if (sdk) {
        // aws-sdk:<service>:<action> and the optimized integrations such as dynamodb:putItem.
        const action = `${iamPrefix[sdk[1]] ?? sdk[1]}:${sdk[2][0].toUpperCase()}${sdk[2].slice(1)}`;
        assert.ok(allowed.includes(action), `state ${name} calls ${action}, which the state machine role does not allow`);
      } else {
        assert.fail(`state ${name}: unexpected Task resource ${resource}`);
      }
    }
  });

  test('the failure notification: published to the alarm topic, which is the only topic the role may publish to', () => {
    const s = lazy();
    const [smId, sm] = stateMachine();
    const topic = logicalId(s.stack.alarmTopic);
    assert.deepEqual(sm.Properties.DefinitionSubstitutions[ALARM_TOPIC_KEY], { Ref: topic });
    const { text, substitutions } = deployedDefinition(s, smId);
    const asl = JSON.parse(substitute(text, substitutions));
    const publishers = allStates(asl).filter(([, st]) => st.Type === 'Task' && st.Resource === 'arn:aws:states:::sns:publish');
    assert.deepEqual(publishers.map(([name]) => name), ['Cleanup: notify']);
    for (const [name, st] of publishers) {
      assert.equal(st.Parameters.TopicArn, topic, `${name}: TopicArn`);
      assert.equal(st.Parameters['Subject.$'], '$.metrics.notification.subject');
      assert.equal(st.Parameters['Message.$'], '$.metrics.notification.message');
    }
    const statements = statementsOfRole(s.json, roleIdOf(sm)).filter(
      (st) => st.effect === 'Allow' && st.actions.some((a) => a.toLowerCase().startsWith('sns:')),
    );
    assert.deepEqual(
      statements.map((st) => [st.actions, st.resources]),
      [[['sns:Publish'], [render({ Ref: topic })]]],
    );
    // The alarms stay: they still notify the same topic.
    const alarms = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm');
    assert.ok(alarms.length > 0);
    for (const [, alarm] of alarms) assert.deepEqual(alarm.Properties.AlarmActions, [{ Ref: topic }]);
  });

  test('logs to its own retention-bound log group, level ALL, no execution data', () => {
    const s = lazy();
    const sm = stateMachine()[1];
    const cfg = sm.Properties.LoggingConfiguration;
    assert.equal(cfg.Level, 'ALL');
    assert.equal(cfg.IncludeExecutionData, false);
    const groupId = cfg.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
    assert.equal(s.json.Resources[groupId].Type, 'AWS::Logs::LogGroup');
    assert.equal(s.json.Resources[groupId].Properties.RetentionInDays, 7);
    const fnGroups = resourcesOfType(s.json, 'AWS::Lambda::Function').map(([, f]) => f.Properties.LoggingConfig.LogGroup.Ref);
    assert.ok(!fnGroups.includes(groupId), 'the state machine has its own log group');
  });

  test('X-Ray tracing is off by default and opt-in by config', () => {
    const sm = stateMachine()[1];
    assert.deepEqual(sm.Properties.TracingConfiguration, { Enabled: false });
    const t = synth({ tracing: 'true', logExecutionData: 'true' });
    const [[, tsm]] = resourcesOfType(t.json, 'AWS::StepFunctions::StateMachine');
    assert.deepEqual(tsm.Properties.TracingConfiguration, { Enabled: true });
    assert.equal(tsm.Properties.LoggingConfiguration.IncludeExecutionData, true);
  });

  test('the configured overall timeout lands in the deployed definition', () => {
    const configured = derivedTimeout(lazy().config) + 1000;
    const t = synth({ stateMachineTimeoutSeconds: String(configured) });
    const [[id]] = resourcesOfType(t.json, 'AWS::StepFunctions::StateMachine');
    assert.equal(JSON.parse(deployedDefinition(t, id).text).TimeoutSeconds, configured);
  });

  test('synth refuses a configured timeout that would let the state machine time out before the Lambda deadlines', () => {
    const derived = derivedTimeout(lazy().config);
    assert.throws(() => synth({ stateMachineTimeoutSeconds: String(derived) }), new RegExp(`stateMachineTimeoutSeconds: ${derived} must exceed ${derived} `));
    assert.throws(
      () => synth({ stateMachineTimeoutSeconds: String(derived + 1), 'timeouts.jobMaxSeconds': '13000' }),
      new RegExp(`stateMachineTimeoutSeconds: ${derived + 1} must exceed ${derived + (13000 - 10800)} `),
    );
    assert.throws(
      () => synth({ stateMachineTimeoutSeconds: String(derived + 1), 'timeouts.rdsStopSeconds': '15000' }),
      new RegExp(`stateMachineTimeoutSeconds: ${derived + 1} must exceed ${derived + (15000 - 14400)} `),
    );
    assert.doesNotThrow(() => synth({ stateMachineTimeoutSeconds: String(derived + 1) }));
  });

  test('synth refuses a launch window longer than the execution timeout, naming both fields', () => {
    const derived = derivedTimeout(lazy().config);
    assert.throws(
      () => synth({ 'timeouts.launchWindowSeconds': String(derived + 1) }),
      new RegExp(`timeouts\\.launchWindowSeconds: ${derived + 1} exceeds the execution timeout, stateMachineTimeoutSeconds \\(${derived}`),
    );
    assert.doesNotThrow(() => synth({ 'timeouts.launchWindowSeconds': String(derived) }));
  });

  test('unset, the timeout is derived from the deadlines: above their sum, and it follows each of them', () => {
    const s = lazy();
    const [smId] = stateMachine();
    const deployed = JSON.parse(deployedDefinition(s, smId).text).TimeoutSeconds;
    const { timeouts: t, pollSeconds: p } = s.config;
    // The DB start, the workers' start, the job, the workers' stop (bounded by ec2ReadySeconds too) and the DB stop.
    const deadlines = t.rdsReadySeconds + t.ec2ReadySeconds + t.jobMaxSeconds + t.ec2ReadySeconds + t.rdsStopSeconds;
    assert.equal(deployed, derivedTimeout(s.config));
    assert.equal(deployed, deadlines + (p.rds + p.ec2 + p.job + p.ec2 + p.rds) + CLEANUP_MARGIN_SECONDS);
    assert.ok(
      deployed > deadlines + p.rds + p.ec2 + p.job + p.ec2 + p.rds,
      'room for every deadline, the workers\' stop and the DB stop included, and each loop\'s last poll',
    );

    const derivedFrom = (context: Record<string, unknown>) => {
      const other = synth(context);
      const [[id]] = resourcesOfType(other.json, 'AWS::StepFunctions::StateMachine');
      const timeout = JSON.parse(deployedDefinition(other, id).text).TimeoutSeconds;
      assert.equal(timeout, derivedTimeout(other.config), JSON.stringify(context));
      return timeout;
    };
    assert.equal(derivedFrom({ 'timeouts.jobMaxSeconds': '13000' }), deployed + (13000 - 10800));
    assert.equal(derivedFrom({ 'timeouts.rdsStopSeconds': '3600' }), deployed - (14400 - 3600));
    // -c stateMachineTimeoutSeconds=null goes back to the derivation.
    assert.equal(derivedFrom({ stateMachineTimeoutSeconds: 'null', 'pollSeconds.job': '120' }), deployed + 60);
    // pollSeconds.rds paces both the DB start and the DB stop loop.
    assert.equal(derivedFrom({ 'pollSeconds.rds': '60' }), deployed + 2 * (60 - 30));
    // timeouts.ec2ReadySeconds bounds both the workers' start and their stop; pollSeconds.ec2 paces both loops.
    assert.equal(derivedFrom({ 'timeouts.ec2ReadySeconds': '1200', 'pollSeconds.ec2': '30' }), deployed + 2 * (1200 - 900) + 2 * (30 - 15));
    // The launch window does not change it.
    assert.equal(derivedFrom({ 'timeouts.launchWindowSeconds': '600' }), deployed);
  });
});

describe('definition file handling', () => {
  const dir = tempDir('asl');
  const write = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };

  test('TimeoutSeconds is replaced, or added when the file has none', () => {
    const p = write('a.json', '{"StartAt":"A","TimeoutSeconds":21600,"States":{"A":{"Type":"Pass","End":true}}}');
    assert.equal(JSON.parse(deriveDefinition(p, 999)).TimeoutSeconds, 999);
    const q = write('b.json', '{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}');
    assert.equal(JSON.parse(deriveDefinition(q, 998)).TimeoutSeconds, 998);
  });

  test('an unknown placeholder fails synth naming it', () => {
    const p = write('c.json', '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${RdsChekFunctionArn}","End":true}}}');
    assert.throws(() => deriveDefinition(p, 100), (e: Error) => e instanceof DefinitionError && /\$\{RdsChekFunctionArn\}/.test(e.message));
  });

  test('a placeholder outside a string (invalid JSON) fails synth', () => {
    const p = write('d.json', '{"StartAt":"A","TimeoutSeconds":${Timeout},"States":{}}');
    assert.throws(() => deriveDefinition(p, 100), /not valid JSON/);
  });

  test('a Lambda timeout not below the Task TimeoutSeconds fails synth naming lambda.timeoutSeconds', () => {
    const p = write('e.json', JSON.stringify({
      StartAt: 'A',
      States: { A: { Type: 'Task', Resource: '${RdsCheckFunctionArn}', TimeoutSeconds: 15, End: true } },
    }));
    assert.equal(lambdaTaskTimeoutSeconds(JSON.parse(fs.readFileSync(p, 'utf8'))), 15);
    assert.throws(
      () => buildApp({ context: { placeholderCode: 'true', definitionFile: p }, outdir: dir }),
      /lambda\.timeoutSeconds: 20 must be below 15/,
    );
    assert.throws(() => synth({ 'lambda.timeoutSeconds': '30' }), /lambda\.timeoutSeconds: 30 must be below 30/);
  });

  test('a missing definition file fails synth naming the file', () => {
    assert.throws(
      () => buildApp({ context: { placeholderCode: 'true', definitionFile: path.join(dir, 'missing.json') }, outdir: dir }),
      /missing\.json: cannot read it/,
    );
  });
});
