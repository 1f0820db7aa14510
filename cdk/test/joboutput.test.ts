import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { functionSettings } from '../lib/settings';
import { identityStatements, lazySynth, logicalId, render, resourcesOfType, synth, Synth } from './helpers';

const KEY = 'arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const NAME = '/makenaide/MakenaideOrchestrator/job-output';

function jobOutputGroupId(s: Synth): string {
  assert.ok(s.stack.jobOutputLogGroup, 'no job output log group');
  return logicalId(s.stack.jobOutputLogGroup);
}

function functionEnvironments(s: Synth): Record<string, unknown>[] {
  const envs = resourcesOfType(s.json, 'AWS::Lambda::Function').map(([, fn]) => fn.Properties.Environment.Variables);
  assert.equal(envs.length, 6);
  return envs;
}

describe('job output in CloudWatch Logs (jobOutput, JOB_LOG_GROUP)', () => {
  const lazy = lazySynth();

  test('by default: a log group with the stack-derived name and the configured retention, no KMS key', () => {
    const s = lazy();
    const group = s.json.Resources[jobOutputGroupId(s)];
    assert.equal(group.Type, 'AWS::Logs::LogGroup');
    assert.equal(group.Properties.LogGroupName, NAME);
    assert.equal(group.Properties.RetentionInDays, s.config.logRetentionDays);
    assert.equal(group.Properties.KmsKeyId, undefined);
  });

  test('JOB_LOG_GROUP is the group\'s Ref in every function', () => {
    const s = lazy();
    for (const env of functionEnvironments(s)) assert.deepEqual(env.JOB_LOG_GROUP, { Ref: jobOutputGroupId(s) });
  });

  test('the stack outputs the group\'s name and ARN', () => {
    const s = lazy();
    const id = jobOutputGroupId(s);
    assert.deepEqual(s.json.Outputs.JobOutputLogGroupName.Value, { Ref: id });
    assert.deepEqual(s.json.Outputs.JobOutputLogGroupArn.Value, { 'Fn::GetAtt': [id, 'Arn'] });
  });

  test('without jobOutput.workerRoleName the stack touches no role outside it, and no function may write the group', () => {
    const s = lazy();
    assert.equal(s.stack.jobOutputWorkerPolicy, undefined);
    const arn = `\${GetAtt:${jobOutputGroupId(s)}.Arn}`;
    assert.deepEqual(identityStatements(s.json).filter((st) => st.resources.includes(arn)), []);
    for (const [id, p] of resourcesOfType(s.json, 'AWS::IAM::Policy')) {
      for (const r of p.Properties.Roles) assert.ok(typeof r === 'object' && 'Ref' in r, `${id}: attached to a role this stack does not own`);
    }
  });

  test('retention follows logRetentionDays; kmsKeyArn encrypts the group with that key', () => {
    const s = synth({ logRetentionDays: '30', 'jobOutput.kmsKeyArn': KEY });
    const group = s.json.Resources[jobOutputGroupId(s)];
    assert.equal(group.Properties.RetentionInDays, 30);
    assert.equal(group.Properties.KmsKeyId, KEY);
    // The key is imported: the stack does not (cannot) change its key policy, and grants nothing on it.
    assert.deepEqual(resourcesOfType(s.json, 'AWS::KMS::Key'), []);
    assert.ok(!identityStatements(s.json).some((st) => st.actions.some((a) => a.startsWith('kms:'))), 'no kms: action anywhere');
  });

  test('jobOutput.cloudWatch false: no log group, JOB_LOG_GROUP is "" (the functions\' default: no CloudWatch output)', () => {
    const s = synth({ 'jobOutput.cloudWatch': 'false' });
    assert.equal(s.stack.jobOutputLogGroup, undefined);
    const groups = resourcesOfType(s.json, 'AWS::Logs::LogGroup');
    assert.equal(groups.length, 7, 'six functions + the state machine');
    assert.ok(!groups.some(([, g]) => g.Properties.LogGroupName === NAME));
    const fallback = functionSettings().environment.JOB_LOG_GROUP;
    for (const env of functionEnvironments(s)) {
      assert.equal(env.JOB_LOG_GROUP, '');
      assert.equal(fallback.type === 'string' && fallback.default, env.JOB_LOG_GROUP);
    }
    assert.equal(s.json.Outputs.JobOutputLogGroupName, undefined);
    assert.equal(s.json.Outputs.JobOutputLogGroupArn, undefined);
  });

  test('jobOutput.workerRoleName: a policy on that (imported) role with exactly the agent\'s actions on that group', () => {
    const s = synth({ 'jobOutput.workerRoleName': 'makenaide-worker', 'jobOutput.kmsKeyArn': KEY });
    const policies = resourcesOfType(s.json, 'AWS::IAM::Policy').filter(([, p]) => p.Properties.Roles.includes('makenaide-worker'));
    assert.equal(policies.length, 1, 'one policy on the workers\' role');
    const [[policyId, policy]] = policies;
    assert.equal(policyId, logicalId(s.stack.jobOutputWorkerPolicy!));
    assert.deepEqual(policy.Properties.Roles, ['makenaide-worker'], 'that role only, by name');
    // The stack imports the role; it does not create or change it otherwise.
    assert.ok(!resourcesOfType(s.json, 'AWS::IAM::Role').some(([, r]) => r.Properties.RoleName === 'makenaide-worker'));
    const statements = policy.Properties.PolicyDocument.Statement.map((st: { Sid: string; Effect: string; Action: string[] | string; Resource: unknown; Condition?: unknown }) => ({
      sid: st.Sid,
      effect: st.Effect,
      actions: [st.Action].flat(),
      resources: [st.Resource].flat().map(render),
      condition: st.Condition,
    }));
    assert.deepEqual(statements, [
      {
        sid: 'WriteJobOutput',
        effect: 'Allow',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [`\${GetAtt:${jobOutputGroupId(s)}.Arn}`],
        condition: undefined,
      },
      // Lists log groups: it takes no resource (lib/unscoped.ts).
      { sid: 'Unscoped', effect: 'Allow', actions: ['logs:DescribeLogGroups'], resources: ['*'], condition: undefined },
    ]);
    // Writing to a KMS-encrypted group needs no kms: permission of the writer: the key policy lets CloudWatch Logs use the key.
    assert.ok(!statements.some((st: { actions: string[] }) => st.actions.some((a) => a.startsWith('kms:'))));
  });

  for (const [name, context] of [
    ['the workers\' role and a KMS key', { 'jobOutput.workerRoleName': 'makenaide-worker', 'jobOutput.kmsKeyArn': KEY }],
    ['no job output', { 'jobOutput.cloudWatch': 'false' }],
  ] as const) {
    test(`cdk-nag: zero unacknowledged findings (${name})`, () => {
      const s = synth(context);
      const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(s.stack);
      assert.deepEqual(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`), []);
    });
  }

  test('cdk-nag: the workers\' policy acknowledges exactly its one unscoped action, with the reason', () => {
    const s = synth({ 'jobOutput.workerRoleName': 'makenaide-worker' });
    const acks = s.stack.jobOutputWorkerPolicy!.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY);
    const entries = acks.flatMap((m) => Object.entries(m.data as Record<string, string>));
    assert.deepEqual(entries.map(([id]) => id.replace(/^annotation::/i, '')), ['AwsSolutions-IAM5[Resource::*]']);
    assert.match(entries[0][1], /logs:DescribeLogGroups/);
  });

  test('a Lambda timeout below the call budget\'s minimum fails synth naming lambda.timeoutSeconds', () => {
    const min = functionSettings().callBudget.lambdaTimeoutSeconds;
    assert.throws(() => synth({ 'lambda.timeoutSeconds': String(min - 1) }), new RegExp(`lambda\\.timeoutSeconds: ${min - 1} is below ${min}, the call budget's minimum`));
  });
});
