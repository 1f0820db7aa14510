/**
 * The functions' settings as the Rust code declares them: every Lambda
 * environment variable the functions read (type, default, bounds, meaning),
 * every execution input field, and the AWS call budget that bounds a step's
 * time (the shortest Lambda timeout). `functions/core/src/settings.rs` is the
 * one declaration; `functions/core/settings.json` is generated from it (a
 * Rust test fails when it is stale). The CDK reads its defaults and bounds
 * from that file instead of repeating them (see `FUNCTION_SETTINGS` in
 * config.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { REPO_ROOT } from './paths';

export const SETTINGS_FILE = path.join(REPO_ROOT, 'functions', 'core', 'settings.json');

const REGENERATE = 'regenerate it with `UPDATE_SETTINGS=1 cargo test -p makenaide_core settings`';

const meaning = z.string();

const environmentSetting = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('string'),
      required: z.boolean().optional(),
      default: z.string().optional(),
      format: z.string().optional(),
      meaning,
    })
    .refine((s) => (s.required === true) !== (s.default !== undefined), 'a string setting is either required or has a default'),
  z.object({ type: z.literal('seconds'), default: z.int(), min: z.int(), max: z.int(), meaning }),
  z.object({ type: z.literal('number'), default: z.number(), exclusiveMin: z.number(), max: z.number(), meaning }),
  z.object({ type: z.literal('choice'), default: z.string(), values: z.array(z.string()).min(1), meaning }),
  z.object({ type: z.literal('object'), default: z.record(z.string(), z.unknown()), meaning }),
]);

/** Who sets an input field: an operator (and the schedule), or only the stack's own triggers. */
const setBy = z.enum(['operator', 'stack']);

const inputField = z.discriminatedUnion('type', [
  z.object({ type: z.literal('boolean'), default: z.boolean(), setBy, meaning }),
  /** Whole seconds from `min` to the value of the `maxSetting` variable. */
  z.object({ type: z.literal('seconds'), min: z.int(), maxSetting: z.string(), defaultSetting: z.string(), setBy, meaning }),
  z.object({ type: z.literal('choice'), values: z.array(z.string()).min(1), setBy, meaning }),
  z.object({ type: z.literal('executionArn'), setBy, meaning }),
]);

/**
 * The functions' AWS call budget (`CALL_BUDGET` and `SEQUENTIAL_CALLS` in
 * settings.rs): one call takes at most `operationSeconds` (its attempts and
 * backoff included), each function makes at most `sequentialCalls` calls one
 * after another, so `lambdaTimeoutSeconds` (the most calls times
 * `operationSeconds`, plus `marginSeconds`) is the shortest Lambda timeout
 * that fits every function; `defaultLambdaTimeoutSeconds` is the one deployed
 * by default.
 */
const callBudget = z.object({
  connectSeconds: z.int(),
  attemptSeconds: z.int(),
  maxAttempts: z.int(),
  operationSeconds: z.int().positive(),
  marginSeconds: z.int(),
  sequentialCalls: z.record(z.string(), z.int().positive()),
  lambdaTimeoutSeconds: z.int().positive(),
  defaultLambdaTimeoutSeconds: z.int().positive(),
});

/**
 * The AWS operations each function calls, as IAM actions (`ports::Operation`
 * in the Rust code; each handler's tests check that it calls exactly its
 * list): function binary name -> actions. The CDK tests check that each
 * function's role is granted exactly these (cdk/test/iam.test.ts).
 */
const operations = z.record(z.string(), z.array(z.string().regex(/^[a-z0-9-]+:[A-Za-z0-9]+$/, 'an IAM action (service:Action)')).min(1));

const settingsFile = z.object({
  environment: z.record(z.string(), environmentSetting),
  input: z.record(z.string(), inputField),
  operations,
  callBudget,
});

export type FunctionSettings = z.output<typeof settingsFile>;
export type EnvironmentSetting = z.output<typeof environmentSetting>;
export type InputField = z.output<typeof inputField>;
export type CallBudget = z.output<typeof callBudget>;
export type Operations = z.output<typeof operations>;

/** settings.json is missing, malformed, or does not say what the CDK expects. */
export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid function settings (${path.relative(process.cwd(), SETTINGS_FILE) || SETTINGS_FILE}):\n${problems.map((p) => `  - ${p}`).join('\n')}\n(${REGENERATE})`);
    this.name = 'SettingsError';
  }
}

let cached: FunctionSettings | undefined;

/** The parsed settings.json (read once). Throws SettingsError. */
export function functionSettings(): FunctionSettings {
  if (cached) return cached;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(SETTINGS_FILE, 'utf8'));
  } catch (e) {
    throw new SettingsError([`cannot read the functions' settings: ${(e as Error).message}`]);
  }
  const parsed = settingsFile.safeParse(raw);
  if (!parsed.success) {
    throw new SettingsError(parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`));
  }
  for (const [name, field] of Object.entries(parsed.data.input)) {
    if (field.type !== 'seconds') continue;
    for (const ref of [field.maxSetting, field.defaultSetting]) {
      if (parsed.data.environment[ref]?.type !== 'seconds') {
        throw new SettingsError([`input.${name}: ${ref} is not a seconds setting in environment`]);
      }
    }
  }
  // The CDK words its minimum Lambda timeout from these parts: they must add up.
  const budget = parsed.data.callBudget;
  const most = Math.max(0, ...Object.values(budget.sequentialCalls));
  if (budget.lambdaTimeoutSeconds !== most * budget.operationSeconds + budget.marginSeconds) {
    throw new SettingsError([
      `callBudget: lambdaTimeoutSeconds (${budget.lambdaTimeoutSeconds}) is not the most sequentialCalls (${most}) x operationSeconds (${budget.operationSeconds}) + marginSeconds (${budget.marginSeconds})`,
    ]);
  }
  if (budget.defaultLambdaTimeoutSeconds < budget.lambdaTimeoutSeconds) {
    throw new SettingsError([
      `callBudget: defaultLambdaTimeoutSeconds (${budget.defaultLambdaTimeoutSeconds}) is below lambdaTimeoutSeconds (${budget.lambdaTimeoutSeconds})`,
    ]);
  }
  return (cached = parsed.data);
}
