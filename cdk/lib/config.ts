/**
 * The deployment configuration: one typed object, read from a JSON file
 * (default `cdk/config.json`) with per-field `-c` overrides, validated before
 * any construct is created. Every problem names the field it is about.
 *
 * Each field is declared once, in the zod schema below (`buildSchema`), with
 * its type, default, bounds and error message. The fields the functions
 * receive as Lambda environment variables (`FUNCTION_SETTINGS`) take their
 * default and bounds from the functions' own declaration,
 * `functions/core/settings.json` (lib/settings.ts), and `schedule.input` is
 * checked against the execution input fields declared there, and
 * `lambda.timeoutSeconds` takes its default and minimum from its call budget
 * (`callBudget`). The default of `guards.sweepSchedule` is the sweeper's
 * `scheduleExpression` in statemachine/rules.json (lib/rules.ts).
 *
 * SECRETS NEVER BELONG HERE. Everything in this config ends up in the Lambda
 * environment, the CloudFormation template and the job's SSM Command
 * document, all readable by anyone with read access to the account. The job
 * reads its database credentials on the instance (Parameter Store / Secrets
 * Manager). `validateConfig` rejects job commands that obviously carry one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { JOB_DOCUMENT_MAX_BYTES, jobDocumentName, jobDocumentSize, RESERVED_DOCUMENT_PREFIXES } from './jobdocument';
import { readRules } from './rules';
import { EnvironmentSetting, functionSettings, SettingsError } from './settings';

// ---------------------------------------------------------------- the function settings

interface FunctionSetting {
  /** The config field (dotted path). */
  readonly field: string;
  /** The Lambda environment variable, a key of `environment` in functions/core/settings.json. */
  readonly variable: string;
  /** How the value is written into the environment; default: strings as they are, numbers as text, the rest as JSON. */
  readonly encode?: (value: unknown) => string;
}

/**
 * The config field behind each Lambda environment variable: the one table of
 * that mapping. `lambdaEnvironment` writes the environment from it and the
 * schema takes each field's default and bounds from the variable's entry in
 * settings.json (statemachine/README.md, "Deployment configuration").
 */
export const FUNCTION_SETTINGS = [
  { field: 'dbInstanceIdentifier', variable: 'DB_INSTANCE_IDENTIFIER' },
  { field: 'workerInstanceIds', variable: 'WORKER_INSTANCE_IDS', encode: (ids: unknown) => (ids as string[]).join(',') },
  { field: 'timeouts.jobSeconds', variable: 'JOB_TIMEOUT_SECONDS' },
  { field: 'timeouts.jobMaxSeconds', variable: 'JOB_TIMEOUT_MAX_SECONDS' },
  { field: 'timeouts.rdsReadySeconds', variable: 'RDS_READY_TIMEOUT_SECONDS' },
  { field: 'timeouts.ec2ReadySeconds', variable: 'EC2_READY_TIMEOUT_SECONDS' },
  { field: 'timeouts.rdsStopSeconds', variable: 'RDS_STOP_DEADLINE_SECONDS' },
  { field: 'timeouts.launchWindowSeconds', variable: 'LAUNCH_WINDOW_SECONDS' },
  { field: 'pollSeconds.rds', variable: 'RDS_POLL_SECONDS' },
  { field: 'pollSeconds.ec2', variable: 'EC2_POLL_SECONDS' },
  { field: 'pollSeconds.job', variable: 'JOB_POLL_SECONDS' },
  { field: 'rdsStopPolicy', variable: 'RDS_STOP_POLICY' },
  { field: 'ec2StopPolicy', variable: 'EC2_STOP_POLICY' },
  { field: 'metricsNamespace', variable: 'METRICS_NAMESPACE' },
  { field: 'workflowName', variable: 'WORKFLOW_NAME' },
  { field: 'scheduleIntervalHours', variable: 'SCHEDULE_INTERVAL_HOURS' },
  { field: 'priceOverrides', variable: 'PRICE_OVERRIDES' },
] as const satisfies readonly FunctionSetting[];

type SettingField = (typeof FUNCTION_SETTINGS)[number]['field'];

/**
 * The Lambda environment variables the stack sets itself, from resources it
 * creates, not from a config field: `JOB_LOG_GROUP` is the name of the job
 * output log group (`jobOutput.cloudWatch`; "" without one). Together with
 * FUNCTION_SETTINGS they are every variable of settings.json, each exactly
 * once (a test checks it). `stackSetEnvironment` gives their deployed values
 * for the 4 KB check; the stack passes the real ones to `lambdaEnvironment`.
 */
export const STACK_SET_VARIABLES = ['JOB_LOG_GROUP', 'JOB_DOCUMENT_NAME'] as const;

export type StackSetVariable = (typeof STACK_SET_VARIABLES)[number];

/** The config field of a Lambda environment variable. */
function fieldOfVariable(variable: string): string {
  const entry = FUNCTION_SETTINGS.find((s) => s.variable === variable);
  if (!entry) throw new SettingsError([`${variable}: no config field maps onto it (FUNCTION_SETTINGS in cdk/lib/config.ts)`]);
  return entry.field;
}

/** The settings.json entry of a field's variable, which must have the type the schema expects. */
function setting<T extends EnvironmentSetting['type']>(field: SettingField, type: T): Extract<EnvironmentSetting, { type: T }> {
  const { variable } = FUNCTION_SETTINGS.find((s) => s.field === field)!;
  const found = functionSettings().environment[variable];
  if (found?.type !== type) {
    throw new SettingsError([`environment.${variable}: the CDK reads it as a ${type} setting (${field}), found ${found ? found.type : 'no entry'}`]);
  }
  return found as Extract<EnvironmentSetting, { type: T }>;
}

// ---------------------------------------------------------------- building blocks

/** CloudWatch Logs retention values the API accepts. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/**
 * Seconds the state machine timeout must leave after the last Lambda deadline
 * could fire, for the cleanup path (stop the workers, stop RDS, publish
 * metrics, release the lease) with its retries: the Lambda service,
 * throttling and task-failure retries of each step, and the lease writes.
 * Waiting is not in it: each stop loop has its own deadline, which
 * `minimumStateMachineTimeout` adds in full. The workers' stop
 * (`Wait for workers to stop`) waits for a `pending` worker up to
 * `timeouts.ec2ReadySeconds`, the DB stop (`Wait for database stop`) for RDS
 * to accept a stop up to `timeouts.rdsStopSeconds`. Each deadline counts from
 * that stop's first try and carries over into the cleanup (`poll_ec2_state`
 * and `rds_stop` keep `firstTriedAt` while their report says not done, and
 * the Catch leaves the report in place): a stop that timed out on the normal
 * path does not wait again in the cleanup. The `RdsNotStoppableYet` retrier
 * the definition keeps (about 10 minutes) no longer bounds anything:
 * `rds_stop` reports "not yet" instead of raising it. A state machine timeout
 * skips cleanup, so the Lambda deadlines must always fire first.
 */
export const CLEANUP_MARGIN_SECONDS = 900;

const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;
// RDS: 1-63 letters, digits or hyphens; first a letter; no trailing hyphen or two hyphens in a row.
const DB_IDENTIFIER = /^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-)){0,62}$/;
const WORKFLOW_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
// CloudWatch namespaces: printable ASCII out of this set, not starting with AWS/.
const NAMESPACE = /^[A-Za-z0-9.\-_/#:]{1,255}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PRICE_KEY = /^(db\.)?[a-z0-9-]+\.[a-z0-9-]+$/;
// A key by ARN (CloudWatch Logs takes a key ARN, not an alias): a key id, or a multi-Region key's mrk- id.
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;
const IAM_ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

/** Obvious secrets: if one of these matches, the command does not belong in config. */
const SECRET_PATTERNS: [RegExp, string][] = [
  [/\b(AKIA|ASIA)[A-Z0-9]{16}\b/, 'an AWS access key id'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a private key'],
  // A literal value; `PGPASSWORD="$(aws ssm get-parameter ...)"` (read on the instance) is fine.
  [/\b[A-Za-z_]*(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY)[A-Za-z_]*\s*=\s*(?!["']?\$)\S/i, 'a password, secret or token assignment'],
  [/--(password|passwd|secret|token|api-key)(=|\s+)(?!["']?\$)\S/i, 'a password, secret or token option'],
  [/\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:[^\s/@]+@/i, 'credentials in a URL'],
];

function findSecret(text: string): string | undefined {
  for (const [re, what] of SECRET_PATTERNS) if (re.test(text)) return what;
  return undefined;
}

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value at a dotted path, or undefined. */
function valueAt(obj: unknown, dotted: string): unknown {
  let cur = obj;
  for (const part of dotted.split('.')) cur = isObject(cur) ? cur[part] : undefined;
  return cur;
}

/**
 * A field's error message for any problem with a value it was given; a
 * missing value falls through to `describeIssue` ("required, not set").
 */
function says(message: (input: unknown) => string) {
  return { error: (issue: z.core.$ZodRawIssue) => (issue.input === undefined ? undefined : message(issue.input)) };
}

/** Run a cross-field check even when a field it does not read failed (every problem is reported at once). */
const ALWAYS = { when: () => true };

/** A whole number in min..max. */
function int(min: number, max: number) {
  const e = says((v) => (isInt(v) ? `${v} is out of range ${min}..${max}` : `expected an integer, got ${show(v)}`));
  return z.int(e).min(min, e).max(max, e);
}

/** A string matching `re`; otherwise "<value> is not <what>". */
function text(re: RegExp, what: string) {
  return z.string(says((v) => `${show(v)} is not ${what}`)).regex(re, says((v) => `${show(v)} is not ${what}`));
}

/** An on/off switch of the stack's own triggers: on unless the config says false. */
function onOff() {
  return z.boolean(says((v) => `expected true (deploy it) or false (leave it out), got ${show(v)}`)).default(true);
}

function noSecret(where: string) {
  return (value: string, ctx: z.core.$RefinementCtx<string>) => {
    const secret = findSecret(value);
    if (secret) {
      ctx.addIssue(
        `looks like it contains ${secret}; secrets must not be in config (it lands in ${where}): ` +
          'read them on the instance from Parameter Store or Secrets Manager',
      );
    }
  };
}

// ---------------------------------------------------------------- fields backed by a function setting

/** Whole seconds: default and bounds of the setting. */
function secondsSetting(field: SettingField) {
  const s = setting(field, 'seconds');
  return int(s.min, s.max).prefault(s.default);
}

/** A number greater than exclusiveMin, at most max: default and bounds of the setting. */
function numberSetting(field: SettingField, what: string) {
  const s = setting(field, 'number');
  const e = says((v) => `expected ${what} in (${s.exclusiveMin}, ${s.max}], got ${show(v)}`);
  return z.number(e).gt(s.exclusiveMin, e).max(s.max, e).prefault(s.default);
}

/** One of the setting's values; its default. */
function choiceSetting(field: SettingField) {
  const s = setting(field, 'choice');
  return z.enum(s.values, says((v) => `${show(v)} is not one of ${s.values.join(', ')}`)).prefault(s.default);
}

/** A string in the CDK's stricter format, with the setting's default. */
function stringSetting(field: SettingField, schema: z.ZodString) {
  const s = setting(field, 'string');
  if (s.default === undefined) throw new SettingsError([`the CDK expects a default for the setting of ${field}, found none`]);
  return schema.prefault(s.default);
}

/** A field the setting says is required: no default. */
function requiredSetting<S extends z.ZodType>(field: SettingField, schema: S): S {
  if (setting(field, 'string').required !== true) throw new SettingsError([`the CDK expects the setting of ${field} to be required`]);
  return schema;
}

/** Instance type / DB class -> USD per hour, with the setting's default. */
function priceSetting(field: SettingField) {
  const s = setting(field, 'object');
  const price = says((v) => `expected a USD per hour price >= 0, got ${show(v)}`);
  return z
    .record(z.string().regex(PRICE_KEY, 'is not an instance type (t3.medium) or a DB class (db.t3.micro)'), z.number(price).min(0, price))
    .prefault(s.default as Record<string, number>);
}

/**
 * `lambda.timeoutSeconds`: default and minimum from the functions' call
 * budget (settings.json `callBudget`, from CALL_BUDGET and SEQUENTIAL_CALLS in
 * functions/core/src/settings.rs), at most Lambda's 900. Below the minimum the
 * busiest function's calls, each allowed its operation timeout, may not fit.
 * (That it stays below the Lambda Tasks' TimeoutSeconds is checked against
 * the definition, in lib/app.ts.)
 */
function lambdaTimeoutSeconds() {
  const b = functionSettings().callBudget;
  const most = Math.max(...Object.values(b.sequentialCalls));
  const busiest = Object.entries(b.sequentialCalls)
    .filter(([, n]) => n === most)
    .map(([f]) => f)
    .join(', ');
  const min = b.lambdaTimeoutSeconds;
  const why =
    `the call budget's minimum: ${busiest} makes ${most} AWS calls one after another, each allowed ${b.operationSeconds} s ` +
    `(the SDK's per-call operation timeout, retries included), plus ${b.marginSeconds} s margin ` +
    '(CALL_BUDGET and SEQUENTIAL_CALLS in functions/core/src/settings.rs)';
  const e = says((v) =>
    !isInt(v) ? `expected an integer, got ${show(v)}` : v < min ? `${v} is below ${min}, ${why}` : `${v} is out of range ${min}..900`,
  );
  return z.int(e).min(min, e).max(900, e).prefault(b.defaultLambdaTimeoutSeconds);
}

/**
 * The execution input fields of settings.json (`input`): anything else is
 * rejected. A seconds field's range ends at another field's value, so
 * `crossChecks` checks it.
 */
function executionInput() {
  const shape: Record<string, z.ZodOptional<z.ZodType<boolean | number>>> = {};
  for (const [name, f] of Object.entries(functionSettings().input)) {
    // The stack's own triggers (cleanup rule, guard, sweeper) set the other fields.
    if (f.setBy !== 'operator') continue;
    if (f.type !== 'boolean' && f.type !== 'seconds') throw new SettingsError([`input.${name}: an operator field of type ${f.type} is not supported`]);
    shape[name] = (f.type === 'boolean' ? z.boolean() : z.int(says((v) => `expected a whole number of seconds, got ${show(v)}`))).optional();
  }
  return z.strictObject(shape);
}

// ---------------------------------------------------------------- the schema

function buildSchema() {
  const instanceId = says((v) => `${show(v)} is not an EC2 instance id (i- followed by 8 or 17 hex digits)`);
  const instanceIds = says(() => 'expected a non-empty list of EC2 instance ids');
  const command = says(() => 'expected a non-empty shell command string');
  const commands = says(() => 'expected a non-empty list of shell command strings');
  const email = says((v) => `${show(v)} is not an email address`);
  const retention = says((v) =>
    isInt(v) ? `${v} is not a CloudWatch Logs retention (one of ${LOG_RETENTION_DAYS.join(', ')})` : `expected an integer, got ${show(v)}`,
  );

  return z
    .strictObject({
      stackName: text(STACK_NAME, 'a CloudFormation stack name (a letter, then letters, digits, hyphens)')
        // It names the job document (`<stackName>-Job`, lib/jobdocument.ts): SSM's rules apply.
        .refine((name) => name.length <= 124, 'at most 124 characters (the job document is named <stackName>-Job, at most 128)')
        .refine(
          (name) => !RESERVED_DOCUMENT_PREFIXES.some((prefix) => name.toLowerCase().startsWith(prefix)),
          `must not begin with ${RESERVED_DOCUMENT_PREFIXES.join(', ')} (SSM reserves them for AWS document names, and the job document is named <stackName>-Job)`,
        )
        .default('MakenaideOrchestrator'),
      workflowName: stringSetting('workflowName', text(WORKFLOW_NAME, 'a workflow name (1-64 letters, digits, _ or -)')),
      dbInstanceIdentifier: requiredSetting(
        'dbInstanceIdentifier',
        text(
          DB_IDENTIFIER,
          'an RDS DB instance identifier (1-63 letters, digits, hyphens; starts with a letter; no trailing or double hyphen)',
        ).refine((id) => !id.endsWith('-'), 'must not end with a hyphen'),
      ),
      workerInstanceIds: requiredSetting(
        'workerInstanceIds',
        z
          .array(z.string(instanceId).regex(INSTANCE_ID, instanceId), instanceIds)
          .min(1, instanceIds)
          .superRefine((ids: unknown, ctx) => {
            if (!Array.isArray(ids)) return;
            ids.forEach((id, i) => {
              if (INSTANCE_ID.test(id) && ids.indexOf(id) < i) ctx.addIssue({ code: 'custom', path: [i], message: `${id} is listed twice` });
            });
          }, ALWAYS),
      ),
      // The job document's commands and directory (lib/jobdocument.ts), in no
      // function's environment.
      jobCommands: z
        .array(
          z
            .string(command)
            .refine((cmd) => cmd.trim() !== '', command)
            .superRefine(noSecret('the job document, the template and SSM command history')),
          commands,
        )
        .min(1, commands),
      jobWorkingDirectory: text(/^\/\S*$/, 'an absolute directory path without spaces').superRefine(noSecret('the job document and the template')),
      timeouts: z
        .strictObject({
          jobSeconds: secondsSetting('timeouts.jobSeconds'),
          jobMaxSeconds: secondsSetting('timeouts.jobMaxSeconds'),
          rdsReadySeconds: secondsSetting('timeouts.rdsReadySeconds'),
          ec2ReadySeconds: secondsSetting('timeouts.ec2ReadySeconds'),
          rdsStopSeconds: secondsSetting('timeouts.rdsStopSeconds'),
          // Checked against the execution timeout in crossChecks. Shorter than
          // rdsReadySeconds + ec2ReadySeconds is allowed (a tight window): a run
          // whose start takes longer ends LaunchWindowMissed.
          launchWindowSeconds: secondsSetting('timeouts.launchWindowSeconds'),
        })
        .superRefine((t: unknown, ctx) => {
          const [jobSeconds, jobMaxSeconds] = [valueAt(t, 'jobSeconds'), valueAt(t, 'jobMaxSeconds')];
          if (isInt(jobSeconds) && isInt(jobMaxSeconds) && jobSeconds > jobMaxSeconds) {
            ctx.addIssue({ code: 'custom', path: ['jobSeconds'], message: `${jobSeconds} exceeds timeouts.jobMaxSeconds (${jobMaxSeconds})` });
          }
        }, ALWAYS)
        .prefault({}),
      pollSeconds: z
        .strictObject({
          rds: secondsSetting('pollSeconds.rds'),
          ec2: secondsSetting('pollSeconds.ec2'),
          job: secondsSetting('pollSeconds.job'),
        })
        .prefault({}),
      rdsStopPolicy: choiceSetting('rdsStopPolicy'),
      ec2StopPolicy: choiceSetting('ec2StopPolicy'),
      metricsNamespace: stringSetting(
        'metricsNamespace',
        text(NAMESPACE, 'a CloudWatch namespace (1-255 of A-Za-z0-9 . - _ / # :)').refine(
          (ns) => !ns.startsWith('AWS/'),
          'must not start with AWS/ (reserved)',
        ),
      ),
      scheduleIntervalHours: numberSetting('scheduleIntervalHours', 'a number of hours'),
      priceOverrides: priceSetting('priceOverrides'),
      schedule: z
        .strictObject({
          enabled: z.boolean().default(true),
          cron: z
            .string()
            .superRefine((cron, ctx) => {
              const problem = checkCron(cron);
              if (problem) ctx.addIssue(problem);
            })
            .default('0 1,5,9,13,17,21 * * ? *'),
          timeZone: z
            .string()
            .refine(isTimeZone, says((v) => `${show(v)} is not an IANA time zone (e.g. Asia/Seoul, UTC)`))
            .default('Asia/Seoul'),
          input: executionInput().prefault({}),
          retryAttempts: int(0, 185).default(3),
          maximumEventAgeSeconds: int(60, 86400).default(3600),
        })
        .prefault({}),
      // null, absent or "" for none.
      alarmEmail: z
        .string(email)
        .refine((v) => v === '' || EMAIL.test(v), email)
        .transform((v) => v || null)
        .nullable()
        .default(null),
      logRetentionDays: z
        .int(retention)
        .refine((days) => LOG_RETENTION_DAYS.includes(days), retention)
        .default(7),
      // Encryption at rest with a customer managed key (lib/encryption.ts): the
      // alarm topic, every log group (jobOutput.kmsKeyArn keeps the job output's) and the
      // Lambda environments. null: the services' own keys.
      kmsKeyArn: text(KMS_KEY_ARN, 'a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>) or null')
        .nullable()
        .default(null),
      // The job's stdout/stderr in CloudWatch Logs (JOB_LOG_GROUP, set by the stack).
      jobOutput: z
        .strictObject({
          cloudWatch: z.boolean(says((v) => `expected true (a job output log group) or false (none), got ${show(v)}`)).default(true),
          kmsKeyArn: text(KMS_KEY_ARN, 'a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>) or null')
            .nullable()
            .default(null),
          workerRoleName: text(IAM_ROLE_NAME, "an IAM role name (1-64 of letters, digits, +=,.@_-; the name, not the ARN) or null")
            .nullable()
            .default(null),
        })
        .superRefine((j: unknown, ctx) => {
          if (valueAt(j, 'cloudWatch') !== false) return;
          for (const key of ['kmsKeyArn', 'workerRoleName']) {
            const v = valueAt(j, key);
            if (v !== null && v !== undefined) {
              ctx.addIssue({ code: 'custom', path: [key], message: `has no effect with jobOutput.cloudWatch false (no log group): set it to null` });
            }
          }
        }, ALWAYS)
        .prefault({}),
      logExecutionData: z.boolean().default(false),
      tracing: z.boolean().default(false),
      // null (or absent): derived from the deadlines, see executionTimeoutSeconds().
      stateMachineTimeoutSeconds: int(60, 31536000).nullable().default(null),
      // The stack's own triggers (statemachine/rules.json), each with its switch.
      guards: z
        .strictObject({
          cleanupAfterEnd: onOff(),
          dbAutoStartGuard: onOff(),
          sweeper: onOff(),
          sweepSchedule: z
            .string(says((v) => `expected a schedule expression string, got ${show(v)}`))
            .superRefine((expr, ctx) => {
              const problem = checkScheduleExpression(expr);
              if (problem) ctx.addIssue(problem);
            })
            .default(readRules().sweeper.scheduleExpression),
        })
        .prefault({}),
      lambda: z
        .strictObject({
          memorySizeMb: int(128, 10240).default(128),
          timeoutSeconds: lambdaTimeoutSeconds(),
          // Of every function; the packaged zips (`make package ARCH=...`) must match it.
          architecture: z
            .enum(LAMBDA_ARCHITECTURES, says((v) => `${show(v)} is not one of ${LAMBDA_ARCHITECTURES.join(', ')}`))
            .default('arm64'),
        })
        .prefault({}),
      // How a deploy moves the `live` alias to the new workflow version
      // (AWS::StepFunctions::StateMachineAlias DeploymentPreference).
      rollout: z
        .strictObject({
          type: z.enum(ROLLOUT_TYPES, says((v) => `${show(v)} is not one of ${ROLLOUT_TYPES.join(', ')}`)).default('ALL_AT_ONCE'),
          // CloudFormation's bounds: 1..99 percent, 1..2100 minutes.
          percentage: int(1, 99).optional(),
          intervalMinutes: int(1, 2100).optional(),
        })
        .superRefine((r, ctx) => {
          const gradual = r.type !== 'ALL_AT_ONCE';
          for (const field of ['percentage', 'intervalMinutes'] as const) {
            if (gradual && r[field] === undefined) {
              ctx.addIssue({ code: 'custom', path: [field], message: `required with type ${r.type}` });
            }
            if (!gradual && r[field] !== undefined) {
              ctx.addIssue({ code: 'custom', path: [field], message: 'only with type CANARY or LINEAR' });
            }
          }
        })
        .prefault({}),
    })
    .superRefine(crossChecks, ALWAYS);
}

/** The alias' deployment types (CloudFormation `DeploymentPreference.Type`). */
export const ROLLOUT_TYPES = ['ALL_AT_ONCE', 'CANARY', 'LINEAR'] as const;

/**
 * Checks across groups. They run even when other fields failed, so they
 * read defensively and skip what they cannot check.
 */
function crossChecks(config: unknown, ctx: z.core.$RefinementCtx<unknown>): void {
  // schedule.input seconds fields: from their min to the field their maxSetting maps to.
  for (const [name, f] of Object.entries(functionSettings().input)) {
    if (f.type !== 'seconds') continue;
    const value = valueAt(config, `schedule.input.${name}`);
    const maxField = fieldOfVariable(f.maxSetting);
    const max = valueAt(config, maxField);
    if (isInt(value) && (value < f.min || (isInt(max) && value > max))) {
      ctx.addIssue({
        code: 'custom',
        path: ['schedule', 'input', name],
        message: `${value} is out of range ${f.min}..${isInt(max) ? `${max} (${maxField})` : maxField}`,
      });
    }
  }

  // The state machine's overall deadline must leave room for every Lambda
  // deadline (each loop may overshoot it by one poll interval) plus cleanup.
  // Unset, it is exactly that (executionTimeoutSeconds); set, it must exceed it.
  const t = valueAt(config, 'timeouts') as TimeoutsConfig;
  const p = valueAt(config, 'pollSeconds') as PollSecondsConfig;
  const configured = valueAt(config, 'stateMachineTimeoutSeconds');
  const parts = [t?.rdsReadySeconds, t?.ec2ReadySeconds, t?.jobMaxSeconds, t?.rdsStopSeconds, p?.rds, p?.ec2, p?.job];
  const minimum = parts.every(isInt) ? minimumStateMachineTimeout(t, p) : undefined;
  let timeout: number | undefined;
  if (configured === null || configured === undefined) {
    timeout = minimum;
  } else if (isInt(configured)) {
    if (minimum !== undefined && configured <= minimum) {
      ctx.addIssue({
        code: 'custom',
        path: ['stateMachineTimeoutSeconds'],
        message:
          `${configured} must exceed ${minimum} = timeouts.rdsReadySeconds (${t.rdsReadySeconds}) + ` +
          `timeouts.ec2ReadySeconds (${t.ec2ReadySeconds}) + timeouts.jobMaxSeconds (${t.jobMaxSeconds}) + ` +
          `timeouts.ec2ReadySeconds again, for the workers' stop (${t.ec2ReadySeconds}) + ` +
          `timeouts.rdsStopSeconds (${t.rdsStopSeconds}) + the poll intervals (${pollAllowance(p)}) + ` +
          `a cleanup margin (${CLEANUP_MARGIN_SECONDS}): ` +
          'a state machine timeout skips cleanup, so the Lambda deadlines must fire first',
      });
    } else {
      timeout = configured;
    }
  }

  // The launch window counts from the execution's start: one longer than the
  // execution can live never ends. (Checked against a valid timeout only: an
  // invalid one has its own problem above.)
  const window = t?.launchWindowSeconds;
  if (isInt(window) && timeout !== undefined && window > timeout) {
    const derived = configured === null || configured === undefined ? ', derived from the deadlines' : '';
    ctx.addIssue({
      code: 'custom',
      path: ['timeouts', 'launchWindowSeconds'],
      message:
        `${window} exceeds the execution timeout, stateMachineTimeoutSeconds (${timeout}${derived}): ` +
        'a launch window longer than an execution can live is meaningless',
    });
  }
}

let schema: ReturnType<typeof buildSchema> | undefined;

/** The schema (built on first use: it reads settings.json). Throws SettingsError. */
export function configSchema(): ReturnType<typeof buildSchema> {
  return (schema ??= buildSchema());
}

export type OrchestratorConfig = z.output<ReturnType<typeof buildSchema>>;
export type TimeoutsConfig = OrchestratorConfig['timeouts'];
export type PollSecondsConfig = OrchestratorConfig['pollSeconds'];
export type ScheduleConfig = OrchestratorConfig['schedule'];
/** Execution input the schedule sends; the same fields an operator may pass. */
export type ExecutionInput = ScheduleConfig['input'];
export type LambdaConfig = OrchestratorConfig['lambda'];
/** The Lambda architectures `make package` builds for (`ARCH=`), arm64 by default. */
export const LAMBDA_ARCHITECTURES = ['arm64', 'x86_64'] as const;
export type LambdaArchitecture = (typeof LAMBDA_ARCHITECTURES)[number];
export type RdsStopPolicy = OrchestratorConfig['rdsStopPolicy'];
export type Ec2StopPolicy = OrchestratorConfig['ec2StopPolicy'];
export type GuardsConfig = OrchestratorConfig['guards'];
export type JobOutputConfig = OrchestratorConfig['jobOutput'];

/** The on/off fields of `guards`: the switches statemachine/rules.json may name. */
export function guardSwitches(): string[] {
  const guards = unwrapped(configSchema().shape.guards as z.ZodType) as z.ZodObject;
  return Object.entries(guards.shape as Record<string, z.ZodType>)
    .filter(([, f]) => unwrapped(f) instanceof z.ZodBoolean)
    .map(([k]) => k);
}

/** Messages of the problems no field words itself. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  const got = show(issue.input);
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'required, not set';
      const expected: Record<string, string> = {
        boolean: 'true or false',
        string: 'a string',
        number: 'a number',
        int: 'an integer',
        object: 'an object',
        record: 'an object',
        array: 'a list',
      };
      return `expected ${expected[issue.expected] ?? issue.expected}, got ${got}`;
    }
    case 'invalid_value':
      return `${got} is not one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_key':
      return issue.issues[0]?.message;
    default:
      return undefined;
  }
}

/** A zod issue path as the config spells it: `schedule.input.foo`, `workerInstanceIds[1]`. */
function fieldPath(parts: readonly PropertyKey[]): string {
  return parts.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('') || '(config)';
}

function problemsOf(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${fieldPath([...issue.path, key])}: unknown config field`);
  }
  return [`${fieldPath(issue.path)}: ${issue.message}`];
}

// ---------------------------------------------------------------- the fields, from the schema

/** The schema inside default/optional/nullable/transform wrappers. */
function unwrapped(schema: z.ZodType): z.ZodType {
  for (;;) {
    if (schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault || schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) {
      schema = schema.unwrap() as z.ZodType;
    } else if (schema instanceof z.ZodPipe) {
      schema = schema.in as z.ZodType;
    } else {
      return schema;
    }
  }
}

/** The schema of a dotted field path, or undefined when there is no such field. */
function fieldSchema(dotted: string): z.ZodType | undefined {
  let schema: z.ZodType = configSchema();
  for (const part of dotted.split('.')) {
    const obj = unwrapped(schema);
    if (!(obj instanceof z.ZodObject) || !Object.hasOwn(obj.shape, part)) return undefined;
    schema = obj.shape[part] as z.ZodType;
  }
  return schema;
}

/** Every field a config file or a `-c` override may set, as dotted paths (nested objects and their fields). */
export function configFieldPaths(): string[] {
  const paths: string[] = [];
  const walk = (schema: z.ZodType, prefix: string) => {
    const obj = unwrapped(schema);
    if (!(obj instanceof z.ZodObject)) return;
    for (const [key, child] of Object.entries(obj.shape as Record<string, z.ZodType>)) {
      paths.push(prefix + key);
      walk(child, `${prefix}${key}.`);
    }
  };
  walk(configSchema(), '');
  return paths;
}

/** The default of every top-level field that has one (nested objects in full). */
export function configDefaults(): Record<string, unknown> {
  const defaults: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(configSchema().shape as Record<string, z.ZodType>)) {
    const r = field.safeParse(undefined);
    if (r.success) defaults[key] = r.data;
  }
  return defaults;
}

// ---------------------------------------------------------------- loading

/** Context keys the app reads that are not config fields. */
export const APP_CONTEXT_KEYS = [
  'config',
  'placeholderCode',
  'lambdaZipDir',
  'definitionFile',
  'rulesFile',
  'sourceRevision',
  // A deploy (cdk/scripts/cdk.sh passes `-c deploy=true` to `cdk deploy`), and
  // the example values a deploy may keep: EXAMPLE_VALUES below.
  'deploy',
  'allowExampleValues',
] as const;

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid deployment config (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads a `-c` value (always a string from the CLI, typed in-process) into
 * what the field's schema takes: lists as `a,b` or JSON, objects as JSON,
 * `null` or nothing for a nullable field.
 */
function coerceOverride(field: string, schema: z.ZodType, value: unknown): { value?: unknown; problem?: string } {
  if (typeof value !== 'string') return { value };
  const text = value.trim();
  const base = unwrapped(schema);
  if (text === 'null' && schema.safeParse(null).success) return { value: null };
  if (base instanceof z.ZodNumber) {
    if (text === '' || !Number.isFinite(Number(text))) return { problem: `${field}: expected a number, got ${JSON.stringify(value)}` };
    return { value: Number(text) };
  }
  if (base instanceof z.ZodBoolean) {
    if (text === 'true' || text === 'false') return { value: text === 'true' };
    return { problem: `${field}: expected true or false, got ${JSON.stringify(value)}` };
  }
  if (base instanceof z.ZodArray && !text.startsWith('[')) return { value: text === '' ? [] : text.split(',').map((s) => s.trim()) };
  if (base instanceof z.ZodArray || base instanceof z.ZodObject || base instanceof z.ZodRecord) {
    try {
      return { value: JSON.parse(text) };
    } catch (e) {
      return { problem: `${field}: not valid JSON (${(e as Error).message})` };
    }
  }
  if ((text === '' || text === 'null') && schema.safeParse(null).success) return { value: null };
  return { value };
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur = target;
  for (const part of parts.slice(0, -1)) {
    if (!isObject(cur[part])) cur[part] = {};
    cur = cur[part] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]] = value;
}

/** `$comment` (any `$` key) documents a config file; it is not a field. */
function withoutComments(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutComments);
  if (!isObject(v)) return v;
  return Object.fromEntries(Object.entries(v).flatMap(([k, x]) => (k.startsWith('$') ? [] : [[k, withoutComments(x)]])));
}

export interface LoadOptions {
  /** The config file; its fields are the base. */
  readonly file?: string;
  /** A config object instead of (or on top of) a file. */
  readonly base?: Record<string, unknown>;
  /** All CDK context; keys that name config fields override them. */
  readonly context?: Record<string, unknown>;
}

/** Reads the file, applies the overrides and the defaults, and validates. Throws ConfigError. */
export function loadConfig(opts: LoadOptions): OrchestratorConfig {
  const source = opts.file ? path.relative(process.cwd(), opts.file) || opts.file : 'in-memory config';
  const problems: string[] = [];
  let raw: Record<string, unknown> = {};
  if (opts.file) {
    let text: string;
    try {
      text = fs.readFileSync(opts.file, 'utf8');
    } catch (e) {
      throw new ConfigError(source, [`cannot read the config file: ${(e as Error).message}`]);
    }
    try {
      const parsed = JSON.parse(text) as unknown;
      if (!isObject(parsed)) throw new Error('the top level must be an object');
      raw = parsed;
    } catch (e) {
      throw new ConfigError(source, [`not valid JSON: ${(e as Error).message}`]);
    }
  }
  if (opts.base) raw = { ...raw, ...structuredClone(opts.base) };
  raw = withoutComments(raw) as Record<string, unknown>;

  // Nested objects may be overridden whole (`-c timeouts='{"jobSeconds":5400,...}'`)
  // or per leaf (`-c timeouts.jobSeconds=5400`).
  for (const [key, value] of Object.entries(opts.context ?? {})) {
    if ((APP_CONTEXT_KEYS as readonly string[]).includes(key)) continue;
    if (!fieldSchema(key.split('.')[0])) continue; // not ours (CDK feature flags, etc.)
    const schema = fieldSchema(key);
    if (!schema) {
      problems.push(`${key}: unknown config field (override -c ${key}=...)`);
      continue;
    }
    const coerced = coerceOverride(key, schema, value);
    if (coerced.problem) problems.push(coerced.problem);
    else setPath(raw, key, coerced.value);
  }
  if (problems.length) throw new ConfigError(source, problems);
  return validateConfig(raw, source);
}

/** Validates a raw (parsed, overridden) config and fills in the defaults. Throws ConfigError. */
export function validateConfig(raw: Record<string, unknown>, source = 'in-memory config'): OrchestratorConfig {
  const result = configSchema().safeParse(withoutComments(raw), { error: describeIssue });
  if (!result.success) throw new ConfigError(source, result.error.issues.flatMap(problemsOf));
  // Counts the stack-set variables too: the job output group and the job
  // document have fixed names, so the values their Refs resolve to are known
  // here, byte for byte.
  const environment = lambdaEnvironment(result.data);
  const size = environmentSize(environment);
  if (size > 4096) {
    // Name the config field behind the largest variable: the one to shorten.
    const [largest] = (FUNCTION_SETTINGS as readonly FunctionSetting[])
      .map(({ field, variable }) => ({ field, bytes: Buffer.byteLength(environment[variable] ?? '') }))
      .sort((x, y) => y.bytes - x.bytes);
    throw new ConfigError(source, [
      `${largest.field}: the Lambda environment would be ${size} bytes, over Lambda's 4 KB limit; ${largest.field} is its largest part (${largest.bytes} bytes)`,
    ]);
  }
  const documentBytes = jobDocumentSize(result.data);
  if (documentBytes > JOB_DOCUMENT_MAX_BYTES) {
    throw new ConfigError(source, [
      `jobCommands: the job document would be ${documentBytes} bytes, over SSM's ${JOB_DOCUMENT_MAX_BYTES} byte limit: shorten jobCommands (run a script on the instance)`,
    ]);
  }
  return result.data;
}

// ---------------------------------------------------------------- cross-field rules and cron

/**
 * One poll interval per polling loop, by which each loop may overshoot its
 * deadline: the DB start (`pollSeconds.rds`), the workers' start
 * (`pollSeconds.ec2`), the job (`pollSeconds.job`), the workers' stop
 * (`pollSeconds.ec2` again: it waits `EC2_POLL_SECONDS`) and the DB stop
 * (`pollSeconds.rds` again: it waits `RDS_POLL_SECONDS`). Each stop loop
 * counts once, like its deadline (see CLEANUP_MARGIN_SECONDS).
 */
function pollAllowance(p: PollSecondsConfig): number {
  return p.rds + p.ec2 + p.job + p.ec2 + p.rds;
}

/**
 * The execution timeout the deadlines imply: every Lambda deadline (the DB
 * start, the workers' start, the longest job, the workers' stop, bounded by
 * `timeouts.ec2ReadySeconds` too, and the DB stop; each stop can wait that
 * long once, on the normal path or in the cleanup), each loop's overshoot by
 * one poll interval, and the cleanup margin. It is the default of
 * `stateMachineTimeoutSeconds`, and the value a configured one must exceed.
 * The launch window only ends runs sooner, so it is not part of it.
 */
export function minimumStateMachineTimeout(t: TimeoutsConfig, p: PollSecondsConfig): number {
  const workersStopSeconds = t.ec2ReadySeconds;
  return (
    t.rdsReadySeconds +
    t.ec2ReadySeconds +
    t.jobMaxSeconds +
    workersStopSeconds +
    t.rdsStopSeconds +
    pollAllowance(p) +
    CLEANUP_MARGIN_SECONDS
  );
}

/** THE execution timeout (the definition's `TimeoutSeconds`): the configured one, or else the derived one. */
export function executionTimeoutSeconds(c: Pick<OrchestratorConfig, 'stateMachineTimeoutSeconds' | 'timeouts' | 'pollSeconds'>): number {
  return c.stateMachineTimeoutSeconds ?? minimumStateMachineTimeout(c.timeouts, c.pollSeconds);
}

/**
 * Checks an EventBridge Scheduler expression for a recurring schedule:
 * `rate(N unit)` (minute/minutes, hour/hours, day/days; singular for 1) or
 * `cron(six fields)`. Returns a problem or undefined.
 */
export function checkScheduleExpression(expr: string): string | undefined {
  const what = 'is not rate(N minutes|hours|days) or cron(six fields)';
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expr);
  if (rate) {
    const n = Number(rate[1]);
    if (n < 1) return `${JSON.stringify(expr)}: the rate must be at least 1`;
    const singular = !rate[2].endsWith('s');
    if ((n === 1) !== singular) return `${JSON.stringify(expr)}: write ${n === 1 ? `1 ${rate[2].replace(/s$/, '')}` : `${n} ${rate[2]}s`}`;
    return undefined;
  }
  const cron = /^cron\((.*)\)$/.exec(expr);
  if (cron) return checkCron(cron[1]);
  return `${JSON.stringify(expr)} ${what}`;
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks an EventBridge Scheduler cron expression: six fields
 * (minutes hours day-of-month month day-of-week year), exactly one of
 * day-of-month and day-of-week is `?`. Returns a problem or undefined.
 */
export function checkCron(expr: string): string | undefined {
  const fields = expr.trim().split(/\s+/);
  const names = ['minutes', 'hours', 'day-of-month', 'month', 'day-of-week', 'year'];
  if (fields.length !== 6) {
    return `${JSON.stringify(expr)} must have 6 fields (${names.join(' ')}), found ${fields.length}; give the fields without cron(...)`;
  }
  const month = '(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)';
  const day = '(?:SUN|MON|TUE|WED|THU|FRI|SAT)';
  const item = (num: string) => `(?:\\*|${num}(?:-${num})?)(?:/\\d+)?`;
  const list = (num: string) => new RegExp(`^${item(num)}(?:,${item(num)})*$`, 'i');
  const patterns = [
    list('\\d{1,2}'),
    list('\\d{1,2}'),
    new RegExp(`^(?:\\?|L|\\d{1,2}W|${list('\\d{1,2}').source.slice(1, -1)})$`),
    list(`(?:\\d{1,2}|${month})`),
    new RegExp(`^(?:\\?|L|(?:\\d|${day})L|(?:\\d|${day})#[1-5]|${list(`(?:\\d|${day})`).source.slice(1, -1)})$`, 'i'),
    list('\\d{4}'),
  ];
  for (let i = 0; i < 6; i++) {
    if (!patterns[i].test(fields[i])) return `${JSON.stringify(expr)}: the ${names[i]} field ${JSON.stringify(fields[i])} is malformed`;
  }
  const ranges: [number, number][] = [
    [0, 59],
    [0, 23],
    [1, 31],
    [1, 12],
    [1, 7],
    [1970, 2199],
  ];
  for (let i = 0; i < 6; i++) {
    for (const n of fields[i].replace(/\/\d+/g, '').match(/\d+/g) ?? []) {
      if (i === 4 && /#/.test(fields[i])) continue;
      const v = Number(n);
      if (v < ranges[i][0] || v > ranges[i][1]) {
        return `${JSON.stringify(expr)}: ${v} is out of range ${ranges[i][0]}-${ranges[i][1]} in the ${names[i]} field`;
      }
    }
  }
  const dom = fields[2] === '?';
  const dow = fields[4] === '?';
  if (dom === dow) return `${JSON.stringify(expr)}: exactly one of day-of-month and day-of-week must be ?`;
  return undefined;
}

/** The hours between runs the cron expression implies when it is regular, for a consistency warning. */
export function cronIntervalHours(expr: string): number | undefined {
  const f = expr.trim().split(/\s+/);
  if (f.length !== 6 || f[2] !== '*' && f[2] !== '?' || f[3] !== '*' || (f[4] !== '*' && f[4] !== '?')) return undefined;
  const step = /^(?:\*|\d{1,2})\/(\d+)$/.exec(f[1]);
  if (step) return Number(step[1]);
  if (!/^\d{1,2}(,\d{1,2})*$/.test(f[1])) return undefined;
  const hours = f[1].split(',').map(Number).sort((a, b) => a - b);
  if (hours.length === 1) return 24;
  const gaps = hours.map((h, i) => (i === 0 ? h + 24 - hours[hours.length - 1] : h - hours[i - 1]));
  return gaps.every((g) => g === gaps[0]) ? gaps[0] : undefined;
}

// ---------------------------------------------------------------- the contract

/**
 * The job output log group's name, or undefined with `jobOutput.cloudWatch`
 * false. A fixed name derived from the stack name (unique per account and
 * region) rather than a generated one: the 4 KB environment check counts the
 * exact value (a generated name is a token at synth time), and the operator
 * can write the instance profile statement and the KMS key policy (whose
 * encryption context names the group's ARN) before the first deploy.
 */
export function jobOutputLogGroupName(c: Pick<OrchestratorConfig, 'stackName' | 'jobOutput'>): string | undefined {
  return c.jobOutput.cloudWatch ? `/makenaide/${c.stackName}/job-output` : undefined;
}

/** The values the stack gives the STACK_SET_VARIABLES, as they are once deployed. */
export function stackSetEnvironment(c: OrchestratorConfig): Record<StackSetVariable, string> {
  return { JOB_LOG_GROUP: jobOutputLogGroupName(c) ?? '', JOB_DOCUMENT_NAME: jobDocumentName(c) };
}

/**
 * The environment every function receives: one variable per FUNCTION_SETTINGS
 * entry, plus the STACK_SET_VARIABLES (the stack passes its resources'
 * references; by default their deployed values, as the size check needs).
 */
export function lambdaEnvironment(c: OrchestratorConfig, stackSet: Record<StackSetVariable, string> = stackSetEnvironment(c)): Record<string, string> {
  const asText = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v));
  return {
    ...Object.fromEntries(
      (FUNCTION_SETTINGS as readonly FunctionSetting[]).map(({ field, variable, encode }) => [variable, (encode ?? asText)(valueAt(c, field))]),
    ),
    ...Object.fromEntries(STACK_SET_VARIABLES.map((v) => [v, stackSet[v]])),
  };
}

/** Lambda counts the bytes of every key and value. */
export function environmentSize(env: Record<string, string>): number {
  return Object.entries(env).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
}

// ---------------------------------------------------------------- the example values

/**
 * The example values of the four required fields: the committed
 * cdk/config.json holds exactly these (a test checks it), declared here once.
 * A synth warns about each field still holding its example (one line); a
 * deploy (`-c deploy=true`, which `cdk/scripts/cdk.sh deploy` and `make
 * deploy` pass) refuses them, naming each field and how to set it, unless
 * `-c allowExampleValues=<field>,...` says that value really is yours.
 */
export const EXAMPLE_VALUES = {
  dbInstanceIdentifier: 'makenaide-db',
  workerInstanceIds: ['i-0123456789abcdef0'],
  jobCommands: ['./run_batch.sh'],
  jobWorkingDirectory: '/home/ec2-user/makenaide',
} as const;

export type ExampleField = keyof typeof EXAMPLE_VALUES;

export const EXAMPLE_FIELDS = Object.keys(EXAMPLE_VALUES) as ExampleField[];

/** What each example field should hold instead, for the refusal. */
const EXAMPLE_FIELD_WANTS: Record<ExampleField, string> = {
  dbInstanceIdentifier: 'the identifier of your RDS DB instance',
  workerInstanceIds: 'the ids of your worker EC2 instances',
  jobCommands: "your batch job's shell commands",
  jobWorkingDirectory: 'the directory they run in on the workers',
};

/**
 * The fields of `c` that hold an example value: the example itself, and for
 * `workerInstanceIds` any list with the example id in it (an instance nobody
 * has: every run would fail to start it).
 */
export function exampleValueFields(c: Pick<OrchestratorConfig, ExampleField>): ExampleField[] {
  return EXAMPLE_FIELDS.filter((field) =>
    field === 'workerInstanceIds'
      ? c.workerInstanceIds.some((id) => (EXAMPLE_VALUES.workerInstanceIds as readonly string[]).includes(id))
      : JSON.stringify(c[field]) === JSON.stringify(EXAMPLE_VALUES[field]),
  );
}

/** `-c allowExampleValues=a,b` (a JSON list in-process too): the example fields a deploy may keep. */
export function allowedExampleFields(value: unknown, source: string): ExampleField[] {
  if (value === undefined || value === null || value === '') return [];
  const names = Array.isArray(value) ? value.map(String) : String(value).split(',').map((n) => n.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(EXAMPLE_FIELDS as string[]).includes(n));
  if (unknown.length) {
    throw new ConfigError(source, [
      `allowExampleValues: ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not a field with an example value (${EXAMPLE_FIELDS.join(', ')})`,
    ]);
  }
  return names as ExampleField[];
}

/** The one-line warning of a synth whose config still holds example values (undefined when none). */
export function exampleValuesWarning(fields: ExampleField[], source: string): string | undefined {
  if (!fields.length) return undefined;
  return `${source} still holds the example value of ${fields.join(', ')}: make deploy refuses ${fields.length === 1 ? 'it' : 'them'} until you set yours`;
}

/** One refusal line: the field, its value, why it is refused, what to set. */
function exampleProblem(field: ExampleField, c: Pick<OrchestratorConfig, ExampleField>): string {
  const value = JSON.stringify(c[field]);
  const why = value === JSON.stringify(EXAMPLE_VALUES[field]) ? 'is the example' : `holds the example id ${EXAMPLE_VALUES.workerInstanceIds[0]}`;
  return `${field}: ${value} ${why}: set ${EXAMPLE_FIELD_WANTS[field]}`;
}

/** A deploy of a config that still holds example values: each field, how to set it, how to keep one on purpose. */
export class ExampleValuesError extends ConfigError {
  constructor(
    source: string,
    readonly fields: ExampleField[],
    c: Pick<OrchestratorConfig, ExampleField>,
  ) {
    super(
      source,
      fields.map((f) => exampleProblem(f, c)),
    );
    this.name = 'ExampleValuesError';
    const mine = fields.find((f) => f !== 'workerInstanceIds') ?? fields[0];
    this.message = [
      `refusing to deploy the example values of ${source}:`,
      ...this.problems.map((p) => `  - ${p}`),
      `Set them in ${source}, or in a copy of it selected with make deploy CDK_ARGS="-c config=FILE" (FILE relative to cdk/),`,
      `or one at a time with -c FIELD=VALUE (e.g. CDK_ARGS="-c workerInstanceIds=i-0abc...,i-0def..."): cdk/README.md, "Deploying".`,
      `A value above that really is yours: name its field, e.g. make deploy CDK_ARGS="-c allowExampleValues=${mine}" (a,b for several).`,
    ].join('\n');
  }
}
