import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { FUNCTIONS } from '../lib/definition';
import { lazySynth, logicalId, resourcesOfType, synth } from './helpers';

// The contract (statemachine/README.md): every function gets the same environment.
const CONTRACT_VARIABLES = [
  'DB_INSTANCE_IDENTIFIER',
  'WORKER_INSTANCE_IDS',
  'JOB_DOCUMENT_NAME',
  'JOB_LOG_GROUP',
  'JOB_TIMEOUT_SECONDS',
  'JOB_TIMEOUT_MAX_SECONDS',
  'RDS_READY_TIMEOUT_SECONDS',
  'EC2_READY_TIMEOUT_SECONDS',
  'RDS_STOP_DEADLINE_SECONDS',
  'LAUNCH_WINDOW_SECONDS',
  'RDS_POLL_SECONDS',
  'EC2_POLL_SECONDS',
  'JOB_POLL_SECONDS',
  'RDS_STOP_POLICY',
  'EC2_STOP_POLICY',
  'METRICS_NAMESPACE',
  'WORKFLOW_NAME',
  'SCHEDULE_INTERVAL_HOURS',
  'PRICE_OVERRIDES',
].sort();

describe('functions', () => {
  const lazy = lazySynth();
  const fns = () => resourcesOfType(lazy().json, 'AWS::Lambda::Function');

  test('exactly six functions, one per workspace binary', () => {
    const s = lazy();
    assert.equal(fns().length, 6);
    assert.deepEqual(
      FUNCTIONS.map((f) => f.binary).sort(),
      ['ec2_start', 'emit_metrics', 'poll_ec2_state', 'rds_check', 'rds_stop', 'ssm_launch'],
    );
    for (const f of FUNCTIONS) assert.ok(s.json.Resources[logicalId(s.stack.functions[f.binary])], f.binary);
  });

  test('arm64, provided.al2023, bootstrap handler, 128 MB, timeout in seconds', () => {
    for (const [id, fn] of fns()) {
      const p = fn.Properties;
      assert.deepEqual(p.Architectures, ['arm64'], id);
      assert.equal(p.Runtime, 'provided.al2023', id);
      assert.equal(p.Handler, 'bootstrap', id);
      assert.equal(p.MemorySize, 128, id);
      assert.equal(p.Timeout, 20, id);
      assert.equal(p.TracingConfig, undefined, `${id}: tracing is opt-in`);
    }
  });

  test('JSON log format into an explicit log group with 7-day retention', () => {
    const s = lazy();
    for (const [id, fn] of fns()) {
      const logging = fn.Properties.LoggingConfig;
      assert.equal(logging.LogFormat, 'JSON', id);
      const groupId = logging.LogGroup.Ref;
      assert.ok(groupId, `${id}: LoggingConfig.LogGroup must reference a log group of this stack`);
      const group = s.json.Resources[groupId];
      assert.equal(group.Type, 'AWS::Logs::LogGroup');
      assert.equal(group.Properties.RetentionInDays, 7, `${id}: log group retention`);
    }
    // Eight groups: six functions + the state machine + the job output, every one retention-bound.
    const groups = resourcesOfType(s.json, 'AWS::Logs::LogGroup');
    assert.equal(groups.length, 8);
    for (const [id, g] of groups) assert.equal(g.Properties.RetentionInDays, 7, id);
  });

  test('all six get the same environment, exactly the contract variables', () => {
    const s = lazy();
    const envs = fns().map(([, fn]) => fn.Properties.Environment.Variables);
    for (const env of envs) {
      assert.deepEqual(Object.keys(env).sort(), CONTRACT_VARIABLES);
      assert.deepEqual(env, envs[0]);
    }
    assert.deepEqual(envs[0], {
      DB_INSTANCE_IDENTIFIER: s.config.dbInstanceIdentifier,
      WORKER_INSTANCE_IDS: s.config.workerInstanceIds.join(','),
      JOB_DOCUMENT_NAME: { Ref: logicalId(s.stack.jobDocument) },
      JOB_LOG_GROUP: { Ref: logicalId(s.stack.jobOutputLogGroup!) },
      JOB_TIMEOUT_SECONDS: '3600',
      JOB_TIMEOUT_MAX_SECONDS: '10800',
      RDS_READY_TIMEOUT_SECONDS: '1800',
      EC2_READY_TIMEOUT_SECONDS: '900',
      RDS_STOP_DEADLINE_SECONDS: '14400',
      LAUNCH_WINDOW_SECONDS: '7200',
      RDS_POLL_SECONDS: '30',
      EC2_POLL_SECONDS: '15',
      JOB_POLL_SECONDS: '60',
      RDS_STOP_POLICY: 'always',
      EC2_STOP_POLICY: 'always',
      METRICS_NAMESPACE: 'Makenaide/Orchestrator',
      WORKFLOW_NAME: 'makenaide',
      SCHEDULE_INTERVAL_HOURS: '4',
      PRICE_OVERRIDES: '{}',
    });
  });

  test('config maps onto the environment (overrides, lists, JSON values)', () => {
    const o = synth({
      workerInstanceIds: 'i-0123456789abcdef0,i-89abcdef',
      jobCommands: '["cd app","./run.sh --fast"]',
      rdsStopPolicy: 'leave-as-found',
      ec2StopPolicy: 'leave-as-found',
      'timeouts.jobSeconds': '5400',
      'timeouts.rdsStopSeconds': '3600',
      'timeouts.launchWindowSeconds': '5400',
      'pollSeconds.job': '20',
      priceOverrides: '{"t3.medium":0.052,"db.t3.micro":0.025}',
      workflowName: 'nightly',
      metricsNamespace: 'Team/Batch',
      scheduleIntervalHours: '6',
      'schedule.cron': '0 0,6,12,18 * * ? *',
      'lambda.memorySizeMb': '256',
    });
    o.template.allResourcesProperties('AWS::Lambda::Function', {
      MemorySize: 256,
      Environment: {
        Variables: Match.objectLike({
          WORKER_INSTANCE_IDS: 'i-0123456789abcdef0,i-89abcdef',
          RDS_STOP_POLICY: 'leave-as-found',
          EC2_STOP_POLICY: 'leave-as-found',
          JOB_TIMEOUT_SECONDS: '5400',
          RDS_STOP_DEADLINE_SECONDS: '3600',
          LAUNCH_WINDOW_SECONDS: '5400',
          JOB_POLL_SECONDS: '20',
          PRICE_OVERRIDES: '{"t3.medium":0.052,"db.t3.micro":0.025}',
          WORKFLOW_NAME: 'nightly',
          METRICS_NAMESPACE: 'Team/Batch',
          SCHEDULE_INTERVAL_HOURS: '6',
        }),
      },
    });
  });

  test('ec2StopPolicy reaches every function as EC2_STOP_POLICY, independently of rdsStopPolicy', () => {
    const o = synth({ ec2StopPolicy: 'leave-as-found' });
    const envs = resourcesOfType(o.json, 'AWS::Lambda::Function').map(([, fn]) => fn.Properties.Environment.Variables);
    assert.equal(envs.length, 6);
    for (const env of envs) {
      assert.equal(env.EC2_STOP_POLICY, 'leave-as-found');
      assert.equal(env.RDS_STOP_POLICY, 'always');
    }
  });

  test('tracing: true turns on active tracing for the functions', () => {
    const t = synth({ tracing: 'true' });
    t.template.allResourcesProperties('AWS::Lambda::Function', { TracingConfig: { Mode: 'Active' } });
  });

  test('placeholder synth carries a rule that makes CloudFormation refuse to deploy it', () => {
    const s = lazy();
    const rule = s.json.Rules?.PlaceholderCodeIsNotDeployable;
    assert.ok(rule, 'the placeholder template must not be deployable');
    assert.deepEqual(rule.Assertions[0].Assert, { 'Fn::Equals': ['placeholder-code', 'deployable-code'] });
  });
});
