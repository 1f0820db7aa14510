//! An execution's history events, and what an operator reads from them: the
//! steps of a run (database, workers, job, stopping, ...), each with the
//! notes its results gave, and the run's last state document.
//!
//! Pure: the events come from `GetExecutionHistory` through the Step
//! Functions port, or from a recorded file in the same wire shape
//! ([`WireEvent`], `cli/tests/fixtures/*.json`).

use makenaide_core::Timestamp;
use serde::Deserialize;
use serde_json::Value;

/// How an execution stands (`DescribeExecution`'s `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    PendingRedrive,
    Other(String),
}

impl Status {
    pub fn parse(text: &str) -> Self {
        match text {
            "RUNNING" => Self::Running,
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "TIMED_OUT" => Self::TimedOut,
            "ABORTED" => Self::Aborted,
            "PENDING_REDRIVE" => Self::PendingRedrive,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Aborted => "ABORTED",
            Self::PendingRedrive => "PENDING_REDRIVE",
            Self::Other(text) => text,
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self, Self::Running)
    }
}

/// One history event, reduced to what the rendering reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub at: Timestamp,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq)]
pub enum What {
    StateEntered {
        name: String,
    },
    StateExited {
        name: String,
        output: Option<String>,
    },
    /// A Lambda or service task returned (`LambdaFunctionSucceeded`, `TaskSucceeded`).
    TaskSucceeded {
        output: Option<String>,
    },
    /// A Lambda or service task failed or timed out (caught or retried later).
    TaskFailed {
        error: Option<String>,
        cause: Option<String>,
    },
    ExecutionEnded {
        status: Status,
        error: Option<String>,
        cause: Option<String>,
    },
    Other,
}

/// A history event as Step Functions writes it in JSON (`aws stepfunctions
/// get-execution-history`), timestamps as epoch seconds or RFC 3339.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireEvent {
    pub id: i64,
    pub timestamp: WireTime,
    #[serde(rename = "type")]
    pub kind: String,
    pub state_entered_event_details: Option<WireDetails>,
    pub state_exited_event_details: Option<WireDetails>,
    pub lambda_function_succeeded_event_details: Option<WireDetails>,
    pub task_succeeded_event_details: Option<WireDetails>,
    pub lambda_function_failed_event_details: Option<WireDetails>,
    pub lambda_function_timed_out_event_details: Option<WireDetails>,
    pub lambda_function_schedule_failed_event_details: Option<WireDetails>,
    pub lambda_function_start_failed_event_details: Option<WireDetails>,
    pub task_failed_event_details: Option<WireDetails>,
    pub task_timed_out_event_details: Option<WireDetails>,
    pub execution_failed_event_details: Option<WireDetails>,
    pub execution_aborted_event_details: Option<WireDetails>,
    pub execution_timed_out_event_details: Option<WireDetails>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct WireDetails {
    pub name: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum WireTime {
    Epoch(f64),
    Text(String),
}

impl WireTime {
    pub fn timestamp(&self) -> Timestamp {
        match self {
            Self::Epoch(seconds) => Timestamp::from_millis((seconds * 1000.0).round() as i64),
            Self::Text(text) => Timestamp::parse(text).unwrap_or(Timestamp::from_millis(0)),
        }
    }
}

impl From<WireEvent> for Event {
    fn from(wire: WireEvent) -> Self {
        let details = |d: Option<WireDetails>| d.unwrap_or_default();
        let failed = |d: Option<WireDetails>| {
            let d = details(d);
            What::TaskFailed {
                error: d.error,
                cause: d.cause,
            }
        };
        let ended = |status: Status, d: Option<WireDetails>| {
            let d = details(d);
            What::ExecutionEnded {
                status,
                error: d.error,
                cause: d.cause,
            }
        };
        let kind = wire.kind.as_str();
        let what = if kind.ends_with("StateEntered") {
            What::StateEntered {
                name: details(wire.state_entered_event_details)
                    .name
                    .unwrap_or_default(),
            }
        } else if kind.ends_with("StateExited") {
            let d = details(wire.state_exited_event_details);
            What::StateExited {
                name: d.name.unwrap_or_default(),
                output: d.output,
            }
        } else {
            match kind {
                "LambdaFunctionSucceeded" => What::TaskSucceeded {
                    output: details(wire.lambda_function_succeeded_event_details).output,
                },
                "TaskSucceeded" => What::TaskSucceeded {
                    output: details(wire.task_succeeded_event_details).output,
                },
                "LambdaFunctionFailed" => failed(wire.lambda_function_failed_event_details),
                "LambdaFunctionTimedOut" => failed(wire.lambda_function_timed_out_event_details),
                "LambdaFunctionScheduleFailed" => {
                    failed(wire.lambda_function_schedule_failed_event_details)
                }
                "LambdaFunctionStartFailed" => {
                    failed(wire.lambda_function_start_failed_event_details)
                }
                "TaskFailed" => failed(wire.task_failed_event_details),
                "TaskTimedOut" => failed(wire.task_timed_out_event_details),
                "ExecutionSucceeded" => ended(Status::Succeeded, None),
                "ExecutionFailed" => ended(Status::Failed, wire.execution_failed_event_details),
                "ExecutionAborted" => ended(Status::Aborted, wire.execution_aborted_event_details),
                "ExecutionTimedOut" => {
                    ended(Status::TimedOut, wire.execution_timed_out_event_details)
                }
                _ => What::Other,
            }
        };
        Event {
            id: wire.id,
            at: wire.timestamp.timestamp(),
            what,
        }
    }
}

/// The part of a run a state belongs to: consecutive states of one phase
/// make one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Lease,
    Skipped,
    Database,
    Workers,
    Launch,
    Job,
    StopWorkers,
    StopDatabase,
    Metrics,
    Release,
    CleanupWorkers,
    CleanupDatabase,
    CleanupReport,
    CleanupEnd,
    CleanupRun,
    Sweep,
}

impl Phase {
    /// The phase of a state of `statemachine/workflow.asl.json`; `None`
    /// for the bookkeeping states that make no step of their own.
    pub fn of(state: &str) -> Option<Self> {
        let phase = match state {
            "Init" | "Which mode?" | "Dry run?" | "Invalid input" => return None,
            "Take lease"
            | "Read lease"
            | "Lease still held?"
            | "Describe lease holder"
            | "Holder running?" => Self::Lease,
            "Skip: run in progress" | "Skip: cleanup pending" | "Publish skip" | "Skipped" => {
                Self::Skipped
            }
            "Check database" | "Database ready?" | "Wait for database" | "DB found recorded?"
            | "Record DB found" => Self::Database,
            "Begin workers"
            | "Start workers"
            | "Workers ready?"
            | "Wait for workers"
            | "Workers found recorded?"
            | "Record workers found" => Self::Workers,
            "Launch job" => Self::Launch,
            "Check job" | "Job over?" | "Wait for job" => Self::Job,
            "Stop workers?" | "Stop workers" | "Workers stopped?" | "Wait for workers to stop" => {
                Self::StopWorkers
            }
            "Stop database" | "Database stopped?" | "Wait for database stop" => Self::StopDatabase,
            "Publish metrics" => Self::Metrics,
            "Release lease" | "Done" => Self::Release,
            "Cleanup: stop workers?"
            | "Cleanup: stop workers"
            | "Cleanup: workers stopped?"
            | "Cleanup: wait for workers to stop" => Self::CleanupWorkers,
            "Cleanup: stop database"
            | "Cleanup: database stopped?"
            | "Cleanup: wait for database stop" => Self::CleanupDatabase,
            "Cleanup: publish metrics" | "Cleanup: notify?" | "Cleanup: notify" => {
                Self::CleanupReport
            }
            _ if state.starts_with("Cleanup run:") => Self::CleanupRun,
            _ if state.starts_with("Sweep:") => Self::Sweep,
            _ => Self::CleanupEnd,
        };
        Some(phase)
    }

    /// The step's title, at most 16 characters.
    pub fn title(self) -> &'static str {
        match self {
            Self::Lease => "run lease",
            Self::Skipped => "skipped",
            Self::Database => "database",
            Self::Workers => "workers",
            Self::Launch => "job launch",
            Self::Job => "job",
            Self::StopWorkers => "stop workers",
            Self::StopDatabase => "stop database",
            Self::Metrics => "metrics",
            Self::Release => "release",
            Self::CleanupWorkers => "cleanup workers",
            Self::CleanupDatabase => "cleanup database",
            Self::CleanupReport => "cleanup report",
            Self::CleanupEnd => "cleanup end",
            Self::CleanupRun => "cleanup run",
            Self::Sweep => "sweep",
        }
    }

    /// What the spinner says while the step runs.
    pub fn doing(self) -> &'static str {
        match self {
            Self::Lease => "taking the run lease",
            Self::Skipped => "skipping",
            Self::Database => "DB starting",
            Self::Workers => "starting workers",
            Self::Launch => "launching the job",
            Self::Job => "job running",
            Self::StopWorkers | Self::CleanupWorkers => "stopping workers",
            Self::StopDatabase | Self::CleanupDatabase => "stopping the DB",
            Self::Metrics | Self::CleanupReport => "publishing metrics",
            Self::Release => "releasing the run lease",
            Self::CleanupEnd => "ending the cleanup",
            Self::CleanupRun => "cleaning up after an ended run",
            Self::Sweep => "sweeping",
        }
    }
}

/// A note a step's result gave, at the time of that result.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub at: Timestamp,
    pub text: String,
    pub failure: bool,
}

/// Consecutive states of one phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub phase: Phase,
    pub started: Timestamp,
    /// When the next step began or the execution ended; `None` while it runs.
    pub ended: Option<Timestamp>,
    /// The state the step is in (its last entered state).
    pub state: String,
    pub notes: Vec<Note>,
}

impl Step {
    pub fn seconds(&self, now: Timestamp) -> f64 {
        self.ended.unwrap_or(now).seconds_since(self.started)
    }

    /// What the spinner says: the last note, or what the phase does.
    pub fn current(&self) -> &str {
        self.notes
            .iter()
            .rev()
            .find(|note| !note.failure)
            .map_or(self.phase.doing(), |note| note.text.as_str())
    }
}

/// The run as its history tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub started: Option<Timestamp>,
    pub steps: Vec<Step>,
    /// How the execution ended, when it has.
    pub end: Option<End>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct End {
    pub at: Timestamp,
    pub status: Status,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// Failures the workflow catches as normal control flow: no note.
const CONTROL_FLOW_ERRORS: [&str; 2] = [
    "DynamoDB.ConditionalCheckFailedException",
    "Sfn.ExecutionDoesNotExistException",
];

/// The steps of a run from its events, in order (any prefix of the history
/// gives the steps so far).
pub fn timeline(events: &[Event]) -> Timeline {
    let mut steps: Vec<Step> = Vec::new();
    let mut started = None;
    let mut end = None;
    for event in events {
        started.get_or_insert(event.at);
        match &event.what {
            What::StateEntered { name } => {
                let Some(phase) = Phase::of(name) else {
                    continue;
                };
                match steps.last_mut() {
                    Some(step) if step.phase == phase => step.state = name.clone(),
                    _ => {
                        if let Some(last) = steps.last_mut() {
                            last.ended = Some(event.at);
                        }
                        steps.push(Step {
                            phase,
                            started: event.at,
                            ended: None,
                            state: name.clone(),
                            notes: Vec::new(),
                        });
                    }
                }
            }
            What::TaskSucceeded { output } => {
                if let Some(step) = steps.last_mut() {
                    let result = output.as_deref().and_then(parse);
                    if let Some(text) = result_note(&step.state, result.as_ref()) {
                        push_note(step, event.at, text, false);
                    }
                }
            }
            What::StateExited { name, output } if name.starts_with("Skip: ") => {
                if let Some(step) = steps.last_mut() {
                    let doc = output.as_deref().and_then(parse);
                    let skipped = doc.as_ref().and_then(|d| d.get("skipped"));
                    push_note(step, event.at, skipped_note(skipped), false);
                }
            }
            What::StateExited { name, .. } if name == "Cleanup run: nothing to do" => {
                if let Some(step) = steps.last_mut() {
                    let text = "nothing to clean up: the run released its lease".to_string();
                    push_note(step, event.at, text, false);
                }
            }
            What::TaskFailed { error, cause } => {
                let error = error.as_deref().unwrap_or("an error");
                if CONTROL_FLOW_ERRORS.contains(&error) {
                    continue;
                }
                if let Some(step) = steps.last_mut() {
                    let text = match cause.as_deref().map(readable_cause) {
                        Some(cause) if !cause.is_empty() => {
                            format!("{error}: {}", first_line(&cause))
                        }
                        _ => error.to_string(),
                    };
                    push_note(step, event.at, text, true);
                }
            }
            What::ExecutionEnded {
                status,
                error,
                cause,
            } => {
                if let Some(last) = steps.last_mut() {
                    last.ended = Some(event.at);
                }
                end = Some(End {
                    at: event.at,
                    status: status.clone(),
                    error: error.clone(),
                    cause: cause.clone(),
                });
            }
            _ => {}
        }
    }
    Timeline {
        started,
        steps,
        end,
    }
}

fn push_note(step: &mut Step, at: Timestamp, text: String, failure: bool) {
    if step.notes.last().is_some_and(|last| last.text == text) {
        return;
    }
    step.notes.push(Note { at, text, failure });
}

fn parse(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// A Lambda's cause is `{"errorType", "errorMessage"}` as JSON: the message
/// reads better.
pub fn readable_cause(cause: &str) -> String {
    parse(cause)
        .and_then(|value| value.get("errorMessage")?.as_str().map(str::to_string))
        .unwrap_or_else(|| cause.to_string())
}

fn text<'a>(value: Option<&'a Value>, key: &str) -> Option<&'a str> {
    value?.get(key)?.as_str()
}

fn flag(value: Option<&Value>, key: &str) -> bool {
    value
        .and_then(|v| v.get(key))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn skipped_note(skipped: Option<&Value>) -> String {
    let reason = text(skipped, "reason").unwrap_or("unknown");
    let held_by = text(skipped, "heldBy").unwrap_or("another execution");
    format!("skipped ({reason}): the run lease is held by {held_by}")
}

/// What one task result says, by the state that asked for it.
fn result_note(state: &str, result: Option<&Value>) -> Option<String> {
    let note = match state {
        "Take lease" => LEASE_TAKEN.to_string(),
        "Read lease" => {
            let holder = result
                .and_then(|r| r.pointer("/Item/heldBy/S"))
                .and_then(Value::as_str)
                .unwrap_or("another execution");
            format!("the run lease is held by {holder}")
        }
        "Check database" => database_note(result?),
        "Start workers" => workers_note(result?),
        "Launch job" => launch_note(result?),
        "Check job" => job_note(result?),
        "Stop workers" | "Cleanup: stop workers" => workers_stop_note(result?),
        "Stop database" | "Cleanup: stop database" => database_stop_note(result?),
        "Publish metrics" | "Cleanup: publish metrics" | "Publish skip" => metrics_note(result?),
        "Cleanup: notify" => "failure notification sent".to_string(),
        "Release lease" | "Cleanup: release lease" => "run lease released".to_string(),
        "Cleanup run: did it end?" => {
            let status = text(result, "Status")
                .or(text(result, "status"))
                .unwrap_or("unknown");
            format!("the ended run is {status}")
        }
        "Cleanup run: take over lease" => "took over the ended run's lease".to_string(),
        "Sweep: take lease" | "Sweep: take over lease" => "sweep holds the run lease".to_string(),
        _ => return None,
    };
    Some(note)
}

fn database_note(rds: &Value) -> String {
    let status = text(Some(rds), "status").unwrap_or("unknown");
    let action = text(Some(rds), "action").unwrap_or("none");
    if flag(Some(rds), "dryRun") {
        return match action {
            "wouldStart" => format!("DB is {status}: would start it (dry run)"),
            _ => format!("DB is {status} (dry run)"),
        };
    }
    if flag(Some(rds), "ready") {
        return "DB available".to_string();
    }
    match action {
        "started" => format!("starting the DB (was {status})"),
        "waitingForStop" => format!("DB is {status}: waiting to start it"),
        _ => format!("DB is {status}: waiting for it"),
    }
}

fn instances(block: &Value) -> Vec<&Value> {
    block
        .get("instances")
        .and_then(Value::as_array)
        .map(|list| list.iter().collect())
        .unwrap_or_default()
}

fn workers_note(ec2: &Value) -> String {
    let all = instances(ec2);
    let ids = |f: &dyn Fn(&Value) -> bool| -> Vec<String> {
        all.iter()
            .filter(|i| f(i))
            .map(|i| text(Some(i), "instanceId").unwrap_or("?").to_string())
            .collect()
    };
    if flag(Some(ec2), "dryRun") {
        let would = ids(&|i| text(Some(i), "action") == Some("wouldStart"));
        return if would.is_empty() {
            "workers running (dry run)".to_string()
        } else {
            format!("would start {} (dry run)", would.join(", "))
        };
    }
    if flag(Some(ec2), "ready") {
        return format!("workers ready: {} running, agent online", all.len());
    }
    let not_running = ids(&|i| text(Some(i), "state") != Some("running"));
    if !not_running.is_empty() {
        let states: Vec<String> = all
            .iter()
            .filter(|i| text(Some(i), "state") != Some("running"))
            .map(|i| {
                format!(
                    "{} {}",
                    text(Some(i), "instanceId").unwrap_or("?"),
                    text(Some(i), "state").unwrap_or("?")
                )
            })
            .collect();
        return format!("starting workers ({})", states.join(", "));
    }
    "waiting for the agent".to_string()
}

fn launch_note(job: &Value) -> String {
    if flag(Some(job), "dryRun") {
        return "job not sent (dry run)".to_string();
    }
    let id = text(Some(job), "commandId").unwrap_or("?");
    if flag(Some(job), "reusedExisting") {
        format!("job already sent (command {id})")
    } else {
        format!("job sent (command {id})")
    }
}

fn job_note(poll: &Value) -> String {
    if !flag(Some(poll), "done") {
        return "job running".to_string();
    }
    match text(Some(poll), "outcome") {
        Some("DryRun") => "no job (dry run)".to_string(),
        Some("InstanceStoppedItself") => "job ended: the worker shut itself down".to_string(),
        Some(outcome) => format!("job ended: {outcome}"),
        None => "job ended".to_string(),
    }
}

fn workers_stop_note(stop: &Value) -> String {
    let actions: Vec<String> = instances(stop).into_iter().map(worker_stop).collect();
    if flag(Some(stop), "done") {
        format!("workers: {}", actions.join(", "))
    } else {
        format!("waiting for workers to stop ({})", actions.join(", "))
    }
}

/// What a stop did to one worker (`$.workersStop.instances[]`), as it is:
/// an accepted StopInstances leaves the worker `stopping` for a while.
pub fn worker_stop(worker: &Value) -> String {
    let id = text(Some(worker), "instanceId").unwrap_or("?");
    let before = text(Some(worker), "stateBefore").unwrap_or("?");
    let what = match text(Some(worker), "action").unwrap_or("?") {
        "stopped" => format!("stop accepted (was {before})"),
        "alreadyStopped" => format!("already {before}"),
        "leftRunning" => "left running (leave-as-found)".to_string(),
        "wouldStop" => "would be stopped (dry run)".to_string(),
        "notYet" => format!("{before}: cannot be stopped yet"),
        "gone" => format!("gone ({before})"),
        "notFound" => "not found".to_string(),
        other => format!("{other} ({before})"),
    };
    format!("{id} {what}")
}

fn database_stop_note(stop: &Value) -> String {
    let before = text(Some(stop), "statusBefore").unwrap_or("?");
    match text(Some(stop), "action").unwrap_or("?") {
        "notYet" => format!("RDS refuses the stop for now (DB {before}): waiting"),
        _ => database_stop(stop),
    }
}

/// What `rds_stop` did (`$.rdsStop`), as it is: an accepted StopDBInstance
/// leaves the DB `stopping` for minutes.
pub fn database_stop(stop: &Value) -> String {
    let before = text(Some(stop), "statusBefore").unwrap_or("?");
    match text(Some(stop), "action").unwrap_or("?") {
        "stopped" => format!("DB stop accepted (was {before}): stopping"),
        "alreadyStopped" => format!("DB already {before}"),
        "leftRunning" => "DB left running (leave-as-found)".to_string(),
        "wouldStop" => "DB would be stopped (dry run)".to_string(),
        "notYet" => format!("DB not stopped: RDS refused the stop for now (DB {before})"),
        "cannotStop" => format!("DB cannot be stopped ({before})"),
        "notFound" => "DB not found: nothing to stop".to_string(),
        other => format!("DB {other} ({before})"),
    }
}

fn metrics_note(metrics: &Value) -> String {
    if metrics.get("published").and_then(Value::as_bool) == Some(false) {
        let why = metrics
            .pointer("/publishError/errorType")
            .and_then(Value::as_str)
            .unwrap_or("refused");
        return format!("metrics not published ({why})");
    }
    match metrics.pointer("/cost/totalUsd").and_then(Value::as_f64) {
        Some(usd) => format!("metrics published (run cost {})", crate::render::usd(usd)),
        None => "metrics published".to_string(),
    }
}

/// The note of a lease the run took.
pub const LEASE_TAKEN: &str = "run lease taken";

/// What a run's first state decided about the run lease.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseDecision {
    /// It holds the lease: the run goes on.
    Taken,
    /// Another execution holds it: the note says which and why.
    Skipped(String),
    /// It ended without taking the lease or being skipped (a failure).
    Ended,
}

/// The lease decision the history shows so far; `None`: not made yet.
pub fn lease_decision(timeline: &Timeline) -> Option<LeaseDecision> {
    let skip = timeline
        .steps
        .iter()
        .filter(|s| s.phase == Phase::Skipped)
        .find_map(|s| s.notes.first());
    if let Some(note) = skip {
        return Some(LeaseDecision::Skipped(note.text.clone()));
    }
    let taken = timeline.steps.iter().any(|s| {
        s.phase == Phase::Lease && s.notes.iter().any(|n| !n.failure && n.text == LEASE_TAKEN)
    });
    if taken {
        return Some(LeaseDecision::Taken);
    }
    timeline.end.as_ref().map(|_| LeaseDecision::Ended)
}

/// The last whole state document the history shows (one with
/// `$.execution`, which `Init` writes): a failed execution has no output of
/// its own, and a cleanup run's output is a summary (`{"cleanup": ...}`).
pub fn last_document(events: &[Event]) -> Option<Value> {
    events.iter().rev().find_map(|event| match &event.what {
        What::StateExited {
            output: Some(output),
            ..
        } => parse(output).filter(is_document),
        _ => None,
    })
}

/// A whole state document, not a summary.
pub fn is_document(value: &Value) -> bool {
    value.get("execution").is_some()
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A recorded execution: `cli/tests/fixtures/<name>.json`
    /// (written by `cli/tests/capture_fixtures.py`).
    pub struct Recorded {
        pub describe: Value,
        pub events: Vec<Event>,
    }

    pub fn recorded(name: &str) -> Recorded {
        let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut file: Value = serde_json::from_str(&text).unwrap();
        let events: Vec<WireEvent> = serde_json::from_value(file["events"].take()).unwrap();
        Recorded {
            describe: file["describe"].take(),
            events: events.into_iter().map(Event::from).collect(),
        }
    }

    fn phases(timeline: &Timeline) -> Vec<Phase> {
        timeline.steps.iter().map(|s| s.phase).collect()
    }

    fn notes(step: &Step) -> Vec<&str> {
        step.notes.iter().map(|n| n.text.as_str()).collect()
    }

    #[test]
    fn happy_path_reads_as_the_run_did() {
        let run = recorded("happy_path");
        let t = timeline(&run.events);
        use Phase::*;
        assert_eq!(
            phases(&t),
            [
                Lease,
                Database,
                Workers,
                Launch,
                Job,
                StopWorkers,
                StopDatabase,
                Metrics,
                Release
            ]
        );
        let db = &t.steps[1];
        assert_eq!(
            notes(db),
            [
                "starting the DB (was stopped)",
                "DB is starting: waiting for it",
                "DB available"
            ]
        );
        let workers = notes(&t.steps[2]);
        assert!(
            workers[0].starts_with("starting workers (i-"),
            "{workers:?}"
        );
        assert!(workers.contains(&"waiting for the agent"), "{workers:?}");
        assert_eq!(
            workers.last(),
            Some(&"workers ready: 1 running, agent online")
        );
        let command = run.describe["output"].as_str().unwrap();
        let command: Value = serde_json::from_str(command).unwrap();
        let id = command["job"]["commandId"].as_str().unwrap();
        assert_eq!(notes(&t.steps[3]), [format!("job sent (command {id})")]);
        assert_eq!(notes(&t.steps[4]), ["job running", "job ended: Success"]);
        let worker = command["workers"]["instanceIds"][0].as_str().unwrap();
        // What the stops did, as they did it: EC2 and RDS accepted them, and
        // the worker and the DB are `stopping` when the step says so.
        assert_eq!(
            notes(&t.steps[5]),
            [format!("workers: {worker} stop accepted (was running)")]
        );
        assert_eq!(
            notes(&t.steps[6]),
            ["DB stop accepted (was available): stopping"]
        );
        assert!(notes(&t.steps[7])[0].starts_with("metrics published (run cost $0.00"));
        assert_eq!(notes(&t.steps[8]), ["run lease released"]);
        // Every step but the last ended when the next began; the last at the end.
        for pair in t.steps.windows(2) {
            assert_eq!(pair[0].ended, Some(pair[1].started));
        }
        let end = t.end.as_ref().unwrap();
        assert_eq!(end.status, Status::Succeeded);
        assert_eq!(t.steps.last().unwrap().ended, Some(end.at));
        // The DB step took the sandbox's start time: rdsStart is 3 s there.
        let db_seconds = db.seconds(end.at);
        assert!((2.5..10.0).contains(&db_seconds), "{db_seconds}");
        assert!(t.steps.iter().all(|s| s.notes.iter().all(|n| !n.failure)));
    }

    #[test]
    fn a_failed_job_names_its_error_then_the_cleanup() {
        let run = recorded("job_fails_with_stderr");
        let t = timeline(&run.events);
        use Phase::*;
        assert_eq!(
            phases(&t),
            [
                Lease,
                Database,
                Workers,
                Launch,
                Job,
                CleanupWorkers,
                CleanupDatabase,
                CleanupReport,
                CleanupEnd
            ]
        );
        let job = &t.steps[4];
        let failure = job.notes.iter().find(|n| n.failure).unwrap();
        assert!(
            failure.text.starts_with("JobFailed: the job failed on i-"),
            "{}",
            failure.text
        );
        assert!(failure.text.contains("exit code 3"), "{}", failure.text);
        // The spinner keeps the last thing the step did, not the failure.
        assert_eq!(job.current(), "job running");
        assert!(
            notes(&t.steps[5])[0].ends_with(" stop accepted (was running)"),
            "{:?}",
            notes(&t.steps[5])
        );
        assert_eq!(
            notes(&t.steps[6]),
            ["DB stop accepted (was available): stopping"]
        );
        let report = notes(&t.steps[7]);
        assert!(report[0].starts_with("metrics published"), "{report:?}");
        assert_eq!(report.last(), Some(&"failure notification sent"));
        assert_eq!(notes(&t.steps[8]), ["run lease released"]);
        let end = t.end.as_ref().unwrap();
        assert_eq!(end.status, Status::Failed);
        assert_eq!(end.error.as_deref(), Some("JobFailed"));
        let document = last_document(&run.events).unwrap();
        assert_eq!(document["error"]["Error"], "JobFailed");
        assert_eq!(document["rdsStop"]["action"], "stopped");
    }

    #[test]
    fn a_dry_run_says_what_it_would_do() {
        let run = recorded("dry_run");
        let t = timeline(&run.events);
        let all: Vec<&str> = t.steps.iter().flat_map(notes).collect();
        assert!(
            all.iter().any(|n| n.ends_with("would start it (dry run)")),
            "{all:?}"
        );
        assert!(
            all.iter().any(|n| n.starts_with("would start i-")),
            "{all:?}"
        );
        assert!(all.contains(&"job not sent (dry run)"), "{all:?}");
        assert!(all.contains(&"no job (dry run)"), "{all:?}");
        // A dry run stops nothing: the DB it found stopped is reported as such.
        assert!(all.contains(&"DB already stopped"), "{all:?}");
        // The release of a lease a dry run never took is control flow, not a failure.
        assert!(t.steps.iter().all(|s| s.notes.iter().all(|n| !n.failure)));
        assert!(!phases(&t).contains(&Phase::Lease));
        assert_eq!(t.end.unwrap().status, Status::Succeeded);
    }

    #[test]
    fn a_skipped_run_names_the_holder() {
        let first = recorded("second_run_mid_job");
        let holder = first.describe["name"].as_str().unwrap();
        let second = recorded("second_run_mid_job.concurrent-0");
        let t = timeline(&second.events);
        assert_eq!(phases(&t), [Phase::Lease, Phase::Skipped]);
        assert_eq!(
            notes(&t.steps[0]),
            [format!("the run lease is held by {holder}")]
        );
        assert_eq!(
            notes(&t.steps[1])[0],
            format!("skipped (RunInProgress): the run lease is held by {holder}")
        );
    }

    #[test]
    fn the_lease_decision_shows_once_made() {
        let run = recorded("happy_path");
        let decisions: Vec<Option<LeaseDecision>> = (1..=run.events.len())
            .map(|cut| lease_decision(&timeline(&run.events[..cut])))
            .collect();
        // Nothing until the lease is written, then taken for good.
        let first = decisions.iter().position(Option::is_some).unwrap();
        assert!(first > 0);
        assert!(
            decisions[first..]
                .iter()
                .all(|d| d == &Some(LeaseDecision::Taken))
        );
        let skipped = recorded("second_run_mid_job.concurrent-0");
        let holder = recorded("second_run_mid_job").describe["name"]
            .as_str()
            .unwrap()
            .to_string();
        let decision = lease_decision(&timeline(&skipped.events));
        assert_eq!(
            decision,
            Some(LeaseDecision::Skipped(format!(
                "skipped (RunInProgress): the run lease is held by {holder}"
            )))
        );
        // Before the skip's note, reading the lease is no decision yet.
        let read = skipped
            .events
            .iter()
            .position(
                |e| matches!(&e.what, What::StateEntered { name } if name.starts_with("Skip: ")),
            )
            .unwrap();
        assert_eq!(lease_decision(&timeline(&skipped.events[..read])), None);
        // A dry run takes no lease: it ends without a decision.
        let dry = recorded("dry_run");
        assert_eq!(
            lease_decision(&timeline(&dry.events)),
            Some(LeaseDecision::Ended)
        );
    }

    #[test]
    fn a_cleanup_run_with_nothing_to_do() {
        let run = recorded("job_fails_with_stderr.cleanupafterend-1");
        let t = timeline(&run.events);
        assert_eq!(phases(&t), [Phase::CleanupRun]);
        assert_eq!(
            notes(&t.steps[0]),
            [
                "the ended run is FAILED",
                "nothing to clean up: the run released its lease"
            ]
        );
    }

    #[test]
    fn any_prefix_of_the_history_gives_the_steps_so_far() {
        let run = recorded("happy_path");
        let whole = timeline(&run.events);
        for cut in 1..run.events.len() {
            let part = timeline(&run.events[..cut]);
            assert!(part.end.is_none());
            assert!(part.steps.len() <= whole.steps.len());
            if let Some((last, done)) = part.steps.split_last() {
                assert_eq!(done, &whole.steps[..done.len()]);
                assert_eq!(last.ended, None);
                let full = &whole.steps[done.len()];
                assert_eq!(last.notes, full.notes[..last.notes.len()]);
            }
        }
    }

    #[test]
    fn wire_times_read_as_epoch_seconds_or_text() {
        let epoch: WireTime = serde_json::from_str("1796140533.574").unwrap();
        let text: WireTime = serde_json::from_str("\"2026-12-01T15:55:33.574Z\"").unwrap();
        assert_eq!(epoch.timestamp(), text.timestamp());
        assert_eq!(epoch.timestamp().to_string(), "2026-12-01T15:55:33.574Z");
    }
}
