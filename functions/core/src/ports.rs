//! The AWS operations the steps use, as the handlers see them: one small
//! trait (port) per service, speaking the project's own types and error
//! names, never SDK types. The SDK adapters in [`crate::aws`] implement them
//! for Lambda; the in-memory fakes in `testing::fake` implement them for the
//! handler tests.
//!
//! To add an AWS call: add it to [`Operation`] (its IAM action name), to the
//! port of its service, to the adapter (with its SDK error mapping and an
//! aws-smithy-mocks test in the adapter file), and to the fake.

use std::collections::HashMap;

use crate::error::StepError;
use crate::timestamp::Timestamp;

/// Every AWS operation a step may call, named as IAM names its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    DescribeDbInstances,
    StartDbInstance,
    StopDbInstance,
    DescribeInstances,
    StartInstances,
    StopInstances,
    DescribeInstanceInformation,
    ListCommands,
    SendCommand,
    GetCommandInvocation,
    PutMetricData,
}

impl Operation {
    pub const fn action(self) -> &'static str {
        match self {
            Self::DescribeDbInstances => "rds:DescribeDBInstances",
            Self::StartDbInstance => "rds:StartDBInstance",
            Self::StopDbInstance => "rds:StopDBInstance",
            Self::DescribeInstances => "ec2:DescribeInstances",
            Self::StartInstances => "ec2:StartInstances",
            Self::StopInstances => "ec2:StopInstances",
            Self::DescribeInstanceInformation => "ssm:DescribeInstanceInformation",
            Self::ListCommands => "ssm:ListCommands",
            Self::SendCommand => "ssm:SendCommand",
            Self::GetCommandInvocation => "ssm:GetCommandInvocation",
            Self::PutMetricData => "cloudwatch:PutMetricData",
        }
    }

    /// Whether the call changes something in the account.
    pub const fn is_mutating(self) -> bool {
        matches!(
            self,
            Self::StartDbInstance
                | Self::StopDbInstance
                | Self::StartInstances
                | Self::StopInstances
                | Self::SendCommand
                | Self::PutMetricData
        )
    }
}

/// The AWS operations each function calls: the one declared list its IAM
/// role must match exactly. Each handler crate has a test that its calls
/// (through the in-memory fake) are exactly its row; `settings.json`
/// carries the table, and a CDK test compares it with the synthesized
/// roles, so a role can neither miss an action nor gain one silently.
pub const FUNCTION_OPERATIONS: &[(&str, &[Operation])] = &[
    (
        "rds_check",
        &[Operation::DescribeDbInstances, Operation::StartDbInstance],
    ),
    (
        "ec2_start",
        &[
            Operation::DescribeInstances,
            Operation::DescribeInstanceInformation,
            Operation::StartInstances,
        ],
    ),
    (
        "ssm_launch",
        &[Operation::ListCommands, Operation::SendCommand],
    ),
    (
        "poll_ec2_state",
        &[
            Operation::DescribeInstances,
            Operation::GetCommandInvocation,
            Operation::StopInstances,
        ],
    ),
    (
        "rds_stop",
        &[Operation::DescribeDbInstances, Operation::StopDbInstance],
    ),
    ("emit_metrics", &[Operation::PutMetricData]),
];

/// The declared operations of `function` (panics on an unknown name: a
/// test-time mistake).
pub fn operations_of(function: &str) -> &'static [Operation] {
    FUNCTION_OPERATIONS
        .iter()
        .find(|(name, _)| *name == function)
        .map(|(_, operations)| *operations)
        .unwrap_or_else(|| panic!("{function} is not in FUNCTION_OPERATIONS"))
}

/// An RDS DB instance as the steps need it.
#[derive(Debug, Clone, PartialEq)]
pub struct RdsInstance {
    pub identifier: String,
    pub status: String,
    pub class: Option<String>,
    pub multi_az: bool,
}

/// The answer to a start or stop request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Accepted,
    /// `InvalidDBInstanceState` (RDS) or `IncorrectInstanceState` (EC2): the
    /// resource is not in a state that allows it now.
    Refused,
}

/// An EC2 instance as the steps need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ec2Instance {
    pub instance_id: String,
    pub state: String,
    /// `StateReason.Code`, e.g. `Client.InstanceInitiatedShutdown`.
    pub state_reason: Option<String>,
    pub instance_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartResult {
    Started,
    /// Dry run: EC2 answered that the start would have succeeded.
    WouldStart,
    /// An instance changed state between the describe and the start
    /// (`IncorrectInstanceState`): look again next time.
    StateChanged,
}

/// A Run Command command.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub command_id: String,
    pub comment: String,
    /// The SSM document it runs.
    pub document_name: String,
    pub instance_ids: Vec<String>,
    pub requested_at: Option<Timestamp>,
}

/// The version of the job document a command runs: the newest, so a stack
/// update that changes the job commands takes effect with the next run
/// (CloudFormation's `UpdateMethod: NewVersion` adds a version and need not
/// make it the default).
pub const JOB_DOCUMENT_VERSION: &str = "$LATEST";

/// What `ssm_launch` sends: the stack's job document, which holds the
/// commands and the working directory itself. Nothing here is command text.
#[derive(Debug, Clone, PartialEq)]
pub struct JobCommand {
    /// `JOB_DOCUMENT_NAME`, the stack's Command document.
    pub document_name: String,
    pub instance_ids: Vec<String>,
    /// The document's `executionTimeout` parameter, its only one.
    pub execution_timeout_seconds: u64,
    pub comment: String,
    /// The CloudWatch Logs group the agent sends the job's whole output to
    /// (`CloudWatchOutputConfig`); `None`: no CloudWatch output.
    pub output_log_group: Option<String>,
}

/// One instance's invocation of a command.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CommandInvocation {
    /// `None` while SSM does not know the invocation yet.
    pub status: Option<String>,
    pub status_details: Option<String>,
    pub exit_code: Option<i32>,
    /// `StandardErrorContent`: what the job wrote to stderr, as far as SSM
    /// keeps it in the API answer (its first 8,000 characters).
    pub stderr: Option<String>,
}

/// One data point, in the project's own terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: MetricUnit,
    pub value: f64,
}

/// Data points published with the same dimensions. CloudWatch does not add
/// up across dimension sets: a metric wanted both in total and per revision
/// is in two series.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    pub dimensions: Vec<(String, String)>,
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricUnit {
    Count,
    Seconds,
    /// Dollars have no CloudWatch unit.
    None,
}

// The functions run on a single-threaded runtime, so the futures need no
// `Send` bound; `async fn` keeps the ports short.

#[allow(async_fn_in_trait)]
pub trait RdsPort {
    /// `None` when there is no such DB instance.
    async fn describe_db(&self, identifier: &str) -> Result<Option<RdsInstance>, StepError>;
    async fn start_db(&self, identifier: &str) -> Result<Transition, StepError>;
    async fn stop_db(&self, identifier: &str) -> Result<Transition, StepError>;
}

#[allow(async_fn_in_trait)]
pub trait Ec2Port {
    /// The instances in the order asked; a missing one is `Ec2InstanceNotFound`.
    async fn describe_instances(&self, ids: &[String]) -> Result<Vec<Ec2Instance>, StepError>;
    async fn start_instances(
        &self,
        ids: &[String],
        dry_run: bool,
    ) -> Result<StartResult, StepError>;
    /// Stops one instance. EC2 refuses a whole batch when any of its ids
    /// cannot be stopped, so the workers are stopped one call each.
    async fn stop_instance(&self, id: &str) -> Result<Transition, StepError>;
}

#[allow(async_fn_in_trait)]
pub trait SsmPort {
    /// Ping status per instance id; an instance whose agent never
    /// registered is absent.
    async fn ping_statuses(&self, ids: &[String]) -> Result<HashMap<String, String>, StepError>;
    /// A command of `document_name` already sent with exactly this
    /// `comment` since `invoked_after` (the idempotency key of
    /// `ssm_launch`), whatever the state of its invocations (a `Pending` one
    /// included).
    async fn find_command(
        &self,
        document_name: &str,
        comment: &str,
        invoked_after: Timestamp,
    ) -> Result<Option<Command>, StepError>;
    /// Sends the command exactly once (never retried: no idempotency token).
    async fn send_command(&self, command: &JobCommand) -> Result<Command, StepError>;
    /// A not-yet-visible invocation is `status: None`, not an error.
    async fn command_invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<CommandInvocation, StepError>;
}

#[allow(async_fn_in_trait)]
pub trait MetricsPort {
    /// Publishes every series, each data point with its series' dimensions,
    /// in one call.
    async fn put_metrics(&self, namespace: &str, series: &[MetricSeries]) -> Result<(), StepError>;
}
