/**
 * The CDK feature flags pinned in cdk.json: every flag the CDK CLI would
 * report as "not configured" is pinned, each to what it does unset in the
 * installed aws-cdk-lib, so pinning changes no template (the other tests
 * synthesize in-process, without cdk.json's context, and check exactly what
 * `make synth` and `make deploy` build). An aws-cdk-lib upgrade that adds
 * flags fails here with their names: pin them the same way, or adopt a
 * recommended value as a change of its own (the template changes).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import { buildApp } from '../lib/app';
import { REPO_ROOT, tempDir } from './helpers';

const CDK_JSON = path.join(REPO_ROOT, 'cdk', 'cdk.json');
const context = (JSON.parse(fs.readFileSync(CDK_JSON, 'utf8')) as { context: Record<string, unknown> }).context;
const pinned = Object.fromEntries(Object.entries(context).filter(([k]) => k.startsWith('@aws-cdk')));

// The CLI's own rule (aws-cdk lib/commands/flags/operations.ts, FlagOperations.filterNeedsAttention):
// a flag needs attention when it is not obsolete, has no value, and its default is not its recommended value.
const OBSOLETE_FLAGS = ['@aws-cdk/core:enableStackNameDuplicates', '@aws-cdk/aws-s3:grantWriteWithoutAcl', '@aws-cdk/aws-kms:defaultKeyPolicies'];
const reported = Object.entries(cxapi.FLAGS).filter(([name]) => !cxapi.CURRENT_VERSION_EXPIRED_FLAGS.includes(name));

/** What a flag does unset (aws-cdk-lib's FeatureFlags: its v2 `unconfiguredBehavesLike`, else off). */
function unsetBehaviour(name: string): unknown {
  if (name === cxapi.TARGET_PARTITIONS) {
    // Unset: region lookups cover every region; a list covers its partitions' regions.
    return [...new Set(RegionInfo.regions.map((r) => r.partition))].sort();
  }
  return cxapi.FLAGS[name].unconfiguredBehavesLike?.[cxapi.CURRENT_MV] ?? false;
}

function template(extra: Record<string, unknown>, variant: Record<string, unknown>, env?: { account: string; region: string }): string {
  const { app, stack } = buildApp({ context: { ...extra, placeholderCode: 'true', ...variant }, outdir: tempDir('flags'), env });
  return JSON.stringify(app.synth().getStackArtifact(stack.artifactId).template);
}

describe('the feature flags pinned in cdk.json', () => {
  test('no flag is left for the CDK CLI to report as not configured', () => {
    const unconfigured = reported
      .filter(([name]) => !OBSOLETE_FLAGS.includes(name) && !(name in context))
      .filter(([, flag]) => (flag.unconfiguredBehavesLike?.[cxapi.CURRENT_MV] ?? false) !== flag.recommendedValue)
      .map(([name]) => name);
    assert.deepEqual(unconfigured, [], 'pin these in cdk.json (what they do unset), or adopt their recommended value on purpose');
  });

  test('each is pinned to what it does unset, and names a flag of this aws-cdk-lib', () => {
    assert.ok(Object.keys(pinned).length >= 80, `${Object.keys(pinned).length} pinned`);
    for (const [name, value] of Object.entries(pinned)) {
      assert.ok(name in cxapi.FLAGS, `${name} is no flag of this aws-cdk-lib: remove it from cdk.json`);
      assert.deepEqual(value, unsetBehaviour(name), `${name}: pinned to ${JSON.stringify(value)}, which is not what it does unset`);
    }
  });

  for (const [name, variant, env] of [
    ['default config', {}, undefined],
    [
      'tracing, alarm email, KMS keys, the workers\' role, execution data, a canary rollout, in an account and region',
      {
        tracing: 'true',
        alarmEmail: 'ops@example.com',
        kmsKeyArn: 'arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
        'jobOutput.workerRoleName': 'makenaide-worker',
        'jobOutput.kmsKeyArn': 'arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
        logExecutionData: 'true',
        'rollout.type': 'CANARY',
        'rollout.percentage': '10',
        'rollout.intervalMinutes': '60',
      },
      { account: '123456789012', region: 'ap-northeast-2' },
    ],
  ] as const) {
    test(`pinning them changes no template (${name})`, () => {
      assert.equal(template(pinned, variant, env), template({}, variant, env));
    });
  }
});
