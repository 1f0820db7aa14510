/**
 * The state machine definition comes from statemachine/workflow.asl.json. Its
 * top-level `TimeoutSeconds` is a placeholder default: a number cannot be a
 * `${...}` substitution in valid JSON, so the app writes a derived copy with
 * the configured overall timeout and hands that to `DefinitionBody.fromFile`.
 * Everything else is carried over unchanged; the function ARNs, the worker
 * instance ids, the lease table name and the alarm topic's ARN arrive through
 * `DefinitionSubstitutions`.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The functions, in workflow order: binary name and substitution key. */
export const FUNCTIONS = [
  { binary: 'rds_check', key: 'RdsCheckFunctionArn', construct: 'RdsCheck' },
  { binary: 'ec2_start', key: 'Ec2StartFunctionArn', construct: 'Ec2Start' },
  { binary: 'ssm_launch', key: 'SsmLaunchFunctionArn', construct: 'SsmLaunch' },
  { binary: 'poll_ec2_state', key: 'PollEc2StateFunctionArn', construct: 'PollEc2State' },
  { binary: 'rds_stop', key: 'RdsStopFunctionArn', construct: 'RdsStop' },
  { binary: 'emit_metrics', key: 'EmitMetricsFunctionArn', construct: 'EmitMetrics' },
] as const;

export type FunctionBinary = (typeof FUNCTIONS)[number]['binary'];

export const WORKER_IDS_KEY = 'WorkerInstanceIds';

/** The run lease table's name (the workflow's DynamoDB tasks: `"TableName": "${LeaseTableName}"`). */
export const LEASE_TABLE_KEY = 'LeaseTableName';

/** The alarm topic's ARN (the failure notification: `"TopicArn": "${AlarmTopicArn}"` of `Cleanup: notify`). */
export const ALARM_TOPIC_KEY = 'AlarmTopicArn';

/** The workflow revision (Init's `execution.revision`: emit_metrics' per-revision series). */
export const REVISION_KEY = 'Revision';

/**
 * Every key the app substitutes. A definition may leave a key unused (the app
 * still passes it, CloudFormation ignores it); a placeholder that is not a
 * key fails synth.
 */
export const SUBSTITUTION_KEYS: readonly string[] = [
  ...FUNCTIONS.map((f) => f.key),
  WORKER_IDS_KEY,
  LEASE_TABLE_KEY,
  ALARM_TOPIC_KEY,
  REVISION_KEY,
];

export class DefinitionError extends Error {
  constructor(file: string, message: string) {
    super(`state machine definition ${file}: ${message}`);
    this.name = 'DefinitionError';
  }
}

/** `${Name}` placeholders in a text, in order of first appearance. */
export function placeholders(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/\$\{([^}]*)\}/g)) if (!found.includes(m[1])) found.push(m[1]);
  return found;
}

/**
 * Reads and checks the definition file. Validates what a deploy would
 * otherwise only find out in CloudFormation: valid JSON, the ASL top level,
 * and no placeholder we do not substitute.
 */
export function readDefinition(file: string): { text: string; asl: Record<string, unknown> } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new DefinitionError(file, `cannot read it (${(e as Error).message})`);
  }
  let asl: Record<string, unknown>;
  try {
    asl = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new DefinitionError(file, `not valid JSON (${(e as Error).message}); substitutions must sit inside strings`);
  }
  if (typeof asl !== 'object' || asl === null || typeof asl.StartAt !== 'string' || typeof asl.States !== 'object') {
    throw new DefinitionError(file, 'not an ASL document (needs StartAt and States)');
  }
  const unknown = placeholders(text).filter((p) => !SUBSTITUTION_KEYS.includes(p));
  if (unknown.length) {
    throw new DefinitionError(
      file,
      `unknown substitution placeholder(s) ${unknown.map((u) => '${' + u + '}').join(', ')}; the CDK app substitutes ${SUBSTITUTION_KEYS.join(', ')}`,
    );
  }
  return { text, asl };
}

/** The file's content with the top-level `TimeoutSeconds` set (added if absent). */
export function deriveDefinition(file: string, timeoutSeconds: number): string {
  const { asl } = readDefinition(file);
  asl.TimeoutSeconds = timeoutSeconds;
  return `${JSON.stringify(asl, null, 2)}\n`;
}

type State = { Type?: string; Resource?: unknown; TimeoutSeconds?: unknown; Branches?: { States: unknown }[]; ItemProcessor?: { States: unknown }; Iterator?: { States: unknown } };

/**
 * The smallest `TimeoutSeconds` of the Tasks that invoke one of our functions,
 * or undefined when none sets one. A Lambda's own timeout must stay below it,
 * or the Task times out (`States.Timeout`) before the function reports its error.
 */
export function lambdaTaskTimeoutSeconds(asl: Record<string, unknown>): number | undefined {
  const fnPlaceholders = new Set(FUNCTIONS.map((f) => '${' + f.key + '}'));
  let min: number | undefined;
  const walk = (states: unknown) => {
    for (const st of Object.values((states ?? {}) as Record<string, State>)) {
      if (st.Type === 'Task' && typeof st.Resource === 'string' && fnPlaceholders.has(st.Resource) && typeof st.TimeoutSeconds === 'number') {
        min = min === undefined ? st.TimeoutSeconds : Math.min(min, st.TimeoutSeconds);
      }
      for (const b of st.Branches ?? []) walk(b.States);
      if (st.ItemProcessor) walk(st.ItemProcessor.States);
      if (st.Iterator) walk(st.Iterator.States);
    }
  };
  walk(asl.States);
  return min;
}

/**
 * Writes the derived copy into `dir` under a content-addressed name (so two
 * apps in one process never share a file) and returns its path.
 */
export function writeDerivedDefinition(file: string, timeoutSeconds: number, dir: string): string {
  const content = deriveDefinition(file, timeoutSeconds);
  const hash = crypto.createHash('sha256').update(content).digest('hex').slice(0, 16);
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, `workflow.${hash}.asl.json`);
  if (!fs.existsSync(out)) fs.writeFileSync(out, content);
  return out;
}
