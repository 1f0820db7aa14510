/**
 * THE one place that lists the IAM actions this app grants on `Resource: "*"`,
 * and why. Everything else is scoped to the configured DB instance, the
 * configured worker instances, the AWS-RunShellScript document, the six
 * functions, the state machine, the queue or the log groups (the workers'
 * job output policy too). The tests fail
 * on any `*` statement whose actions are not listed here; cdk/README.md
 * mirrors this list and docs/security.md shows it as
 * `unscopedTableRows` words it (tests check both).
 */
export interface UnscopedAction {
  readonly action: string;
  /** Which roles get it. */
  readonly grantedTo: string;
  /** Why it cannot be scoped (per the AWS Service Authorization Reference). */
  readonly reason: string;
  /** A condition that narrows it, if any. */
  readonly condition?: string;
}

const LOG_DELIVERY =
  'Step Functions vended logs: the CloudWatch Logs log-delivery APIs take no resource; AWS documents `*` for state machine logging';
const XRAY = 'X-Ray has no resource types; only granted when `tracing` is true';

export const UNSCOPED_ACTIONS: readonly UnscopedAction[] = [
  { action: 'ec2:DescribeInstances', grantedTo: 'ec2_start, poll_ec2_state', reason: 'EC2 Describe* actions support no resource-level permissions' },
  { action: 'ssm:DescribeInstanceInformation', grantedTo: 'ec2_start', reason: 'no resource type (lists managed-node agent status)' },
  { action: 'ssm:ListCommands', grantedTo: 'ssm_launch', reason: 'no resource type' },
  { action: 'ssm:GetCommandInvocation', grantedTo: 'poll_ec2_state', reason: 'no resource type' },
  {
    action: 'cloudwatch:PutMetricData',
    grantedTo: 'emit_metrics',
    reason: 'no resource type',
    condition: '`cloudwatch:namespace` equals the configured `metricsNamespace`',
  },
  { action: 'logs:CreateLogDelivery', grantedTo: 'state machine', reason: LOG_DELIVERY },
  { action: 'logs:GetLogDelivery', grantedTo: 'state machine', reason: LOG_DELIVERY },
  { action: 'logs:UpdateLogDelivery', grantedTo: 'state machine', reason: LOG_DELIVERY },
  { action: 'logs:DeleteLogDelivery', grantedTo: 'state machine', reason: LOG_DELIVERY },
  { action: 'logs:ListLogDeliveries', grantedTo: 'state machine', reason: LOG_DELIVERY },
  { action: 'logs:PutResourcePolicy', grantedTo: 'state machine', reason: LOG_DELIVERY },
  { action: 'logs:DescribeResourcePolicies', grantedTo: 'state machine', reason: LOG_DELIVERY },
  {
    action: 'logs:DescribeLogGroups',
    grantedTo: "state machine; the workers' role when `jobOutput.workerRoleName` names it",
    reason: `${LOG_DELIVERY}; the SSM agent looks up the job output log group with it, and it takes no resource`,
  },
  { action: 'xray:PutTraceSegments', grantedTo: 'state machine and functions (tracing only)', reason: XRAY },
  { action: 'xray:PutTelemetryRecords', grantedTo: 'state machine and functions (tracing only)', reason: XRAY },
  { action: 'xray:GetSamplingRules', grantedTo: 'state machine (tracing only)', reason: XRAY },
  { action: 'xray:GetSamplingTargets', grantedTo: 'state machine (tracing only)', reason: XRAY },
];

export const UNSCOPED_ACTION_NAMES: ReadonlySet<string> = new Set(UNSCOPED_ACTIONS.map((a) => a.action));

export function unscopedReason(actions: string[]): string {
  return `Only actions AWS cannot scope get Resource "*" (listed in cdk/lib/unscoped.ts and cdk/README.md): ${actions.join(', ')}`;
}

/**
 * The rows of the table of `*` actions in docs/security.md (a test
 * checks it lists exactly these): actions with the same grantee and reason
 * share a row.
 */
export function unscopedTableRows(): string[] {
  const rows: { actions: string[]; grantedTo: string; why: string }[] = [];
  for (const a of UNSCOPED_ACTIONS) {
    const why = a.condition ? `${a.reason}; narrowed by a condition: ${a.condition}` : a.reason;
    const row = rows.find((r) => r.grantedTo === a.grantedTo && r.why === why);
    if (row) row.actions.push(a.action);
    else rows.push({ actions: [a.action], grantedTo: a.grantedTo, why });
  }
  return rows.map((r) => `| ${r.actions.map((x) => `\`${x}\``).join(', ')} | ${r.grantedTo} | ${r.why} |`);
}
