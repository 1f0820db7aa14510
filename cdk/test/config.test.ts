import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULT_CONFIG_FILE } from '../lib/app';
import {
  checkCron,
  checkScheduleExpression,
  configDefaults,
  configFieldPaths,
  ConfigError,
  cronIntervalHours,
  environmentSize,
  executionTimeoutSeconds,
  FUNCTION_SETTINGS,
  guardSwitches,
  jobOutputLogGroupName,
  lambdaEnvironment,
  loadConfig,
  STACK_SET_VARIABLES,
  validateConfig,
} from '../lib/config';
import { readRules } from '../lib/rules';
import { functionSettings, SETTINGS_FILE } from '../lib/settings';
import { derivedTimeout, REPO_ROOT, synth, tempDir } from './helpers';

const VALID = {
  dbInstanceIdentifier: 'makenaide-db',
  workerInstanceIds: ['i-0123456789abcdef0'],
  jobCommands: ['./run_batch.sh'],
  jobWorkingDirectory: '/home/ec2-user/makenaide',
};

/** Validation problems of VALID with `patch` applied ([] when it passes). */
function problems(patch: Record<string, unknown>, remove: string[] = []): string[] {
  const raw: Record<string, unknown> = { ...VALID, ...patch };
  for (const k of remove) delete raw[k];
  try {
    validateConfig(raw);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems;
  }
}

function assertProblem(patch: Record<string, unknown>, field: string, pattern: RegExp, remove: string[] = []): void {
  const found = problems(patch, remove);
  assert.ok(
    found.some((p) => p.startsWith(`${field}: `) && pattern.test(p)),
    `expected a problem naming ${field} matching ${pattern}, got ${JSON.stringify(found)}`,
  );
}

describe('config validation', () => {
  test('the four required fields are enough; the rest defaults to the contract defaults', () => {
    const c = validateConfig({ ...VALID });
    assert.equal(c.timeouts.jobSeconds, 3600);
    assert.equal(c.timeouts.jobMaxSeconds, 10800);
    assert.equal(c.timeouts.rdsReadySeconds, 1800);
    assert.equal(c.timeouts.ec2ReadySeconds, 900);
    assert.equal(c.timeouts.rdsStopSeconds, 14400);
    assert.equal(c.timeouts.launchWindowSeconds, 7200);
    assert.deepEqual(c.pollSeconds, { rds: 30, ec2: 15, job: 60 });
    assert.equal(c.rdsStopPolicy, 'always');
    assert.equal(c.ec2StopPolicy, 'always');
    assert.equal(c.metricsNamespace, 'Makenaide/Orchestrator');
    assert.equal(c.workflowName, 'makenaide');
    assert.equal(c.scheduleIntervalHours, 4);
    assert.deepEqual(c.schedule, {
      enabled: true,
      cron: '0 1,5,9,13,17,21 * * ? *',
      timeZone: 'Asia/Seoul',
      input: {},
      retryAttempts: 3,
      maximumEventAgeSeconds: 3600,
    });
    assert.equal(c.logRetentionDays, 7);
    assert.equal(c.tracing, false);
    assert.equal(c.alarmEmail, null);
    assert.deepEqual(c.lambda, { memorySizeMb: 128, timeoutSeconds: 20, architecture: 'arm64' });
    // Unset: derived from the deadlines, the workers' and the DB stop deadlines included.
    assert.equal(c.stateMachineTimeoutSeconds, null);
    assert.equal(executionTimeoutSeconds(c), derivedTimeout(c));
    // 1800 + 900 + 10800 + 900 (the workers' stop) + 14400 + (30 + 15 + 60 + 15 + 30) + 900
    assert.equal(executionTimeoutSeconds(c), 29850);
    const t = c.timeouts;
    assert.ok(
      executionTimeoutSeconds(c) > t.rdsReadySeconds + t.ec2ReadySeconds + t.jobMaxSeconds + t.ec2ReadySeconds + t.rdsStopSeconds,
      'room for every deadline, the workers\' stop and the DB stop included',
    );
    assert.deepEqual(c.guards, { cleanupAfterEnd: true, dbAutoStartGuard: true, sweeper: true, sweepSchedule: 'rate(1 hour)' });
  });

  test('stateMachineTimeoutSeconds: unset or null is derived, a configured one is used as it is', () => {
    const defaults = validateConfig({ ...VALID, stateMachineTimeoutSeconds: null });
    const derived = derivedTimeout(defaults);
    assert.equal(executionTimeoutSeconds(defaults), derived);
    assert.equal(executionTimeoutSeconds(validateConfig({ ...VALID, stateMachineTimeoutSeconds: derived + 1000 })), derived + 1000);
    // The derived timeout follows every part.
    assert.equal(executionTimeoutSeconds(validateConfig({ ...VALID, timeouts: { jobMaxSeconds: 7200 } })), derived - (10800 - 7200));
    assert.equal(executionTimeoutSeconds(validateConfig({ ...VALID, timeouts: { rdsStopSeconds: 3600 } })), derived - (14400 - 3600));
    assert.equal(executionTimeoutSeconds(validateConfig({ ...VALID, pollSeconds: { rds: 60 } })), derived + 2 * (60 - 30), 'the DB start and stop loops');
    // The workers' start and stop loops: each waits up to timeouts.ec2ReadySeconds and polls every pollSeconds.ec2.
    assert.equal(executionTimeoutSeconds(validateConfig({ ...VALID, timeouts: { ec2ReadySeconds: 1200 } })), derived + 2 * (1200 - 900));
    assert.equal(executionTimeoutSeconds(validateConfig({ ...VALID, pollSeconds: { ec2: 30 } })), derived + 2 * (30 - 15), 'the worker start and stop loops');
    // A configured one keeps its check, which counts the workers' and the DB stop deadlines.
    assert.deepEqual(problems({ stateMachineTimeoutSeconds: derived + 1 }), []);
    assertProblem({ stateMachineTimeoutSeconds: derived }, 'stateMachineTimeoutSeconds', new RegExp(`${derived} must exceed ${derived} = .*timeouts\\.rdsStopSeconds \\(14400\\)`));
    assertProblem(
      { stateMachineTimeoutSeconds: derived },
      'stateMachineTimeoutSeconds',
      /timeouts\.ec2ReadySeconds again, for the workers' stop \(900\)/,
    );
    assertProblem(
      { stateMachineTimeoutSeconds: derived + 1, timeouts: { ec2ReadySeconds: 901 } },
      'stateMachineTimeoutSeconds',
      new RegExp(`${derived + 1} must exceed ${derived + 2} `),
    );
    // A config set between the old derivation (without the workers' stop) and the new one is now refused.
    assertProblem({ stateMachineTimeoutSeconds: 28936 }, 'stateMachineTimeoutSeconds', /28936 must exceed 29850 /);
    assertProblem(
      { stateMachineTimeoutSeconds: derived + 1, timeouts: { jobMaxSeconds: 13000 } },
      'stateMachineTimeoutSeconds',
      new RegExp(`${derived + 1} must exceed ${derived + 13000 - 10800} `),
    );
    assertProblem(
      { stateMachineTimeoutSeconds: derived + 1, timeouts: { rdsStopSeconds: 14401 } },
      'stateMachineTimeoutSeconds',
      new RegExp(`${derived + 1} must exceed ${derived + 1} `),
    );
    // A config set below the old derivation (without the DB stop deadline) is now refused.
    assertProblem({ stateMachineTimeoutSeconds: 16200 }, 'stateMachineTimeoutSeconds', /16200 must exceed/);
    assert.deepEqual(problems({ timeouts: { jobMaxSeconds: 13000, rdsStopSeconds: 86400 } }), [], 'the derived timeout follows the deadlines');
    assert.deepEqual(problems({ stateMachineTimeoutSeconds: 'long' }), ['stateMachineTimeoutSeconds: expected an integer, got "long"']);
    const c = loadConfig({ file: DEFAULT_CONFIG_FILE, context: { stateMachineTimeoutSeconds: 'null' } });
    assert.equal(c.stateMachineTimeoutSeconds, null);
  });

  test('guards: three switches and the sweeper schedule, whose default is the one in statemachine/rules.json', () => {
    assert.deepEqual(guardSwitches(), ['cleanupAfterEnd', 'dbAutoStartGuard', 'sweeper']);
    const rules = readRules();
    assert.deepEqual([...rules.rules.map((r) => r.switch), rules.sweeper.switch].sort(), [...guardSwitches()].sort());
    assert.equal(validateConfig({ ...VALID }).guards.sweepSchedule, rules.sweeper.scheduleExpression);
    assert.equal(checkScheduleExpression(rules.sweeper.scheduleExpression), undefined);
    const c = validateConfig({ ...VALID, guards: { sweeper: false, sweepSchedule: 'cron(15 * * * ? *)' } });
    assert.deepEqual(c.guards, { cleanupAfterEnd: true, dbAutoStartGuard: true, sweeper: false, sweepSchedule: 'cron(15 * * * ? *)' });
    const o = loadConfig({ file: DEFAULT_CONFIG_FILE, context: { 'guards.cleanupAfterEnd': 'false', 'guards.sweepSchedule': 'rate(30 minutes)' } });
    assert.equal(o.guards.cleanupAfterEnd, false);
    assert.equal(o.guards.sweepSchedule, 'rate(30 minutes)');
  });

  test('guards: each field is checked and named', () => {
    assert.deepEqual(problems({ guards: { sweeper: 'yes' } }), ['guards.sweeper: expected true (deploy it) or false (leave it out), got "yes"']);
    assertProblem({ guards: { cleanupAfterEnd: 0 } }, 'guards.cleanupAfterEnd', /true .* or false/);
    assertProblem({ guards: { dbAutoStartGuard: null } }, 'guards.dbAutoStartGuard', /true .* or false/);
    assertProblem({ guards: { sweepSchedule: 3600 } }, 'guards.sweepSchedule', /expected a schedule expression string, got 3600/);
    assertProblem({ guards: { sweep: false } }, 'guards.sweep', /unknown config field/);
    assertProblem({ guards: true }, 'guards', /expected an object/);
    for (const [expr, pattern] of [
      ['1 hour', /is not rate\(N minutes\|hours\|days\) or cron\(six fields\)/],
      ['rate(1 hours)', /write 1 hour/],
      ['rate(5 minute)', /write 5 minutes/],
      ['rate(0 minutes)', /at least 1/],
      ['rate(1 week)', /is not rate/],
      ['at(2030-01-01T00:00:00)', /is not rate/],
      ['cron(0 * * * *)', /6 fields/],
      ['cron(0 * * * * *)', /exactly one of day-of-month and day-of-week/],
    ] as const) {
      assertProblem({ guards: { sweepSchedule: expr } }, 'guards.sweepSchedule', pattern);
    }
    for (const expr of ['rate(1 minute)', 'rate(15 minutes)', 'rate(2 hours)', 'rate(1 day)', 'cron(0 * * * ? *)', 'cron(0/30 8-18 ? * MON-FRI *)']) {
      assert.equal(checkScheduleExpression(expr), undefined, expr);
    }
  });

  test('the committed cdk/config.json is valid and spells out every default', () => {
    const c = loadConfig({ file: DEFAULT_CONFIG_FILE });
    const file = JSON.parse(fs.readFileSync(DEFAULT_CONFIG_FILE, 'utf8'));
    const defaults = configDefaults();
    assert.ok(Object.keys(defaults).length >= 16, 'configDefaults() lists the defaults');
    // Present, not merely equal: a field whose default is null (derived, or none) is spelled out as null.
    for (const [key, value] of Object.entries(defaults)) {
      assert.ok(Object.hasOwn(file, key), `cdk/config.json does not spell out ${key}`);
      assert.deepEqual(file[key], value, key);
    }
    assert.equal(file.stateMachineTimeoutSeconds, null, 'the committed config leaves the execution timeout to the derivation');
    assert.equal(c.stackName, 'MakenaideOrchestrator');
  });

  test('a missing instance id fails naming the field', () => {
    assertProblem({}, 'workerInstanceIds', /required/, ['workerInstanceIds']);
    assertProblem({ workerInstanceIds: [] }, 'workerInstanceIds', /non-empty/);
  });

  test('a malformed instance id fails naming the field and index', () => {
    assertProblem({ workerInstanceIds: ['i-0123456789abcdef0', 'i-123'] }, 'workerInstanceIds[1]', /not an EC2 instance id/);
    assertProblem({ workerInstanceIds: ['i-0123456789abcdef0', 'i-0123456789abcdef0'] }, 'workerInstanceIds[1]', /twice/);
  });

  for (const [cron, pattern] of [
    ['0 1 * * *', /6 fields/],
    ['cron(0 1 * * ? *)', /6 fields|malformed/],
    ['0 1 * * * *', /exactly one of day-of-month and day-of-week/],
    ['0 1 ? * ? *', /exactly one of day-of-month and day-of-week/],
    ['61 1 * * ? *', /61 is out of range 0-59/],
    ['0 24 * * ? *', /24 is out of range 0-23/],
    ['0 1-x * * ? *', /hours field/],
    ['0 1 * FOO ? *', /month field/],
  ] as const) {
    test(`a malformed schedule fails naming schedule.cron: ${cron}`, () => assertProblem({ schedule: { cron } }, 'schedule.cron', pattern));
  }

  test('valid cron expressions pass', () => {
    for (const cron of ['0 1,5,9,13,17,21 * * ? *', '0/15 * * * ? *', '30 2 ? * MON-FRI *', '0 12 1 * ? 2027', '0 */4 * * ? *', '0 3 ? * 2#1 *', '0 3 L * ? *']) {
      assert.equal(checkCron(cron), undefined, cron);
    }
  });

  test('the cron interval consistency helper', () => {
    assert.equal(cronIntervalHours('0 1,5,9,13,17,21 * * ? *'), 4);
    assert.equal(cronIntervalHours('0 */6 * * ? *'), 6);
    assert.equal(cronIntervalHours('0 3 * * ? *'), 24);
    assert.equal(cronIntervalHours('0 1,2,9 * * ? *'), undefined);
    assert.equal(cronIntervalHours('30 2 ? * MON-FRI *'), undefined);
  });

  test('field-by-field rejections name the field', () => {
    assertProblem({ schedule: { timeZone: 'Asia/Tokio' } }, 'schedule.timeZone', /not an IANA time zone/);
    assertProblem({ dbInstanceIdentifier: '1db' }, 'dbInstanceIdentifier', /not an RDS DB instance identifier/);
    assertProblem({ dbInstanceIdentifier: 'db--x' }, 'dbInstanceIdentifier', /not an RDS/);
    assertProblem({ jobCommands: [] }, 'jobCommands', /non-empty/);
    assertProblem({ jobCommands: ['ok', ''] }, 'jobCommands[1]', /non-empty/);
    assertProblem({ jobWorkingDirectory: 'relative/dir' }, 'jobWorkingDirectory', /absolute/);
    assertProblem({ rdsStopPolicy: 'never' }, 'rdsStopPolicy', /always, leave-as-found/);
    assertProblem({ ec2StopPolicy: 'never' }, 'ec2StopPolicy', /always, leave-as-found/);
    assertProblem({ metricsNamespace: 'AWS/Mine' }, 'metricsNamespace', /reserved/);
    assertProblem({ logRetentionDays: 8 }, 'logRetentionDays', /not a CloudWatch Logs retention/);
    assertProblem({ alarmEmail: 'not-an-email' }, 'alarmEmail', /not an email/);
    assertProblem({ timeouts: { jobSeconds: 20000 } }, 'timeouts.jobSeconds', /exceeds timeouts.jobMaxSeconds/);
    assertProblem({ timeouts: { rdsReadySeconds: 'long' } }, 'timeouts.rdsReadySeconds', /integer/);
    assertProblem({ pollSeconds: { job: 0 } }, 'pollSeconds.job', /out of range/);
    assertProblem({ scheduleIntervalHours: 0 }, 'scheduleIntervalHours', /hours/);
    assertProblem({ priceOverrides: { 't3.medium': -1 } }, 'priceOverrides.t3.medium', /price/);
    assertProblem({ priceOverrides: { medium: 1 } }, 'priceOverrides.medium', /instance type/);
    assertProblem({ schedule: { input: { dryrun: true } } }, 'schedule.input.dryrun', /unknown config field/);
    assertProblem({ schedule: { input: { jobTimeoutSeconds: 99999 } } }, 'schedule.input.jobTimeoutSeconds', /60\.\.10800/);
    assertProblem({ schedule: { enabled: 'yes' } }, 'schedule.enabled', /true or false/);
    assertProblem({ lambda: { memorySizeMb: 64 } }, 'lambda.memorySizeMb', /out of range 128/);
    assertProblem({ stateMachineTimeoutSeconds: 3600 }, 'stateMachineTimeoutSeconds', /Lambda deadlines must fire first/);
  });

  test('typos are rejected, not ignored', () => {
    assertProblem({ shedule: { enabled: false } }, 'shedule', /unknown config field/);
    assertProblem({ timeouts: { jobSecond: 10 } }, 'timeouts.jobSecond', /unknown config field/);
  });

  test('every problem is reported at once', () => {
    const found = problems({ workerInstanceIds: ['x'], schedule: { cron: 'bad' }, logRetentionDays: 2 });
    assert.equal(found.length, 3, JSON.stringify(found));
  });

  test('obvious secrets in the job commands are rejected (secrets never belong in config)', () => {
    for (const cmd of [
      'PGPASSWORD=hunter2 psql -h db',
      'export DB_PASSWORD=hunter2',
      'psql postgres://app:hunter2@db:5432/app',
      'aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE',
      './run --password hunter2',
      'API_TOKEN=abc ./run',
    ]) {
      assertProblem({ jobCommands: [cmd] }, 'jobCommands[0]', /secrets must not be in config/);
    }
    // Reading a secret on the instance is the right way and passes.
    assert.deepEqual(
      problems({
        jobCommands: [
          'export PGPASSWORD="$(aws ssm get-parameter --name /makenaide/db --with-decryption --query Parameter.Value --output text)"',
          './run --password "$DB_PASSWORD"',
        ],
      }),
      [],
    );
  });

  test('long job commands no longer weigh on the Lambda environment; the job document has its own limit', () => {
    const long = Array.from({ length: 100 }, (_, i) => `./step_${i}.sh --with-a-long-argument-list-here`);
    assert.deepEqual(problems({ jobCommands: long }), []);
    assert.equal(lambdaEnvironment(validateConfig({ ...VALID, jobCommands: long })).JOB_COMMANDS, undefined);
    const huge = Array.from({ length: 2000 }, (_, i) => `./step_${i}.sh --with-a-long-argument-list-here`);
    assertProblem({ jobCommands: huge }, 'jobCommands', /job document would be \d+ bytes, over SSM's 65536 byte limit/);
  });

  test('the 4 KB check counts the stack-set names and names the largest field', () => {
    // Price overrides that fill the environment to exactly 4096 bytes without the log group...
    const off = { jobOutput: { cloudWatch: false } };
    // One override whose instance type name is n characters long (the key counts).
    const overrides = (n: number) => ({ [`t3.${'x'.repeat(n)}`]: 0.05 });
    const size = (n: number, extra = off) => environmentSize(lambdaEnvironment(validateConfig({ ...VALID, ...extra, priceOverrides: overrides(n) })));
    const base = size(1);
    const fill = 1 + 4096 - base;
    assert.equal(size(fill), 4096);
    // ...is over it once the stack sets JOB_LOG_GROUP to the group's name.
    const name = '/makenaide/MakenaideOrchestrator/job-output';
    const found = problems({ priceOverrides: overrides(fill) });
    assert.equal(found.length, 1);
    assert.match(found[0], new RegExp(`^priceOverrides: the Lambda environment would be ${4096 + name.length} bytes, over Lambda's 4 KB limit; priceOverrides is its largest part`));
    // The job document's name counts too.
    assert.equal(lambdaEnvironment(validateConfig({ ...VALID })).JOB_DOCUMENT_NAME, 'MakenaideOrchestrator-Job');
  });

  test('stackName also names the job document, so SSM\'s name rules apply', () => {
    for (const name of ['AwsBatch', 'amazonJobs', 'AMZN-x']) assertProblem({ stackName: name }, 'stackName', /must not begin with aws, amazon, amzn/);
    assertProblem({ stackName: `S${'x'.repeat(124)}` }, 'stackName', /at most 124/);
    assert.deepEqual(problems({ stackName: `S${'x'.repeat(123)}` }), []);
  });

  test('lambda.timeoutSeconds: default and minimum from the call budget in functions/core/settings.json', () => {
    const budget = functionSettings().callBudget;
    assert.equal(validateConfig({ ...VALID }).lambda.timeoutSeconds, budget.defaultLambdaTimeoutSeconds);
    const most = Math.max(...Object.values(budget.sequentialCalls));
    assert.equal(budget.lambdaTimeoutSeconds, most * budget.operationSeconds + budget.marginSeconds);
    const min = budget.lambdaTimeoutSeconds;
    assert.deepEqual(problems({ lambda: { timeoutSeconds: min } }), []);
    assert.deepEqual(problems({ lambda: { timeoutSeconds: 900 } }), []);
    const below = problems({ lambda: { timeoutSeconds: min - 1 } });
    assert.equal(below.length, 1, JSON.stringify(below));
    assert.match(below[0], new RegExp(`^lambda\\.timeoutSeconds: ${min - 1} is below ${min}, the call budget's minimum: `));
    // Names why: the busiest function's sequential calls times the per-call operation timeout, and where that is declared.
    assert.match(below[0], new RegExp(`ec2_start makes ${most} AWS calls one after another, each allowed ${budget.operationSeconds} s`));
    assert.match(below[0], /plus \d+ s margin \(CALL_BUDGET and SEQUENTIAL_CALLS in functions\/core\/src\/settings\.rs\)/);
    assertProblem({ lambda: { timeoutSeconds: 1 } }, 'lambda.timeoutSeconds', new RegExp(`1 is below ${min}`));
    assert.deepEqual(problems({ lambda: { timeoutSeconds: 901 } }), [`lambda.timeoutSeconds: 901 is out of range ${min}..900`]);
    assert.deepEqual(problems({ lambda: { timeoutSeconds: 'long' } }), ['lambda.timeoutSeconds: expected an integer, got "long"']);
    assert.throws(() => loadConfig({ file: DEFAULT_CONFIG_FILE, context: { 'lambda.timeoutSeconds': String(min - 1) } }), /lambda\.timeoutSeconds: \d+ is below/);
  });

  test('jobOutput: a log group by default; the KMS key and the workers\' role are checked and named', () => {
    assert.deepEqual(validateConfig({ ...VALID }).jobOutput, { cloudWatch: true, kmsKeyArn: null, workerRoleName: null });
    const key = 'arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    assert.deepEqual(problems({ jobOutput: { kmsKeyArn: key, workerRoleName: 'makenaide-worker' } }), []);
    assert.deepEqual(problems({ jobOutput: { kmsKeyArn: 'arn:aws:kms:ap-northeast-2:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab' } }), []);
    assertProblem({ jobOutput: { kmsKeyArn: 'arn:aws:kms:ap-northeast-2:123456789012:key/abcd' } }, 'jobOutput.kmsKeyArn', /is not a KMS key ARN/);
    assertProblem({ jobOutput: { kmsKeyArn: 'arn:aws:kms:ap-northeast-2:123456789012:alias/logs' } }, 'jobOutput.kmsKeyArn', /is not a KMS key ARN/);
    assertProblem({ jobOutput: { kmsKeyArn: '1234abcd-12ab-34cd-56ef-1234567890ab' } }, 'jobOutput.kmsKeyArn', /is not a KMS key ARN/);
    assertProblem({ jobOutput: { workerRoleName: 'arn:aws:iam::123456789012:role/makenaide-worker' } }, 'jobOutput.workerRoleName', /the name, not the ARN/);
    assertProblem({ jobOutput: { workerRoleName: '' } }, 'jobOutput.workerRoleName', /is not an IAM role name/);
    assertProblem({ jobOutput: { cloudWatch: 'yes' } }, 'jobOutput.cloudWatch', /expected true .* or false/);
    assertProblem({ jobOutput: { cloudwatch: false } }, 'jobOutput.cloudwatch', /unknown config field/);
    // Without a log group, a key or a role would be silently ignored: refused instead.
    assert.deepEqual(problems({ jobOutput: { cloudWatch: false, kmsKeyArn: key, workerRoleName: 'w' } }), [
      'jobOutput.kmsKeyArn: has no effect with jobOutput.cloudWatch false (no log group): set it to null',
      'jobOutput.workerRoleName: has no effect with jobOutput.cloudWatch false (no log group): set it to null',
    ]);
    const o = loadConfig({ file: DEFAULT_CONFIG_FILE, context: { 'jobOutput.cloudWatch': 'false' } });
    assert.equal(o.jobOutput.cloudWatch, false);
    const r = loadConfig({ file: DEFAULT_CONFIG_FILE, context: { 'jobOutput.workerRoleName': 'makenaide-worker', 'jobOutput.kmsKeyArn': key } });
    assert.deepEqual(r.jobOutput, { cloudWatch: true, kmsKeyArn: key, workerRoleName: 'makenaide-worker' });
    assert.equal(loadConfig({ file: DEFAULT_CONFIG_FILE, context: { 'jobOutput.workerRoleName': 'null' } }).jobOutput.workerRoleName, null);
  });
});

describe('config validation: problems through the schema', () => {
  test('a wrong type names the field, what it expects and what it got', () => {
    assert.deepEqual(problems({ pollSeconds: { rds: '30' } }), ['pollSeconds.rds: expected an integer, got "30"']);
    assert.deepEqual(problems({ timeouts: { jobSeconds: 1.5 } }), ['timeouts.jobSeconds: expected an integer, got 1.5']);
    assert.deepEqual(problems({ tracing: 'yes' }), ['tracing: expected true or false, got "yes"']);
    assert.deepEqual(problems({ timeouts: 5400 }), ['timeouts: expected an object, got 5400']);
    assert.deepEqual(problems({ workerInstanceIds: 'i-0123456789abcdef0' }), ['workerInstanceIds: expected a non-empty list of EC2 instance ids']);
    assert.deepEqual(problems({ workerInstanceIds: ['i-0123456789abcdef0', 7] }), [
      'workerInstanceIds[1]: 7 is not an EC2 instance id (i- followed by 8 or 17 hex digits)',
    ]);
    assert.deepEqual(problems({ schedule: { input: { dryRun: 'yes' } } }), ['schedule.input.dryRun: expected true or false, got "yes"']);
    assert.deepEqual(problems({ stackName: null }), ['stackName: null is not a CloudFormation stack name (a letter, then letters, digits, hyphens)']);
  });

  test('out of range names the field and the range', () => {
    assert.deepEqual(problems({ timeouts: { jobSeconds: 0 } }), ['timeouts.jobSeconds: 0 is out of range 1..172800']);
    assert.deepEqual(problems({ pollSeconds: { ec2: 3601 }, stateMachineTimeoutSeconds: 40000 }), ['pollSeconds.ec2: 3601 is out of range 1..3600']);
    assert.deepEqual(problems({ schedule: { retryAttempts: 186 } }), ['schedule.retryAttempts: 186 is out of range 0..185']);
    assert.deepEqual(problems({ scheduleIntervalHours: 745 }), ['scheduleIntervalHours: expected a number of hours in (0, 744], got 745']);
    assert.deepEqual(problems({ schedule: { input: { jobTimeoutSeconds: 59 } } }), [
      'schedule.input.jobTimeoutSeconds: 59 is out of range 60..10800 (timeouts.jobMaxSeconds)',
    ]);
    // The input's upper bound follows the configured timeouts.jobMaxSeconds.
    assert.deepEqual(problems({ timeouts: { jobMaxSeconds: 7200 }, schedule: { input: { jobTimeoutSeconds: 7201 } } }), [
      'schedule.input.jobTimeoutSeconds: 7201 is out of range 60..7200 (timeouts.jobMaxSeconds)',
    ]);
    assert.deepEqual(problems({ scheduleIntervalHours: 744, schedule: { input: { jobTimeoutSeconds: 10800 } } }), []);
  });

  test('unknown fields are named one by one, at any depth; $comment keys are not fields', () => {
    assert.deepEqual(problems({ schedule: { input: { foo: 1 } } }), ['schedule.input.foo: unknown config field']);
    assert.deepEqual(problems({ lambda: { memory: 256, timeout: 10 }, extra: true }), [
      'lambda.memory: unknown config field',
      'lambda.timeout: unknown config field',
      'extra: unknown config field',
    ]);
    assert.deepEqual(problems({ $comment: 'top', timeouts: { $comment: 'nested', jobSeconds: 600 }, schedule: { input: { $comment: 'x' } } }), []);
  });

  test('every missing required field is named', () => {
    assert.deepEqual(problems({}, ['dbInstanceIdentifier', 'workerInstanceIds', 'jobCommands', 'jobWorkingDirectory']), [
      'dbInstanceIdentifier: required, not set',
      'workerInstanceIds: required, not set',
      'jobCommands: required, not set',
      'jobWorkingDirectory: required, not set',
    ]);
  });

  test('problems of every kind come together in one ConfigError', () => {
    const found = problems({
      workerInstanceIds: ['i-123'],
      timeouts: { jobSeconds: 'soon', jobMaxSeconds: 3600 },
      rdsStopPolicy: 'never',
      ec2StopPolicy: 'sometimes',
      schedule: { input: { jobTimeoutSeconds: 4000 } },
      stateMachineTimeoutSeconds: 3600,
      typo: 1,
    });
    assert.deepEqual(found, [
      'workerInstanceIds[0]: "i-123" is not an EC2 instance id (i- followed by 8 or 17 hex digits)',
      'timeouts.jobSeconds: expected an integer, got "soon"',
      'rdsStopPolicy: "never" is not one of always, leave-as-found',
      'ec2StopPolicy: "sometimes" is not one of always, leave-as-found',
      'typo: unknown config field',
      'schedule.input.jobTimeoutSeconds: 4000 is out of range 60..3600 (timeouts.jobMaxSeconds)',
      // 1800 + 900 + 3600 + 900 + 14400 + (30 + 15 + 60 + 15 + 30) + 900
      'stateMachineTimeoutSeconds: 3600 must exceed 22650 = timeouts.rdsReadySeconds (1800) + timeouts.ec2ReadySeconds (900) + ' +
        "timeouts.jobMaxSeconds (3600) + timeouts.ec2ReadySeconds again, for the workers' stop (900) + " +
        'timeouts.rdsStopSeconds (14400) + the poll intervals (150) + a cleanup margin (900): ' +
        'a state machine timeout skips cleanup, so the Lambda deadlines must fire first',
      // (launchWindowSeconds, 7200, is not checked against a timeout that is itself refused)
    ]);
  });

  test('timeouts.launchWindowSeconds: at most the execution timeout, naming both fields', () => {
    const derived = derivedTimeout(validateConfig({ ...VALID }));
    // Up to the derived timeout.
    assert.deepEqual(problems({ timeouts: { launchWindowSeconds: derived } }), []);
    assert.deepEqual(problems({ timeouts: { launchWindowSeconds: derived + 1 } }), [
      `timeouts.launchWindowSeconds: ${derived + 1} exceeds the execution timeout, stateMachineTimeoutSeconds (${derived}, derived from the deadlines): ` +
        'a launch window longer than an execution can live is meaningless',
    ]);
    // The derived timeout follows the deadlines, and the window with it.
    assert.deepEqual(problems({ timeouts: { launchWindowSeconds: derived + 1, jobMaxSeconds: 10801 } }), []);
    // Against a configured timeout.
    assert.deepEqual(problems({ stateMachineTimeoutSeconds: derived + 500, timeouts: { launchWindowSeconds: derived + 500 } }), []);
    assert.deepEqual(problems({ stateMachineTimeoutSeconds: derived + 500, timeouts: { launchWindowSeconds: derived + 501 } }), [
      `timeouts.launchWindowSeconds: ${derived + 501} exceeds the execution timeout, stateMachineTimeoutSeconds (${derived + 500}): ` +
        'a launch window longer than an execution can live is meaningless',
    ]);
    assertProblem({ timeouts: { launchWindowSeconds: 604800 } }, 'timeouts.launchWindowSeconds', /stateMachineTimeoutSeconds/);
    // Shorter than the DB and worker start deadlines is allowed: such a run ends LaunchWindowMissed.
    const tight = validateConfig({ ...VALID, timeouts: { launchWindowSeconds: 600 } });
    assert.ok(tight.timeouts.launchWindowSeconds < tight.timeouts.rdsReadySeconds + tight.timeouts.ec2ReadySeconds);
    assert.equal(lambdaEnvironment(tight).LAUNCH_WINDOW_SECONDS, '600');
    assert.deepEqual(problems({ timeouts: { launchWindowSeconds: 1 } }), []);
    // Its own bounds and type come first.
    assert.deepEqual(problems({ timeouts: { launchWindowSeconds: 0 } }), ['timeouts.launchWindowSeconds: 0 is out of range 1..604800']);
    assert.deepEqual(problems({ timeouts: { launchWindowSeconds: 'soon' } }), ['timeouts.launchWindowSeconds: expected an integer, got "soon"']);
  });

  test('timeouts.rdsStopSeconds: the DB stop deadline, in the environment', () => {
    const c = validateConfig({ ...VALID, timeouts: { rdsStopSeconds: 3600 } });
    assert.equal(lambdaEnvironment(c).RDS_STOP_DEADLINE_SECONDS, '3600');
    assert.equal(lambdaEnvironment(validateConfig({ ...VALID })).RDS_STOP_DEADLINE_SECONDS, '14400');
    assert.deepEqual(problems({ timeouts: { rdsStopSeconds: 86401 } }), ['timeouts.rdsStopSeconds: 86401 is out of range 1..86400']);
  });

  test('ec2StopPolicy: the workers\' stop policy, EC2_STOP_POLICY, independent of rdsStopPolicy', () => {
    const defaults = validateConfig({ ...VALID });
    assert.equal(defaults.ec2StopPolicy, 'always');
    assert.equal(lambdaEnvironment(defaults).EC2_STOP_POLICY, 'always');
    const leave = validateConfig({ ...VALID, ec2StopPolicy: 'leave-as-found' });
    assert.equal(leave.ec2StopPolicy, 'leave-as-found');
    assert.equal(lambdaEnvironment(leave).EC2_STOP_POLICY, 'leave-as-found');
    assert.equal(lambdaEnvironment(leave).RDS_STOP_POLICY, 'always', 'each resource has its own policy');
    const dbOnly = validateConfig({ ...VALID, rdsStopPolicy: 'leave-as-found' });
    assert.equal(lambdaEnvironment(dbOnly).EC2_STOP_POLICY, 'always');
    assert.deepEqual(problems({ ec2StopPolicy: 'never' }), ['ec2StopPolicy: "never" is not one of always, leave-as-found']);
    assert.deepEqual(problems({ ec2StopPolicy: true }), ['ec2StopPolicy: true is not one of always, leave-as-found']);
    const o = loadConfig({ file: DEFAULT_CONFIG_FILE, context: { ec2StopPolicy: 'leave-as-found' } });
    assert.equal(o.ec2StopPolicy, 'leave-as-found');
    // The default and the values are the functions' own (functions/core/settings.json).
    const s = functionSettings().environment.EC2_STOP_POLICY;
    assert.equal(s.type, 'choice');
    if (s.type === 'choice') {
      assert.equal(defaults.ec2StopPolicy, s.default);
      assert.deepEqual([...s.values], ['always', 'leave-as-found']);
    }
  });
});

/** The value at a dotted path. */
function at(obj: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((cur, k) => (cur as Record<string, unknown> | undefined)?.[k], obj);
}

describe('one source for defaults: functions/core/settings.json', () => {
  const settings = () => functionSettings();

  test('is read from the repository root', () => {
    assert.equal(SETTINGS_FILE, path.join(REPO_ROOT, 'functions', 'core', 'settings.json'));
    assert.ok(fs.existsSync(SETTINGS_FILE));
  });

  test('every variable the functions read has exactly one config field, or is set by the stack (STACK_SET_VARIABLES), and the environment has exactly those', () => {
    const variables: string[] = FUNCTION_SETTINGS.map((s) => s.variable);
    const stackSet: string[] = [...STACK_SET_VARIABLES];
    // Each variable of settings.json exactly once: from a config field, or from the stack.
    assert.deepEqual([...variables, ...stackSet].sort(), Object.keys(settings().environment).sort());
    assert.equal(new Set(variables).size, variables.length, 'a variable has two config fields');
    for (const v of stackSet) assert.ok(!variables.includes(v), `${v} is set by the stack and has a config field too`);
    assert.deepEqual(stackSet, ['JOB_LOG_GROUP', 'JOB_DOCUMENT_NAME'], 'the stack sets only the job output log group and the job document');
    assert.ok(!variables.includes('JOB_COMMANDS'), 'the job commands are in the job document, not in the environment');
    const fields = FUNCTION_SETTINGS.map((s) => s.field);
    assert.equal(new Set(fields).size, fields.length, 'a field maps onto two variables');
    for (const field of fields) assert.ok(configFieldPaths().includes(field), `${field} is not a config field`);
    assert.deepEqual(Object.keys(lambdaEnvironment(validateConfig({ ...VALID }))).sort(), [...variables, ...stackSet].sort());
  });

  test('JOB_LOG_GROUP: the stack sets it, to the functions\' default "" without a log group', () => {
    const s = settings().environment.JOB_LOG_GROUP;
    assert.equal(s.type, 'string');
    assert.equal(s.type === 'string' && s.default, '', 'settings.json: "" means no CloudWatch output');
    const on = validateConfig({ ...VALID });
    assert.equal(lambdaEnvironment(on).JOB_LOG_GROUP, '/makenaide/MakenaideOrchestrator/job-output');
    assert.equal(lambdaEnvironment(on).JOB_LOG_GROUP, jobOutputLogGroupName(on));
    assert.equal(lambdaEnvironment(validateConfig({ ...VALID, stackName: 'Other' })).JOB_LOG_GROUP, '/makenaide/Other/job-output');
    const off = validateConfig({ ...VALID, jobOutput: { cloudWatch: false } });
    assert.equal(jobOutputLogGroupName(off), undefined);
    assert.equal(lambdaEnvironment(off).JOB_LOG_GROUP, '');
    // The stack passes its Ref instead of the name.
    assert.equal(lambdaEnvironment(on, { JOB_LOG_GROUP: 'from-the-stack', JOB_DOCUMENT_NAME: 'doc' }).JOB_LOG_GROUP, 'from-the-stack');
  });

  test('the CDK defaults are the functions\' defaults, and the deployed environment spells them', () => {
    const defaults = configDefaults();
    const env = lambdaEnvironment(validateConfig({ ...VALID }));
    for (const { field, variable } of FUNCTION_SETTINGS) {
      const s = settings().environment[variable];
      if (s.type === 'string' && s.required) {
        assert.equal(at(defaults, field), undefined, `${field} must be required like ${variable}`);
        continue;
      }
      assert.deepEqual(at(defaults, field), s.default, `${field} default vs ${variable}`);
      const text = typeof s.default === 'string' ? s.default : typeof s.default === 'number' ? String(s.default) : JSON.stringify(s.default);
      assert.equal(env[variable], text, variable);
    }
  });

  test('the CDK bounds are the functions\' bounds', () => {
    const outOfRange = (field: string, value: unknown) => {
      const patch: Record<string, unknown> = {};
      const [group, leaf] = field.split('.');
      patch[group] = leaf ? { [leaf]: value } : value;
      return problems(patch).filter((p) => p.startsWith(`${field}: `) && !/exceeds|must exceed/.test(p));
    };
    let checked = 0;
    for (const { field, variable } of FUNCTION_SETTINGS) {
      const s = settings().environment[variable];
      if (s.type === 'seconds') {
        assert.deepEqual(outOfRange(field, s.min), [], `${field} = min`);
        assert.deepEqual(outOfRange(field, s.max), [], `${field} = max`);
        assert.deepEqual(outOfRange(field, s.min - 1), [`${field}: ${s.min - 1} is out of range ${s.min}..${s.max}`]);
        assert.deepEqual(outOfRange(field, s.max + 1), [`${field}: ${s.max + 1} is out of range ${s.min}..${s.max}`]);
        checked++;
      } else if (s.type === 'number') {
        assert.deepEqual(outOfRange(field, s.max), [], `${field} = max`);
        assert.equal(outOfRange(field, s.max + 0.5).length, 1, `${field} above max`);
        assert.equal(outOfRange(field, s.exclusiveMin).length, 1, `${field} = exclusiveMin`);
        checked++;
      } else if (s.type === 'choice') {
        for (const v of s.values) assert.deepEqual(outOfRange(field, v), [], `${field} = ${v}`);
        assert.deepEqual(outOfRange(field, 'sometimes'), [`${field}: "sometimes" is not one of ${s.values.join(', ')}`]);
        checked++;
      }
    }
    assert.ok(checked >= 9, `only ${checked} bounded settings`);
  });

  test('schedule.input takes exactly the execution input fields an operator sets', () => {
    const inputFields = configFieldPaths()
      .filter((f) => f.startsWith('schedule.input.'))
      .map((f) => f.slice('schedule.input.'.length));
    const operatorFields = Object.entries(settings().input)
      .filter(([, f]) => f.setBy === 'operator')
      .map(([name]) => name);
    assert.deepEqual(inputFields.sort(), operatorFields.sort());
    assert.ok(operatorFields.length < Object.keys(settings().input).length, 'the stack-only fields exist');
    assertProblem({ schedule: { input: { cleanupAfter: 'arn:aws:states:us-east-1:123456789012:execution:m:x' } } }, 'schedule.input.cleanupAfter', /unknown config field/);
  });
});

describe('config sources', () => {
  test('-c overrides: strings from the CLI are read into the field type', () => {
    const c = loadConfig({
      file: DEFAULT_CONFIG_FILE,
      context: {
        workerInstanceIds: 'i-0123456789abcdef0, i-89abcdef',
        'schedule.enabled': 'false',
        'timeouts.jobSeconds': '5400',
        tracing: 'true',
        alarmEmail: 'ops@example.com',
        priceOverrides: '{"t3.medium":0.05}',
        'aws:cdk:some-feature-flag': true,
      },
    });
    assert.deepEqual(c.workerInstanceIds, ['i-0123456789abcdef0', 'i-89abcdef']);
    assert.equal(c.schedule.enabled, false);
    assert.equal(c.timeouts.jobSeconds, 5400);
    assert.equal(c.tracing, true);
    assert.equal(c.alarmEmail, 'ops@example.com');
    assert.deepEqual(c.priceOverrides, { 't3.medium': 0.05 });
  });

  test('a bad -c override fails naming the field', () => {
    assert.throws(() => loadConfig({ file: DEFAULT_CONFIG_FILE, context: { 'schedule.enable': 'false' } }), /schedule\.enable: unknown config field/);
    assert.throws(() => loadConfig({ file: DEFAULT_CONFIG_FILE, context: { tracing: 'yes' } }), /tracing: expected true or false/);
    assert.throws(() => loadConfig({ file: DEFAULT_CONFIG_FILE, context: { 'timeouts.jobSeconds': 'soon' } }), /timeouts\.jobSeconds: expected a number/);
    assert.throws(() => loadConfig({ file: DEFAULT_CONFIG_FILE, context: { priceOverrides: '{bad' } }), /priceOverrides: not valid JSON/);
  });

  test('-c config=FILE selects another config file; a broken file fails clearly', () => {
    const dir = tempDir('config');
    const file = path.join(dir, 'prod.json');
    fs.writeFileSync(file, JSON.stringify({ ...VALID, workflowName: 'prod' }));
    const s = synth({ config: file });
    assert.equal(s.config.workflowName, 'prod');
    fs.writeFileSync(file, '{"workerInstanceIds": [');
    assert.throws(() => synth({ config: file }), /prod\.json.*not valid JSON/s);
    assert.throws(() => synth({ config: path.join(dir, 'nope.json') }), /cannot read the config file/);
  });

  test('every config field is documented in cdk/README.md', () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'cdk', 'README.md'), 'utf8');
    for (const field of configFieldPaths()) assert.ok(readme.includes(`\`${field}\``), `cdk/README.md does not document ${field}`);
    const derived = derivedTimeout(validateConfig({ ...VALID }));
    assert.ok(readme.includes(`(derived: ${derived})`), `cdk/README.md does not give the derived timeout, ${derived}`);
    assert.ok(readme.includes(`(${derived} with the defaults)`), `cdk/README.md does not give the derived timeout, ${derived}`);
  });

  test('the app entry point turns a config error into a one-line message naming the field, exit 1', () => {
    const outdir = tempDir('entry');
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'app.js')], {
      encoding: 'utf8',
      env: {
        ...process.env,
        CDK_OUTDIR: outdir,
        CDK_CONTEXT_JSON: JSON.stringify({ placeholderCode: 'true', workerInstanceIds: 'i-123', 'schedule.cron': '0 1 * * *' }),
      },
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^error: invalid deployment config/);
    assert.match(r.stderr, /workerInstanceIds\[0\]: "i-123" is not an EC2 instance id/);
    assert.match(r.stderr, /schedule\.cron: "0 1 \* \* \*" must have 6 fields/);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  });
});
