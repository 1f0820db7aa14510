import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { buildApp, RULES_FILE } from '../lib/app';
import { readRules, RulesError } from '../lib/rules';
import { Json, lazySynth, logicalId, REPO_ROOT, resourcesOfType, Synth, synth, tempDir } from './helpers';

/** statemachine/rules.json as written (read here on its own, not through lib/rules.ts). */
function rulesFile(): Json {
  return JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'statemachine', 'rules.json'), 'utf8'));
}

/** What CloudFormation must receive for a value of the file: the placeholders filled the way the stack must fill them. */
function expectedPattern(value: Json, s: Synth): Json {
  if (value === '${StateMachineArn}') return { Ref: logicalId(s.stack.stateMachine) };
  if (typeof value === 'string') {
    assert.ok(!value.includes('${StateMachineArn}') || value === '${StateMachineArn}', 'the ARN placeholder stands alone');
    return value.replaceAll('${DbInstanceIdentifier}', s.config.dbInstanceIdentifier);
  }
  if (Array.isArray(value)) return value.map((v) => expectedPattern(v, s));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expectedPattern(v, s)]));
  return value;
}

function dlqStatements(s: Synth): Json[] {
  const dlqId = logicalId(s.stack.deadLetterQueue);
  const policies = resourcesOfType(s.json, 'AWS::SQS::QueuePolicy').filter(([, p]) => p.Properties.Queues.some((q: Json) => q.Ref === dlqId));
  return policies.flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
}

describe('run lease table', () => {
  const lazy = lazySynth();

  test('one table: partition key pk (String), on-demand, point-in-time recovery, deleted with the stack', () => {
    const s = lazy();
    const tables = resourcesOfType(s.json, 'AWS::DynamoDB::Table');
    assert.equal(tables.length, 1);
    const [id, table] = tables[0];
    assert.equal(id, logicalId(s.stack.leaseTable));
    const p = table.Properties;
    assert.deepEqual(p.KeySchema, [{ AttributeName: 'pk', KeyType: 'HASH' }]);
    assert.deepEqual(p.AttributeDefinitions, [{ AttributeName: 'pk', AttributeType: 'S' }]);
    assert.equal(p.BillingMode, 'PAY_PER_REQUEST');
    assert.equal(p.ProvisionedThroughput, undefined);
    assert.deepEqual(p.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
    assert.equal(p.TableName, undefined, 'CloudFormation names it; the workflow gets the name through ${LeaseTableName}');
    assert.equal(p.GlobalSecondaryIndexes, undefined);
    // It only ever holds a transient lease.
    assert.equal(table.DeletionPolicy, 'Delete');
    assert.equal(table.UpdateReplacePolicy, 'Delete');
  });
});

describe('guard rules from statemachine/rules.json', () => {
  const lazy = lazySynth();

  test('the app reads the repository file', () => {
    assert.equal(RULES_FILE, path.join(REPO_ROOT, 'statemachine', 'rules.json'));
    assert.ok(rulesFile().rules.length >= 1);
  });

  test('one rule per entry, on the default bus, its EventPattern the file\'s with the placeholders filled', () => {
    const s = lazy();
    const file = rulesFile();
    const rules = resourcesOfType(s.json, 'AWS::Events::Rule');
    assert.equal(rules.length, file.rules.length);
    for (const r of file.rules) {
      const rule = s.json.Resources[logicalId(s.stack.guardRules[r.id])];
      assert.ok(rule, r.id);
      const p = rule.Properties;
      assert.equal(p.EventBusName, undefined, `${r.id}: the default bus`);
      assert.equal(p.State, 'ENABLED');
      assert.equal(p.Description, r.description);
      assert.equal(p.ScheduleExpression, undefined);
      assert.deepEqual(p.EventPattern, expectedPattern(r.eventPattern, s), r.id);
      assert.doesNotMatch(JSON.stringify(p.EventPattern), /\$\{/, `${r.id}: a placeholder left`);
    }
  });

  test('the patterns as they read: ended executions of THIS state machine, RDS-EVENT-0154 of THE configured DB', () => {
    const s = lazy();
    const cleanup = s.json.Resources[logicalId(s.stack.guardRules.CleanupAfterEnd)].Properties.EventPattern;
    assert.deepEqual(cleanup.detail.stateMachineArn, [{ Ref: logicalId(s.stack.stateMachine) }]);
    assert.deepEqual(cleanup['detail-type'], ['Step Functions Execution Status Change']);
    const guard = s.json.Resources[logicalId(s.stack.guardRules.DbAutoStartGuard)].Properties.EventPattern;
    assert.deepEqual(guard.detail.SourceIdentifier, ['makenaide-db']);
    const other = synth({ dbInstanceIdentifier: 'other-db' });
    const otherGuard = other.json.Resources[logicalId(other.stack.guardRules.DbAutoStartGuard)].Properties.EventPattern;
    assert.deepEqual(otherGuard.detail.SourceIdentifier, ['other-db']);
  });

  test('each target: the live alias, the file\'s input or input transformer unchanged, the rules role, the DLQ and the retry policy', () => {
    const s = lazy();
    const smRef = { 'Fn::GetAtt': [logicalId(s.stack.liveAlias), 'Arn'] };
    const dlqArn = { 'Fn::GetAtt': [logicalId(s.stack.deadLetterQueue), 'Arn'] };
    for (const r of rulesFile().rules) {
      const targets = s.json.Resources[logicalId(s.stack.guardRules[r.id])].Properties.Targets;
      assert.equal(targets.length, 1, r.id);
      const t = targets[0];
      assert.deepEqual(t.Arn, smRef, `${r.id}: targets the live alias, not the bare state machine`);
      assert.ok(t.RoleArn['Fn::GetAtt'], `${r.id}: starts it with a role`);
      assert.deepEqual(t.DeadLetterConfig, { Arn: dlqArn });
      assert.deepEqual(t.RetryPolicy, { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 });
      if (r.input) {
        assert.deepEqual(JSON.parse(t.Input), r.input, r.id);
        assert.equal(t.InputTransformer, undefined);
      } else {
        assert.deepEqual(t.InputTransformer, {
          InputPathsMap: r.inputTransformer.inputPathsMap,
          InputTemplate: r.inputTransformer.inputTemplate,
        }, r.id);
        assert.equal(t.Input, undefined);
      }
      assert.equal(t.InputPath, undefined);
    }
    const roles = new Set(rulesFile().rules.map((r: Json) => JSON.stringify(s.json.Resources[logicalId(s.stack.guardRules[r.id])].Properties.Targets[0].RoleArn)));
    assert.equal(roles.size, 1);
  });

  test('the input transformer yields the cleanup input the workflow reads', () => {
    const s = lazy();
    const t = s.json.Resources[logicalId(s.stack.guardRules.CleanupAfterEnd)].Properties.Targets[0].InputTransformer;
    // EventBridge fills <name> with the JSON value of its path (a string gets its quotes).
    const arn = 'arn:aws:states:ap-northeast-2:123456789012:execution:m:run-1';
    const values: Record<string, string> = { '$.detail.executionArn': arn, '$.detail.status': 'TIMED_OUT' };
    const filled = (t.InputTemplate as string).replace(/<([A-Za-z0-9_-]+)>/g, (_m, name: string) => JSON.stringify(values[t.InputPathsMap[name]]));
    assert.deepEqual(JSON.parse(filled), { cleanupAfter: arn, endedWith: 'TIMED_OUT' });
  });

  test('the dead-letter queue is the stack\'s one, and its policy lets each rule (and only it) send to it', () => {
    const s = lazy();
    assert.equal(resourcesOfType(s.json, 'AWS::SQS::Queue').length, 1, 'no second queue');
    const dlqArn = { 'Fn::GetAtt': [logicalId(s.stack.deadLetterQueue), 'Arn'] };
    const allows = dlqStatements(s).filter((st) => st.Effect === 'Allow');
    const sources = allows.map((st) => {
      assert.deepEqual(st.Principal, { Service: 'events.amazonaws.com' });
      assert.equal(st.Action, 'sqs:SendMessage');
      assert.deepEqual(st.Resource, dlqArn);
      return st.Condition.ArnEquals['aws:SourceArn'];
    });
    assert.deepEqual(
      sources,
      rulesFile().rules.map((r: Json) => ({ 'Fn::GetAtt': [logicalId(s.stack.guardRules[r.id]), 'Arn'] })),
    );
  });
});

describe('sweeper schedule', () => {
  const lazy = lazySynth();
  const sweeperOf = (s: Synth) => s.json.Resources[logicalId(s.stack.sweeperSchedule!)].Properties;

  test('the file\'s schedule expression and input, enabled, starting the state machine with the DLQ and retry policy', () => {
    const s = lazy();
    const file = rulesFile().sweeper;
    const p = sweeperOf(s);
    assert.equal(p.ScheduleExpression, file.scheduleExpression);
    assert.equal(p.ScheduleExpression, 'rate(1 hour)');
    assert.equal(p.State, 'ENABLED');
    assert.deepEqual(p.FlexibleTimeWindow, { Mode: 'OFF' });
    assert.deepEqual(p.Target.Arn, { 'Fn::GetAtt': [logicalId(s.stack.liveAlias), 'Arn'] }, 'the live alias');
    assert.deepEqual(JSON.parse(p.Target.Input), file.input);
    assert.deepEqual(p.Target.DeadLetterConfig, { Arn: { 'Fn::GetAtt': [logicalId(s.stack.deadLetterQueue), 'Arn'] } });
    assert.deepEqual(p.Target.RetryPolicy, { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 3 });
    assert.equal(resourcesOfType(s.json, 'AWS::Scheduler::Schedule').length, 2, 'the run schedule and the sweeper');
  });

  test('guards.sweepSchedule overrides the expression; a cron runs in schedule.timeZone', () => {
    const r = synth({ 'guards.sweepSchedule': 'rate(30 minutes)' });
    assert.equal(sweeperOf(r).ScheduleExpression, 'rate(30 minutes)');
    const c = synth({ 'guards.sweepSchedule': 'cron(15 * * * ? *)' });
    assert.equal(sweeperOf(c).ScheduleExpression, 'cron(15 * * * ? *)');
    assert.equal(sweeperOf(c).ScheduleExpressionTimezone, 'Asia/Seoul');
  });

  test('the sweeper keeps running when the run schedule is disabled', () => {
    const o = synth({ 'schedule.enabled': 'false' });
    assert.equal(sweeperOf(o).State, 'ENABLED');
  });
});

describe('guard switches', () => {
  const lazy = lazySynth();
  const ids = (s: Synth) => Object.keys(s.json.Resources);

  test('guards.cleanupAfterEnd=false removes the cleanup rule and its DLQ permission, nothing else', () => {
    const s = lazy();
    const o = synth({ 'guards.cleanupAfterEnd': 'false' });
    assert.equal(o.stack.guardRules.CleanupAfterEnd, undefined);
    assert.ok(o.stack.guardRules.DbAutoStartGuard);
    assert.deepEqual(
      ids(s).filter((id) => !ids(o).includes(id)),
      [logicalId(s.stack.guardRules.CleanupAfterEnd)],
    );
    assert.equal(dlqStatements(o).filter((st) => st.Effect === 'Allow').length, 1);
  });

  test('guards.dbAutoStartGuard=false removes the DB auto-start rule', () => {
    const s = lazy();
    const o = synth({ 'guards.dbAutoStartGuard': 'false' });
    assert.equal(o.stack.guardRules.DbAutoStartGuard, undefined);
    assert.deepEqual(ids(s).filter((id) => !ids(o).includes(id)), [logicalId(s.stack.guardRules.DbAutoStartGuard)]);
  });

  test('guards.sweeper=false removes the sweeper schedule', () => {
    const s = lazy();
    const o = synth({ 'guards.sweeper': 'false' });
    assert.equal(o.stack.sweeperSchedule, undefined);
    assert.deepEqual(ids(s).filter((id) => !ids(o).includes(id)), [logicalId(s.stack.sweeperSchedule!)]);
    assert.equal(resourcesOfType(o.json, 'AWS::Scheduler::Schedule').length, 1);
  });

  test('all off: no rule, no rules role, no sweeper; the lease, the run schedule and the alarms stay', () => {
    const o = synth({ 'guards.cleanupAfterEnd': 'false', 'guards.dbAutoStartGuard': 'false', 'guards.sweeper': 'false' });
    assert.equal(resourcesOfType(o.json, 'AWS::Events::Rule').length, 0);
    assert.equal(resourcesOfType(o.json, 'AWS::Scheduler::Schedule').length, 1);
    assert.ok(!ids(o).some((id) => id.startsWith('GuardRulesRole')));
    assert.equal(dlqStatements(o).filter((st) => st.Effect === 'Allow').length, 0);
    assert.equal(resourcesOfType(o.json, 'AWS::DynamoDB::Table').length, 1);
    assert.ok(resourcesOfType(o.json, 'AWS::CloudWatch::Alarm').some(([, a]) => a.Properties.MetricName === 'UnattendedResources'));
  });
});

describe('rules.json is checked at synth', () => {
  const dir = tempDir('rules');
  const base = () => rulesFile();
  const write = (name: string, content: Json) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
    return p;
  };
  const problemsOf = (content: Json): string[] => {
    try {
      readRules(write('r.json', content));
      return [];
    } catch (e) {
      if (!(e instanceof RulesError)) throw e;
      return e.problems;
    }
  };
  const expectProblem = (content: Json, pattern: RegExp) => {
    const found = problemsOf(content);
    assert.ok(found.some((p) => pattern.test(p)), `expected ${pattern}, got ${JSON.stringify(found)}`);
  };

  test('the committed file passes', () => {
    assert.deepEqual(problemsOf(base()), []);
  });

  test('an unknown placeholder, a typo, a missing or a double input are named', () => {
    const f = base();
    f.rules[1].eventPattern.detail.SourceIdentifier = ['${DbIdentifier}'];
    expectProblem(f, /rule DbAutoStartGuard: unknown placeholder\(s\) \$\{DbIdentifier\}/);
    const g = base();
    g.rules[0].inputTransfomer = g.rules[0].inputTransformer;
    delete g.rules[0].inputTransformer;
    expectProblem(g, /unrecognized key.*inputTransfomer/i);
    const h = base();
    h.rules[1].inputTransformer = { inputPathsMap: {}, inputTemplate: '{}' };
    expectProblem(h, /exactly one of input and inputTransformer/);
    const i = base();
    i.rules[1].id = i.rules[0].id;
    expectProblem(i, /the id is used twice/);
  });

  test('inputs must be execution input fields with values they accept', () => {
    const f = base();
    f.rules[1].input = { sweep: 'weekly' };
    expectProblem(f, /rule DbAutoStartGuard: sweep = "weekly" is not a valid choice \(scheduled, rds-auto-start\)/);
    const g = base();
    g.sweeper.input = { sweeep: 'scheduled' };
    expectProblem(g, /sweeper: sweeep is not an execution input field/);
    const h = base();
    h.rules[0].inputTransformer.inputTemplate = '{"cleanupAfter": <executionArn>, "endedWith": <state>}';
    expectProblem(h, /rule CleanupAfterEnd: inputTemplate uses <state>, which inputPathsMap does not define/);
    const i = base();
    i.rules[0].inputTransformer.inputTemplate = '{"cleanupAfter": <executionArn>, "endedWith": <status>';
    expectProblem(i, /inputTemplate is not JSON/);
    const j = base();
    j.rules[0].inputTransformer.inputTemplate = '{"cleanupAfter": <executionArn>, "dryRun": <status>}';
    expectProblem(j, /dryRun \(boolean\) cannot be taken from the event/);
  });

  test('a switch the config does not have fails synth naming it', () => {
    const f = base();
    f.rules[0].switch = 'cleanup';
    const file = write('switch.json', f);
    assert.throws(
      () => buildApp({ context: { placeholderCode: 'true', rulesFile: file }, outdir: tempDir('rules-app') }),
      (e: Error) => e instanceof RulesError && /switch cleanup: no config field guards\.cleanup/.test(e.message),
    );
  });

  test('not JSON fails naming the file', () => {
    assert.throws(() => readRules(write('bad.json', '{"rules": [')), (e: Error) => e instanceof RulesError && /bad\.json/.test(e.message));
  });
});
