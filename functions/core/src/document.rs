//! The state document that flows through the workflow, and the block each
//! step writes into it (see `statemachine/README.md`). Every Lambda receives
//! the whole document and returns only its own block.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::StopPolicy;
use crate::error::{ErrorName, StepError};
use crate::timestamp::Timestamp;

/// The whole document as a step receives it. Blocks are optional: a step
/// runs before later blocks exist, and the cleanup path runs after any step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateDocument {
    #[serde(default)]
    pub input: Value,
    pub execution: Option<ExecutionInfo>,
    pub rds: Option<RdsReport>,
    pub ec2: Option<Ec2Report>,
    pub job: Option<JobReport>,
    pub poll: Option<PollReport>,
    pub rds_stop: Option<RdsStopReport>,
    pub error: Option<FailureInfo>,
    /// `$.found`: the lease item a cleanup run or a sweep took over.
    pub found: Option<FoundRecord>,
    /// `$.skipped`: another execution holds the lease.
    pub skipped: Option<Skipped>,
    /// `$.workersStop`, written by `poll_ec2_state`'s stop of the workers.
    pub workers_stop: Option<WorkersStopReport>,
    /// `$.ec2Stop`: the StopInstances answer of the state machine task that
    /// stopped the workers before `$.workersStop` (executions started by an
    /// older version of the state machine).
    pub ec2_stop: Option<Ec2StopResult>,
    /// `$.cleanupErrors`: `{stopWorkers, stopDatabase}`, each the `{Error,
    /// Cause}` of a cleanup step that failed.
    #[serde(default)]
    pub cleanup_errors: Option<serde_json::Map<String, Value>>,
}

/// The lease item as DynamoDB returns it (`{"dbFoundRunning": {"BOOL": true}, ...}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FoundRecord {
    #[serde(default)]
    pub item: serde_json::Map<String, Value>,
}

impl FoundRecord {
    /// What the holder's first check found: was the DB running before it
    /// began? `None` when it never recorded it.
    pub fn db_running(&self) -> Option<bool> {
        self.item.get("dbFoundRunning")?.get("BOOL")?.as_bool()
    }

    /// The workers the holder's first `ec2_start` found running or pending
    /// (a JSON array in a string attribute). `None` when it never recorded
    /// them or the record is unreadable.
    pub fn workers_running(&self) -> Option<Vec<String>> {
        let text = self.item.get("workersFoundRunning")?.get("S")?.as_str()?;
        serde_json::from_str(text).ok()
    }
}

/// `{reason, heldBy}` of a skipped run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub reason: String,
    pub held_by: String,
}

/// The part of a StopInstances answer the metrics read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Ec2StopResult {
    #[serde(rename = "StoppingInstances", default)]
    pub stopping_instances: Vec<StoppingInstance>,
}

/// Fields are optional: the metrics step must publish whatever happened,
/// even from an answer it cannot fully read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct StoppingInstance {
    #[serde(rename = "InstanceId", default)]
    pub instance_id: String,
    #[serde(rename = "PreviousState", default)]
    pub previous_state: InstanceStateName,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct InstanceStateName {
    #[serde(rename = "Name", default)]
    pub name: String,
}

impl StateDocument {
    /// Reads the event; a document the workflow could not have produced is
    /// reported as `InvalidInput` with serde's path to the bad field.
    pub fn from_event(event: Value) -> Result<Self, StepError> {
        serde_json::from_value(event).map_err(|error| {
            StepError::new(
                ErrorName::InvalidInput,
                format!("the state document is malformed: {error}"),
            )
        })
    }

    pub fn execution_name(&self) -> Result<&str, StepError> {
        self.execution
            .as_ref()
            .map(|e| e.name.as_str())
            .ok_or_else(|| {
                StepError::new(
                    ErrorName::InvalidInput,
                    "the state document has no `execution` block (set by the Init state)",
                )
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionInfo {
    pub name: String,
    pub start_time: Timestamp,
    /// `$$.Execution.Id`; absent in documents from before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The workflow revision the deploy wrote into the definition
    /// (`${Revision}`): which code ran, for the per-revision metrics.
    /// Absent in documents from before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// `{Error, Cause}` as a `Catch` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureInfo {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StartAction {
    /// Nothing to do this time (ready, or waiting for a transition).
    None,
    Started,
    /// Stopping now; it is started once it has stopped.
    WaitingForStop,
    /// Dry run: it would have been started.
    WouldStart,
}

/// `$.rds`, written by `rds_check`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RdsReport {
    pub db_instance_identifier: String,
    pub status: String,
    pub ready: bool,
    pub action: StartAction,
    pub started_by_workflow: bool,
    pub available_at_first_check: bool,
    /// Not `stopped`/`stopping` at the first check (`available`,
    /// `backing-up`, `starting`, ...): what `leave-as-found` leaves running.
    /// Absent in documents of older versions: then `availableAtFirstCheck`.
    #[serde(default)]
    pub found_running: Option<bool>,
    pub instance_class: Option<String>,
    /// Multi-AZ DBs bill a standby too. Absent in documents of older
    /// versions: then the DB is unpriced.
    #[serde(default)]
    pub multi_az: Option<bool>,
    pub dry_run: bool,
    pub first_checked_at: Timestamp,
    pub checked_at: Timestamp,
    pub deadline: Timestamp,
    pub ready_at: Option<Timestamp>,
    pub retry_after_seconds: u64,
}

impl RdsReport {
    /// Whether the DB was running (not stopped or stopping) before the run.
    pub fn found_running(&self) -> bool {
        self.found_running.unwrap_or(self.available_at_first_check)
    }
}

/// One worker in `$.ec2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerReport {
    pub instance_id: String,
    pub state: String,
    pub instance_type: Option<String>,
    pub ping_status: Option<String>,
    pub ready: bool,
    pub action: StartAction,
}

/// `$.ec2`, written by `ec2_start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ec2Report {
    pub ready: bool,
    pub instances: Vec<WorkerReport>,
    pub started_by_workflow: Vec<String>,
    /// The workers `running` or `pending` at the first check: what
    /// `EC2_STOP_POLICY=leave-as-found` leaves running. Absent in documents
    /// of older versions.
    #[serde(default)]
    pub found_running: Option<Vec<String>>,
    pub dry_run: bool,
    pub first_checked_at: Timestamp,
    pub checked_at: Timestamp,
    pub deadline: Timestamp,
    pub ready_at: Option<Timestamp>,
    pub retry_after_seconds: u64,
}

/// `$.job`, written by `ssm_launch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobReport {
    pub command_id: Option<String>,
    pub comment: String,
    pub document_name: String,
    pub instance_ids: Vec<String>,
    pub reused_existing: bool,
    pub dry_run: bool,
    pub sent_at: Timestamp,
    pub deadline: Timestamp,
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobOutcome {
    /// Every invocation of the command succeeded.
    Success,
    /// The instance's own OS shut it down while its command was still in
    /// progress (`StateReason` `Client.InstanceInitiatedShutdown`): the job
    /// shut the machine down itself.
    InstanceStoppedItself,
    /// Dry run: nothing was launched.
    DryRun,
}

/// One instance's command invocation in `$.poll`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationReport {
    pub instance_id: String,
    pub instance_state: String,
    /// EC2's `StateReason` code: who stopped the worker.
    #[serde(default)]
    pub state_reason: Option<String>,
    pub command_status: Option<String>,
    #[serde(default)]
    pub status_details: Option<String>,
    pub exit_code: Option<i32>,
}

/// `$.poll`, written by `poll_ec2_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollReport {
    pub done: bool,
    pub outcome: Option<JobOutcome>,
    pub invocations: Vec<InvocationReport>,
    pub checked_at: Timestamp,
    pub deadline: Timestamp,
    pub retry_after_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StopAction {
    Stopped,
    /// Already `stopped` or `stopping`.
    AlreadyStopped,
    /// Policy `leave-as-found` and it was available before the run.
    LeftRunning,
    /// Dry run: it would have been stopped.
    WouldStop,
    /// In a state that cannot be stopped and will not change by itself
    /// (e.g. `failed`); the original error already says why.
    CannotStop,
    /// There is no such DB: nothing to stop.
    NotFound,
    /// Running but refuses a stop now (RDS: `starting`, `backing-up`, ...;
    /// EC2: `pending`): the state machine waits `retryAfterSeconds` and
    /// calls again.
    NotYet,
    /// An EC2 worker that is `shutting-down` or `terminated`: there is
    /// nothing to stop, and that is not a failure of the stop.
    Gone,
}

/// `$.rdsStop`, written by `rds_stop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RdsStopReport {
    pub db_instance_identifier: String,
    pub status_before: Option<String>,
    pub action: StopAction,
    pub policy: StopPolicy,
    pub dry_run: bool,
    pub stopped_at: Timestamp,
    /// False while the DB cannot be stopped yet (`action: notYet`).
    #[serde(default = "yes")]
    pub done: bool,
    /// When the first call of this stop saw the DB; the deadline counts
    /// from it.
    #[serde(default)]
    pub first_tried_at: Option<Timestamp>,
    #[serde(default)]
    pub deadline: Option<Timestamp>,
    #[serde(default)]
    pub retry_after_seconds: u64,
}

fn yes() -> bool {
    true
}

/// One worker in `$.workersStop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStopReport {
    pub instance_id: String,
    /// Its state when this stop first acted on it; `None` when EC2 does not
    /// know it (or could not be asked).
    pub state_before: Option<String>,
    /// Whether the run's first check found it running; `None`: unknown.
    pub found_running: Option<bool>,
    pub action: StopAction,
}

/// `$.workersStop`, written by `poll_ec2_state` when asked to stop the
/// workers (`{"action": "stopWorkers", "state": ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkersStopReport {
    /// False while a worker is `pending` (it is stopped once it runs).
    pub done: bool,
    pub policy: StopPolicy,
    pub dry_run: bool,
    pub instances: Vec<WorkerStopReport>,
    pub checked_at: Timestamp,
    pub first_tried_at: Timestamp,
    pub deadline: Timestamp,
    pub retry_after_seconds: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_document_with_only_the_init_blocks() {
        let doc = StateDocument::from_event(json!({
            "input": {"dryRun": true},
            "execution": {"name": "run-1", "startTime": "2026-11-22T01:00:00.000Z"}
        }))
        .unwrap();
        assert_eq!(doc.execution_name().unwrap(), "run-1");
        assert!(doc.rds.is_none() && doc.error.is_none());
    }

    #[test]
    fn reads_a_catch_block() {
        let doc = StateDocument::from_event(json!({
            "error": {"Error": "JobFailed", "Cause": "{\"errorType\":\"JobFailed\"}"}
        }))
        .unwrap();
        assert_eq!(doc.error.unwrap().error, "JobFailed");
    }

    #[test]
    fn reads_the_lease_record_a_skip_and_a_stop_answer() {
        let doc = StateDocument::from_event(json!({
            "found": {"item": {"pk": {"S": "run-lease"}, "dbFoundRunning": {"BOOL": true}}},
            "skipped": {"reason": "RunInProgress", "heldBy": "run-1"},
            "ec2Stop": {"StoppingInstances": [{"InstanceId": "i-1", "PreviousState": {"Name": "running", "Code": 16}, "CurrentState": {"Name": "stopping", "Code": 64}}]}
        }))
        .unwrap();
        assert_eq!(doc.found.unwrap().db_running(), Some(true));
        assert_eq!(doc.skipped.unwrap().held_by, "run-1");
        assert_eq!(
            doc.ec2_stop.unwrap().stopping_instances[0]
                .previous_state
                .name,
            "running"
        );
        let unrecorded =
            StateDocument::from_event(json!({"found": {"item": {"pk": {"S": "run-lease"}}}}))
                .unwrap();
        assert_eq!(unrecorded.found.unwrap().db_running(), None);
    }

    #[test]
    fn malformed_blocks_are_reported() {
        let error = StateDocument::from_event(json!({"rds": {"ready": "yes"}})).unwrap_err();
        assert_eq!(error.name, ErrorName::InvalidInput);
        let error = StateDocument::from_event(json!({"input": {}}))
            .unwrap()
            .execution_name()
            .unwrap_err();
        assert!(error.message.contains("execution"));
    }

    #[test]
    fn report_field_names_are_camel_case() {
        let report = RdsStopReport {
            db_instance_identifier: "db".into(),
            status_before: Some("available".into()),
            action: StopAction::AlreadyStopped,
            policy: StopPolicy::LeaveAsFound,
            dry_run: false,
            stopped_at: Timestamp::from_millis(0),
            done: true,
            first_tried_at: Some(Timestamp::from_millis(0)),
            deadline: Some(Timestamp::from_millis(1000)),
            retry_after_seconds: 30,
        };
        assert_eq!(
            serde_json::to_value(report).unwrap(),
            json!({
                "dbInstanceIdentifier": "db", "statusBefore": "available",
                "action": "alreadyStopped", "policy": "leave-as-found",
                "dryRun": false, "stoppedAt": "1970-01-01T00:00:00Z", "done": true,
                "firstTriedAt": "1970-01-01T00:00:00Z", "deadline": "1970-01-01T00:00:01Z",
                "retryAfterSeconds": 30
            })
        );
    }
}
