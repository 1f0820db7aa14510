/**
 * The deployment configuration: one typed object, read from a JSON file
 * (default `cdk/config.json`) with per-field `-c` overrides, validated before
 * any construct is created. Every problem names the field it is about.
 *
 * SECRETS NEVER BELONG HERE. Everything in this config ends up in the Lambda
 * environment, the CloudFormation template and the SSM command document
 * parameters, all readable by anyone with read access to the account. The job
 * reads its database credentials on the instance (Parameter Store / Secrets
 * Manager). `validateConfig` rejects job commands that obviously carry one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type RdsStopPolicy = 'always' | 'leave-as-found';

export interface TimeoutsConfig {
  /** Default job deadline, from the moment the command is sent. JOB_TIMEOUT_SECONDS. */
  readonly jobSeconds: number;
  /** Upper bound for an execution input `jobTimeoutSeconds`. JOB_TIMEOUT_MAX_SECONDS. */
  readonly jobMaxSeconds: number;
  /** Deadline for the DB to become `available`. RDS_READY_TIMEOUT_SECONDS. */
  readonly rdsReadySeconds: number;
  /** Deadline for the workers to be `running` with SSM `Online`. EC2_READY_TIMEOUT_SECONDS. */
  readonly ec2ReadySeconds: number;
}

export interface PollSecondsConfig {
  /** `retryAfterSeconds` of rds_check. RDS_POLL_SECONDS. */
  readonly rds: number;
  /** `retryAfterSeconds` of ec2_start. EC2_POLL_SECONDS. */
  readonly ec2: number;
  /** `retryAfterSeconds` of poll_ec2_state. JOB_POLL_SECONDS. */
  readonly job: number;
}

/** Execution input the schedule sends; the same fields an operator may pass. */
export interface ExecutionInput {
  readonly dryRun?: boolean;
  readonly jobTimeoutSeconds?: number;
}

export interface ScheduleConfig {
  /** false creates the schedule in the DISABLED state. */
  readonly enabled: boolean;
  /** The six EventBridge Scheduler cron fields, without `cron(...)`. */
  readonly cron: string;
  /** IANA time zone the cron expression is evaluated in. */
  readonly timeZone: string;
  /** Execution input of each scheduled run. */
  readonly input: ExecutionInput;
  /** Delivery retries when StartExecution fails (0..185). */
  readonly retryAttempts: number;
  /** Drop a delivery that could not be made within this many seconds (60..86400). */
  readonly maximumEventAgeSeconds: number;
}

export interface LambdaConfig {
  readonly memorySizeMb: number;
  readonly timeoutSeconds: number;
}

export interface OrchestratorConfig {
  readonly stackName: string;
  readonly workflowName: string;
  readonly dbInstanceIdentifier: string;
  readonly workerInstanceIds: string[];
  readonly jobCommands: string[];
  readonly jobWorkingDirectory: string;
  readonly timeouts: TimeoutsConfig;
  readonly pollSeconds: PollSecondsConfig;
  readonly rdsStopPolicy: RdsStopPolicy;
  readonly metricsNamespace: string;
  readonly scheduleIntervalHours: number;
  readonly priceOverrides: Record<string, number>;
  readonly schedule: ScheduleConfig;
  readonly alarmEmail: string | null;
  readonly logRetentionDays: number;
  readonly logExecutionData: boolean;
  readonly tracing: boolean;
  readonly stateMachineTimeoutSeconds: number;
  readonly lambda: LambdaConfig;
}

/**
 * Seconds the state machine timeout must leave after the last Lambda deadline
 * could fire, for the cleanup path (stop EC2, stop RDS, publish metrics) with
 * its retries: the worst case is dominated by `RdsNotStoppableYet` (12
 * attempts, delays 15 s x 1.5 capped at 60 s: about 10 minutes), plus the EC2
 * stop retries (about 1 minute) and Lambda service retries. A state machine
 * timeout skips cleanup, so the Lambda deadlines must always fire first.
 */
export const CLEANUP_MARGIN_SECONDS = 900;

/** CloudWatch Logs retention values the API accepts. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** Defaults of every optional field (the contract's defaults where it has one). */
export const DEFAULTS = {
  stackName: 'MakenaideOrchestrator',
  workflowName: 'makenaide',
  timeouts: { jobSeconds: 3600, jobMaxSeconds: 10800, rdsReadySeconds: 1800, ec2ReadySeconds: 900 },
  pollSeconds: { rds: 30, ec2: 15, job: 60 },
  rdsStopPolicy: 'always',
  metricsNamespace: 'Makenaide/Orchestrator',
  scheduleIntervalHours: 4,
  priceOverrides: {},
  schedule: {
    enabled: true,
    cron: '0 1,5,9,13,17,21 * * ? *',
    timeZone: 'Asia/Seoul',
    input: {},
    retryAttempts: 3,
    maximumEventAgeSeconds: 3600,
  },
  alarmEmail: null,
  logRetentionDays: 7,
  logExecutionData: false,
  tracing: false,
  stateMachineTimeoutSeconds: 16200,
  lambda: { memorySizeMb: 128, timeoutSeconds: 20 },
} as const;

/** Fields without a default. */
export const REQUIRED_FIELDS = ['dbInstanceIdentifier', 'workerInstanceIds', 'jobCommands', 'jobWorkingDirectory'] as const;

type Kind = 'string' | 'int' | 'number' | 'bool' | 'stringList' | 'object' | 'nullableString';

/**
 * Every field a config file or a `-c` override may set, and how a `-c`
 * string is read into it. Nested objects may be overridden whole
 * (`-c timeouts='{"jobSeconds":5400,...}'`) or per leaf (`-c timeouts.jobSeconds=5400`).
 */
export const FIELD_KINDS: Record<string, Kind> = {
  stackName: 'string',
  workflowName: 'string',
  dbInstanceIdentifier: 'string',
  workerInstanceIds: 'stringList',
  jobCommands: 'stringList',
  jobWorkingDirectory: 'string',
  timeouts: 'object',
  'timeouts.jobSeconds': 'int',
  'timeouts.jobMaxSeconds': 'int',
  'timeouts.rdsReadySeconds': 'int',
  'timeouts.ec2ReadySeconds': 'int',
  pollSeconds: 'object',
  'pollSeconds.rds': 'int',
  'pollSeconds.ec2': 'int',
  'pollSeconds.job': 'int',
  rdsStopPolicy: 'string',
  metricsNamespace: 'string',
  scheduleIntervalHours: 'number',
  priceOverrides: 'object',
  schedule: 'object',
  'schedule.enabled': 'bool',
  'schedule.cron': 'string',
  'schedule.timeZone': 'string',
  'schedule.input': 'object',
  'schedule.retryAttempts': 'int',
  'schedule.maximumEventAgeSeconds': 'int',
  alarmEmail: 'nullableString',
  logRetentionDays: 'int',
  logExecutionData: 'bool',
  tracing: 'bool',
  stateMachineTimeoutSeconds: 'int',
  lambda: 'object',
  'lambda.memorySizeMb': 'int',
  'lambda.timeoutSeconds': 'int',
};

/** Context keys the app reads that are not config fields. */
export const APP_CONTEXT_KEYS = ['config', 'placeholderCode', 'definitionFile'] as const;

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid deployment config (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads a `-c` value (always a string from the CLI, typed in-process) into the field's kind. */
export function coerceOverride(field: string, kind: Kind, value: unknown): { value?: unknown; problem?: string } {
  if (typeof value !== 'string') return { value };
  const text = value.trim();
  switch (kind) {
    case 'string':
      return { value };
    case 'nullableString':
      return { value: text === '' || text === 'null' ? null : value };
    case 'stringList':
      if (text.startsWith('[')) return parseJson(field, text);
      return { value: text === '' ? [] : text.split(',').map((s) => s.trim()) };
    case 'bool':
      if (text === 'true') return { value: true };
      if (text === 'false') return { value: false };
      return { problem: `${field}: expected true or false, got ${JSON.stringify(value)}` };
    case 'int':
    case 'number': {
      if (text === '' || !Number.isFinite(Number(text))) {
        return { problem: `${field}: expected a number, got ${JSON.stringify(value)}` };
      }
      return { value: Number(text) };
    }
    case 'object':
      return parseJson(field, text);
  }
}

function parseJson(field: string, text: string): { value?: unknown; problem?: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { problem: `${field}: not valid JSON (${(e as Error).message})` };
  }
}

function setPath(target: JsonObject, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur: JsonObject = target;
  for (const part of parts.slice(0, -1)) {
    if (!isObject(cur[part])) cur[part] = {};
    cur = cur[part] as JsonObject;
  }
  cur[parts[parts.length - 1]] = value as Json;
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
  let raw: JsonObject = {};
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
  if (opts.base) raw = { ...raw, ...(structuredClone(opts.base) as JsonObject) };
  // `$comment` keys document the file; they are not fields.
  for (const key of Object.keys(raw)) if (key.startsWith('$')) delete raw[key];

  for (const [key, value] of Object.entries(opts.context ?? {})) {
    if ((APP_CONTEXT_KEYS as readonly string[]).includes(key)) continue;
    const root = key.split('.')[0];
    if (!(root in FIELD_KINDS)) continue; // not ours (CDK feature flags, etc.)
    const kind = FIELD_KINDS[key];
    if (!kind) {
      problems.push(`${key}: unknown config field (override -c ${key}=...)`);
      continue;
    }
    const coerced = coerceOverride(key, kind, value);
    if (coerced.problem) problems.push(coerced.problem);
    else setPath(raw, key, coerced.value);
  }
  if (problems.length) throw new ConfigError(source, problems);
  return validateConfig(raw, source);
}

// ---------------------------------------------------------------- validation

const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;
// RDS: 1-63 letters, digits or hyphens; first a letter; no trailing hyphen or two hyphens in a row.
const DB_IDENTIFIER = /^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-)){0,62}$/;
const WORKFLOW_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
// CloudWatch namespaces: printable ASCII out of this set, not starting with AWS/.
const NAMESPACE = /^[A-Za-z0-9.\-_/#:]{1,255}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PRICE_KEY = /^(db\.)?[a-z0-9-]+\.[a-z0-9-]+$/;

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

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

class Checker {
  readonly problems: string[] = [];
  constructor(private readonly raw: JsonObject) {}

  private get(field: string): unknown {
    let cur: unknown = this.raw;
    for (const part of field.split('.')) {
      if (!isObject(cur)) return undefined;
      cur = cur[part];
    }
    return cur;
  }

  private fallback(field: string): unknown {
    let cur: unknown = DEFAULTS;
    for (const part of field.split('.')) {
      if (!isObject(cur)) return undefined;
      cur = (cur as Record<string, unknown>)[part];
    }
    return cur;
  }

  /** The value, or the default; `undefined` (with a problem) when required and absent. */
  value(field: string): unknown {
    const v = this.get(field);
    if (v !== undefined) return v;
    const d = this.fallback(field);
    if (d === undefined) this.problems.push(`${field}: required, not set`);
    return d;
  }

  fail(field: string, message: string): void {
    this.problems.push(`${field}: ${message}`);
  }

  str(field: string, re: RegExp, what: string): string {
    const v = this.value(field);
    if (v === undefined) return '';
    if (typeof v !== 'string') {
      this.fail(field, `expected a string, got ${JSON.stringify(v)}`);
      return '';
    }
    if (!re.test(v)) this.fail(field, `${JSON.stringify(v)} is not ${what}`);
    return v;
  }

  int(field: string, min: number, max: number): number {
    const v = this.value(field);
    if (v === undefined) return 0;
    if (!isInt(v)) {
      this.fail(field, `expected an integer, got ${JSON.stringify(v)}`);
      return 0;
    }
    if (v < min || v > max) this.fail(field, `${v} is out of range ${min}..${max}`);
    return v;
  }

  bool(field: string): boolean {
    const v = this.value(field);
    if (v === undefined) return false;
    if (typeof v !== 'boolean') this.fail(field, `expected true or false, got ${JSON.stringify(v)}`);
    return v === true;
  }

  /** Rejects fields in an object that the schema does not know (typos). */
  noUnknown(prefix: string, obj: unknown, known: string[]): void {
    if (!isObject(obj)) return;
    for (const key of Object.keys(obj)) {
      if (key.startsWith('$')) continue;
      if (!known.includes(key)) this.fail(prefix ? `${prefix}.${key}` : key, 'unknown config field');
    }
  }

  obj(field: string): JsonObject {
    const v = this.value(field);
    if (v === undefined) return {};
    if (!isObject(v)) {
      this.fail(field, `expected an object, got ${JSON.stringify(v)}`);
      return {};
    }
    return v;
  }
}

/** Validates a raw (parsed, overridden) config and fills in the defaults. Throws ConfigError. */
export function validateConfig(raw: Record<string, unknown>, source = 'in-memory config'): OrchestratorConfig {
  const c = new Checker(raw as JsonObject);
  const topLevel = Object.keys(FIELD_KINDS).filter((k) => !k.includes('.'));
  c.noUnknown('', raw, topLevel);
  for (const group of ['timeouts', 'pollSeconds', 'schedule', 'lambda']) {
    const known = Object.keys(FIELD_KINDS)
      .filter((k) => k.startsWith(`${group}.`))
      .map((k) => k.slice(group.length + 1));
    c.noUnknown(group, c.obj(group), known);
  }

  const stackName = c.str('stackName', STACK_NAME, 'a CloudFormation stack name (a letter, then letters, digits, hyphens)');
  const workflowName = c.str('workflowName', WORKFLOW_NAME, 'a workflow name (1-64 letters, digits, _ or -)');
  const dbInstanceIdentifier = c.str(
    'dbInstanceIdentifier',
    DB_IDENTIFIER,
    'an RDS DB instance identifier (1-63 letters, digits, hyphens; starts with a letter; no trailing or double hyphen)',
  );
  if (dbInstanceIdentifier.endsWith('-')) c.fail('dbInstanceIdentifier', 'must not end with a hyphen');

  // Worker instances
  const workerInstanceIds: string[] = [];
  const ids = c.value('workerInstanceIds');
  if (ids !== undefined) {
    if (!Array.isArray(ids) || ids.length === 0) {
      c.fail('workerInstanceIds', 'expected a non-empty list of EC2 instance ids');
    } else {
      ids.forEach((id, i) => {
        if (typeof id !== 'string' || !INSTANCE_ID.test(id)) {
          c.fail(`workerInstanceIds[${i}]`, `${JSON.stringify(id)} is not an EC2 instance id (i- followed by 8 or 17 hex digits)`);
        } else if (workerInstanceIds.includes(id)) {
          c.fail(`workerInstanceIds[${i}]`, `${id} is listed twice`);
        } else {
          workerInstanceIds.push(id);
        }
      });
    }
  }

  // Job
  const jobCommands: string[] = [];
  const cmds = c.value('jobCommands');
  if (cmds !== undefined) {
    if (!Array.isArray(cmds) || cmds.length === 0) {
      c.fail('jobCommands', 'expected a non-empty list of shell command strings');
    } else {
      cmds.forEach((cmd, i) => {
        if (typeof cmd !== 'string' || cmd.trim() === '') {
          c.fail(`jobCommands[${i}]`, 'expected a non-empty shell command string');
          return;
        }
        const secret = findSecret(cmd);
        if (secret) {
          c.fail(
            `jobCommands[${i}]`,
            `looks like it contains ${secret}; secrets must not be in config (it lands in the Lambda environment, ` +
              'the template and SSM command history): read them on the instance from Parameter Store or Secrets Manager',
          );
        }
        jobCommands.push(cmd);
      });
    }
  }
  const jobWorkingDirectory = c.str('jobWorkingDirectory', /^\/\S*$/, 'an absolute directory path without spaces');
  const wdSecret = findSecret(jobWorkingDirectory);
  if (wdSecret) c.fail('jobWorkingDirectory', `looks like it contains ${wdSecret}; secrets must not be in config`);

  // Timeouts and polling
  const jobMaxSeconds = c.int('timeouts.jobMaxSeconds', 60, 172800);
  const timeouts: TimeoutsConfig = {
    jobSeconds: c.int('timeouts.jobSeconds', 60, 172800),
    jobMaxSeconds,
    rdsReadySeconds: c.int('timeouts.rdsReadySeconds', 60, 86400),
    ec2ReadySeconds: c.int('timeouts.ec2ReadySeconds', 60, 86400),
  };
  if (timeouts.jobSeconds > jobMaxSeconds) {
    c.fail('timeouts.jobSeconds', `${timeouts.jobSeconds} exceeds timeouts.jobMaxSeconds (${jobMaxSeconds})`);
  }
  const pollSeconds: PollSecondsConfig = {
    rds: c.int('pollSeconds.rds', 1, 3600),
    ec2: c.int('pollSeconds.ec2', 1, 3600),
    job: c.int('pollSeconds.job', 1, 3600),
  };

  const rdsStopPolicy = c.str('rdsStopPolicy', /^(always|leave-as-found)$/, 'one of always, leave-as-found') as RdsStopPolicy;
  const metricsNamespace = c.str('metricsNamespace', NAMESPACE, 'a CloudWatch namespace (1-255 of A-Za-z0-9 . - _ / # :)');
  if (metricsNamespace.startsWith('AWS/')) c.fail('metricsNamespace', 'must not start with AWS/ (reserved)');

  const interval = c.value('scheduleIntervalHours');
  let scheduleIntervalHours = 0;
  if (interval !== undefined) {
    if (typeof interval !== 'number' || !Number.isFinite(interval) || interval <= 0 || interval > 168) {
      c.fail('scheduleIntervalHours', `expected a number of hours in (0, 168], got ${JSON.stringify(interval)}`);
    } else {
      scheduleIntervalHours = interval;
    }
  }

  const priceOverrides: Record<string, number> = {};
  for (const [key, price] of Object.entries(c.obj('priceOverrides'))) {
    if (!PRICE_KEY.test(key)) {
      c.fail(`priceOverrides.${key}`, 'is not an instance type (t3.medium) or a DB class (db.t3.micro)');
    } else if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) {
      c.fail(`priceOverrides.${key}`, `expected a USD per hour price >= 0, got ${JSON.stringify(price)}`);
    } else {
      priceOverrides[key] = price;
    }
  }

  // Schedule
  const cron = c.str('schedule.cron', /./, 'a cron expression');
  const cronProblem = cron ? checkCron(cron) : undefined;
  if (cronProblem) c.fail('schedule.cron', cronProblem);
  const timeZone = c.str('schedule.timeZone', /./, 'an IANA time zone');
  if (timeZone && !isTimeZone(timeZone)) {
    c.fail('schedule.timeZone', `${JSON.stringify(timeZone)} is not an IANA time zone (e.g. Asia/Seoul, UTC)`);
  }
  const input = c.obj('schedule.input');
  c.noUnknown('schedule.input', input, ['dryRun', 'jobTimeoutSeconds']);
  const scheduleInput: { dryRun?: boolean; jobTimeoutSeconds?: number } = {};
  if ('dryRun' in input) {
    if (typeof input.dryRun !== 'boolean') c.fail('schedule.input.dryRun', 'expected true or false');
    else scheduleInput.dryRun = input.dryRun;
  }
  if ('jobTimeoutSeconds' in input) {
    const t = input.jobTimeoutSeconds;
    if (!isInt(t) || t < 60 || t > jobMaxSeconds) {
      c.fail('schedule.input.jobTimeoutSeconds', `expected an integer in 60..${jobMaxSeconds} (timeouts.jobMaxSeconds)`);
    } else {
      scheduleInput.jobTimeoutSeconds = t;
    }
  }
  const schedule: ScheduleConfig = {
    enabled: c.bool('schedule.enabled'),
    cron,
    timeZone,
    input: scheduleInput,
    retryAttempts: c.int('schedule.retryAttempts', 0, 185),
    maximumEventAgeSeconds: c.int('schedule.maximumEventAgeSeconds', 60, 86400),
  };

  // Observability
  const email = c.value('alarmEmail');
  let alarmEmail: string | null = null;
  if (email !== null && email !== undefined && email !== '') {
    if (typeof email !== 'string' || !EMAIL.test(email)) c.fail('alarmEmail', `${JSON.stringify(email)} is not an email address`);
    else alarmEmail = email;
  }
  const logRetentionDays = c.int('logRetentionDays', 1, 3653);
  if (logRetentionDays && !LOG_RETENTION_DAYS.includes(logRetentionDays)) {
    c.fail('logRetentionDays', `${logRetentionDays} is not a CloudWatch Logs retention (one of ${LOG_RETENTION_DAYS.join(', ')})`);
  }
  const logExecutionData = c.bool('logExecutionData');
  const tracing = c.bool('tracing');

  // Lambda sizing
  const lambda: LambdaConfig = {
    memorySizeMb: c.int('lambda.memorySizeMb', 128, 10240),
    timeoutSeconds: c.int('lambda.timeoutSeconds', 1, 900),
  };

  // The state machine's overall deadline must leave room for every Lambda
  // deadline (each loop may overshoot it by one poll interval) plus cleanup.
  const stateMachineTimeoutSeconds = c.int('stateMachineTimeoutSeconds', 60, 31536000);
  const minimum = minimumStateMachineTimeout(timeouts, pollSeconds);
  if (stateMachineTimeoutSeconds && stateMachineTimeoutSeconds <= minimum) {
    c.fail(
      'stateMachineTimeoutSeconds',
      `${stateMachineTimeoutSeconds} must exceed ${minimum} = timeouts.rdsReadySeconds (${timeouts.rdsReadySeconds}) + ` +
        `timeouts.ec2ReadySeconds (${timeouts.ec2ReadySeconds}) + timeouts.jobMaxSeconds (${timeouts.jobMaxSeconds}) + ` +
        `the poll intervals (${pollSeconds.rds + pollSeconds.ec2 + pollSeconds.job}) + a cleanup margin (${CLEANUP_MARGIN_SECONDS}): ` +
        'a state machine timeout skips cleanup, so the Lambda deadlines must fire first',
    );
  }

  const config: OrchestratorConfig = {
    stackName,
    workflowName,
    dbInstanceIdentifier,
    workerInstanceIds,
    jobCommands,
    jobWorkingDirectory,
    timeouts,
    pollSeconds,
    rdsStopPolicy,
    metricsNamespace,
    scheduleIntervalHours,
    priceOverrides,
    schedule,
    alarmEmail,
    logRetentionDays,
    logExecutionData,
    tracing,
    stateMachineTimeoutSeconds,
    lambda,
  };

  if (c.problems.length === 0) {
    const size = environmentSize(lambdaEnvironment(config));
    if (size > 4096) {
      c.fail('jobCommands', `the Lambda environment would be ${size} bytes, over Lambda's 4 KB limit: shorten jobCommands (run a script on the instance)`);
    }
  }
  if (c.problems.length) throw new ConfigError(source, c.problems);
  return config;
}

export function minimumStateMachineTimeout(t: TimeoutsConfig, p: PollSecondsConfig): number {
  return t.rdsReadySeconds + t.ec2ReadySeconds + t.jobMaxSeconds + p.rds + p.ec2 + p.job + CLEANUP_MARGIN_SECONDS;
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

/** The environment every function receives (statemachine/README.md, "Deployment configuration"). */
export function lambdaEnvironment(c: OrchestratorConfig): Record<string, string> {
  return {
    DB_INSTANCE_IDENTIFIER: c.dbInstanceIdentifier,
    WORKER_INSTANCE_IDS: c.workerInstanceIds.join(','),
    JOB_COMMANDS: JSON.stringify(c.jobCommands),
    JOB_WORKING_DIRECTORY: c.jobWorkingDirectory,
    JOB_TIMEOUT_SECONDS: String(c.timeouts.jobSeconds),
    JOB_TIMEOUT_MAX_SECONDS: String(c.timeouts.jobMaxSeconds),
    RDS_READY_TIMEOUT_SECONDS: String(c.timeouts.rdsReadySeconds),
    EC2_READY_TIMEOUT_SECONDS: String(c.timeouts.ec2ReadySeconds),
    RDS_POLL_SECONDS: String(c.pollSeconds.rds),
    EC2_POLL_SECONDS: String(c.pollSeconds.ec2),
    JOB_POLL_SECONDS: String(c.pollSeconds.job),
    RDS_STOP_POLICY: c.rdsStopPolicy,
    METRICS_NAMESPACE: c.metricsNamespace,
    WORKFLOW_NAME: c.workflowName,
    SCHEDULE_INTERVAL_HOURS: String(c.scheduleIntervalHours),
    PRICE_OVERRIDES: JSON.stringify(c.priceOverrides),
  };
}

/** Lambda counts the bytes of every key and value. */
export function environmentSize(env: Record<string, string>): number {
  return Object.entries(env).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
}
