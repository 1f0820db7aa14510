import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { fillJobDocument, JOB_DOCUMENT_FILE, jobDocumentContent } from '../lib/jobdocument';
import { functionSettings } from '../lib/settings';
import { lazySynth, logicalId, REPO_ROOT, resourcesOfType, synth } from './helpers';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The document as the local sandbox registers it (tests/sandbox/jobdocument.py), for the same job. */
function sandboxDocument(commands: string[], workingDirectory: string): Json {
  const script = [
    'import importlib.util, json, sys',
    `spec = importlib.util.spec_from_file_location("jobdocument", ${JSON.stringify(path.join(REPO_ROOT, 'tests', 'sandbox', 'jobdocument.py'))})`,
    "module = importlib.util.module_from_spec(spec); sys.modules[\"jobdocument\"] = module; spec.loader.exec_module(module)",
    'print(json.dumps(module.load(json.loads(sys.argv[1]), sys.argv[2])))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script, JSON.stringify(commands), workingDirectory], { encoding: 'utf8' }));
}

describe('job document', () => {
  const lazy = lazySynth();
  const documents = (json: Json) => resourcesOfType(json, 'AWS::SSM::Document');

  test('the stack owns one Command document, filled from statemachine/job-document.json', () => {
    const s = lazy();
    const found = documents(s.json);
    assert.equal(found.length, 1);
    const [id, doc] = found[0];
    assert.equal(id, logicalId(s.stack.jobDocument));
    assert.equal(doc.Properties.Name, 'MakenaideOrchestrator-Job');
    assert.equal(doc.Properties.DocumentType, 'Command');
    assert.equal(doc.Properties.UpdateMethod, 'NewVersion', 'a change of the commands adds a version under the same name');
    const content: Json = doc.Properties.Content;
    assert.deepEqual(content, jobDocumentContent(s.config) as Json);
    assert.equal(content.schemaVersion, '2.2');
    const [step] = content.mainSteps;
    assert.equal(step.action, 'aws:runShellScript');
    assert.deepEqual(step.inputs.runCommand, s.config.jobCommands);
    assert.equal(step.inputs.workingDirectory, s.config.jobWorkingDirectory);
    assert.ok(!JSON.stringify(content).includes('${'), 'every placeholder is filled');
  });

  test('the only run-time parameter is the execution timeout, and every allowed job timeout passes its pattern', () => {
    const params = lazy().json.Resources[logicalId(lazy().stack.jobDocument)].Properties.Content.parameters;
    assert.deepEqual(Object.keys(params), ['executionTimeout']);
    const pattern = new RegExp(params.executionTimeout.allowedPattern);
    const env = functionSettings().environment;
    const bounds = [env.JOB_TIMEOUT_SECONDS, env.JOB_TIMEOUT_MAX_SECONDS].map((s) => {
      assert.equal(s.type, 'seconds');
      return s as { min: number; max: number };
    });
    for (const { min, max } of bounds) {
      for (const n of [min, max, Math.floor((min + max) / 2)]) assert.ok(pattern.test(String(n)), `${n} s must be sendable`);
    }
    for (const bad of ['0', '172801', '60; reboot', '', '-1', '1e3']) assert.ok(!pattern.test(bad), `${JSON.stringify(bad)} must be refused`);
  });

  test('nothing in the template can run AWS-RunShellScript or carries the commands outside the document', () => {
    const s = lazy();
    const text = JSON.stringify(s.json);
    assert.ok(!text.includes('AWS-RunShellScript'));
    for (const [, fn] of resourcesOfType(s.json, 'AWS::Lambda::Function')) {
      const env = JSON.stringify(fn.Properties.Environment.Variables);
      assert.ok(!env.includes('run_batch.sh') && !env.includes('JOB_COMMANDS'), env);
      assert.deepEqual(fn.Properties.Environment.Variables.JOB_DOCUMENT_NAME, { Ref: logicalId(s.stack.jobDocument) });
    }
  });

  test('a change of jobCommands changes the document only', () => {
    const changed = synth({ jobCommands: '["cd app","./nightly.sh --fast"]' });
    const before = lazy();
    const [, doc] = documents(changed.json)[0];
    assert.deepEqual(doc.Properties.Content.mainSteps[0].inputs.runCommand, ['cd app', './nightly.sh --fast']);
    const envs = (json: Json) => resourcesOfType(json, 'AWS::Lambda::Function').map(([, fn]) => fn.Properties.Environment);
    assert.deepEqual(envs(changed.json), envs(before.json));
  });

  test('the sandbox registers the same document from the same file', () => {
    const job = { jobCommands: ['cd app', './run.sh --flag "quoted value"'], jobWorkingDirectory: '/opt/makenaide' };
    assert.deepEqual(sandboxDocument([...job.jobCommands], job.jobWorkingDirectory), jobDocumentContent(job));
  });

  test('a placeholder the deployment does not fill is an error', () => {
    const job = { jobCommands: ['x'], jobWorkingDirectory: '/' };
    assert.throws(() => fillJobDocument({ a: '${JobCommandz}' }, job), /not a whole-value placeholder/);
    assert.throws(() => fillJobDocument({ a: ['cd ${JobWorkingDirectory}'] }, job), /not a whole-value placeholder/);
    assert.deepEqual(fillJobDocument({ $comment: 'gone', a: ['${JobWorkingDirectory}'] }, job), { a: ['/'] });
    assert.ok(JOB_DOCUMENT_FILE.endsWith(path.join('statemachine', 'job-document.json')));
  });
});
