import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JOB_TIMEOUT_MAX_OUTPUT } from '../lib/stack';
import { Json, lazySynth, resourcesOfType, synth, Synth } from './helpers';

/** JOB_TIMEOUT_MAX_SECONDS of each of the six functions. */
function deployedMax(s: Synth): string[] {
  return resourcesOfType(s.json, 'AWS::Lambda::Function').map(([, f]: [string, Json]) => f.Properties.Environment.Variables.JOB_TIMEOUT_MAX_SECONDS);
}

describe('the outputs makenaide (the operators\' CLI) reads', () => {
  const lazy = lazySynth();

  test(`${JOB_TIMEOUT_MAX_OUTPUT} is the functions' JOB_TIMEOUT_MAX_SECONDS, as deployed`, () => {
    const s = lazy();
    assert.equal(JOB_TIMEOUT_MAX_OUTPUT, 'JobTimeoutMaxSeconds', 'the CLI reads this name (cli/src/commands.rs)');
    const output = s.json.Outputs[JOB_TIMEOUT_MAX_OUTPUT];
    assert.ok(output, `no output ${JOB_TIMEOUT_MAX_OUTPUT}`);
    assert.equal(output.Value, '10800', 'cdk/config.json timeouts.jobMaxSeconds');
    assert.match(output.Description, /jobTimeoutSeconds/);
    assert.deepEqual(deployedMax(s), Array(6).fill('10800'));
  });

  test('a deployment with another bound publishes that bound', () => {
    const s = synth({ 'timeouts.jobMaxSeconds': '7200' });
    assert.equal(s.json.Outputs[JOB_TIMEOUT_MAX_OUTPUT].Value, '7200');
    assert.deepEqual(deployedMax(s), Array(6).fill('7200'));
  });

  test('the outputs the CLI finds the deployment by are there', () => {
    const outputs = lazy().json.Outputs;
    for (const key of ['StateMachineArn', 'LiveAliasArn', 'ScheduleName', 'LeaseTableName', JOB_TIMEOUT_MAX_OUTPUT]) {
      assert.ok(outputs[key], key);
    }
  });
});
