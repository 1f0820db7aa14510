import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import {
  GUARD_METRICS,
  METRICS,
  METRICS_NOT_PUBLISHED_METRIC,
  METRICS_NOT_PUBLISHED_PATTERN,
  SAVINGS_EXPRESSION,
} from '../lib/stack';
import { Json, lazySynth, logicalId, REPO_ROOT, resourcesOfType, synth } from './helpers';

describe('observability', () => {
  const lazy = lazySynth();

  for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted']) {
    test(`alarm on ${metric} notifies the SNS topic`, () => {
      const s = lazy();
      const smRef = { Ref: logicalId(s.stack.stateMachine) };
      const topicRef = { Ref: logicalId(s.stack.alarmTopic) };
      const alarms = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm');
      const found = alarms.filter(([, a]) => a.Properties.MetricName === metric);
      assert.equal(found.length, 1, metric);
      const p = found[0][1].Properties;
      assert.equal(p.Namespace, 'AWS/States');
      assert.deepEqual(p.Dimensions, [{ Name: 'StateMachineArn', Value: smRef }]);
      assert.equal(p.Statistic, 'Sum');
      assert.equal(p.Threshold, 1);
      assert.equal(p.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
      assert.equal(p.TreatMissingData, 'notBreaching');
      assert.deepEqual(p.AlarmActions, [topicRef]);
    });
  }

  test('alarm when the scheduler dead-letters a run', () => {
    const s = lazy();
    const topicRef = { Ref: logicalId(s.stack.alarmTopic) };
    const alarms = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm');
    const found = alarms.filter(([, a]) => a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible');
    assert.equal(found.length, 1);
    assert.deepEqual(found[0][1].Properties.AlarmActions, [topicRef]);
  });

  test('alarm on UnattendedResources: max > 0 in one hour, missing data not breaching, notifies the SNS topic', () => {
    const s = lazy();
    const found = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm').filter(([, a]) => a.Properties.MetricName === 'UnattendedResources');
    assert.equal(found.length, 1);
    const p = found[0][1].Properties;
    assert.equal(p.Namespace, 'Makenaide/Orchestrator');
    assert.deepEqual(p.Dimensions, [{ Name: 'Workflow', Value: 'makenaide' }]);
    assert.equal(p.Statistic, 'Maximum');
    assert.equal(p.Period, 3600);
    assert.equal(p.EvaluationPeriods, 1);
    assert.equal(p.Threshold, 0);
    assert.equal(p.ComparisonOperator, 'GreaterThanThreshold');
    assert.equal(p.TreatMissingData, 'notBreaching');
    assert.deepEqual(p.AlarmActions, [{ Ref: logicalId(s.stack.alarmTopic) }]);
    // Namespace and dimension follow the config.
    const o = synth({ metricsNamespace: 'Other/Ns', workflowName: 'nightly' });
    const [[, a]] = resourcesOfType(o.json, 'AWS::CloudWatch::Alarm').filter(([, x]) => x.Properties.MetricName === 'UnattendedResources');
    assert.equal(a.Properties.Namespace, 'Other/Ns');
    assert.deepEqual(a.Properties.Dimensions, [{ Name: 'Workflow', Value: 'nightly' }]);
  });

  test('the existing alarms stay, one on metrics not published and one on the revision\'s failed runs: seven in all', () => {
    const s = lazy();
    assert.deepEqual(
      resourcesOfType(s.json, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties.MetricName).sort(),
      [
        'ApproximateNumberOfMessagesVisible',
        'ExecutionsAborted',
        'ExecutionsFailed',
        'ExecutionsTimedOut',
        'MetricsNotPublished',
        'RunFailed',
        'UnattendedResources',
      ],
    );
  });

  test('a metric filter on the emit_metrics log group counts its "metrics not published" line, and an alarm watches it', () => {
    const s = lazy();
    const filters = resourcesOfType(s.json, 'AWS::Logs::MetricFilter');
    assert.equal(filters.length, 1);
    const f = filters[0][1].Properties;
    const emitLogs = s.stack.functions.emit_metrics.logGroup.node.defaultChild as unknown as Parameters<typeof logicalId>[0];
    assert.deepEqual(f.LogGroupName, { Ref: logicalId(emitLogs) });
    assert.equal(f.FilterPattern, METRICS_NOT_PUBLISHED_PATTERN);
    assert.deepEqual(f.MetricTransformations, [
      {
        MetricNamespace: 'Makenaide/Orchestrator',
        MetricName: METRICS_NOT_PUBLISHED_METRIC,
        MetricValue: '1',
        Dimensions: [{ Key: 'Workflow', Value: '$.fields.workflow' }],
      },
    ]);
    // The pattern matches what the function really logs: its level and the
    // message constant of functions/emit_metrics/src/handler.rs (whose test
    // checks the JSON line has these fields).
    const handler = fs.readFileSync(path.join(REPO_ROOT, 'functions/emit_metrics/src/handler.rs'), 'utf8');
    const message = /pub const METRICS_NOT_PUBLISHED: &str = "([^"]+)";/.exec(handler);
    assert.ok(message, 'METRICS_NOT_PUBLISHED in emit_metrics');
    assert.ok(METRICS_NOT_PUBLISHED_PATTERN.includes(`$.fields.message = "${message[1]}"`), METRICS_NOT_PUBLISHED_PATTERN);
    assert.ok(METRICS_NOT_PUBLISHED_PATTERN.includes('$.level = "ERROR"'));
    assert.ok(handler.includes('workflow = %settings.metrics.workflow_name'), 'the line carries the Workflow dimension');

    const [[, alarm]] = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm').filter(([, a]) => a.Properties.MetricName === METRICS_NOT_PUBLISHED_METRIC);
    const p = alarm.Properties;
    assert.equal(p.Namespace, 'Makenaide/Orchestrator');
    assert.deepEqual(p.Dimensions, [{ Name: 'Workflow', Value: 'makenaide' }]);
    assert.equal(p.Statistic, 'Sum');
    assert.equal(p.Threshold, 1);
    assert.equal(p.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
    assert.equal(p.TreatMissingData, 'notBreaching');
    assert.deepEqual(p.AlarmActions, [{ Ref: logicalId(s.stack.alarmTopic) }]);
  });

  test('the topic is SSL-only and has no subscription unless alarmEmail is set', () => {
    const s = lazy();
    assert.equal(resourcesOfType(s.json, 'AWS::SNS::Subscription').length, 0);
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
    const o = synth({ alarmEmail: 'ops@example.com' });
    o.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });

  test('the dashboard shows executions, duration, per-step durations, job outcome and dollars saved per day', () => {
    const s = lazy();
    const [[, dash]] = resourcesOfType(s.json, 'AWS::CloudWatch::Dashboard');
    const body = resolveBody(dash.Properties.DashboardBody);
    const widgets: Json[] = JSON.parse(body).widgets;
    const titles = widgets.map((w) => w.properties.title);
    for (const t of ['Executions', 'Run duration (seconds)', 'Per-step durations (seconds)', 'Job outcome (runs)', 'Dollars per day (USD)']) {
      assert.ok(titles.includes(t), `dashboard widget ${t}`);
    }
    const metricsOf = (title: string): Json[][] => widgets.find((w) => w.properties.title === title).properties.metrics;
    const names = (title: string) => metricsOf(title).map((m) => m[1]);
    assert.deepEqual(
      new Set(names('Executions')),
      new Set(['ExecutionsStarted', 'ExecutionsSucceeded', 'ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted']),
    );
    // Every emit_metrics metric is on the dashboard, in the configured namespace with the Workflow dimension.
    const custom = widgets
      .flatMap((w) => w.properties.metrics ?? [])
      .filter((m: Json[]) => m[0] === 'Makenaide/Orchestrator');
    const customNames = new Set<string>();
    for (const m of custom) {
      assert.equal(m[2], 'Workflow');
      assert.equal(m[3], 'makenaide');
      customNames.add(m[1]);
    }
    for (const name of [...METRICS.count, ...METRICS.seconds, ...METRICS.none]) {
      assert.ok(customNames.has(name), `dashboard lacks ${name}`);
    }
    for (const name of GUARD_METRICS) assert.ok(customNames.has(name), `dashboard lacks ${name}`);
    const guards = widgets.find((w) => w.properties.title === 'Guards: skipped runs and unattended resources').properties.metrics;
    const statOf = (name: string) => guards.find((m: Json[]) => m[1] === name).at(-1).stat;
    assert.equal(statOf('RunSkipped'), 'Sum');
    assert.equal(statOf('UnattendedResources'), 'Maximum');
    assert.ok(!customNames.has('SavedUsd'), 'no per-run savings: they belong to a period');
  });

  test('the dashboard computes savings per period with the expression docs/dollars.md documents', () => {
    const s = lazy();
    const [[, dash]] = resourcesOfType(s.json, 'AWS::CloudWatch::Dashboard');
    const widgets: Json[] = JSON.parse(resolveBody(dash.Properties.DashboardBody)).widgets;
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'dollars.md'), 'utf8');
    assert.ok(readme.includes(`\`${SAVINGS_EXPRESSION}\``), `docs/dollars.md documents ${SAVINGS_EXPRESSION}`);
    const metricsOf = (title: string): Json[][] => widgets.find((w) => w.properties.title === title).properties.metrics;
    const optionsOf = (rows: Json[][], pick: (o: Json) => boolean) => rows.map((m) => m[m.length - 1]).filter(pick);

    for (const [title, period] of [
      ['Dollars per day (USD)', 86400],
      ['Saved in the selected time range (USD; pick the month)', 2592000],
    ] as const) {
      const rows = metricsOf(title);
      const [saved] = optionsOf(rows, (o) => o.expression === SAVINGS_EXPRESSION);
      assert.ok(saved, `${title}: the savings expression`);
      // Its two inputs: the runs' cost summed, the always-on rate averaged, in the same period.
      const input = (id: string): Json[] => {
        const found = rows.find((m) => m[m.length - 1].id === id);
        assert.ok(found, `${title}: metric ${id}`);
        return found;
      };
      const cost = input('cost');
      const rate = input('rate');
      assert.equal(cost[1], 'RunCostUsd');
      assert.equal(cost[cost.length - 1].stat, 'Sum');
      assert.equal(rate[1], 'AlwaysOnUsdPerHour');
      // CDK leaves out `stat` for Average, the dashboard's default.
      assert.equal(rate[rate.length - 1].stat ?? 'Average', 'Average');
      for (const m of [cost, rate]) assert.equal(m[m.length - 1].period, period, title);
    }
    // The month (or any range) on the daily graph: the running sum of the daily savings.
    const running = optionsOf(metricsOf('Dollars per day (USD)'), (o) => typeof o.expression === 'string' && o.expression.startsWith('RUNNING_SUM('));
    assert.equal(running.length, 1);
    const single = widgets.find((w) => w.properties.title === 'Saved in the selected time range (USD; pick the month)');
    assert.equal(single.properties.setPeriodToTimeRange, true);
  });

  test('the metric names are the contract names', () => {
    assert.deepEqual([...METRICS.count], ['RunSucceeded', 'RunFailed']);
    assert.deepEqual(
      [...METRICS.seconds],
      ['RunDurationSeconds', 'RdsReadySeconds', 'Ec2ReadySeconds', 'JobDurationSeconds', 'RdsRunningSeconds', 'Ec2RunningSeconds'],
    );
    assert.deepEqual([...METRICS.none], ['RunCostUsd', 'AlwaysOnUsdPerHour']);
    assert.deepEqual([...GUARD_METRICS], ['RunSkipped', 'UnattendedResources']);
  });
});

/** The dashboard body is an Fn::Join of strings and references; references become placeholders. */
function resolveBody(body: Json): string {
  if (typeof body === 'string') return body;
  const parts: Json[] = body['Fn::Join'][1];
  return parts.map((p) => (typeof p === 'string' ? p : 'REF')).join('');
}
