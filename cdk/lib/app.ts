import * as path from 'node:path';
import { App, Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError, guardSwitches, loadConfig, OrchestratorConfig } from './config';
import { lambdaTaskTimeoutSeconds, readDefinition } from './definition';
import { REPO_ROOT } from './paths';
import { checkSwitches, readRules, RULES_FILE } from './rules';
import { defaultZipDir } from './code';
import { OrchestratorStack } from './stack';

export { REPO_ROOT };
export const CDK_DIR = path.join(REPO_ROOT, 'cdk');
export const DEFAULT_CONFIG_FILE = path.join(CDK_DIR, 'config.json');
export const DEFAULT_DEFINITION_FILE = path.join(REPO_ROOT, 'statemachine', 'workflow.asl.json');
export { RULES_FILE };

export interface BuildOptions {
  /** CDK context: `config` (file), `placeholderCode`, `lambdaZipDir`, `definitionFile`, `rulesFile`, `sourceRevision` and config field overrides. */
  readonly context?: Record<string, unknown>;
  /** A config object merged over the file (tests). */
  readonly configBase?: Record<string, unknown>;
  /** Skip reading cdk/config.json (tests that give the whole config). */
  readonly noConfigFile?: boolean;
  readonly outdir?: string;
  /** Account and region; undefined gives an environment-agnostic template. */
  readonly env?: Environment;
}

export interface Built {
  readonly app: App;
  readonly stack: OrchestratorStack;
  readonly config: OrchestratorConfig;
}

function truthy(v: unknown): boolean {
  return v === true || v === 'true' || v === '1';
}

/**
 * Builds the app in-process (tests call this, bin/app.ts too). Throws
 * ConfigError or DefinitionError with a message naming the field or file.
 */
export function buildApp(opts: BuildOptions = {}): Built {
  const app = new App({
    outdir: opts.outdir,
    context: opts.context,
    analyticsReporting: false,
  });
  const context = app.node.getAllContext() as Record<string, unknown>;
  const configFile = opts.noConfigFile ? undefined : path.resolve(String(context.config ?? DEFAULT_CONFIG_FILE));
  const config = loadConfig({ file: configFile, base: opts.configBase, context });
  const definitionFile = path.resolve(String(context.definitionFile ?? DEFAULT_DEFINITION_FILE));
  const taskTimeout = lambdaTaskTimeoutSeconds(readDefinition(definitionFile).asl);
  if (taskTimeout !== undefined && config.lambda.timeoutSeconds >= taskTimeout) {
    throw new ConfigError(configFile ?? 'in-memory config', [
      `lambda.timeoutSeconds: ${config.lambda.timeoutSeconds} must be below ${taskTimeout}, the TimeoutSeconds of the Lambda Tasks ` +
        `in ${path.relative(process.cwd(), definitionFile)}: the function must report its own error before the Task times out`,
    ]);
  }

  const rulesFile = path.resolve(String(context.rulesFile ?? RULES_FILE));
  const guardRules = readRules(rulesFile);
  checkSwitches(guardRules, guardSwitches(), rulesFile);

  const stack = new OrchestratorStack(app, config.stackName, {
    env: opts.env,
    config,
    // The zips of `make package ARCH=<lambda.architecture>`, unless -c lambdaZipDir=<dir> says where.
    lambdaZipDir: context.lambdaZipDir ? path.resolve(String(context.lambdaZipDir)) : defaultZipDir(REPO_ROOT, config.lambda.architecture),
    definitionFile,
    buildDir: path.join(app.outdir, 'makenaide-build'),
    guardRules,
    placeholderCode: truthy(context.placeholderCode),
    // For the version's description only (`-c sourceRevision=$(git rev-parse --short HEAD)`).
    sourceRevision: context.sourceRevision === undefined ? undefined : String(context.sourceRevision),
    tags: { Project: 'makenaide-orchestrator', Workflow: config.workflowName },
  });
  // cdk-nag: any unacknowledged AwsSolutions finding interrupts synthesis; the
  // acknowledgments (with their reasons) are copied into the template Metadata.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }));
  return { app, stack, config };
}
