#!/usr/bin/env node
// The CDK app entry (cdk.json). Region and account come from the environment
// the CDK CLI sets from your credentials (CDK_DEFAULT_ACCOUNT / _REGION).
// Without credentials (an offline `make synth`) the template is
// environment-agnostic: ARNs use AWS::Region and AWS::AccountId.
import { ConfigError } from '../lib/config';
import { DefinitionError } from '../lib/definition';
import { buildApp } from '../lib/app';
import { PackageError } from '../lib/code';
import { RulesError } from '../lib/rules';
import { SettingsError } from '../lib/settings';

try {
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  const region = process.env.CDK_DEFAULT_REGION;
  const { app, warnings } = buildApp({ env: account ? { account, region } : undefined });
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  app.synth();
} catch (e) {
  if (e instanceof ConfigError || e instanceof DefinitionError || e instanceof SettingsError || e instanceof RulesError || e instanceof PackageError) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
}
