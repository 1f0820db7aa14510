import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { lazySynth, logicalId, resourcesOfType, synth } from './helpers';

describe('schedule', () => {
  const lazy = lazySynth();

  test('cron every 4 hours from 01:00 in Asia/Seoul, enabled, starts the state machine with {}', () => {
    const s = lazy();
    const schedule = resourcesOfType(s.json, 'AWS::Scheduler::Schedule')[0][1];
    const p = schedule.Properties;
    assert.equal(p.ScheduleExpression, 'cron(0 1,5,9,13,17,21 * * ? *)');
    assert.equal(p.ScheduleExpressionTimezone, 'Asia/Seoul');
    assert.equal(p.State, 'ENABLED');
    assert.deepEqual(p.FlexibleTimeWindow, { Mode: 'OFF' });
    assert.deepEqual(p.Target.Arn, { 'Fn::GetAtt': [logicalId(s.stack.liveAlias), 'Arn'] }, 'the live alias');
    assert.equal(p.Target.Input, '{}');
  });

  test('retry policy and a dead-letter queue', () => {
    const s = lazy();
    const schedule = resourcesOfType(s.json, 'AWS::Scheduler::Schedule')[0][1];
    const dlqId = logicalId(s.stack.deadLetterQueue);
    const t = schedule.Properties.Target;
    assert.deepEqual(t.RetryPolicy, { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 3 });
    assert.deepEqual(t.DeadLetterConfig, { Arn: { 'Fn::GetAtt': [dlqId, 'Arn'] } });
  });

  test('the DLQ is encrypted and SSL-only', () => {
    const s = lazy();
    const dlqId = logicalId(s.stack.deadLetterQueue);
    assert.equal(s.json.Resources[dlqId].Properties.SqsManagedSseEnabled, true);
    s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: dlqId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sqs:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  test('time zone, cron, input and retries come from config', () => {
    const o = synth({
      'schedule.cron': '30 2 ? * MON-FRI *',
      'schedule.timeZone': 'Europe/Berlin',
      'schedule.input': '{"dryRun":true}',
      'schedule.retryAttempts': '0',
      scheduleIntervalHours: '24',
    });
    const [[, p]] = resourcesOfType(o.json, 'AWS::Scheduler::Schedule');
    assert.equal(p.Properties.ScheduleExpression, 'cron(30 2 ? * MON-FRI *)');
    assert.equal(p.Properties.ScheduleExpressionTimezone, 'Europe/Berlin');
    assert.equal(p.Properties.Target.Input, '{"dryRun":true}');
    assert.equal(p.Properties.Target.RetryPolicy.MaximumRetryAttempts, 0);
  });

  test('can be disabled by config', () => {
    const o = synth({ 'schedule.enabled': 'false' });
    const [[, p]] = resourcesOfType(o.json, 'AWS::Scheduler::Schedule');
    assert.equal(p.Properties.State, 'DISABLED');
  });

  test('a cron that disagrees with scheduleIntervalHours is flagged at synth', () => {
    const s = lazy();
    assert.deepEqual(Annotations.fromStack(s.stack).findWarning('*', Match.stringLikeRegexp('scheduleIntervalHours')), []);
    const o = synth({ 'schedule.cron': '0 */6 * * ? *' });
    const warnings = Annotations.fromStack(o.stack).findWarning('*', Match.stringLikeRegexp('scheduleIntervalHours is 4'));
    assert.equal(warnings.length, 1);
  });
});
