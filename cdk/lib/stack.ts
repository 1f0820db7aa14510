import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import {
  ArnFormat,
  CfnOutput,
  CfnRule,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  StackProps,
  TimeZone,
  Token,
  Lazy,
  Annotations,
  CfnElement,
  CfnResource,
  Validations,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { functionCode, LAMBDA_ARCHITECTURE } from './code';
import { Construct, IConstruct } from 'constructs';
import { cronIntervalHours, executionTimeoutSeconds, jobOutputLogGroupName, lambdaEnvironment, OrchestratorConfig } from './config';
import { ALARM_TOPIC_KEY, FUNCTIONS, FunctionBinary, LEASE_TABLE_KEY, REVISION_KEY, WORKER_IDS_KEY, writeDerivedDefinition } from './definition';
import { encryptedLogGroupName, encryptedTopicName, keyPolicyStatements } from './encryption';
import { jobDocumentContent, jobDocumentName } from './jobdocument';
import { fillPlaceholders, GuardRule, GuardRules } from './rules';
import { unscopedReason } from './unscoped';

export interface OrchestratorStackProps extends StackProps {
  readonly config: OrchestratorConfig;
  /** Where the packaged zips are: `<binary>/bootstrap.zip` (target/lambda/<architecture>). */
  readonly lambdaZipDir: string;
  /** statemachine/workflow.asl.json */
  readonly definitionFile: string;
  /** Where the derived definition (TimeoutSeconds applied) is written. */
  readonly buildDir: string;
  /** statemachine/rules.json, read and checked (lib/rules.ts). */
  readonly guardRules: GuardRules;
  /**
   * Skip the packaged zips: every function gets a tiny placeholder `bootstrap`
   * instead, and the template carries a rule that makes CloudFormation refuse
   * to deploy it. For `make synth`, the tests and cfn-lint: offline, no
   * release build.
   */
  readonly placeholderCode?: boolean;
  /** A source revision (e.g. a commit id) for the version's description; CDK context `sourceRevision`. */
  readonly sourceRevision?: string;
}

/** The metric names emit_metrics publishes (dimension `Workflow`). */
export const METRICS = {
  count: ['RunSucceeded', 'RunFailed'],
  seconds: ['RunDurationSeconds', 'RdsReadySeconds', 'Ec2ReadySeconds', 'JobDurationSeconds', 'RdsRunningSeconds', 'Ec2RunningSeconds'],
  none: ['RunCostUsd', 'AlwaysOnUsdPerHour'],
} as const;

/** The alias every trigger starts (`<state machine ARN>:live`). */
export const LIVE_ALIAS = 'live';

/**
 * The stack output with the deployed JOB_TIMEOUT_MAX_SECONDS, the one bound
 * of the execution input only the deployment knows (the CLI reads it).
 */
export const JOB_TIMEOUT_MAX_OUTPUT = 'JobTimeoutMaxSeconds';

/**
 * The alias' DeploymentPreference for `rollout`: ALL_AT_ONCE moves it at once
 * (no alarms needed); CANARY shifts `percentage` for `intervalMinutes`, then
 * the rest; LINEAR adds `percentage` every `intervalMinutes`. Either rolls
 * back when one of `alarms` (names, not ARNs) goes to ALARM.
 */
export function deploymentPreference(
  rollout: OrchestratorConfig['rollout'],
  versionArn: string,
  alarms: string[],
): sfn.CfnStateMachineAlias.DeploymentPreferenceProperty {
  if (rollout.type === 'ALL_AT_ONCE') return { stateMachineVersionArn: versionArn, type: rollout.type };
  return { stateMachineVersionArn: versionArn, type: rollout.type, percentage: rollout.percentage, interval: rollout.intervalMinutes, alarms };
}

/**
 * The savings of a period (docs/dollars.md): what the resources cost kept
 * running for the period minus what every run of the period cost, however
 * many runs there were. `cost` is the Sum of RunCostUsd and `rate` the
 * Average of AlwaysOnUsdPerHour in the period; a period without runs repeats
 * the last rate. functions/core/src/cost.rs (`savings_per_period`) computes
 * the same, and its tests show two runs in one interval do not double it.
 */
export const SAVINGS_EXPRESSION = 'FILL(rate, REPEAT) * PERIOD(rate) / 3600 - FILL(cost, 0)';

/**
 * emit_metrics logs this line (JSON, as deployed) when CloudWatch refuses its
 * data points: the run goes on (metrics are best effort), this filter counts it.
 * `message` is the Rust constant METRICS_NOT_PUBLISHED (a test reads both).
 */
export const METRICS_NOT_PUBLISHED_PATTERN = '{ ($.level = "ERROR") && ($.fields.message = "metrics not published") }';
export const METRICS_NOT_PUBLISHED_METRIC = 'MetricsNotPublished';

/** The metrics of the guards (dimension `Workflow`): runs skipped because another held the lease, resources a sweep found running. */
export const GUARD_METRICS = ['RunSkipped', 'UnattendedResources'] as const;

export class OrchestratorStack extends Stack {
  readonly functions: Record<FunctionBinary, lambda.Function>;
  readonly stateMachine: sfn.StateMachine;
  /** The version this deploy publishes: its definition names the functions' published versions. */
  readonly stateMachineVersion: sfn.CfnStateMachineVersion;
  /** `live`: what every trigger starts; a deploy moves it to the new version per `rollout`. */
  readonly liveAlias: sfn.CfnStateMachineAlias;
  /** The workflow revision (`${Revision}`): a hash of the definition and the function versions. */
  readonly revision: string;
  readonly alarmTopic: sns.Topic;
  readonly deadLetterQueue: sqs.Queue;
  readonly schedule: scheduler.Schedule;
  /** The run lease (one item, `pk` = `run-lease`), written by the workflow itself. */
  readonly leaseTable: dynamodb.Table;
  /** The EventBridge rules of statemachine/rules.json that the config switches on, by rule id. */
  readonly guardRules: Record<string, events.Rule> = {};
  /** The sweeper schedule, unless `guards.sweeper` is false. */
  readonly sweeperSchedule?: scheduler.Schedule;
  /** `states:DescribeExecution` on this state machine's executions, a policy of the state machine role. */
  readonly describeOwnExecutionsPolicy: iam.Policy;
  /** The job's SSM Command document (JOB_DOCUMENT_NAME), from statemachine/job-document.json. */
  readonly jobDocument: ssm.CfnDocument;
  /** The job's stdout and stderr (JOB_LOG_GROUP), unless `jobOutput.cloudWatch` is false. */
  readonly jobOutputLogGroup?: logs.LogGroup;
  /** Lets the workers' SSM agent write the job output, on the imported `jobOutput.workerRoleName` role. */
  readonly jobOutputWorkerPolicy?: iam.Policy;
  /** RunFailed of this deploy's revision: one of the alarms that roll a gradual rollout back. */
  readonly revisionFailedAlarm: cloudwatch.Alarm;
  /** The imported `kmsKeyArn`: the alarm topic, the log groups and the Lambda environments. */
  readonly stackKey?: kms.IKey;

  constructor(scope: Construct, id: string, props: OrchestratorStackProps) {
    super(scope, id, props);
    const cfg = props.config;
    this.templateOptions.description =
      `makenaide-orchestrator (${cfg.workflowName}): Step Functions workflow that starts RDS + EC2, runs the batch job, stops both`;

    // ------------------------------------------------------------ ARNs in scope
    const dbArn = this.formatArn({
      service: 'rds',
      resource: 'db',
      resourceName: cfg.dbInstanceIdentifier,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const instanceArns = cfg.workerInstanceIds.map((id) =>
      this.formatArn({ service: 'ec2', resource: 'instance', resourceName: id }),
    );

    // ------------------------------------------------------------ job document
    // The job as a Command document of the stack's own (lib/jobdocument.ts):
    // ssm_launch sends it by name with nothing but its execution timeout, and
    // may send no other document. A change to jobCommands is a deploy, seen
    // in the template diff; NewVersion keeps the name (ssm_launch runs
    // $LATEST, so the new commands take effect with the next run).
    this.jobDocument = new ssm.CfnDocument(this, 'JobDocument', {
      name: jobDocumentName(cfg),
      documentType: 'Command',
      documentFormat: 'JSON',
      targetType: '/AWS::EC2::Instance',
      updateMethod: 'NewVersion',
      content: jobDocumentContent(cfg),
    });
    const jobDocumentArn = this.formatArn({ service: 'ssm', resource: 'document', resourceName: this.jobDocument.ref });

    // ------------------------------------------------------------ job output
    // The job's whole stdout and stderr: the SSM agent on each worker sends
    // them here (ssm_launch's SendCommand CloudWatchOutputConfig, from
    // JOB_LOG_GROUP) with the credentials of the workers' instance profile,
    // which needs the statement in cdk/README.md (the stack attaches it when
    // `jobOutput.workerRoleName` names the role). A fixed name: see
    // jobOutputLogGroupName. The stack cannot give CloudWatch Logs use of an
    // imported KMS key: its key policy must (cdk/README.md).
    const retention = cfg.logRetentionDays as logs.RetentionDays;
    // `kmsKeyArn`: the topic, the log groups and the Lambda environments under
    // one customer managed key, each with a fixed name (lib/encryption.ts).
    this.stackKey = cfg.kmsKeyArn ? kms.Key.fromKeyArn(this, 'StackKey', cfg.kmsKeyArn) : undefined;
    for (const [field, arn] of [['kmsKeyArn', cfg.kmsKeyArn], ['jobOutput.kmsKeyArn', cfg.jobOutput.kmsKeyArn]] as const) {
      const keyRegion = arn?.split(':')[3];
      if (keyRegion && !Token.isUnresolved(this.region) && keyRegion !== this.region) {
        throw new Error(`${field}: the key is in ${keyRegion}, the stack in ${this.region}: SNS, CloudWatch Logs and Lambda take a key of their own region`);
      }
    }
    const stackKey = this.stackKey;
    const encryptedGroup = (of: FunctionBinary | 'state-machine'): Partial<logs.LogGroupProps> =>
      stackKey ? { logGroupName: encryptedLogGroupName(cfg.stackName, of), encryptionKey: stackKey } : {};
    const jobOutputName = jobOutputLogGroupName(cfg);
    if (jobOutputName !== undefined) {
      const group = new logs.LogGroup(this, 'JobOutputLogs', {
        logGroupName: jobOutputName,
        retention,
        // Its own key first (jobOutput.kmsKeyArn), else the stack's.
        encryptionKey: cfg.jobOutput.kmsKeyArn ? kms.Key.fromKeyArn(this, 'JobOutputKey', cfg.jobOutput.kmsKeyArn) : stackKey,
      });
      this.jobOutputLogGroup = group;
      if (cfg.jobOutput.workerRoleName) {
        // A role this stack does not own: it only adds (and on delete removes) this policy.
        this.jobOutputWorkerPolicy = new iam.Policy(this, 'JobOutputWorkerPolicy', {
          roles: [iam.Role.fromRoleName(this, 'WorkerRole', cfg.jobOutput.workerRoleName)],
          statements: [
            new iam.PolicyStatement({
              sid: 'WriteJobOutput',
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
              resources: [group.logGroupArn],
            }),
            new iam.PolicyStatement({ sid: 'Unscoped', actions: ['logs:DescribeLogGroups'], resources: ['*'] }),
          ],
        });
      }
    }

    // ------------------------------------------------------------ functions
    // JOB_LOG_GROUP is the group's Ref (its fixed name, as the config's size check counted it).
    const environment = lambdaEnvironment(cfg, {
      JOB_LOG_GROUP: this.jobOutputLogGroup?.logGroupName ?? '',
      JOB_DOCUMENT_NAME: this.jobDocument.ref,
    });
    const fns: Partial<Record<FunctionBinary, lambda.Function>> = {};
    for (const f of FUNCTIONS) {
      const logGroup = new logs.LogGroup(this, `${f.construct}Logs`, { retention, ...encryptedGroup(f.binary) });
      const role = new iam.Role(this, `${f.construct}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `makenaide ${f.binary}: its log group and the calls it makes, nothing else`,
      });
      // Instead of AWSLambdaBasicExecutionRole (log writes on every log group):
      // write to this function's own log group only.
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'WriteOwnLogGroup',
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn],
        }),
      );
      const fn = new lambda.Function(this, f.construct, {
        // The zip `make package` built, checked against lambda.architecture (lib/code.ts).
        code: functionCode({
          binary: f.binary,
          architecture: cfg.lambda.architecture,
          zipDir: props.lambdaZipDir,
          placeholder: props.placeholderCode ?? false,
          buildDir: props.buildDir,
        }),
        handler: 'bootstrap',
        runtime: lambda.Runtime.PROVIDED_AL2023,
        architecture: LAMBDA_ARCHITECTURE[cfg.lambda.architecture],
        description: `makenaide-orchestrator step ${f.binary}`,
        memorySize: cfg.lambda.memorySizeMb,
        timeout: Duration.seconds(cfg.lambda.timeoutSeconds),
        // Kept on update: a run in flight on an older workflow version calls its own.
        currentVersionOptions: { removalPolicy: RemovalPolicy.RETAIN },
        environment,
        // Lambda decrypts it with a grant it creates on the key at deploy time, not with the role.
        environmentEncryption: stackKey,
        role,
        logGroup,
        loggingFormat: lambda.LoggingFormat.JSON,
        applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
        systemLogLevelV2: lambda.SystemLogLevel.INFO,
        tracing: cfg.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      });
      fns[f.binary] = fn;
    }
    this.functions = fns as Record<FunctionBinary, lambda.Function>;
    const grant = (binary: FunctionBinary, sid: string, actions: string[], resources: string[], conditions?: Record<string, unknown>) =>
      this.functions[binary].addToRolePolicy(new iam.PolicyStatement({ sid, actions, resources, conditions }));

    grant('rds_check', 'DescribeAndStartTheDb', ['rds:DescribeDBInstances', 'rds:StartDBInstance'], [dbArn]);
    grant('rds_stop', 'DescribeAndStopTheDb', ['rds:DescribeDBInstances', 'rds:StopDBInstance'], [dbArn]);
    grant('ec2_start', 'StartTheWorkers', ['ec2:StartInstances'], instanceArns);
    grant('ec2_start', 'Unscoped', ['ec2:DescribeInstances', 'ssm:DescribeInstanceInformation'], ['*']);
    grant('ssm_launch', 'RunTheJobDocumentOnTheWorkers', ['ssm:SendCommand'], [jobDocumentArn, ...instanceArns]);
    grant('ssm_launch', 'Unscoped', ['ssm:ListCommands'], ['*']);
    // Its `stopWorkers` action (the "Stop workers" Tasks): one StopInstances per worker.
    grant('poll_ec2_state', 'StopTheWorkers', ['ec2:StopInstances'], instanceArns);
    grant('poll_ec2_state', 'Unscoped', ['ec2:DescribeInstances', 'ssm:GetCommandInvocation'], ['*']);
    grant('emit_metrics', 'PutMetricsInTheNamespace', ['cloudwatch:PutMetricData'], ['*'], {
      StringEquals: { 'cloudwatch:namespace': cfg.metricsNamespace },
    });

    // ------------------------------------------------------------ run lease
    // One item ({"pk": "run-lease"}) that the workflow puts, reads, updates and
    // deletes itself (Step Functions DynamoDB integration). It only ever holds a
    // transient lease: deleting the table with the stack loses nothing a run
    // needs later (a new run takes a new lease), hence RemovalPolicy DESTROY.
    this.leaseTable = new dynamodb.Table(this, 'LeaseTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // The alarm topic: the alarms below, and the per-run failure notification
    // the state machine publishes (`Cleanup: notify`, `${AlarmTopicArn}`).
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `makenaide-orchestrator ${cfg.workflowName} alarms`,
      enforceSSL: true,
      ...(stackKey ? { masterKey: stackKey, topicName: encryptedTopicName(cfg.stackName) } : {}),
    });
    if (cfg.alarmEmail) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(cfg.alarmEmail));

    // ------------------------------------------------------------ state machine
    const definitionPath = writeDerivedDefinition(props.definitionFile, executionTimeoutSeconds(cfg), props.buildDir);
    const definitionSubstitutions: Record<string, string> = {
      [WORKER_IDS_KEY]: cfg.workerInstanceIds.join(','),
      [LEASE_TABLE_KEY]: this.leaseTable.tableName,
      [ALARM_TOPIC_KEY]: this.alarmTopic.topicArn,
    };
    // Published versions, not $LATEST: one workflow version always runs the
    // same function code. A version's logical id carries the hash of its
    // function (code and configuration), so a change publishes a new one;
    // the old ones are kept for runs still in flight on an older workflow version.
    const functionVersions = FUNCTIONS.map((f) => this.functions[f.binary].currentVersion);
    FUNCTIONS.forEach((f, i) => (definitionSubstitutions[f.key] = functionVersions[i].functionArn));
    // The revision: what runs, in 12 hex digits (the definition file and each
    // function version's id), known at synth. Low cardinality by design: one
    // value per deploy that changes something, never per run.
    const definitionText = fs.readFileSync(definitionPath, 'utf8');
    this.revision = Lazy.string({
      produce: () => {
        const hash = crypto.createHash('sha256').update(definitionText);
        for (const v of functionVersions) hash.update(`\n${this.resolve((v.node.defaultChild as CfnElement).logicalId)}`);
        return hash.digest('hex').slice(0, 12);
      },
    });
    definitionSubstitutions[REVISION_KEY] = this.revision;

    const stateMachineLogs = new logs.LogGroup(this, 'StateMachineLogs', { retention, ...encryptedGroup('state-machine') });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(definitionPath),
      definitionSubstitutions,
      logs: {
        destination: stateMachineLogs,
        level: sfn.LogLevel.ALL,
        includeExecutionData: cfg.logExecutionData,
      },
      tracingEnabled: cfg.tracing,
    });
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'InvokeTheSixFunctions',
        actions: ['lambda:InvokeFunction'],
        resources: functionVersions.map((v) => v.functionArn),
      }),
    );
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'TheRunLease',
        actions: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
        resources: [this.leaseTable.tableArn],
      }),
    );
    // The failure notification (`Cleanup: notify`): this topic only.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'NotifyTheAlarmTopic',
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
      }),
    );
    // A publisher to an encrypted topic needs kms:GenerateDataKey and
    // kms:Decrypt on its key (SNS developer guide): this key, through SNS,
    // for this topic only.
    if (stackKey) {
      this.stateMachine.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'EncryptTheNotification',
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [stackKey.keyArn],
          conditions: {
            StringEquals: {
              'kms:ViaService': `sns.${this.region}.${this.urlSuffix}`,
              'kms:EncryptionContext:aws:sns:topicArn': this.alarmTopic.topicArn,
            },
          },
        }),
      );
    }
    // Is the lease holder (an execution of this state machine) still running?
    // The resource names the state machine, so this statement lives in a policy
    // of its own: in the role's default policy, which the state machine depends
    // on, it would be a circular reference. That keeps the state machine's
    // generated name (no replacement of the deployed one).
    this.describeOwnExecutionsPolicy = new iam.Policy(this, 'StateMachineDescribeOwnExecutions', {
      roles: [this.stateMachine.role],
      statements: [
        new iam.PolicyStatement({
          sid: 'DescribeOwnExecutions',
          actions: ['states:DescribeExecution'],
          resources: [
            this.formatArn({
              service: 'states',
              resource: 'execution',
              resourceName: `${this.stateMachine.stateMachineName}:*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      ],
    });

    // ------------------------------------------------------------ version and alias
    // A new version whenever the definition changes (its revision id does);
    // the `live` alias is what the triggers start, so a run started before a
    // deploy finishes on the version it started on.
    this.stateMachineVersion = new sfn.CfnStateMachineVersion(this, 'StateMachineVersion', {
      stateMachineArn: this.stateMachine.stateMachineArn,
      stateMachineRevisionId: this.stateMachine.stateMachineRevisionId,
      description: `revision ${this.revision}${props.sourceRevision ? ` (source ${props.sourceRevision})` : ''}`,
    });
    this.liveAlias = new sfn.CfnStateMachineAlias(this, 'LiveAlias', {
      name: LIVE_ALIAS,
      description: `${cfg.workflowName}: the version the schedule, the guard rules and the sweeper start`,
      // Its alarms are set below, once they exist.
      deploymentPreference: { stateMachineVersionArn: this.stateMachineVersion.attrArn, type: 'ALL_AT_ONCE' },
    });
    const live = sfn.StateMachine.fromStateMachineArn(this, 'Live', this.liveAlias.attrArn);

    // ------------------------------------------------------------ schedule
    this.deadLetterQueue = new sqs.Queue(this, 'ScheduleDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `Runs the ${cfg.workflowName} workflow (${cfg.schedule.cron}, ${cfg.schedule.timeZone})`,
      schedule: scheduler.ScheduleExpression.expression(`cron(${cfg.schedule.cron})`, TimeZone.of(cfg.schedule.timeZone)),
      enabled: cfg.schedule.enabled,
      target: new targets.StepFunctionsStartExecution(live, {
        input: scheduler.ScheduleTargetInput.fromObject(cfg.schedule.input),
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: cfg.schedule.retryAttempts,
        maxEventAge: Duration.seconds(cfg.schedule.maximumEventAgeSeconds),
      }),
    });
    const implied = cronIntervalHours(cfg.schedule.cron);
    if (implied !== undefined && implied !== cfg.scheduleIntervalHours) {
      Annotations.of(this).addWarningV2(
        'makenaide:scheduleIntervalHours',
        `schedule.cron runs every ${implied} h but scheduleIntervalHours is ${cfg.scheduleIntervalHours}: set it to the real interval (the run-length advice in cdk/README.md compares the deadlines with it)`,
      );
    }

    // ------------------------------------------------------------ guards (statemachine/rules.json)
    // Nothing is left running when a run ends without its cleanup: a rule
    // starts a cleanup run for it, another stops a DB that RDS restarted by
    // itself, and the sweeper looks on its schedule. The file is the one
    // declaration; each has an on/off switch in `guards`.
    const placeholderValues = {
      StateMachineArn: this.stateMachine.stateMachineArn,
      DbInstanceIdentifier: cfg.dbInstanceIdentifier,
    };
    const switchedOn = (name: string): boolean => {
      const on = (cfg.guards as Record<string, unknown>)[name];
      if (typeof on !== 'boolean') throw new Error(`statemachine/rules.json names switch ${name}, which is not a boolean guards.${name} config field`);
      return on;
    };
    const rules = props.guardRules.rules.filter((r) => switchedOn(r.switch));
    // One role for the rules, allowed to start this state machine and nothing else.
    const rulesRole = rules.length
      ? new iam.Role(this, 'GuardRulesRole', {
          assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
          description: `makenaide ${cfg.workflowName}: lets the guard rules start the workflow, nothing else`,
        })
      : undefined;
    if (rulesRole) live.grantStartExecution(rulesRole);
    for (const r of rules) {
      const rule = new events.Rule(this, `${r.id}Rule`, {
        description: r.description,
        // Passed through as written (keys like detail-type included), placeholders filled.
        eventPattern: fillPlaceholders(r.eventPattern, placeholderValues) as events.EventPattern,
        targets: [
          new eventTargets.SfnStateMachine(live, {
            role: rulesRole,
            input: ruleInput(r),
            deadLetterQueue: this.deadLetterQueue,
            retryAttempts: cfg.schedule.retryAttempts,
            maxEventAge: Duration.seconds(cfg.schedule.maximumEventAgeSeconds),
          }),
        ],
      });
      rule.node.addDependency(this.describeOwnExecutionsPolicy);
      this.guardRules[r.id] = rule;
    }
    const sweeper = props.guardRules.sweeper;
    if (switchedOn(sweeper.switch)) {
      const expr = cfg.guards.sweepSchedule;
      this.sweeperSchedule = new scheduler.Schedule(this, 'SweeperSchedule', {
        description: `${cfg.workflowName} sweeper (${expr}): ${sweeper.description}`.slice(0, 512),
        schedule: scheduler.ScheduleExpression.expression(expr, expr.startsWith('cron(') ? TimeZone.of(cfg.schedule.timeZone) : undefined),
        target: new targets.StepFunctionsStartExecution(live, {
          input: scheduler.ScheduleTargetInput.fromObject(sweeper.input),
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: cfg.schedule.retryAttempts,
          maxEventAge: Duration.seconds(cfg.schedule.maximumEventAgeSeconds),
        }),
      });
      this.sweeperSchedule.node.addDependency(this.describeOwnExecutionsPolicy);
    }

    // ------------------------------------------------------------ alarms
    const action = new cwActions.SnsAction(this.alarmTopic);
    const period = Duration.minutes(5);
    const alarmOn = (id: string, metric: cloudwatch.IMetric, what: string) => {
      const alarm = new cloudwatch.Alarm(this, id, {
        alarmDescription: `${cfg.workflowName}: ${what}. Open the execution in the Step Functions console; redrive it there once the cause is fixed.`,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(action);
      return alarm;
    };
    const sum = { period, statistic: cloudwatch.Stats.SUM };
    const failedAlarm = alarmOn('ExecutionsFailedAlarm', this.stateMachine.metricFailed(sum), 'an execution failed');
    const timedOutAlarm = alarmOn(
      'ExecutionsTimedOutAlarm',
      this.stateMachine.metricTimedOut(sum),
      'an execution timed out (a cleanup run stops what it left, when the cleanup rule is on: check that run)',
    );
    alarmOn('ExecutionsAbortedAlarm', this.stateMachine.metricAborted(sum), 'an execution was aborted (a cleanup run stops what it left, when the cleanup rule is on: check that run)');
    alarmOn(
      'ScheduleDeliveryFailedAlarm',
      this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM }),
      'a schedule or a guard rule could not start an execution (message in the dead-letter queue)',
    );
    // One factory for the workflow's own metrics (namespace and dimension
    // from the config). The legend defaults to the metric name; `null` sets
    // none, which an alarm needs to stay a plain single-metric alarm.
    const custom = (metricName: string, statistic: string, p: Duration = Duration.hours(1), label?: string | null) =>
      new cloudwatch.Metric({
        namespace: cfg.metricsNamespace,
        metricName,
        dimensionsMap: { Workflow: cfg.workflowName },
        statistic,
        period: p,
        label: label === null ? undefined : (label ?? metricName),
      });
    // Something ran while no run held the lease: a run ended without its
    // cleanup, RDS restarted the DB, or someone started a resource by hand.
    const unattended = new cloudwatch.Alarm(this, 'UnattendedResourcesAlarm', {
      alarmDescription:
        `${cfg.workflowName}: a sweep found the DB or a worker running while no run held the lease ` +
        '(it stopped what the stop policy lets it stop). Open the sweep execution in the Step Functions console and check RDS and EC2.',
      metric: custom('UnattendedResources', cloudwatch.Stats.MAXIMUM, Duration.hours(1), null),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    unattended.addAlarmAction(action);

    // A run of this deploy's revision failed (emit_metrics' per-revision
    // RunFailed): with the execution alarms, what rolls a gradual rollout
    // back. CloudFormation watches alarms by name; a missing one counts as OK.
    this.revisionFailedAlarm = new cloudwatch.Alarm(this, 'RevisionRunFailedAlarm', {
      alarmDescription:
        `${cfg.workflowName}: a run of the revision this deploy published failed. ` +
        'During a CANARY or LINEAR rollout this rolls the live alias back to the previous version.',
      metric: new cloudwatch.Metric({
        namespace: cfg.metricsNamespace,
        metricName: 'RunFailed',
        dimensionsMap: { Workflow: cfg.workflowName, Revision: this.revision },
        statistic: cloudwatch.Stats.SUM,
        period,
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.revisionFailedAlarm.addAlarmAction(action);
    this.liveAlias.deploymentPreference = deploymentPreference(cfg.rollout, this.stateMachineVersion.attrArn, [
      failedAlarm.alarmName,
      timedOutAlarm.alarmName,
      this.revisionFailedAlarm.alarmName,
    ]);

    // A run whose metrics CloudWatch refused still ends with its true outcome
    // (so the failed-execution alarm stays quiet); this one says the numbers
    // are missing. A crash of emit_metrics itself shows in its Lambda Errors.
    new logs.MetricFilter(this, 'MetricsNotPublishedFilter', {
      logGroup: this.functions.emit_metrics.logGroup,
      filterPattern: logs.FilterPattern.literal(METRICS_NOT_PUBLISHED_PATTERN),
      metricNamespace: cfg.metricsNamespace,
      metricName: METRICS_NOT_PUBLISHED_METRIC,
      metricValue: '1',
      dimensions: { Workflow: '$.fields.workflow' },
    });
    const notPublished = new cloudwatch.Alarm(this, 'MetricsNotPublishedAlarm', {
      alarmDescription:
        `${cfg.workflowName}: emit_metrics could not publish a run's metrics (CloudWatch refused them past the SDK's retries). ` +
        'The run itself ended with its true outcome; its $.metrics block says why (publishError). Check the emit_metrics logs and its role.',
      metric: custom(METRICS_NOT_PUBLISHED_METRIC, cloudwatch.Stats.SUM, Duration.hours(1), null),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    notPublished.addAlarmAction(action);

    // ------------------------------------------------------------ dashboard
    // One line per revision (dimension Revision, emit_metrics' per-revision series).
    const perRevision = (metricName: string, statistic: string) =>
      new cloudwatch.MathExpression({
        expression:
          `SEARCH('{${cfg.metricsNamespace},Workflow,Revision} MetricName="${metricName}" Workflow="${cfg.workflowName}"', ` +
          `'${statistic}', 3600)`,
        usingMetrics: {},
        period: Duration.hours(1),
        label: metricName,
      });
    const hour = Duration.hours(1);
    const day = Duration.days(1);
    // Savings belong to a period, never to one run: see SAVINGS_EXPRESSION.
    const savings = (p: Duration, label: string) =>
      new cloudwatch.MathExpression({
        expression: SAVINGS_EXPRESSION,
        usingMetrics: {
          cost: custom('RunCostUsd', cloudwatch.Stats.SUM, p),
          rate: custom('AlwaysOnUsdPerHour', cloudwatch.Stats.AVERAGE, p),
        },
        period: p,
        label,
      });
    const savedPerDay = savings(day, 'Saved vs always on');
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(7),
    });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Executions',
        width: 12,
        left: [
          this.stateMachine.metricStarted({ period: hour, statistic: cloudwatch.Stats.SUM, label: 'Started' }),
          this.stateMachine.metricSucceeded({ period: hour, statistic: cloudwatch.Stats.SUM, label: 'Succeeded' }),
          this.stateMachine.metricFailed({ period: hour, statistic: cloudwatch.Stats.SUM, label: 'Failed' }),
          this.stateMachine.metricTimedOut({ period: hour, statistic: cloudwatch.Stats.SUM, label: 'TimedOut' }),
          this.stateMachine.metricAborted({ period: hour, statistic: cloudwatch.Stats.SUM, label: 'Aborted' }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Run duration (seconds)',
        width: 12,
        left: [
          custom('RunDurationSeconds', cloudwatch.Stats.AVERAGE, hour, 'RunDurationSeconds (avg)'),
          custom('RunDurationSeconds', cloudwatch.Stats.MAXIMUM, hour, 'RunDurationSeconds (max)'),
        ],
        right: [
          this.stateMachine.metricTime({ period: hour, statistic: cloudwatch.Stats.MAXIMUM, label: 'ExecutionTime ms (max)' }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Per-step durations (seconds)',
        width: 12,
        stacked: true,
        left: ['RdsReadySeconds', 'Ec2ReadySeconds', 'JobDurationSeconds'].map((m) => custom(m, cloudwatch.Stats.AVERAGE)),
      }),
      new cloudwatch.GraphWidget({
        title: 'Job outcome (runs)',
        width: 12,
        left: [custom('RunSucceeded', cloudwatch.Stats.SUM), custom('RunFailed', cloudwatch.Stats.SUM)],
      }),
      new cloudwatch.GraphWidget({
        title: 'Dollars per day (USD)',
        width: 12,
        // The same RunCostUsd as the savings' input (one line, its own label).
        left: [savedPerDay, custom('RunCostUsd', cloudwatch.Stats.SUM, day)],
        right: [
          new cloudwatch.MathExpression({
            expression: 'RUNNING_SUM(saved)',
            usingMetrics: { saved: savedPerDay },
            period: day,
            label: 'Saved since the start of the range',
          }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Running seconds per run',
        width: 12,
        left: [custom('RdsRunningSeconds', cloudwatch.Stats.SUM), custom('Ec2RunningSeconds', cloudwatch.Stats.SUM)],
      }),
      new cloudwatch.GraphWidget({
        title: 'Step function errors and throttles',
        width: 12,
        left: FUNCTIONS.map((f) =>
          this.functions[f.binary].metricErrors({ period: hour, statistic: cloudwatch.Stats.SUM, label: `${f.binary} errors` }),
        ),
        right: FUNCTIONS.map((f) =>
          this.functions[f.binary].metricThrottles({ period: hour, statistic: cloudwatch.Stats.SUM, label: `${f.binary} throttles` }),
        ),
      }),
      new cloudwatch.GraphWidget({
        title: 'Guards: skipped runs and unattended resources',
        width: 12,
        left: [custom('RunSkipped', cloudwatch.Stats.SUM, hour, 'RunSkipped (sum)')],
        right: [custom('UnattendedResources', cloudwatch.Stats.MAXIMUM, hour, 'UnattendedResources (max)')],
      }),
      new cloudwatch.SingleValueWidget({
        title: 'Saved in the selected time range (USD; pick the month)',
        width: 12,
        // One period: the whole range.
        setPeriodToTimeRange: true,
        metrics: [savings(Duration.days(30), 'Saved vs always on')],
      }),
      new cloudwatch.GraphWidget({
        title: 'Metrics not published (runs)',
        width: 12,
        left: [custom(METRICS_NOT_PUBLISHED_METRIC, cloudwatch.Stats.SUM, hour, 'MetricsNotPublished (sum)')],
        right: [
          this.functions.emit_metrics.metricErrors({ period: hour, statistic: cloudwatch.Stats.SUM, label: 'emit_metrics errors' }),
        ],
      }),
      // During a rollout: the old and the new revision side by side.
      new cloudwatch.GraphWidget({
        title: 'Runs per workflow revision (rollout)',
        width: 24,
        left: [perRevision('RunSucceeded', cloudwatch.Stats.SUM), perRevision('RunFailed', cloudwatch.Stats.SUM)],
        right: [perRevision('RunDurationSeconds', cloudwatch.Stats.AVERAGE)],
      }),
    );

    // ------------------------------------------------------------ outputs
    new CfnOutput(this, 'StateMachineArn', { value: this.stateMachine.stateMachineArn });
    new CfnOutput(this, 'LiveAliasArn', {
      description: 'What to start: aws stepfunctions start-execution --state-machine-arn <this>',
      value: this.liveAlias.attrArn,
    });
    new CfnOutput(this, 'Revision', { description: 'The workflow revision of this deploy (metric dimension Revision)', value: this.revision });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
    if (stackKey) {
      // What the key's owner adds to its key policy (cdk/README.md), for this
      // account, region and these resources.
      new CfnOutput(this, 'KeyPolicyStatements', {
        description: `Add these statements to the key policy of ${cfg.kmsKeyArn} (cdk/README.md, Encryption with a KMS key)`,
        value: this.toJsonString(
          keyPolicyStatements(cfg, { partition: this.partition, region: this.region, account: this.account, urlSuffix: this.urlSuffix }),
        ),
      });
    }
    new CfnOutput(this, 'DashboardName', { value: dashboard.dashboardName });
    new CfnOutput(this, 'ScheduleName', { value: this.schedule.scheduleName });
    new CfnOutput(this, 'LeaseTableName', {
      description: 'The run lease (makenaide status reads whether a run holds it)',
      value: this.leaseTable.tableName,
    });
    // The deployed bound of the execution input (the functions' own
    // JOB_TIMEOUT_MAX_SECONDS): `makenaide run` refuses a larger
    // jobTimeoutSeconds before it starts anything, as rds_check would after
    // the run took the lease.
    new CfnOutput(this, JOB_TIMEOUT_MAX_OUTPUT, {
      description: 'The largest jobTimeoutSeconds an execution input may ask for (JOB_TIMEOUT_MAX_SECONDS); makenaide run checks --input against it',
      value: environment.JOB_TIMEOUT_MAX_SECONDS,
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.deadLetterQueue.queueUrl });
    if (this.jobOutputLogGroup) {
      new CfnOutput(this, 'JobOutputLogGroupName', {
        description: "The job's stdout and stderr (JOB_LOG_GROUP)",
        value: this.jobOutputLogGroup.logGroupName,
      });
      new CfnOutput(this, 'JobOutputLogGroupArn', {
        description: "The Resource of the workers' instance profile statement (cdk/README.md)",
        value: this.jobOutputLogGroup.logGroupArn,
      });
    }

    if (props.placeholderCode) {
      // A template whose functions run a placeholder must never reach an account.
      new CfnRule(this, 'PlaceholderCodeIsNotDeployable', {
        assertions: [
          {
            assert: Fn.conditionEquals('placeholder-code', 'deployable-code'),
            assertDescription:
              'This template was synthesized with -c placeholderCode=true (no Rust build): its Lambda code is a placeholder. Deploy with `make deploy`.',
          },
        ],
      });
    }

    this.addNagSuppressions(cfg);
    this.addCheckovSkips();
  }

  /**
   * Every checkov finding we accept, on its resource with its reason
   * (`Metadata.checkov.skip`, which checkov reads from the template; the
   * scanner runs in cdk/test/scanners.test.ts and fails on any other).
   */
  private addCheckovSkips(): void {
    const skip = (c: IConstruct, ...skips: { id: string; comment: string }[]) =>
      ((c.node.defaultChild ?? c) as CfnResource).addMetadata('checkov', { skip: skips });
    for (const f of FUNCTIONS) {
      // With kmsKeyArn the environment is under that key, and CKV_AWS_173 passes.
      const environmentEncrypted = (this.functions[f.binary].node.defaultChild as lambda.CfnFunction).kmsKeyArn !== undefined;
      skip(
        this.functions[f.binary],
        {
          id: 'CKV_AWS_116',
          comment:
            'No dead-letter queue: only the state machine invokes it, synchronously (a Task with Retry and Catch); a Lambda DLQ only applies to asynchronous invocations',
        },
        {
          id: 'CKV_AWS_117',
          comment: 'Not in a VPC: it calls public AWS APIs only (RDS, EC2, SSM, CloudWatch) and reaches no private resource; a VPC would need NAT or endpoints for nothing',
        },
        {
          id: 'CKV_AWS_115',
          comment:
            'No reserved concurrency: only this state machine invokes it, one run at a time (the run lease); reserving would take capacity from the account without bounding anything',
        },
        ...(environmentEncrypted
          ? []
          : [
              {
                id: 'CKV_AWS_173',
                comment:
                  'The environment holds configuration only (DB and instance ids, names, limits; the job commands are in the job document), no secret; Lambda encrypts it at rest with its AWS managed key (kmsKeyArn: a customer managed key)',
              },
            ]),
      );
    }
    for (const c of this.node.findAll()) {
      if (c instanceof logs.CfnLogGroup && c.kmsKeyId === undefined) {
        skip(c, {
          id: 'CKV_AWS_158',
          comment:
            'CloudWatch Logs encrypts every log group at rest with service-managed keys; the function and state machine logs hold run records, no secret; kmsKeyArn puts every group under a customer managed key, jobOutput.kmsKeyArn the job output group (the job\'s stdout and stderr)',
        });
      }
    }
    skip(this.leaseTable, {
      id: 'CKV_AWS_119',
      comment: 'The lease table holds one transient item (the lease holder and its expiry), no data; DynamoDB encrypts it at rest with an AWS owned key',
    });
    skip(this.deadLetterQueue, {
      id: 'CKV_AWS_27',
      comment: 'Encrypted at rest with SSE-SQS (SqsManagedSseEnabled: true); the check only recognises a KMS key',
    });
    if ((this.alarmTopic.node.defaultChild as sns.CfnTopic).kmsMasterKeyId === undefined) {
      skip(this.alarmTopic, {
        id: 'CKV_AWS_26',
        comment:
          'Alarm and run notices only (execution names, error names, no secret); SNS encrypts in transit (SSL-only policy); kmsKeyArn encrypts it at rest with a customer managed key whose policy lets CloudWatch use it',
      });
    }
  }

  /**
   * Every cdk-nag AwsSolutions finding we accept, each with its reason
   * (cdk-nag v3 reads CDK's native `Validations` acknowledgments).
   */
  private addNagSuppressions(cfg: OrchestratorConfig): void {
    const unscopedByFunction: Partial<Record<FunctionBinary, string[]>> = {
      ec2_start: ['ec2:DescribeInstances', 'ssm:DescribeInstanceInformation'],
      ssm_launch: ['ssm:ListCommands'],
      poll_ec2_state: ['ec2:DescribeInstances', 'ssm:GetCommandInvocation'],
      emit_metrics: ['cloudwatch:PutMetricData (condition cloudwatch:namespace)'],
    };
    for (const f of FUNCTIONS) {
      const actions = [...(unscopedByFunction[f.binary] ?? []), ...(cfg.tracing ? ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'] : [])];
      if (actions.length === 0) continue;
      Validations.of(this.functions[f.binary].role!).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: unscopedReason(actions) });
    }
    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: unscopedReason([
        'logs:*LogDelivery*, logs:PutResourcePolicy, logs:DescribeResourcePolicies, logs:DescribeLogGroups (vended logs)',
        ...(cfg.tracing ? ['xray:PutTraceSegments, xray:PutTelemetryRecords, xray:GetSampling*'] : []),
      ]),
    });
    if (!cfg.tracing) {
      Validations.of(this.stateMachine).acknowledge({
        id: 'AwsSolutions-SF2',
        reason:
          'X-Ray tracing is opt-in (config `tracing`): each run is a handful of millisecond Lambda steps whose timeline the execution history already shows',
      });
    }
    // The wildcard is the execution name, unknown in advance (the lease holder
    // is whichever run took the lease); the state machine is pinned.
    const smId = this.getLogicalId(this.stateMachine.node.defaultChild as CfnElement);
    Validations.of(this.describeOwnExecutionsPolicy).acknowledge({
      // cdk-nag spells the region and account as given: pseudo parameters, or the values of a stack with an env.
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${Token.isUnresolved(this.region) ? '<AWS::Region>' : this.region}:${
        Token.isUnresolved(this.account) ? '<AWS::AccountId>' : this.account
      }:execution:<${smId}.Name>:*]`,
      reason:
        'states:DescribeExecution on the executions of THIS state machine only: an execution ARN ends in the execution name, ' +
        'which is not known in advance (the lease holder is whichever run took the lease)',
    });
    if (this.jobOutputWorkerPolicy) {
      Validations.of(this.jobOutputWorkerPolicy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: unscopedReason(['logs:DescribeLogGroups (the SSM agent looks up the job output log group before it writes)']),
      });
    }
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue IS a dead-letter queue: that of the schedules and the guard rules targets (cdk-nag only recognises queue-to-queue redrive)',
    });
  }
}

/**
 * A rule's execution input as rules.json declares it: a constant, or an input
 * transformer whose paths map and template go to EventBridge unchanged (the
 * CDK's own event-field inputs would rename the placeholders).
 */
function ruleInput(r: GuardRule): events.RuleTargetInput {
  if (r.input) return events.RuleTargetInput.fromObject(r.input);
  return new VerbatimInputTransformer(r.inputTransformer!.inputPathsMap, r.inputTransformer!.inputTemplate);
}

class VerbatimInputTransformer extends events.RuleTargetInput {
  constructor(
    private readonly inputPathsMap: Record<string, string>,
    private readonly inputTemplate: string,
  ) {
    super();
  }

  bind(): events.RuleTargetInputProperties {
    return { inputPathsMap: { ...this.inputPathsMap }, inputTemplate: this.inputTemplate };
  }
}
