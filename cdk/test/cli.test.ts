import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { tempDir } from './helpers';

const CDK_DIR = path.resolve(__dirname, '..', '..');

describe('the pinned CDK CLI', () => {
  test('synthesizes the app offline, like make synth (no credentials, no Docker, no Rust build)', () => {
    const outdir = tempDir('cli');
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of ['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) delete env[k];
    Object.assign(env, {
      CDK_DISABLE_VERSION_CHECK: '1',
      CDK_DISABLE_CLI_TELEMETRY: 'true',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    });
    const cdk = path.join(CDK_DIR, 'node_modules', '.bin', 'cdk');
    const r = spawnSync(cdk, ['synth', '--quiet', '--no-notices', '-c', 'placeholderCode=true', '-o', outdir], {
      cwd: CDK_DIR,
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // A CLI older than the library's cloud assembly schema fails here.
    assert.equal(r.status, 0, r.stderr);
    // Nothing a user cannot act on: the feature flags are pinned in cdk.json (test/flags.test.ts), and
    // the one line is the example config's warning (test/examplevalues.test.ts).
    assert.doesNotMatch(r.stderr, /feature flags/);
    assert.deepEqual(r.stderr.trimEnd().split('\n'), [
      'warning: cdk/config.json still holds the example value of dbInstanceIdentifier, workerInstanceIds, jobCommands, jobWorkingDirectory: ' +
        'make deploy refuses them until you set yours',
    ]);
    const template = JSON.parse(fs.readFileSync(path.join(outdir, 'MakenaideOrchestrator.template.json'), 'utf8'));
    assert.equal(Object.keys(template.Resources).length, 61);
    // Without credentials the template is environment-agnostic.
    assert.doesNotMatch(JSON.stringify(template), /us-east-1/);
  });
});
