import * as path from 'node:path';
import { App, Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  allowedExampleFields,
  ConfigError,
  ExampleValuesError,
  exampleValueFields,
  exampleValuesWarning,
  guardSwitches,
  loadConfig,
  OrchestratorConfig,
} from './config';
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
  /**
   * CDK context: `config` (file), `placeholderCode`, `lambdaZipDir`, `definitionFile`, `rulesFile`, `sourceRevision`,
   * `deploy` (refuse example values), `allowExampleValues` and config field overrides.
   */
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
  /** One line each, for the person running the synth (bin/app.ts prints them): the example values still in the config. */
  readonly warnings: string[];
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
  // The config's example values: a deploy refuses them, a synth warns (EXAMPLE_VALUES in lib/config.ts).
  const source = configFile ? displayPath(configFile) : 'in-memory config';
  const allowed = allowedExampleFields(context.allowExampleValues, source);
  const examples = exampleValueFields(config).filter((f) => !allowed.includes(f));
  if (truthy(context.deploy) && examples.length) throw new ExampleValuesError(source, examples, config);
  const warnings = [exampleValuesWarning(examples, source)].filter((w): w is string => w !== undefined);
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
  return { app, stack, config, warnings };
}

/** A file as the person at the repository's root names it (cdk/config.json), else its absolute path. */
function displayPath(file: string): string {
  const relative = path.relative(REPO_ROOT, file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}
