//! What the CLI asks AWS, in its own types: one small trait per service.
//! `aws.rs` implements them with the SDK; the commands only see these.

// The ports are used inside this crate only, on a current-thread runtime:
// no `Send` bound is needed on their futures.
#![allow(async_fn_in_trait)]

use std::collections::HashMap;

use makenaide_core::Timestamp;

use crate::error::CliError;
use crate::history::{Event, Status};

/// `DescribeExecution`.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub arn: String,
    pub name: String,
    pub status: Status,
    pub start: Timestamp,
    pub stop: Option<Timestamp>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// The alias it was started through (`...:live`); `None` when it was
    /// started on the state machine or a version directly.
    pub alias_arn: Option<String>,
    /// The version it runs, when started through an alias or a version.
    pub version_arn: Option<String>,
}

/// One row of `ListExecutions`.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub arn: String,
    pub name: String,
    pub status: Status,
    pub start: Timestamp,
    pub stop: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    pub events: Vec<Event>,
    pub next_token: Option<String>,
}

pub trait StepFunctions {
    /// Starts an execution of `target` (a state machine or alias ARN); its ARN.
    async fn start(
        &self,
        target: &str,
        name: Option<&str>,
        input: &str,
    ) -> Result<String, CliError>;
    async fn describe(&self, execution_arn: &str) -> Result<Execution, CliError>;
    /// One page of at most `max` events, oldest first unless `newest_first`.
    async fn history(
        &self,
        execution_arn: &str,
        next_token: Option<String>,
        newest_first: bool,
        max: i32,
    ) -> Result<HistoryPage, CliError>;
    /// The newest executions first, at most `limit`; only running ones when asked.
    async fn list(
        &self,
        state_machine_arn: &str,
        running_only: bool,
        limit: usize,
    ) -> Result<Vec<Listed>, CliError>;
    async fn stop(&self, execution_arn: &str, cause: &str) -> Result<(), CliError>;
    /// The state machine's definition (ASL JSON).
    async fn definition(&self, state_machine_arn: &str) -> Result<String, CliError>;
}

pub trait Stacks {
    /// The stack's outputs by key.
    async fn outputs(&self, stack: &str) -> Result<HashMap<String, String>, CliError>;
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: String,
    pub enabled: bool,
    pub expression: String,
    pub time_zone: Option<String>,
}

pub trait Schedules {
    async fn get(&self, name: &str) -> Result<Schedule, CliError>;
    /// Enables or disables it, keeping everything else as it is.
    async fn set_enabled(&self, name: &str, enabled: bool) -> Result<Schedule, CliError>;
}

/// The run lease item (statemachine/README.md, "The run lease").
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub held_by: String,
    pub execution_arn: String,
    pub start_time: Option<String>,
    pub mode: Option<String>,
}

pub trait Leases {
    async fn lease(&self, table: &str) -> Result<Option<Lease>, CliError>;
}

pub trait Resources {
    /// The DB's status now; `None` when RDS does not know it.
    async fn db_status(&self, identifier: &str) -> Result<Option<String>, CliError>;
    /// Each worker's state now, in the order given (`None`: EC2 does not know it).
    async fn worker_states(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, Option<String>)>, CliError>;
}
