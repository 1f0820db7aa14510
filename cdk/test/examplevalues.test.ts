/**
 * The example values of cdk/config.json: declared once (EXAMPLE_VALUES in
 * lib/config.ts, which the committed file holds), a synth warns about them in
 * one line, a deploy (`-c deploy=true`, passed by cdk/scripts/cdk.sh deploy
 * and make deploy) refuses them naming each field and how to set it, and
 * `-c allowExampleValues=<field>,...` keeps one on purpose.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { buildApp, DEFAULT_CONFIG_FILE } from '../lib/app';
import { APP_CONTEXT_KEYS, ConfigError, EXAMPLE_FIELDS, EXAMPLE_VALUES, ExampleValuesError, exampleValueFields, validateConfig } from '../lib/config';
import { REPO_ROOT, tempDir } from './helpers';

const YOURS = {
  dbInstanceIdentifier: 'orders-db',
  workerInstanceIds: 'i-0a1b2c3d4e5f60718,i-0f1e2d3c4b5a69788',
  jobCommands: '["/opt/batch/run.sh --date today"]',
  jobWorkingDirectory: '/opt/batch',
};

function build(context: Record<string, unknown>) {
  return buildApp({ context: { placeholderCode: 'true', ...context }, outdir: tempDir('examples') });
}

function refusal(context: Record<string, unknown>): ExampleValuesError {
  try {
    build({ deploy: 'true', ...context });
  } catch (e) {
    assert.ok(e instanceof ExampleValuesError, String(e));
    return e;
  }
  assert.fail('the deploy was not refused');
}

describe('the example values of cdk/config.json', () => {
  test('the committed config.json holds exactly EXAMPLE_VALUES, and its comment names those fields', () => {
    const file = JSON.parse(fs.readFileSync(DEFAULT_CONFIG_FILE, 'utf8'));
    assert.deepEqual(EXAMPLE_FIELDS, ['dbInstanceIdentifier', 'workerInstanceIds', 'jobCommands', 'jobWorkingDirectory']);
    for (const field of EXAMPLE_FIELDS) {
      assert.deepEqual(file[field], EXAMPLE_VALUES[field], `cdk/config.json ${field} is not EXAMPLE_VALUES.${field} (lib/config.ts)`);
      assert.ok(file.$comment.includes(field), `cdk/config.json's $comment does not name ${field}`);
    }
    assert.ok(APP_CONTEXT_KEYS.includes('deploy') && APP_CONTEXT_KEYS.includes('allowExampleValues'));
  });

  test('which fields hold an example value', () => {
    const example = validateConfig({ ...EXAMPLE_VALUES });
    assert.deepEqual(exampleValueFields(example), EXAMPLE_FIELDS);
    const yours = validateConfig({
      dbInstanceIdentifier: 'orders-db',
      workerInstanceIds: ['i-0a1b2c3d4e5f60718'],
      jobCommands: ['./run_batch.sh', 'echo done'],
      jobWorkingDirectory: '/opt/batch',
    });
    assert.deepEqual(exampleValueFields(yours), [], 'a list that only contains the example command is not the example');
    // The example instance id is nobody's: among real ones it is still refused.
    const mixed = validateConfig({ ...yours, workerInstanceIds: ['i-0a1b2c3d4e5f60718', EXAMPLE_VALUES.workerInstanceIds[0]] });
    assert.deepEqual(exampleValueFields(mixed), ['workerInstanceIds']);
  });

  test('a deploy of the committed config is refused, naming each field and how to set it', () => {
    const e = refusal({});
    assert.deepEqual(e.fields, EXAMPLE_FIELDS);
    const lines = e.message.split('\n');
    assert.equal(lines[0], 'refusing to deploy the example values of cdk/config.json:');
    assert.deepEqual(lines.slice(1, 5), [
      '  - dbInstanceIdentifier: "makenaide-db" is the example: set the identifier of your RDS DB instance',
      '  - workerInstanceIds: ["i-0123456789abcdef0"] is the example: set the ids of your worker EC2 instances',
      '  - jobCommands: ["./run_batch.sh"] is the example: set your batch job\'s shell commands',
      '  - jobWorkingDirectory: "/home/ec2-user/makenaide" is the example: set the directory they run in on the workers',
    ]);
    assert.match(e.message, /Set them in cdk\/config\.json, or in a copy of it selected with make deploy CDK_ARGS="-c config=FILE"/);
    assert.match(e.message, /-c allowExampleValues=dbInstanceIdentifier/);
    assert.ok(e instanceof ConfigError, 'bin/app.ts prints it as a config error: one message, exit 1');
  });

  test('only the fields still holding an example are named; a config file is named as given', () => {
    const e = refusal({ dbInstanceIdentifier: 'orders-db', jobWorkingDirectory: '/opt/batch' });
    assert.deepEqual(e.fields, ['workerInstanceIds', 'jobCommands']);
    assert.match(e.message, /allowExampleValues=jobCommands/);
    const dir = tempDir('examples-file');
    const file = path.join(dir, 'config.prod.json');
    fs.writeFileSync(file, JSON.stringify({ ...EXAMPLE_VALUES, workerInstanceIds: ['i-0a1b2c3d4e5f60718', 'i-0123456789abcdef0'] }));
    const f = refusal({ config: file });
    assert.equal(f.message.split('\n')[0], `refusing to deploy the example values of ${file}:`);
    assert.match(f.message, /workerInstanceIds: \["i-0a1b2c3d4e5f60718","i-0123456789abcdef0"\] holds the example id i-0123456789abcdef0/);
  });

  test('a deploy of your values passes, and so does an example value you name as yours', () => {
    assert.deepEqual(build({ deploy: 'true', ...YOURS }).warnings, []);
    const kept = build({ deploy: 'true', ...YOURS, dbInstanceIdentifier: 'makenaide-db', allowExampleValues: 'dbInstanceIdentifier' });
    assert.equal(kept.config.dbInstanceIdentifier, 'makenaide-db');
    assert.deepEqual(kept.warnings, []);
    // Naming one field keeps that one only.
    assert.deepEqual(refusal({ ...YOURS, jobCommands: '["./run_batch.sh"]', dbInstanceIdentifier: 'makenaide-db', allowExampleValues: 'dbInstanceIdentifier' }).fields, ['jobCommands']);
    assert.throws(() => build({ deploy: 'true', allowExampleValues: 'dbInstanceIdentifier,workerIds' }), (e: unknown) => {
      assert.ok(e instanceof ConfigError && !(e instanceof ExampleValuesError));
      assert.match(e.message, /allowExampleValues: workerIds is not a field with an example value/);
      return true;
    });
  });

  test('a synth warns in one line and builds the template', () => {
    assert.deepEqual(build({}).warnings, [
      'cdk/config.json still holds the example value of dbInstanceIdentifier, workerInstanceIds, jobCommands, jobWorkingDirectory: ' +
        'make deploy refuses them until you set yours',
    ]);
    assert.deepEqual(build({ ...YOURS, jobWorkingDirectory: EXAMPLE_VALUES.jobWorkingDirectory }).warnings, [
      'cdk/config.json still holds the example value of jobWorkingDirectory: make deploy refuses it until you set yours',
    ]);
  });

  test('the app entry point: the warning on stderr for a synth, the refusal and exit 1 for a deploy', () => {
    const run = (context: Record<string, unknown>) =>
      spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'app.js')], {
        encoding: 'utf8',
        cwd: path.join(REPO_ROOT, 'cdk'),
        env: { ...process.env, CDK_OUTDIR: tempDir('examples-entry'), CDK_CONTEXT_JSON: JSON.stringify({ placeholderCode: 'true', ...context }) },
      });
    const synth = run({});
    assert.equal(synth.status, 0, synth.stderr);
    assert.deepEqual(synth.stderr.trimEnd().split('\n'), [
      'warning: cdk/config.json still holds the example value of dbInstanceIdentifier, workerInstanceIds, jobCommands, jobWorkingDirectory: ' +
        'make deploy refuses them until you set yours',
    ]);
    const deploy = run({ deploy: 'true' });
    assert.equal(deploy.status, 1, deploy.stderr);
    assert.match(deploy.stderr, /^error: refusing to deploy the example values of cdk\/config\.json:\n {2}- dbInstanceIdentifier: /);
    assert.doesNotMatch(deploy.stderr, /at .*\.js:\d+/, 'no stack trace');
  });

  test('cdk/scripts/cdk.sh marks a deploy, and make deploy checks the config before the release build', () => {
    const script = fs.readFileSync(path.join(REPO_ROOT, 'cdk', 'scripts', 'cdk.sh'), 'utf8');
    assert.match(script, /if \[ "\$\{1:-\}" = deploy \]; then\n\s+set -- "\$@" -c deploy=true\n\s*fi/);
    const makefile = fs.readFileSync(path.join(REPO_ROOT, 'Makefile'), 'utf8');
    const recipe = makefile.slice(makefile.indexOf('\ndeploy:')).split('\n\n')[0];
    const check = recipe.indexOf('-c deploy=true');
    assert.ok(check > 0 && check < recipe.indexOf('$(MAKE) package'), `make deploy checks the config first:\n${recipe}`);
  });
});
