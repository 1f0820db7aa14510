import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { FUNCTIONS, FunctionBinary } from '../lib/definition';
import { functionSettings } from '../lib/settings';
import { UNSCOPED_ACTIONS, UNSCOPED_ACTION_NAMES, unscopedTableRows } from '../lib/unscoped';
import { compareGrants, grantProblems } from './grants';
import {
  allowedActions,
  identityStatements,
  Json,
  lazySynth,
  logicalId,
  REPO_ROOT,
  resourcesOfType,
  roleIdOf,
  Statement,
  statementsOfRole,
  synth,
  Synth,
} from './helpers';

const DB = 'arn:${Partition}:rds:${Region}:${Account}:db:makenaide-db';
const instance = (id: string) => `arn:\${Partition}:ec2:\${Region}:\${Account}:instance/${id}`;
const JOB_DOCUMENT = 'arn:${Partition}:ssm:${Region}:${Account}:document/${Ref:JobDocument}';

/**
 * What each function may call (besides writing its own log group): the AWS
 * operations its code declares (settings.json `operations`, generated from
 * `ports::Operation`; each handler's tests check it calls exactly those).
 */
const DECLARED: Readonly<Record<string, readonly string[]>> = functionSettings().operations;

/** With `tracing` on, Lambda's active tracing adds these to every function role (lib/unscoped.ts says why `*`). */
const TRACING_ACTIONS = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];

/**
 * Every difference between each function's declared operations and the
 * actions granted to its role in `json`: all the policies attached to that
 * role, minus the one statement every function has for its own log group
 * (sid WriteOwnLogGroup, checked on its own below).
 */
function grantProblemsOf(s: Synth, json: Json): string[] {
  const problems: string[] = [];
  for (const f of FUNCTIONS) {
    const declared = DECLARED[f.binary];
    if (!declared) {
      problems.push(`${f.binary}: no operations declared in settings.json`);
      continue;
    }
    const role = roleIdOf(json.Resources[logicalId(s.stack.functions[f.binary])]);
    const granted = allowedActions(withoutLogs(statementsOfRole(json, role)));
    const expected = [...declared, ...(s.config.tracing ? TRACING_ACTIONS : [])];
    problems.push(...grantProblems(f.binary, compareGrants(expected, granted)));
  }
  return problems;
}

function fnRole(s: Synth, binary: FunctionBinary): string {
  return roleIdOf(s.json.Resources[logicalId(s.stack.functions[binary])]);
}

function withoutLogs(statements: Statement[]): Statement[] {
  return statements.filter((st) => st.sid !== 'WriteOwnLogGroup');
}

/** The scope rules every Allow statement of the app must satisfy. */
function checkScoped(s: Synth): void {
  const ids = s.config.workerInstanceIds;
  for (const st of identityStatements(s.json)) {
    assert.equal(st.effect, 'Allow', `${st.policy}: no Deny statements expected in identity policies`);
    for (const action of st.actions) {
      assert.ok(!action.includes('*'), `${st.policy}: wildcard action ${action}`);
    }
    if (st.resources.includes('*')) {
      assert.deepEqual(st.resources, ['*'], `${st.policy}: mixes * with scoped resources`);
      for (const action of st.actions) {
        assert.ok(UNSCOPED_ACTION_NAMES.has(action), `${st.policy}: ${action} on Resource * is not on the documented unscoped list (lib/unscoped.ts)`);
      }
      if (st.actions.includes('cloudwatch:PutMetricData')) {
        assert.deepEqual(st.actions, ['cloudwatch:PutMetricData']);
        assert.deepEqual(st.condition, { StringEquals: { 'cloudwatch:namespace': s.config.metricsNamespace } });
      }
      continue;
    }
    const smId = logicalId(s.stack.stateMachine);
    // The one wildcard in a resource: the execution name in this state machine's execution ARNs.
    const ownExecutions = `arn:\${Partition}:states:\${Region}:\${Account}:execution:\${GetAtt:${smId}.Name}:*`;
    for (const r of st.resources) {
      if (r === ownExecutions) {
        assert.deepEqual(st.actions, ['states:DescribeExecution'], `${st.policy}: only DescribeExecution may use ${r}`);
        continue;
      }
      assert.ok(!r.includes('*'), `${st.policy}: resource ${r} contains a wildcard`);
    }
    for (const action of st.actions) {
      switch (action) {
        case 'rds:DescribeDBInstances':
        case 'rds:StartDBInstance':
        case 'rds:StopDBInstance':
          assert.deepEqual(st.resources, [DB.replace('makenaide-db', s.config.dbInstanceIdentifier)], `${st.policy} ${action}`);
          break;
        case 'ec2:StartInstances':
        case 'ec2:StopInstances':
          assert.deepEqual(st.resources, ids.map(instance), `${st.policy} ${action}`);
          break;
        case 'ssm:SendCommand':
          assert.deepEqual(st.resources, [JOB_DOCUMENT, ...ids.map(instance)], `${st.policy} ${action}`);
          break;
        case 'logs:CreateLogStream':
        case 'logs:PutLogEvents':
          for (const r of st.resources) assert.match(r, /^\$\{GetAtt:\w+Logs\w+\.Arn\}$/, `${st.policy}: its own log group only`);
          break;
        case 'logs:DescribeLogStreams':
          assert.deepEqual(st.resources, [`\${GetAtt:${logicalId(s.stack.jobOutputLogGroup!)}.Arn}`], `${st.policy}: the job output log group only`);
          break;
        case 'lambda:InvokeFunction': {
          const versionArns = FUNCTIONS.map((f) => `\${Ref:${logicalId(s.stack.functions[f.binary].currentVersion)}}`);
          assert.deepEqual(st.resources, versionArns, `${st.policy}: the six functions' published versions the definition names, nothing else`);
          break;
        }
        case 'states:StartExecution':
          // The triggers start the live alias only: never the bare state machine or a fixed version.
          assert.deepEqual(st.resources, [`\${GetAtt:${logicalId(s.stack.liveAlias)}.Arn}`], `${st.policy}: the live alias only`);
          break;
        case 'states:DescribeExecution':
          assert.deepEqual(st.resources, [ownExecutions], `${st.policy}: this state machine's executions only`);
          break;
        case 'dynamodb:PutItem':
        case 'dynamodb:GetItem':
        case 'dynamodb:UpdateItem':
        case 'dynamodb:DeleteItem':
          assert.deepEqual(st.resources, [`\${GetAtt:${logicalId(s.stack.leaseTable)}.Arn}`], `${st.policy} ${action}: the lease table only`);
          break;
        case 'sqs:SendMessage':
          assert.deepEqual(st.resources, [`\${GetAtt:${logicalId(s.stack.deadLetterQueue)}.Arn}`]);
          break;
        case 'sns:Publish':
          assert.deepEqual(st.resources, [`\${Ref:${logicalId(s.stack.alarmTopic)}}`], `${st.policy}: the alarm topic only (the failure notification)`);
          break;
        case 'kms:GenerateDataKey':
        case 'kms:Decrypt':
          // Only with kmsKeyArn: the failure notification to the encrypted topic (lib/encryption.ts).
          assert.ok(s.config.kmsKeyArn, `${st.policy}: ${action} without kmsKeyArn`);
          assert.deepEqual(st.resources, [s.config.kmsKeyArn], `${st.policy} ${action}: the configured key only`);
          assert.deepEqual(st.roles, [roleIdOf(resourcesOfType(s.json, 'AWS::StepFunctions::StateMachine')[0][1])], `${st.policy}: the state machine role only`);
          assert.deepEqual(st.condition?.StringEquals?.['kms:EncryptionContext:aws:sns:topicArn'], { Ref: logicalId(s.stack.alarmTopic) });
          break;
        default:
          assert.fail(`${st.policy}: ${action} has no scope rule in this test; add one (or do not grant it)`);
      }
    }
  }
}

describe('IAM least privilege', () => {
  const lazy = lazySynth();

  test('every statement is scoped; * only for the documented unscoped actions', () => checkScoped(lazy()));

  test('the same holds with tracing on, two workers and another DB', () => {
    checkScoped(
      synth({ tracing: 'true', workerInstanceIds: 'i-0123456789abcdef0,i-0fedcba987654321f', dbInstanceIdentifier: 'other-db' }),
    );
  });

  test('the same holds with the workers\' job output policy (jobOutput.workerRoleName) and a KMS key', () => {
    const s = synth({
      'jobOutput.workerRoleName': 'makenaide-worker',
      'jobOutput.kmsKeyArn': 'arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    });
    assert.ok(s.stack.jobOutputWorkerPolicy);
    checkScoped(s);
  });

  test('the same holds with kmsKeyArn: the key only for the state machine, through SNS, for the alarm topic', () => {
    checkScoped(synth({ kmsKeyArn: 'arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' }));
  });

  test('compareGrants reports every extra and every missing action', () => {
    const table: [string[], string[], { extra: string[]; missing: string[] }][] = [
      [['a:X', 'b:Y'], ['b:Y', 'a:X'], { extra: [], missing: [] }],
      [['a:X'], ['a:X', 'ssm:ListCommands'], { extra: ['ssm:ListCommands'], missing: [] }],
      [['a:X', 'b:Y'], ['a:X'], { extra: [], missing: ['b:Y'] }],
      [['a:X'], ['c:Z'], { extra: ['c:Z'], missing: ['a:X'] }],
      [[], [], { extra: [], missing: [] }],
      [['a:X', 'a:X'], ['a:X'], { extra: [], missing: [] }],
    ];
    for (const [declared, granted, want] of table) {
      assert.deepEqual(compareGrants(declared, granted), want, `${declared} vs ${granted}`);
    }
    assert.deepEqual(grantProblems('poll_ec2_state', { extra: ['ssm:ListCommands'], missing: ['ec2:StopInstances'] }), [
      'poll_ec2_state: its role is granted ssm:ListCommands, which its code does not call (settings.json operations.poll_ec2_state)',
      'poll_ec2_state: its code calls ec2:StopInstances, which its role is not granted',
    ]);
  });

  test('settings.json declares the operations of exactly the six functions', () => {
    assert.deepEqual(Object.keys(DECLARED).sort(), FUNCTIONS.map((f) => f.binary).sort());
  });

  test('each role is granted exactly the operations its function declares (default, with tracing, with kmsKeyArn)', () => {
    const s = lazy();
    assert.deepEqual(grantProblemsOf(s, s.json), []);
    const traced = synth({ tracing: 'true' });
    assert.deepEqual(grantProblemsOf(traced, traced.json), []);
    // No kms: extra: Lambda decrypts the environment with its own grant on the key, not with the role.
    const encrypted = synth({ kmsKeyArn: 'arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' });
    assert.deepEqual(grantProblemsOf(encrypted, encrypted.json), []);
  });

  test('the grant check is live: an action added to, or removed from, a copy of the template is reported', () => {
    const s = lazy();
    const widened = structuredClone(s.json);
    const role = fnRole(s, 'poll_ec2_state');
    const [policyId] = Object.entries(widened.Resources as Record<string, Json>).find(
      ([, r]) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: Json) => x.Ref === role),
    )!;
    widened.Resources[policyId].Properties.PolicyDocument.Statement.push({ Effect: 'Allow', Action: 'ssm:ListCommands', Resource: '*' });
    assert.deepEqual(grantProblemsOf(s, widened), [
      'poll_ec2_state: its role is granted ssm:ListCommands, which its code does not call (settings.json operations.poll_ec2_state)',
    ]);
    const narrowed = structuredClone(s.json);
    for (const st of narrowed.Resources[policyId].Properties.PolicyDocument.Statement) {
      if (st.Sid === 'StopTheWorkers') st.Effect = 'Deny';
    }
    assert.deepEqual(grantProblemsOf(s, narrowed), ['poll_ec2_state: its code calls ec2:StopInstances, which its role is not granted']);
  });

  test('each function writes only its own log group, with its own role', () => {
    const s = lazy();
    const roles = new Set<string>();
    for (const f of FUNCTIONS) {
      const role = fnRole(s, f.binary);
      roles.add(role);
      const statements = statementsOfRole(s.json, role);
      const logs = statements.filter((st) => st.sid === 'WriteOwnLogGroup');
      assert.equal(logs.length, 1, f.binary);
      const group = s.json.Resources[logicalId(s.stack.functions[f.binary])].Properties.LoggingConfig.LogGroup.Ref;
      assert.deepEqual(logs[0].resources, [`\${GetAtt:${group}.Arn}`], `${f.binary} writes only its own log group`);
    }
    assert.equal(roles.size, 6, 'one role per function');
  });

  test('no managed policies anywhere (no AWSLambdaBasicExecutionRole)', () => {
    const s = lazy();
    for (const [id, role] of resourcesOfType(s.json, 'AWS::IAM::Role')) {
      assert.equal(role.Properties.ManagedPolicyArns, undefined, id);
    }
  });

  test('the state machine may invoke the six functions, hold the lease, describe its own executions, notify the alarm topic, plus log delivery', () => {
    const s = lazy();
    const [[, sm]] = resourcesOfType(s.json, 'AWS::StepFunctions::StateMachine');
    const statements = statementsOfRole(s.json, roleIdOf(sm));
    const actions = allowedActions(statements);
    assert.deepEqual(
      actions,
      [
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'lambda:InvokeFunction',
        'sns:Publish',
        'states:DescribeExecution',
        ...UNSCOPED_ACTIONS.filter((a) => a.action.startsWith('logs:')).map((a) => a.action),
      ].sort(),
    );
    const table = `\${GetAtt:${logicalId(s.stack.leaseTable)}.Arn}`;
    for (const st of statements.filter((x) => x.actions.some((a) => a.startsWith('dynamodb:')))) {
      assert.deepEqual(st.resources, [table], 'the DynamoDB actions: the lease table ARN only');
      assert.ok(st.actions.every((a) => a.startsWith('dynamodb:')));
    }
    const describe = statements.filter((x) => x.actions.includes('states:DescribeExecution'));
    assert.equal(describe.length, 1);
    assert.deepEqual(describe[0].resources, [
      `arn:\${Partition}:states:\${Region}:\${Account}:execution:\${GetAtt:${logicalId(s.stack.stateMachine)}.Name}:*`,
    ]);
    assert.ok(!describe[0].resources.includes('*'));
  });

  test('only poll_ec2_state may stop instances, and only the configured workers (statement StopTheWorkers)', () => {
    const check = (s: Synth) => {
      const [[, sm]] = resourcesOfType(s.json, 'AWS::StepFunctions::StateMachine');
      const smStatements = statementsOfRole(s.json, roleIdOf(sm));
      assert.ok(
        !allowedActions(smStatements).some((a) => a.startsWith('ec2:')),
        'the state machine cannot touch EC2: poll_ec2_state stops the workers',
      );
      assert.ok(!smStatements.some((st) => st.sid === 'StopTheWorkers'), 'no StopTheWorkers statement left on the state machine role');
      const stops = identityStatements(s.json).filter((st) => st.actions.includes('ec2:StopInstances'));
      assert.equal(stops.length, 1, 'one statement in the whole app grants ec2:StopInstances');
      const [stop] = stops;
      assert.deepEqual(stop.roles, [fnRole(s, 'poll_ec2_state')], 'granted to the poll_ec2_state role only');
      assert.equal(stop.sid, 'StopTheWorkers');
      assert.equal(stop.effect, 'Allow');
      assert.deepEqual(stop.actions, ['ec2:StopInstances'], 'nothing else in that statement');
      assert.deepEqual(stop.resources, s.config.workerInstanceIds.map(instance), 'the configured worker instances, nothing else');
      assert.equal(stop.condition, undefined);
    };
    check(lazy());
    check(synth({ workerInstanceIds: 'i-0123456789abcdef0,i-0fedcba987654321f,i-89abcdef' }));
  });

  test('describing its own executions adds no circular reference: the state machine keeps its generated name', () => {
    const s = lazy();
    const smId = logicalId(s.stack.stateMachine);
    const sm = s.json.Resources[smId];
    assert.equal(sm.Properties.StateMachineName, undefined, 'no explicit name (a rename would replace the deployed state machine)');
    // The statement sits in a policy of its own, which the state machine does not depend on.
    const policyId = logicalId(s.stack.describeOwnExecutionsPolicy);
    assert.ok(!(sm.DependsOn ?? []).includes(policyId));
    assert.deepEqual(s.json.Resources[policyId].Properties.Roles, [{ Ref: roleIdOf(sm) }]);
    // What starts the workflow on its own waits for the permission.
    const triggers = [...Object.values(s.stack.guardRules), s.stack.sweeperSchedule!].map(logicalId);
    assert.equal(triggers.length, 3);
    for (const id of triggers) assert.ok(s.json.Resources[id].DependsOn?.includes(policyId), id);
  });

  test('the guard rules role: start the live alias and nothing else, trusted by EventBridge', () => {
    const s = lazy();
    const rules = resourcesOfType(s.json, 'AWS::Events::Rule');
    assert.ok(rules.length >= 1);
    const roleIds = new Set(rules.map(([, r]) => r.Properties.Targets[0].RoleArn['Fn::GetAtt'][0]));
    assert.equal(roleIds.size, 1, 'one role for the rules');
    const [roleId] = roleIds;
    const statements = statementsOfRole(s.json, roleId);
    assert.deepEqual(allowedActions(statements), ['states:StartExecution']);
    for (const st of statements) assert.deepEqual(st.resources, [`\${GetAtt:${logicalId(s.stack.liveAlias)}.Arn}`]);
    const trust = s.json.Resources[roleId].Properties.AssumeRolePolicyDocument.Statement;
    assert.deepEqual(trust.map((t: { Principal: unknown }) => t.Principal), [{ Service: 'events.amazonaws.com' }]);
  });

  test('the scheduler role (run schedule and sweeper): start this state machine, send to the DLQ; trusted only for this account', () => {
    const s = lazy();
    const schedules = resourcesOfType(s.json, 'AWS::Scheduler::Schedule');
    assert.equal(schedules.length, 2);
    const roleIds = new Set(schedules.map(([, sc]) => sc.Properties.Target.RoleArn['Fn::GetAtt'][0]));
    assert.equal(roleIds.size, 1, 'both schedules use the one scheduler role of the state machine target');
    const [roleId] = roleIds;
    assert.deepEqual(allowedActions(statementsOfRole(s.json, roleId)), ['sqs:SendMessage', 'states:StartExecution']);
    const trust = s.json.Resources[roleId].Properties.AssumeRolePolicyDocument.Statement[0];
    assert.equal(trust.Principal.Service, 'scheduler.amazonaws.com');
    assert.deepEqual(trust.Condition.StringEquals['aws:SourceAccount'], { Ref: 'AWS::AccountId' });
  });

  test("docs/security.md lists exactly the unscoped actions, with their reasons", () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'security.md'), 'utf8');
    const heading = '## Actions granted on `Resource: "*"`';
    const start = readme.indexOf(heading);
    assert.ok(start >= 0, `docs/security.md has no "${heading}" section`);
    const section = readme.slice(start + heading.length).split(/\n#{2,3} /)[0];
    const rows = section.split('\n').filter((l) => l.startsWith('| `'));
    assert.deepEqual(rows, unscopedTableRows(), `docs/security.md's table of * actions, as lib/unscoped.ts says it:\n${unscopedTableRows().join('\n')}`);
  });

  test('the unscoped list is mirrored in cdk/README.md', () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'cdk', 'README.md'), 'utf8');
    for (const a of UNSCOPED_ACTIONS) assert.ok(readme.includes(`\`${a.action}\``), `cdk/README.md does not list ${a.action}`);
  });
});
