/**
 * Synthesizes the app in-process, the way the tests look at it: placeholder
 * Lambda code (no Rust build, no Docker), the REAL statemachine/workflow.asl.json,
 * an environment-agnostic stack, a fresh temporary cloud assembly.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { IConstruct } from 'constructs';
import { buildApp, Built, DEFAULT_DEFINITION_FILE, REPO_ROOT } from '../lib/app';
import { CLEANUP_MARGIN_SECONDS, OrchestratorConfig } from '../lib/config';

export { DEFAULT_DEFINITION_FILE, REPO_ROOT };

export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Synth extends Built {
  readonly outdir: string;
  readonly json: Json;
  readonly template: Template;
  readonly templateFile: string;
}

const tempDirs: string[] = [];
process.on('exit', () => {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A temporary directory removed when the test process exits. */
export function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `makenaide-${prefix}-`));
  tempDirs.push(d);
  return d;
}

export function synth(context: Record<string, unknown> = {}): Synth {
  const outdir = tempDir('cdk-test');
  const built = buildApp({ context: { placeholderCode: 'true', ...context }, outdir });
  const assembly = built.app.synth();
  const artifact = assembly.getStackArtifact(built.stack.artifactId);
  const templateFile = path.join(assembly.directory, artifact.templateFile);
  const json = JSON.parse(fs.readFileSync(templateFile, 'utf8'));
  return { ...built, outdir: assembly.directory, json, template: Template.fromJSON(json), templateFile };
}

/**
 * A synth made on first use and then shared by the tests of a suite; made
 * inside a test, a synth error fails that test (not the whole file silently).
 */
export function lazySynth(context: Record<string, unknown> = {}): () => Synth {
  let cached: Synth | undefined;
  return () => (cached ??= synth(context));
}

/**
 * The derived execution timeout, from its parts (written out here, not taken
 * from lib/config.ts's derivation): the ready deadlines, the longest job, the
 * workers' stop deadline (ec2ReadySeconds again) and the DB stop deadline,
 * one poll interval per loop (the workers' start and stop both poll every
 * pollSeconds.ec2, the DB start and stop every pollSeconds.rds), and the
 * cleanup margin. Each stop counts once: its deadline carries over from the
 * normal path into the cleanup.
 */
export function derivedTimeout(c: Pick<OrchestratorConfig, 'timeouts' | 'pollSeconds'>): number {
  const { timeouts: t, pollSeconds: p } = c;
  const starts = t.rdsReadySeconds + p.rds + t.ec2ReadySeconds + p.ec2;
  const job = t.jobMaxSeconds + p.job;
  const stops = t.ec2ReadySeconds + p.ec2 + t.rdsStopSeconds + p.rds;
  return starts + job + stops + CLEANUP_MARGIN_SECONDS;
}

export function logicalId(c: IConstruct): string {
  const child = (c.node.defaultChild ?? c) as CfnElement;
  // Resolved: a Lambda version's id is overridden with a hash of its function.
  return child.stack.resolve(child.logicalId);
}

export function resourcesOfType(json: Json, type: string): [string, Json][] {
  return Object.entries(json.Resources as Record<string, Json>).filter(([, r]) => r.Type === type);
}

/**
 * Renders an IAM resource (string or intrinsic) as one string, so a test can
 * see exactly what it is scoped to: pseudo parameters become ${Partition},
 * ${Region}, ${Account}; references become ${GetAtt:Id.Attr} / ${Ref:Id}.
 */
export function render(v: Json): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v && typeof v === 'object') {
    if ('Fn::Join' in v) return (v['Fn::Join'][1] as Json[]).map(render).join(v['Fn::Join'][0]);
    if ('Ref' in v) {
      const pseudo: Record<string, string> = {
        'AWS::Partition': '${Partition}',
        'AWS::Region': '${Region}',
        'AWS::AccountId': '${Account}',
        'AWS::URLSuffix': '${URLSuffix}',
      };
      return pseudo[v.Ref] ?? '${Ref:' + v.Ref + '}';
    }
    if ('Fn::GetAtt' in v) return '${GetAtt:' + v['Fn::GetAtt'].join('.') + '}';
    if ('Fn::Sub' in v) return typeof v['Fn::Sub'] === 'string' ? v['Fn::Sub'] : render(v['Fn::Sub'][0]);
  }
  throw new Error(`cannot render ${JSON.stringify(v)}`);
}

export interface Statement {
  /** The role(s) the policy is attached to (logical ids). */
  readonly roles: string[];
  readonly policy: string;
  readonly sid?: string;
  readonly effect: string;
  readonly actions: string[];
  readonly resources: string[];
  readonly condition?: Json;
  readonly principal?: Json;
}

const asList = (v: Json): Json[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Every identity-policy statement in the template (AWS::IAM::Policy and inline role policies). */
export function identityStatements(json: Json): Statement[] {
  const out: Statement[] = [];
  const push = (roles: string[], policy: string, doc: Json) => {
    for (const s of asList(doc.Statement)) {
      out.push({
        roles,
        policy,
        sid: s.Sid,
        effect: s.Effect,
        actions: asList(s.Action),
        resources: asList(s.Resource).map(render),
        condition: s.Condition,
      });
    }
  };
  for (const [id, r] of resourcesOfType(json, 'AWS::IAM::Policy')) {
    push(asList(r.Properties.Roles).map((x: Json) => x.Ref), id, r.Properties.PolicyDocument);
  }
  for (const [id, r] of resourcesOfType(json, 'AWS::IAM::Role')) {
    for (const p of asList(r.Properties.Policies)) push([id], `${id}/${p.PolicyName}`, p.PolicyDocument);
  }
  return out;
}

/** The statements granted to one role, and the actions they allow. */
export function statementsOfRole(json: Json, roleId: string): Statement[] {
  return identityStatements(json).filter((s) => s.roles.includes(roleId));
}

export function allowedActions(statements: Statement[]): string[] {
  return [...new Set(statements.filter((s) => s.effect === 'Allow').flatMap((s) => s.actions))].sort();
}

/** The role logical id of a Lambda function or state machine resource. */
export function roleIdOf(resource: Json): string {
  const arn = resource.Properties.Role ?? resource.Properties.RoleArn;
  return arn['Fn::GetAtt'][0];
}

export function readRealDefinition(): { text: string; json: Json } {
  const text = fs.readFileSync(DEFAULT_DEFINITION_FILE, 'utf8');
  return { text, json: JSON.parse(text) };
}

/**
 * The definition as deployed: the state machine's DefinitionS3Location points
 * at a file asset; find it in the cloud assembly's asset manifest and read it.
 */
export function deployedDefinition(s: Synth, stateMachineId: string): { text: string; substitutions: Json } {
  const props = s.json.Resources[stateMachineId].Properties;
  const key: string = props.DefinitionS3Location.Key;
  const hash = key.replace(/\.json$/, '');
  const manifest = JSON.parse(fs.readFileSync(path.join(s.outdir, `${s.stack.artifactId}.assets.json`), 'utf8'));
  const entry = manifest.files[hash];
  if (!entry) throw new Error(`asset ${hash} (DefinitionS3Location.Key ${key}) is not in the asset manifest`);
  const text = fs.readFileSync(path.join(s.outdir, entry.source.path), 'utf8');
  return { text, substitutions: props.DefinitionSubstitutions };
}

/** What a function ARN substitution looks like once CloudFormation resolves it (logical id as the name). */
export function functionArnOf(value: Json): string {
  if (value && typeof value === 'object' && 'Fn::GetAtt' in value && value['Fn::GetAtt'][1] === 'Arn') {
    return `arn:aws:lambda:ap-northeast-2:123456789012:function:${value['Fn::GetAtt'][0]}`;
  }
  // A Lambda::Version's Ref is its ARN: the function's, qualified with the version number.
  if (value && typeof value === 'object' && typeof value.Ref === 'string' && /CurrentVersion/.test(value.Ref)) {
    return `arn:aws:lambda:ap-northeast-2:123456789012:function:${value.Ref.replace(/CurrentVersion.*$/, '')}:1`;
  }
  return render(value);
}

/**
 * What a substitution value looks like once CloudFormation resolves it: a
 * function ARN as `functionArnOf` says, a `Ref` to a resource (the lease
 * table's name) as the logical id standing in for the physical name.
 */
export function resolvedValueOf(value: Json): string {
  if (value && typeof value === 'object' && typeof value.Ref === 'string' && !value.Ref.startsWith('AWS::') && !/CurrentVersion/.test(value.Ref)) {
    return value.Ref;
  }
  return functionArnOf(value);
}

/** Applies CloudFormation DefinitionSubstitutions the way CloudFormation does, with `resolvedValueOf` values. */
export function substitute(text: string, substitutions: Json): string {
  return text.replace(/\$\{([^}]*)\}/g, (whole, name: string) =>
    name in substitutions ? resolvedValueOf(substitutions[name]) : whole,
  );
}

/** Every state of an ASL document, including those inside Parallel branches and Map processors. */
export function allStates(asl: Json): [string, Json][] {
  const out: [string, Json][] = [];
  const walk = (states: Json) => {
    for (const [name, st] of Object.entries(states ?? {}) as [string, Json][]) {
      out.push([name, st]);
      for (const b of st.Branches ?? []) walk(b.States);
      if (st.Iterator) walk(st.Iterator.States);
      if (st.ItemProcessor) walk(st.ItemProcessor.States);
    }
  };
  walk(asl.States);
  return out;
}
