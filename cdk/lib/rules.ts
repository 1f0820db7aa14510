/**
 * The stack's own triggers of the workflow besides the operator's schedule:
 * the EventBridge rules and the sweeper schedule, declared once in
 * statemachine/rules.json (the local sandbox reads the same file). The CDK app
 * builds them from the file: the event patterns and input transformers are
 * passed through as written, after the `${...}` placeholders are filled in.
 *
 * The file is checked here, before any construct exists: its shape (unknown
 * keys are typos, and errors), its placeholders (only the keys below), and its
 * inputs (only execution input fields declared in functions/core/settings.json,
 * with values they accept), so that a mistake fails synth naming the rule.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { REPO_ROOT } from './paths';
import { functionSettings } from './settings';

export const RULES_FILE = path.join(REPO_ROOT, 'statemachine', 'rules.json');

/** The placeholders the app fills in an event pattern: the workflow's state machine ARN and the configured DB. */
export const RULE_SUBSTITUTION_KEYS = ['StateMachineArn', 'DbInstanceIdentifier'] as const;
export type RuleSubstitutionKey = (typeof RULE_SUBSTITUTION_KEYS)[number];

export class RulesError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`workflow triggers ${path.relative(process.cwd(), file) || file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'RulesError';
  }
}

const jsonObject = z.record(z.string(), z.unknown());

const rule = z
  .strictObject({
    /** Construct id stem: `<id>Rule`. */
    id: z.string().regex(/^[A-Z][A-Za-z0-9]{0,63}$/, 'expected a PascalCase identifier'),
    /** The `guards.<switch>` config field that turns the rule on or off. */
    switch: z.string().min(1),
    description: z.string().min(1).max(512),
    eventPattern: jsonObject.refine((p) => Object.keys(p).length > 0, 'an empty pattern matches every event'),
    input: jsonObject.optional(),
    inputTransformer: z
      .strictObject({
        inputPathsMap: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,256}$/), z.string().startsWith('$')),
        inputTemplate: z.string().min(1),
      })
      .optional(),
  })
  .refine((r) => (r.input === undefined) !== (r.inputTransformer === undefined), 'give exactly one of input and inputTransformer');

const sweeper = z.strictObject({
  switch: z.string().min(1),
  description: z.string().min(1).max(512),
  scheduleExpression: z.string().min(1),
  input: jsonObject,
});

const rulesFile = z.strictObject({
  rules: z.array(rule),
  sweeper,
});

export type GuardRule = z.output<typeof rule>;
export type Sweeper = z.output<typeof sweeper>;
export type GuardRules = z.output<typeof rulesFile>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `$comment` (any `$` key) documents the file; it is not part of a rule. */
function withoutComments(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutComments);
  if (!isObject(v)) return v;
  return Object.fromEntries(Object.entries(v).flatMap(([k, x]) => (k.startsWith('$') ? [] : [[k, withoutComments(x)]])));
}

/** Every `${Name}` in the strings of a JSON value. */
function placeholdersIn(v: unknown): string[] {
  return [...JSON.stringify(v ?? null).matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]);
}

/** The names of `<name>` placeholders in an input template. */
export function templatePlaceholders(template: string): string[] {
  return [...template.matchAll(/<([A-Za-z0-9_-]+)>/g)].map((m) => m[1]);
}

/**
 * Problems with an execution input the stack sends: each key must be an
 * execution input field of settings.json and its value of that field's type
 * (a value taken from the event is only known to be a string).
 */
function inputProblems(where: string, input: Record<string, unknown>, fromEvent: Set<string>): string[] {
  const fields = functionSettings().input;
  const problems: string[] = [];
  for (const [key, value] of Object.entries(input)) {
    const f = fields[key];
    if (!f) {
      problems.push(`${where}: ${key} is not an execution input field (functions/core/settings.json declares ${Object.keys(fields).join(', ')})`);
      continue;
    }
    if (fromEvent.has(key)) {
      if (f.type !== 'executionArn' && f.type !== 'choice') problems.push(`${where}: ${key} (${f.type}) cannot be taken from the event as a string`);
      continue;
    }
    const ok =
      f.type === 'boolean'
        ? typeof value === 'boolean'
        : f.type === 'seconds'
          ? Number.isInteger(value)
          : f.type === 'choice'
            ? typeof value === 'string' && f.values.includes(value)
            : typeof value === 'string' && value.startsWith('arn:');
    if (!ok) problems.push(`${where}: ${key} = ${JSON.stringify(value)} is not a valid ${f.type}${f.type === 'choice' ? ` (${f.values.join(', ')})` : ''}`);
  }
  return problems;
}

/**
 * The input a template produces, with every placeholder standing for some
 * string: EventBridge puts a string value in quotes when the placeholder is
 * outside them, so `"<x>"` and `<x>` both become a JSON string here.
 */
function templateShape(template: string): { keysFromEvent: Set<string>; value?: unknown; problem?: string } {
  const keysFromEvent = new Set<string>();
  const text = template.replace(/"<([A-Za-z0-9_-]+)>"|<([A-Za-z0-9_-]+)>/g, (_m, quoted?: string, bare?: string) => JSON.stringify(`\u0000${quoted ?? bare}`));
  try {
    const value = JSON.parse(text) as unknown;
    if (isObject(value)) {
      for (const [k, v] of Object.entries(value)) if (typeof v === 'string' && v.startsWith('\u0000')) keysFromEvent.add(k);
    }
    return { keysFromEvent, value };
  } catch (e) {
    return { keysFromEvent, problem: `inputTemplate is not JSON once its placeholders are filled (${(e as Error).message})` };
  }
}

/** Reads and checks rules.json. Throws RulesError listing every problem. */
export function readRules(file: string = RULES_FILE): GuardRules {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new RulesError(file, [`cannot read it as JSON: ${(e as Error).message}`]);
  }
  const parsed = rulesFile.safeParse(withoutComments(raw));
  if (!parsed.success) {
    throw new RulesError(
      file,
      parsed.error.issues.map((i) => {
        const keys = i.code === 'unrecognized_keys' ? ` (${i.keys.join(', ')})` : '';
        return `${i.path.join('.') || '(top level)'}: ${i.message}${keys}`;
      }),
    );
  }
  const data = parsed.data;
  const problems: string[] = [];
  const ids = new Set<string>();
  const switches = new Set<string>();
  for (const r of data.rules) {
    const where = `rule ${r.id}`;
    if (ids.has(r.id)) problems.push(`${where}: the id is used twice`);
    ids.add(r.id);
    if (switches.has(r.switch)) problems.push(`${where}: switch ${r.switch} is used twice`);
    switches.add(r.switch);
    const unknown = placeholdersIn(r.eventPattern).filter((p) => !(RULE_SUBSTITUTION_KEYS as readonly string[]).includes(p));
    if (unknown.length) {
      problems.push(`${where}: unknown placeholder(s) ${unknown.map((u) => '${' + u + '}').join(', ')} in eventPattern; the app fills ${RULE_SUBSTITUTION_KEYS.join(', ')}`);
    }
    if (placeholdersIn(r.input).length || placeholdersIn(r.inputTransformer).length) {
      problems.push(`${where}: \${...} placeholders are only filled in eventPattern`);
    }
    if (r.input) problems.push(...inputProblems(where, r.input, new Set()));
    if (r.inputTransformer) {
      const { inputPathsMap, inputTemplate } = r.inputTransformer;
      for (const name of templatePlaceholders(inputTemplate)) {
        if (!Object.hasOwn(inputPathsMap, name)) problems.push(`${where}: inputTemplate uses <${name}>, which inputPathsMap does not define`);
      }
      const shape = templateShape(inputTemplate);
      if (shape.problem) problems.push(`${where}: ${shape.problem}`);
      else if (!isObject(shape.value)) problems.push(`${where}: inputTemplate must produce a JSON object (the execution input)`);
      else problems.push(...inputProblems(where, shape.value, shape.keysFromEvent));
    }
  }
  if (switches.has(data.sweeper.switch)) problems.push(`sweeper: switch ${data.sweeper.switch} is used twice`);
  if (placeholdersIn(data.sweeper).length) problems.push('sweeper: ${...} placeholders are only filled in a rule eventPattern');
  problems.push(...inputProblems('sweeper', data.sweeper.input, new Set()));
  if (problems.length) throw new RulesError(file, problems);
  return data;
}

/** Every switch the file names (rules, then the sweeper). */
export function switchesOf(rules: GuardRules): string[] {
  return [...rules.rules.map((r) => r.switch), rules.sweeper.switch];
}

/** Fails unless every switch of the file is one of the config's on/off fields (`guards.*`). */
export function checkSwitches(rules: GuardRules, known: readonly string[], file: string = RULES_FILE): void {
  const problems = switchesOf(rules)
    .filter((s) => !known.includes(s))
    .map((s) => `switch ${s}: no config field guards.${s} (the config has ${known.map((k) => `guards.${k}`).join(', ')})`);
  if (problems.length) throw new RulesError(file, problems);
}

/**
 * The value with every `${Key}` in its strings replaced by `values[Key]`
 * (strings or CDK tokens): a string that is only the placeholder becomes the
 * value itself, others are concatenated. Keys and structure are unchanged.
 */
export function fillPlaceholders<T>(value: T, values: Record<RuleSubstitutionKey, string>): T {
  const fill = (v: unknown): unknown => {
    if (typeof v === 'string') {
      return v.replace(/\$\{([^}]*)\}/g, (whole, name: string) => (Object.hasOwn(values, name) ? values[name as RuleSubstitutionKey] : whole));
    }
    if (Array.isArray(v)) return v.map(fill);
    if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x)]));
    return v;
  };
  return fill(value) as T;
}
