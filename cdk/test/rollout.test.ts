import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, validateConfig } from '../lib/config';
import { REVISION_KEY } from '../lib/definition';
import { LIVE_ALIAS } from '../lib/stack';
import { Json, lazySynth, logicalId, resourcesOfType, synth, Synth } from './helpers';

const VALID = {
  dbInstanceIdentifier: 'makenaide-db',
  workerInstanceIds: ['i-0123456789abcdef0'],
  jobCommands: ['./run_batch.sh'],
  jobWorkingDirectory: '/home/ec2-user/makenaide',
};

function problems(rollout: unknown): string[] {
  try {
    validateConfig({ ...VALID, rollout });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

const one = (s: Synth, type: string): [string, Json] => {
  const found = resourcesOfType(s.json, type);
  assert.equal(found.length, 1, type);
  return found[0];
};
const revisionOf = (s: Synth): string => one(s, 'AWS::StepFunctions::StateMachine')[1].Properties.DefinitionSubstitutions[REVISION_KEY];

describe('rollout: versions, the live alias, the deployment preference', () => {
  const lazy = lazySynth();

  test('each deploy publishes a version of the state machine, named by its revision', () => {
    const s = lazy();
    const [, version] = one(s, 'AWS::StepFunctions::StateMachineVersion');
    const smId = logicalId(s.stack.stateMachine);
    assert.deepEqual(version.Properties.StateMachineArn, { Ref: smId });
    // A new definition is a new revision id, so a new version.
    assert.deepEqual(version.Properties.StateMachineRevisionId, { 'Fn::GetAtt': [smId, 'StateMachineRevisionId'] });
    assert.equal(version.Properties.Description, `revision ${revisionOf(s)}`);
    assert.match(revisionOf(s), /^[0-9a-f]{12}$/);
  });

  test('the live alias points at that version, all at once by default, and is an output', () => {
    const s = lazy();
    const [aliasId, alias] = one(s, 'AWS::StepFunctions::StateMachineAlias');
    assert.equal(alias.Properties.Name, LIVE_ALIAS);
    assert.equal(alias.Properties.RoutingConfiguration, undefined);
    assert.deepEqual(alias.Properties.DeploymentPreference, {
      StateMachineVersionArn: { 'Fn::GetAtt': [logicalId(s.stack.stateMachineVersion), 'Arn'] },
      Type: 'ALL_AT_ONCE',
    });
    assert.deepEqual(s.json.Outputs.LiveAliasArn.Value, { 'Fn::GetAtt': [aliasId, 'Arn'] });
  });

  test('every trigger starts the alias, none the bare state machine', () => {
    const s = lazy();
    const aliasArn = { 'Fn::GetAtt': [logicalId(s.stack.liveAlias), 'Arn'] };
    const schedules = resourcesOfType(s.json, 'AWS::Scheduler::Schedule');
    assert.equal(schedules.length, 2);
    for (const [id, schedule] of schedules) assert.deepEqual(schedule.Properties.Target.Arn, aliasArn, id);
    const rules = resourcesOfType(s.json, 'AWS::Events::Rule');
    assert.ok(rules.length >= 2);
    for (const [id, rule] of rules) assert.deepEqual(rule.Properties.Targets.map((t: Json) => t.Arn), [aliasArn], id);
  });

  test('CANARY: percentage, interval and the three alarms that roll it back, by name', () => {
    const s = synth({ 'rollout.type': 'CANARY', 'rollout.percentage': '50', 'rollout.intervalMinutes': '1440' });
    const [, alias] = one(s, 'AWS::StepFunctions::StateMachineAlias');
    const names = ['ExecutionsFailedAlarm', 'ExecutionsTimedOutAlarm', 'RevisionRunFailedAlarm'].map((id) => {
      const found = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm').find(([logical]) => logical.startsWith(id));
      assert.ok(found, id);
      return { Ref: found[0] }; // an alarm's Ref is its name
    });
    assert.deepEqual(alias.Properties.DeploymentPreference, {
      StateMachineVersionArn: { 'Fn::GetAtt': [logicalId(s.stack.stateMachineVersion), 'Arn'] },
      Type: 'CANARY',
      Percentage: 50,
      Interval: 1440,
      Alarms: names,
    });
    // The revision alarm watches this deploy's revision only.
    const [, revisionAlarm] = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm').find(([id]) => id.startsWith('RevisionRunFailedAlarm'))!;
    assert.equal(revisionAlarm.Properties.MetricName, 'RunFailed');
    assert.deepEqual(revisionAlarm.Properties.Dimensions, [
      { Name: 'Revision', Value: revisionOf(s) },
      { Name: 'Workflow', Value: 'makenaide' },
    ]);
    const linear = synth({ 'rollout.type': 'LINEAR', 'rollout.percentage': '25', 'rollout.intervalMinutes': '360' });
    const preference = one(linear, 'AWS::StepFunctions::StateMachineAlias')[1].Properties.DeploymentPreference;
    assert.deepEqual([preference.Type, preference.Percentage, preference.Interval, preference.Alarms.length], ['LINEAR', 25, 360, 3]);
  });

  test('a bad deployment preference is a config error naming the field', () => {
    assert.deepEqual(problems({ type: 'BLUE_GREEN' }), ['rollout.type: "BLUE_GREEN" is not one of ALL_AT_ONCE, CANARY, LINEAR']);
    assert.deepEqual(problems({ type: 'CANARY', percentage: 0, intervalMinutes: 10 }), ['rollout.percentage: 0 is out of range 1..99']);
    assert.deepEqual(problems({ type: 'LINEAR', percentage: 100, intervalMinutes: 10 }), ['rollout.percentage: 100 is out of range 1..99']);
    assert.deepEqual(problems({ type: 'CANARY', percentage: 10, intervalMinutes: 2101 }), ['rollout.intervalMinutes: 2101 is out of range 1..2100']);
    assert.deepEqual(problems({ type: 'CANARY' }), [
      'rollout.percentage: required with type CANARY',
      'rollout.intervalMinutes: required with type CANARY',
    ]);
    assert.deepEqual(problems({ type: 'ALL_AT_ONCE', percentage: 10 }), ['rollout.percentage: only with type CANARY or LINEAR']);
    assert.deepEqual(problems({ type: 'CANARY', percentage: 10, intervalMinutes: 60 }), []);
    assert.deepEqual(problems(undefined), []);
  });

  test('the revision follows what runs: same code and definition, same revision; a function change, a new one', () => {
    const first = revisionOf(lazy());
    assert.equal(revisionOf(synth()), first, 'deterministic');
    assert.notEqual(revisionOf(synth({ 'lambda.memorySizeMb': '256' })), first, 'a new function configuration is a new version');
    const described = synth({ sourceRevision: 'abc1234' });
    const [, version] = one(described, 'AWS::StepFunctions::StateMachineVersion');
    assert.equal(version.Properties.Description, `revision ${revisionOf(described)} (source abc1234)`);
  });

  test('the dashboard compares revisions side by side', () => {
    const body = JSON.stringify(one(lazy(), 'AWS::CloudWatch::Dashboard')[1].Properties.DashboardBody);
    for (const name of ['RunSucceeded', 'RunFailed', 'RunDurationSeconds']) {
      assert.ok(body.includes(`{Makenaide/Orchestrator,Workflow,Revision} MetricName=\\\\\\"${name}\\\\\\"`), name);
    }
  });
});
