import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT, synth } from './helpers';

/** cfn-lint from the repository venv (`make venv`), or $CFN_LINT. */
const CFN_LINT = process.env.CFN_LINT ?? path.join(REPO_ROOT, '.venv', 'bin', 'cfn-lint');

interface Finding {
  Level: string;
  Rule: { Id: string };
  Message: string;
  Location: { Path: unknown[] };
}

function lint(templateFile: string): Finding[] {
  assert.ok(fs.existsSync(CFN_LINT), `cfn-lint not found at ${CFN_LINT}: run make venv (make cdk-test does)`);
  const r = spawnSync(CFN_LINT, ['--format', 'json', '--regions', 'ap-northeast-2', 'us-east-1', '--', templateFile], {
    encoding: 'utf8',
  });
  assert.equal(r.error, undefined, String(r.error));
  // Exit status is a bit mask (2 errors, 4 warnings, 8 informational); anything else is a crash.
  assert.ok(r.status !== null && (r.status & ~(2 | 4 | 8)) === 0, `cfn-lint crashed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout || '[]') as Finding[];
}

/**
 * The only findings accepted, each for a reason:
 * - W3005 on a DependsOn of a function (or the state machine) on its role: CDK
 *   adds it so the role's policy exists before the function does; the
 *   redundant role half of it is harmless.
 * - W8003 on PlaceholderCodeIsNotDeployable: that rule is false on purpose
 *   (a placeholder-code template must never deploy; see lib/stack.ts).
 */
function accepted(f: Finding): boolean {
  const p = f.Location.Path;
  if (f.Rule.Id === 'W3005') return p[0] === 'Resources' && p[2] === 'DependsOn' && /Role[0-9A-F]{8}'/.test(f.Message);
  if (f.Rule.Id === 'W8003') return p[0] === 'Rules' && p[1] === 'PlaceholderCodeIsNotDeployable';
  return false;
}

describe('cfn-lint', () => {
  for (const [name, context] of [
    ['default config', {}],
    ['tracing, email, schedule disabled, two workers', {
      tracing: 'true',
      alarmEmail: 'ops@example.com',
      'schedule.enabled': 'false',
      workerInstanceIds: 'i-0123456789abcdef0,i-89abcdef',
      'guards.cleanupAfterEnd': 'false',
      'guards.sweepSchedule': 'cron(0 * * * ? *)',
    }],
    ['every guard off, a set timeout', {
      'guards.cleanupAfterEnd': 'false',
      'guards.dbAutoStartGuard': 'false',
      'guards.sweeper': 'false',
      stateMachineTimeoutSeconds: '30000',
    }],
    ['job output: the workers\' role, a KMS key, 30-day retention', {
      'jobOutput.workerRoleName': 'makenaide-worker',
      'jobOutput.kmsKeyArn': 'arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      logRetentionDays: '30',
    }],
    ['no job output log group', { 'jobOutput.cloudWatch': 'false' }],
  ] as const) {
    test(`zero errors and zero warnings (${name})`, () => {
      const s = synth(context);
      const findings = lint(s.templateFile);
      const shown = findings.filter((f) => !accepted(f)).map((f) => `${f.Level} ${f.Rule.Id} ${f.Message} at ${JSON.stringify(f.Location.Path)}`);
      assert.deepEqual(shown.filter((f) => f.startsWith('Error')), []);
      assert.deepEqual(shown.filter((f) => f.startsWith('Warning')), []);
    });
  }

  test('cfn-lint does catch errors (the check is live)', () => {
    const s = synth();
    const broken = JSON.parse(JSON.stringify(s.json));
    const fn = Object.values(broken.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>).find(
      (r) => r.Type === 'AWS::Lambda::Function',
    )!;
    fn.Properties.MemorySize = 64; // below Lambda's minimum
    const file = path.join(s.outdir, 'broken.template.json');
    fs.writeFileSync(file, JSON.stringify(broken));
    assert.ok(lint(file).some((f) => f.Level === 'Error'));
  });
});
