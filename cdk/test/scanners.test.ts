/**
 * Third-party scanners on the synthesized template, as a security reviewer
 * would run them: checkov (CloudFormation checks) and parliament (IAM
 * identity policies). Both come pinned from cdk/requirements-scan.txt into
 * .venv/scanners (`make cdk-test` installs them). Every accepted finding is
 * suppressed next to what it is about, with its reason: checkov's in the
 * resource's `Metadata.checkov.skip` (lib/stack.ts, `addCheckovSkips`),
 * parliament's in `PARLIAMENT_ACCEPTED` below. Any other finding fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { Json, lazySynth, REPO_ROOT, render, resourcesOfType, synth, tempDir } from './helpers';

const SCAN_BIN = process.env.SCAN_BIN ?? path.join(REPO_ROOT, '.venv', 'scanners', 'bin');
const CHECKOV = path.join(SCAN_BIN, 'checkov');
const SCAN_PY = path.join(SCAN_BIN, 'python');

const CONFIGS: [string, Record<string, string>][] = [
  ['default config', {}],
  [
    'tracing, email, the workers\' job output policy with a KMS key, guards off',
    {
      tracing: 'true',
      alarmEmail: 'ops@example.com',
      'jobOutput.workerRoleName': 'makenaide-worker',
      'jobOutput.kmsKeyArn': 'arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      'guards.cleanupAfterEnd': 'false',
      'guards.dbAutoStartGuard': 'false',
      'guards.sweeper': 'false',
    },
  ],
  // The topic, every log group and the Lambda environments under one key: the encryption checks pass, unskipped.
  ['kmsKeyArn', { kmsKeyArn: 'arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' }],
];

// ------------------------------------------------------------------ checkov

interface CheckovCheck {
  check_id: string;
  check_name: string;
  resource: string;
  file_path: string;
  check_result: { result: string; suppress_comment?: string };
}

interface CheckovReport {
  summary: { passed: number; failed: number; skipped: number; parsing_errors: number; resource_count: number };
  results: { failed_checks?: CheckovCheck[]; skipped_checks?: CheckovCheck[] };
}

/** checkov on the given templates, offline (no Prisma Cloud download or upload). */
function checkov(files: string[]): CheckovReport[] {
  assert.ok(fs.existsSync(CHECKOV), `checkov not found at ${CHECKOV}: make cdk-test installs cdk/requirements-scan.txt`);
  const r = spawnSync(
    CHECKOV,
    ['--framework', 'cloudformation', '--output', 'json', '--quiet', '--compact', '--skip-download', ...files.flatMap((f) => ['-f', f])],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, BC_SKIP_MAPPING: 'TRUE' } },
  );
  assert.equal(r.error, undefined, String(r.error));
  // 0: no failed check, 1: some failed; anything else is a crash.
  assert.ok(r.status === 0 || r.status === 1, `checkov crashed (${r.status}): ${r.stderr}`);
  const parsed = JSON.parse(r.stdout) as CheckovReport | CheckovReport[];
  const reports = Array.isArray(parsed) ? parsed : [parsed];
  for (const rep of reports) assert.equal(rep.summary.parsing_errors, 0, 'checkov could not parse a template');
  return reports;
}

const show = (c: CheckovCheck) => `${c.check_id} ${c.resource}: ${c.check_name}`;

// --------------------------------------------------------------- parliament

const REGION = 'ap-northeast-2';
const ACCOUNT = '123456789012';

/**
 * The ARN (or name) CloudFormation would give `${GetAtt:Id.Attr}` / `${Ref:Id}`,
 * with the logical id as the physical name: parliament checks each resource
 * against the resource types its actions take, so it needs real ARN shapes.
 */
function exampleValue(json: Json, ref: string): string {
  const [id, attr] = ref.replace(/^(GetAtt|Ref):/, '').split('.');
  const type: string | undefined = json.Resources[id]?.Type;
  const arn = (service: string, rest: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${rest}`;
  const key = `${type} ${ref.startsWith('Ref:') ? 'Ref' : attr}`;
  switch (key) {
    case 'AWS::Logs::LogGroup Arn':
      return arn('logs', `log-group:${id}:*`);
    case 'AWS::Lambda::Function Arn':
      return arn('lambda', `function:${id}`);
    case 'AWS::StepFunctions::StateMachine Ref':
      return arn('states', `stateMachine:${id}`);
    case 'AWS::StepFunctions::StateMachine Name':
      return id;
    case 'AWS::DynamoDB::Table Arn':
      return arn('dynamodb', `table/${id}`);
    case 'AWS::SQS::Queue Arn':
      return arn('sqs', id);
    case 'AWS::SNS::Topic Ref':
      return arn('sns', id);
    case 'AWS::SSM::Document Ref':
      return `${id}-Job`;
    case 'AWS::Lambda::Version Ref':
      return arn('lambda', `function:${id}:1`);
    case 'AWS::StepFunctions::StateMachineAlias Arn':
      return arn('states', `stateMachine:${id}:live`);
    default:
      throw new Error(`no example value for ${ref} (${key}): add one to exampleValue`);
  }
}

/** A policy document with its intrinsics replaced by example values. */
function concrete(json: Json, v: Json): Json {
  if (Array.isArray(v)) return v.map((x) => concrete(json, x));
  if (v && typeof v === 'object') {
    if ('Ref' in v || 'Fn::GetAtt' in v || 'Fn::Join' in v || 'Fn::Sub' in v) {
      return render(v)
        .replace(/\$\{Partition\}/g, 'aws')
        .replace(/\$\{Region\}/g, REGION)
        .replace(/\$\{Account\}/g, ACCOUNT)
        .replace(/\$\{URLSuffix\}/g, 'amazonaws.com')
        .replace(/\$\{((?:GetAtt|Ref):[^}]+)\}/g, (_, ref: string) => exampleValue(json, ref));
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, concrete(json, x)]));
  }
  return v;
}

/** Every identity policy of the template (AWS::IAM::Policy and inline role policies), by name. */
function identityPolicies(json: Json): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [id, r] of resourcesOfType(json, 'AWS::IAM::Policy')) out[id] = concrete(json, r.Properties.PolicyDocument);
  for (const [id, r] of resourcesOfType(json, 'AWS::IAM::Role')) {
    for (const p of r.Properties.Policies ?? []) out[`${id}/${p.PolicyName}`] = concrete(json, p.PolicyDocument);
  }
  return out;
}

interface ParliamentFinding {
  policy: string;
  issue: string;
  severity: string;
  title: string;
  detail: Json;
  location: Json;
}

function parliament(policies: Record<string, Json>): ParliamentFinding[] {
  assert.ok(fs.existsSync(SCAN_PY), `the scanners' venv is missing (${SCAN_PY}): make cdk-test installs cdk/requirements-scan.txt`);
  const file = path.join(tempDir('parliament'), 'policies.json');
  fs.writeFileSync(file, JSON.stringify(policies));
  const r = spawnSync(SCAN_PY, [path.join(REPO_ROOT, 'cdk', 'scripts', 'parliament_policies.py'), file], { encoding: 'utf8' });
  assert.equal(r.error, undefined, String(r.error));
  assert.equal(r.status, 0, `parliament crashed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ParliamentFinding[];
}

/**
 * The parliament findings accepted, each for a reason: a finding is accepted
 * when its issue and action match, and every resource the policy grants that
 * action on matches `resources` (so the same finding on another resource
 * still fails).
 */
const PARLIAMENT_ACCEPTED: { issue: string; action: string; resources: RegExp[]; reason: string }[] = [
  {
    issue: 'RESOURCE_MISMATCH',
    action: 'states:DescribeExecution',
    resources: [/^arn:aws:states:[a-z0-9-]+:\d{12}:execution:StateMachine[0-9A-F]{8}:\*$/],
    reason:
      "parliament's action table lists only the express execution ARN for states:DescribeExecution; the Service Authorization Reference also scopes it to a standard execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<execution>), which this is",
  },
];

const list = (v: Json): Json[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function parliamentAccepted(f: ParliamentFinding, policies: Record<string, Json>): boolean {
  return list(f.detail).every((d: Json) =>
    PARLIAMENT_ACCEPTED.some((a) => {
      if (a.issue !== f.issue || d?.action !== a.action) return false;
      const granted = list(policies[f.policy]?.Statement)
        .filter((st) => list(st.Action).includes(a.action))
        .flatMap((st) => list(st.Resource) as string[]);
      return granted.length > 0 && granted.every((r) => a.resources.some((re) => re.test(r)));
    }),
  );
}

const showP = (f: ParliamentFinding) => `${f.policy}: ${f.issue} (${f.severity}) ${JSON.stringify(f.detail)} at ${JSON.stringify(f.location)}`;

// -------------------------------------------------------------------- tests

describe('checkov', () => {
  // Made on first use, inside a test: a synth error fails that test.
  const lazies = CONFIGS.map(([, context]) => lazySynth(context));
  const synths = () => lazies.map((l) => l());
  let reports: CheckovReport[] | undefined;
  const scanned = () => (reports ??= checkov(synths().map((s) => s.templateFile)));

  test('no failed check in any configuration: every accepted one is skipped on its resource with a reason', () => {
    const rs = scanned();
    assert.equal(rs.length, 1, 'one CloudFormation report for all the templates');
    const [rep] = rs;
    assert.ok(rep.summary.passed > 100, `checkov ran its checks (${rep.summary.passed} passed)`);
    assert.deepEqual((rep.results.failed_checks ?? []).map((c) => `${path.basename(path.dirname(c.file_path))} ${show(c)}`), []);
    for (const c of rep.results.skipped_checks ?? []) {
      assert.ok((c.check_result.suppress_comment ?? '').length > 20, `${show(c)}: a skip needs its reason`);
    }
  });

  test('the skips are the reviewed ones: which checks, on which resource types', () => {
    const kinds = new Set<string>();
    for (const s of synths()) {
      for (const [id, r] of Object.entries(s.json.Resources as Record<string, Json>)) {
        for (const sk of r.Metadata?.checkov?.skip ?? []) {
          assert.ok(typeof sk.comment === 'string' && sk.comment.length > 40, `${id} ${sk.id}: a skip carries its reason`);
          kinds.add(`${r.Type} ${sk.id}`);
        }
      }
    }
    assert.deepEqual([...kinds].sort(), [
      'AWS::DynamoDB::Table CKV_AWS_119',
      'AWS::Lambda::Function CKV_AWS_115',
      'AWS::Lambda::Function CKV_AWS_116',
      'AWS::Lambda::Function CKV_AWS_117',
      'AWS::Lambda::Function CKV_AWS_173',
      'AWS::Logs::LogGroup CKV_AWS_158',
      'AWS::SNS::Topic CKV_AWS_26',
      'AWS::SQS::Queue CKV_AWS_27',
    ]);
  });

  test('checkov is live: a template without the skips fails', () => {
    const s = lazies[0]();
    const bare = structuredClone(s.json);
    for (const r of Object.values(bare.Resources as Record<string, Json>)) delete r.Metadata?.checkov;
    const file = path.join(s.outdir, 'no-skips.template.json');
    fs.writeFileSync(file, JSON.stringify(bare));
    const [rep] = checkov([file]);
    assert.equal(rep.results.skipped_checks?.length ?? 0, 0);
    assert.ok((rep.results.failed_checks ?? []).some((c) => c.check_id === 'CKV_AWS_116'), 'the Lambda DLQ check fails without its skip');
  });
});

describe('parliament (identity policies)', () => {
  for (const [name, context] of CONFIGS) {
    test(`no finding besides the accepted ones (${name})`, () => {
      const policies = identityPolicies(synth(context).json);
      assert.ok(Object.keys(policies).length >= 8, 'the roles\' policies were found');
      assert.deepEqual(parliament(policies).filter((f) => !parliamentAccepted(f, policies)).map(showP), []);
    });
  }

  test('parliament is live: a statement whose resource does not fit its action is reported', () => {
    const findings = parliament({
      wrong: {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'rds:StopDBInstance', Resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0` }],
      },
    });
    assert.ok(findings.some((f) => f.issue === 'RESOURCE_MISMATCH'), findings.map(showP).join('\n'));
  });
});
