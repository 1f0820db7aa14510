import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';
import { logicalId, synth } from './helpers';

/** Every acknowledgment (suppression) in the tree: construct path -> rule id -> reason. */
function acknowledgments(root: IConstruct): { path: string; id: string; reason: string }[] {
  const out: { path: string; id: string; reason: string }[] = [];
  for (const c of root.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        out.push({ path: c.node.path, id: id.replace(/^annotation::/i, ''), reason });
      }
    }
  }
  return out;
}

describe('cdk-nag AwsSolutions', () => {
  for (const [name, context] of [
    ['default config', {}],
    ['tracing, email, schedule disabled', { tracing: 'true', alarmEmail: 'ops@example.com', 'schedule.enabled': 'false' }],
    ['guards off, a set timeout', { 'guards.cleanupAfterEnd': 'false', 'guards.dbAutoStartGuard': 'false', 'guards.sweeper': 'false', stateMachineTimeoutSeconds: '30000' }],
  ] as const) {
    test(`zero unacknowledged findings (${name})`, () => {
      // synth() already ran the pack as a validation plugin (it throws on any
      // finding); validateScope reports the same findings as data.
      const s = synth(context);
      const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(s.stack);
      assert.deepEqual(
        report.violations.map((v) => `${v.ruleName} (${v.severity}) at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`),
        [],
      );
      assert.equal(report.success, true);
    });
  }

  test('the pack is live: an unacknowledged finding fails', async () => {
    const s = synth();
    const { Topic } = await import('aws-cdk-lib/aws-sns');
    new Topic(s.stack, 'NotSslOnly');
    const report = new AwsSolutionsChecks().validateScope(s.stack);
    assert.ok(report.violations.some((v) => v.ruleName === 'AwsSolutions-SNS3'));
  });

  test('every suppression is one of the reviewed ones and carries its justification', () => {
    const s = synth();
    const acks = acknowledgments(s.app);
    const stack = s.stack.stackName;
    assert.deepEqual(
      acks.map((a) => `${a.path.replace(`${stack}/`, '')} ${a.id}`).sort(),
      [
        'Ec2StartRole AwsSolutions-IAM5[Resource::*]',
        'EmitMetricsRole AwsSolutions-IAM5[Resource::*]',
        'PollEc2StateRole AwsSolutions-IAM5[Resource::*]',
        'ScheduleDeadLetterQueue AwsSolutions-SQS3',
        'SsmLaunchRole AwsSolutions-IAM5[Resource::*]',
        'StateMachine AwsSolutions-SF2',
        'StateMachine/Role AwsSolutions-IAM5[Resource::*]',
        `StateMachineDescribeOwnExecutions AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<${logicalId(s.stack.stateMachine)}.Name>:*]`,
      ].sort(),
    );
    for (const a of acks) assert.ok(a.reason.length >= 40, `${a.path} ${a.id}: the reason must explain the suppression`);
  });

  test('with tracing on, SF2 needs no suppression', () => {
    const s = synth({ tracing: 'true' });
    assert.ok(!acknowledgments(s.app).some((a) => a.id === 'AwsSolutions-SF2'));
  });

  test('the suppressions are recorded in the template for audit', () => {
    const s = synth();
    const sm = s.json.Resources[Object.keys(s.json.Resources).find((k) => s.json.Resources[k].Type === 'AWS::StepFunctions::StateMachine')!];
    const rules = sm.Metadata?.cdk_nag?.rules_to_suppress ?? [];
    assert.ok(rules.some((r: { id: string }) => r.id === 'AwsSolutions-SF2'));
  });
});
