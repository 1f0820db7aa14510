/**
 * `kmsKeyArn`: one customer managed key for the alarm topic, every log group
 * and the Lambda environments (lib/encryption.ts). Without it nothing
 * changes; with it each resource names the key, the state machine role may
 * use the key through SNS for the alarm topic only, no other role gains a
 * `kms:` action, and the KeyPolicyStatements output names exactly the
 * stack's resources that use the key.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildApp, DEFAULT_CONFIG_FILE } from '../lib/app';
import { ConfigError, loadConfig } from '../lib/config';
import { FUNCTIONS } from '../lib/definition';
import { allowedActions, identityStatements, Json, lazySynth, logicalId, resourcesOfType, roleIdOf, statementsOfRole, synth, Synth, tempDir } from './helpers';

const KEY = 'arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const OTHER_KEY = 'arn:aws:kms:ap-northeast-2:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab';
const ENCRYPTION_SKIPS = ['CKV_AWS_158', 'CKV_AWS_173', 'CKV_AWS_26'];

function configProblems(context: Record<string, unknown>): string[] {
  try {
    loadConfig({ file: DEFAULT_CONFIG_FILE, context });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

function skipsOf(r: Json): string[] {
  return (r.Metadata?.checkov?.skip ?? []).map((sk: { id: string }) => sk.id);
}

function stateMachineRole(s: Synth): string {
  const [[, sm]] = resourcesOfType(s.json, 'AWS::StepFunctions::StateMachine');
  return roleIdOf(sm);
}

/**
 * An output's value as CloudFormation resolves it in aws / ap-northeast-2 /
 * 123456789012 (the partition and URL suffix stay pseudo parameters even in a
 * stack with an env).
 */
function resolved(v: Json): string {
  if (typeof v === 'string') return v;
  const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::URLSuffix': 'amazonaws.com', 'AWS::Region': 'ap-northeast-2', 'AWS::AccountId': '123456789012' };
  if (v && 'Ref' in v && v.Ref in pseudo) return pseudo[v.Ref];
  if (v && 'Fn::Join' in v) return (v['Fn::Join'][1] as Json[]).map(resolved).join(v['Fn::Join'][0]);
  throw new Error(`cannot resolve ${JSON.stringify(v)}`);
}

/** The stack in a concrete account and region. */
function synthInEnv(context: Record<string, unknown>, region = 'ap-northeast-2') {
  const built = buildApp({ context: { placeholderCode: 'true', ...context }, outdir: tempDir('kms'), env: { account: '123456789012', region } });
  const assembly = built.app.synth();
  return { ...built, json: assembly.getStackArtifact(built.stack.artifactId).template as Json };
}

describe('kmsKeyArn: the config field', () => {
  test('null by default; a key ARN (multi-Region too) or null is accepted', () => {
    assert.equal(loadConfig({ file: DEFAULT_CONFIG_FILE }).kmsKeyArn, null);
    assert.equal(loadConfig({ file: DEFAULT_CONFIG_FILE, context: { kmsKeyArn: KEY } }).kmsKeyArn, KEY);
    assert.equal(loadConfig({ file: DEFAULT_CONFIG_FILE, context: { kmsKeyArn: OTHER_KEY } }).kmsKeyArn, OTHER_KEY);
    assert.equal(loadConfig({ file: DEFAULT_CONFIG_FILE, context: { kmsKeyArn: 'null' } }).kmsKeyArn, null);
  });

  test('anything else is a config error naming the field', () => {
    for (const bad of [
      'arn:aws:kms:ap-northeast-2:123456789012:alias/makenaide',
      '1234abcd-12ab-34cd-56ef-1234567890ab',
      'arn:aws:kms:ap-northeast-2:123456789012:key/abcd',
      'arn:aws:sns:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    ]) {
      assert.deepEqual(configProblems({ kmsKeyArn: bad }), [
        `kmsKeyArn: ${JSON.stringify(bad)} is not a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>) or null`,
      ]);
    }
  });

  test('a key of another region than the stack\'s is refused at synth', () => {
    assert.throws(() => synthInEnv({ kmsKeyArn: KEY }, 'us-east-1'), /kmsKeyArn: the key is in ap-northeast-2, the stack in us-east-1/);
    assert.throws(() => synthInEnv({ 'jobOutput.kmsKeyArn': KEY }, 'us-east-1'), /jobOutput\.kmsKeyArn: the key is in ap-northeast-2/);
    assert.ok(synthInEnv({ kmsKeyArn: KEY }).json.Outputs.KeyPolicyStatements);
  });
});

describe('kmsKeyArn: without it nothing changes', () => {
  const lazy = lazySynth();

  test('no key on the topic, the log groups or the functions; generated names; no kms: action; no key policy output', () => {
    const s = lazy();
    const [[, topic]] = resourcesOfType(s.json, 'AWS::SNS::Topic');
    assert.equal(topic.Properties.KmsMasterKeyId, undefined);
    assert.equal(topic.Properties.TopicName, undefined);
    for (const [id, g] of resourcesOfType(s.json, 'AWS::Logs::LogGroup')) {
      assert.equal(g.Properties.KmsKeyId, undefined, id);
      if (id !== logicalId(s.stack.jobOutputLogGroup!)) assert.equal(g.Properties.LogGroupName, undefined, id);
    }
    for (const [id, fn] of resourcesOfType(s.json, 'AWS::Lambda::Function')) assert.equal(fn.Properties.KmsKeyArn, undefined, id);
    assert.deepEqual(identityStatements(s.json).filter((st) => st.actions.some((a) => a.startsWith('kms:'))), []);
    assert.equal(s.json.Outputs.KeyPolicyStatements, undefined);
    assert.equal(s.stack.stackKey, undefined);
  });

  test('the encryption checks are skipped with their reasons', () => {
    const s = lazy();
    for (const [id, r] of [...resourcesOfType(s.json, 'AWS::Logs::LogGroup')]) assert.ok(skipsOf(r).includes('CKV_AWS_158'), id);
    for (const [id, r] of resourcesOfType(s.json, 'AWS::Lambda::Function')) assert.ok(skipsOf(r).includes('CKV_AWS_173'), id);
    for (const [id, r] of resourcesOfType(s.json, 'AWS::SNS::Topic')) assert.ok(skipsOf(r).includes('CKV_AWS_26'), id);
  });
});

describe('kmsKeyArn: with a key', () => {
  const lazy = lazySynth({ kmsKeyArn: KEY });

  test('the alarm topic, every log group and every function environment name the key', () => {
    const s = lazy();
    const topics = resourcesOfType(s.json, 'AWS::SNS::Topic');
    assert.equal(topics.length, 1);
    assert.equal(topics[0][1].Properties.KmsMasterKeyId, KEY);
    assert.equal(topics[0][1].Properties.TopicName, 'MakenaideOrchestrator-alarms');
    const groups = resourcesOfType(s.json, 'AWS::Logs::LogGroup');
    assert.equal(groups.length, 8, 'six functions, the state machine, the job output');
    for (const [id, g] of groups) assert.equal(g.Properties.KmsKeyId, KEY, id);
    assert.deepEqual(groups.map(([, g]) => g.Properties.LogGroupName).sort(), [
      ...FUNCTIONS.map((f) => `/makenaide/MakenaideOrchestrator/${f.binary}`),
      '/makenaide/MakenaideOrchestrator/job-output',
      '/makenaide/MakenaideOrchestrator/state-machine',
    ].sort());
    const fns = resourcesOfType(s.json, 'AWS::Lambda::Function');
    assert.equal(fns.length, 6);
    for (const [id, fn] of fns) {
      assert.equal(fn.Properties.KmsKeyArn, KEY, id);
      const group = s.json.Resources[fn.Properties.LoggingConfig.LogGroup.Ref];
      assert.match(group.Properties.LogGroupName, /^\/makenaide\/MakenaideOrchestrator\/[a-z0-9_]+$/, `${id} logs to its named group`);
    }
  });

  test('the state machine role may use exactly that key, through SNS, for the alarm topic only', () => {
    const s = lazy();
    const kmsStatements = identityStatements(s.json).filter((st) => st.actions.some((a) => a.startsWith('kms:')));
    assert.equal(kmsStatements.length, 1, 'one statement in the whole app grants kms: actions');
    const [st] = kmsStatements;
    assert.deepEqual(st.roles, [stateMachineRole(s)]);
    assert.equal(st.effect, 'Allow');
    assert.deepEqual([...st.actions].sort(), ['kms:Decrypt', 'kms:GenerateDataKey']);
    assert.deepEqual(st.resources, [KEY]);
    assert.deepEqual(st.condition, {
      StringEquals: {
        'kms:ViaService': { 'Fn::Join': ['', ['sns.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }]] },
        'kms:EncryptionContext:aws:sns:topicArn': { Ref: logicalId(s.stack.alarmTopic) },
      },
    });
    // Besides the key, the state machine keeps exactly what it had.
    const without = allowedActions(statementsOfRole(s.json, stateMachineRole(s))).filter((a) => !a.startsWith('kms:'));
    const plain = lazySynth()();
    assert.deepEqual(without, allowedActions(statementsOfRole(plain.json, stateMachineRole(plain))));
  });

  test('no function role gains a kms: action (Lambda decrypts its environment with its own grant on the key)', () => {
    const s = lazy();
    for (const f of FUNCTIONS) {
      const role = roleIdOf(s.json.Resources[logicalId(s.stack.functions[f.binary])]);
      assert.deepEqual(allowedActions(statementsOfRole(s.json, role)).filter((a) => a.startsWith('kms:')), [], f.binary);
    }
  });

  test('the encryption checks are not skipped on the encrypted resources; the other skips stay', () => {
    const s = lazy();
    for (const [id, r] of Object.entries(s.json.Resources as Record<string, Json>)) {
      for (const sk of ENCRYPTION_SKIPS) assert.ok(!skipsOf(r).includes(sk), `${id} still skips ${sk}`);
    }
    for (const [id, r] of resourcesOfType(s.json, 'AWS::Lambda::Function')) assert.deepEqual(skipsOf(r), ['CKV_AWS_116', 'CKV_AWS_117', 'CKV_AWS_115'], id);
    for (const [id, r] of resourcesOfType(s.json, 'AWS::SQS::Queue')) assert.deepEqual(skipsOf(r), ['CKV_AWS_27'], id);
  });

  test('KeyPolicyStatements: CloudWatch Logs for exactly the groups under the key, CloudWatch alarms for exactly the topic', () => {
    const s = synthInEnv({ kmsKeyArn: KEY });
    const statements = JSON.parse(resolved(s.json.Outputs.KeyPolicyStatements.Value));
    assert.deepEqual(
      statements.map((st: Json) => [st.Sid, st.Principal.Service]),
      [
        ['MakenaideLogGroups', 'logs.ap-northeast-2.amazonaws.com'],
        ['MakenaideAlarmsToTheTopic', 'cloudwatch.amazonaws.com'],
      ],
    );
    // The ARNs the template's own names give (not the names the code derives).
    const groupArns = resourcesOfType(s.json, 'AWS::Logs::LogGroup')
      .filter(([, g]) => g.Properties.KmsKeyId === KEY)
      .map(([, g]) => `arn:aws:logs:ap-northeast-2:123456789012:log-group:${g.Properties.LogGroupName}`);
    assert.equal(groupArns.length, 8);
    const [logsSt, alarmsSt] = statements;
    assert.deepEqual([...logsSt.Condition.ArnEquals['kms:EncryptionContext:aws:logs:arn']].sort(), groupArns.sort());
    assert.deepEqual(logsSt.Action, ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*']);
    const [[, topic]] = resourcesOfType(s.json, 'AWS::SNS::Topic');
    assert.deepEqual(alarmsSt.Condition, {
      StringEquals: { 'kms:EncryptionContext:aws:sns:topicArn': `arn:aws:sns:ap-northeast-2:123456789012:${topic.Properties.TopicName}` },
    });
    assert.deepEqual(alarmsSt.Action, ['kms:Decrypt', 'kms:GenerateDataKey*']);
    for (const st of statements) {
      assert.equal(st.Effect, 'Allow');
      assert.equal(st.Resource, '*');
      assert.ok(st.Condition, `${st.Sid} is conditioned`);
    }
  });

  test('jobOutput.kmsKeyArn keeps the job output group on its own key, outside the stack key\'s statement', () => {
    const s = synthInEnv({ kmsKeyArn: KEY, 'jobOutput.kmsKeyArn': OTHER_KEY });
    const job = s.json.Resources[logicalId(s.stack.jobOutputLogGroup!)];
    assert.equal(job.Properties.KmsKeyId, OTHER_KEY);
    const others = resourcesOfType(s.json, 'AWS::Logs::LogGroup').filter(([id]) => id !== logicalId(s.stack.jobOutputLogGroup!));
    assert.equal(others.length, 7);
    for (const [id, g] of others) assert.equal(g.Properties.KmsKeyId, KEY, id);
    const [logsSt] = JSON.parse(resolved(s.json.Outputs.KeyPolicyStatements.Value));
    const arns: string[] = logsSt.Condition.ArnEquals['kms:EncryptionContext:aws:logs:arn'];
    assert.equal(arns.length, 7);
    assert.ok(!arns.some((a) => a.endsWith('/job-output')));
  });

  test('only jobOutput.kmsKeyArn: the job output group alone, as before', () => {
    const s = synth({ 'jobOutput.kmsKeyArn': KEY });
    const encrypted = resourcesOfType(s.json, 'AWS::Logs::LogGroup').filter(([, g]) => g.Properties.KmsKeyId !== undefined);
    assert.deepEqual(encrypted.map(([id]) => id), [logicalId(s.stack.jobOutputLogGroup!)]);
    assert.equal(s.json.Outputs.KeyPolicyStatements, undefined);
    assert.deepEqual(identityStatements(s.json).filter((st) => st.actions.some((a) => a.startsWith('kms:'))), []);
  });
});
