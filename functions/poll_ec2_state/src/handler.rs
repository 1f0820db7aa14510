//! Look at the job once: each worker's state and its command invocation, and
//! report whether the job is over. The job is over when every command
//! succeeded, or when a worker went down under its running command (the
//! historic job ends with `shutdown -h now`, so the command never reports).
//! Never waits: the state machine loops on `retryAfterSeconds`.

use futures_util::future::join_all;
use makenaide_core::document::{
    InvocationReport, JobOutcome, JobReport, PollReport, StateDocument, WorkersStopReport,
};
use makenaide_core::input::{read_event, require_run_mode};
use makenaide_core::ports::{Ec2Port, SsmPort};
use makenaide_core::redact::stderr_for_cause;
use makenaide_core::states::{
    CommandClass, Ec2Class, OWN_SHUTDOWN_REASON, classify_command, classify_ec2_state,
    normalize_status, stopped_by_its_own_os,
};
use makenaide_core::{ErrorName, StepError, Timestamp};
use serde::Serialize;
use serde_json::Value;

pub type Settings = makenaide_core::config::WorkerSettings;
pub type Aws = makenaide_core::aws::WorkerAws;

/// What the function was asked for: look at the job (the state document
/// itself is the event), or stop the workers (`{"action": "stopWorkers",
/// "state": <the state document>}`, from the state machine's stop tasks).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Report {
    Poll(PollReport),
    StopWorkers(WorkersStopReport),
}

pub const STOP_WORKERS: &str = "stopWorkers";

/// The entry point `main` serves: dispatches on `action`.
pub async fn dispatch(
    aws: &(impl Ec2Port + SsmPort),
    settings: &Settings,
    event: Value,
    now: Timestamp,
) -> Result<Report, StepError> {
    let Some(action) = event.get("action") else {
        return handle(aws, settings, event, now).await.map(Report::Poll);
    };
    match (action.as_str(), event.get("state")) {
        (Some(STOP_WORKERS), Some(state)) if event.as_object().is_some_and(|o| o.len() == 2) => {
            crate::stop::stop_workers(aws, settings, state.clone(), now)
                .await
                .map(Report::StopWorkers)
        }
        _ => Err(StepError::new(
            ErrorName::InvalidInput,
            format!(
                "poll_ec2_state accepts the state document, or {{\"action\": \"{STOP_WORKERS}\", \"state\": <state document>}}; got an event with action {action}"
            ),
        )),
    }
}

/// Why one worker's part of the job ends the step, most informative first:
/// when several workers fail differently the step reports the first kind
/// (ties go to the first worker in `job.instanceIds`) and mentions the rest.
/// A job that failed says most about the run (exit code, stderr); an
/// outside stop or cancel explains everything after it; an invocation SSM
/// terminated because another one failed comes last, after the failure
/// that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Failure {
    /// The command ran and failed (`Failed`).
    CommandFailed,
    /// The worker stopped under its running command, and not by its own
    /// OS: an operator, a scheduled retirement, a Spot interruption.
    Interrupted,
    /// Someone cancelled the command.
    Cancelled,
    /// SSM never got the command to run (`Delivery Timed Out`,
    /// `Undeliverable`, `InvalidPlatform`, `AccessDenied`).
    NotDelivered,
    /// The worker stopped before its agent took the command.
    NeverStarted,
    /// SSM's own execution timeout ended the command.
    TimedOut,
    /// The worker is `shutting-down` or `terminated`.
    InstanceGone,
    /// SSM stopped this invocation because the command passed `MaxErrors`
    /// (another invocation failed).
    Terminated,
}

impl Failure {
    fn name(self) -> ErrorName {
        match self {
            Self::CommandFailed | Self::Terminated => ErrorName::JobFailed,
            Self::Interrupted | Self::Cancelled => ErrorName::JobInterrupted,
            Self::NotDelivered | Self::NeverStarted => ErrorName::JobNotDelivered,
            Self::TimedOut => ErrorName::JobTimeout,
            Self::InstanceGone => ErrorName::Ec2UnrecoverableState,
        }
    }
}

/// Where one worker's part of the job is (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Succeeded,
    /// The worker's own OS shut it down under its started command: the job
    /// ended itself (`shutdown -h now`).
    StoppedItself,
    InProgress,
    Fail(Failure),
}

fn decide(invocation: &InvocationReport) -> Verdict {
    let instance = classify_ec2_state(&invocation.instance_state);
    if instance == Ec2Class::Gone {
        return Verdict::Fail(Failure::InstanceGone);
    }
    let down = matches!(instance, Ec2Class::Stopping | Ec2Class::Stopped);
    match classify_command(
        invocation.command_status.as_deref(),
        invocation.status_details.as_deref(),
    ) {
        CommandClass::Succeeded => Verdict::Succeeded,
        CommandClass::Failed => Verdict::Fail(Failure::CommandFailed),
        CommandClass::NotDelivered => Verdict::Fail(Failure::NotDelivered),
        CommandClass::TimedOut => Verdict::Fail(Failure::TimedOut),
        CommandClass::Cancelled => Verdict::Fail(Failure::Cancelled),
        CommandClass::Terminated => Verdict::Fail(Failure::Terminated),
        CommandClass::NotStarted if down => Verdict::Fail(Failure::NeverStarted),
        CommandClass::Running if down => {
            if stopped_by_its_own_os(invocation.state_reason.as_deref()) {
                Verdict::StoppedItself
            } else {
                Verdict::Fail(Failure::Interrupted)
            }
        }
        CommandClass::NotStarted | CommandClass::Running => Verdict::InProgress,
    }
}

/// `i-... running, command InProgress` for messages.
fn describe(invocation: &InvocationReport) -> String {
    let mut text = format!(
        "{} {}, command {}",
        invocation.instance_id,
        invocation.instance_state,
        status_text(invocation)
    );
    if let Some(code) = invocation.exit_code {
        text.push_str(&format!(" (exit code {code})"));
    }
    text
}

/// `Failed (Undeliverable)`, or the status alone when the details say the same.
fn status_text(invocation: &InvocationReport) -> String {
    let status = invocation
        .command_status
        .as_deref()
        .unwrap_or("not visible yet");
    match invocation.status_details.as_deref() {
        Some(details) if !details.is_empty() && details.replace(' ', "") != status => {
            format!("{status} ({details})")
        }
        _ => status.to_string(),
    }
}

/// What a `StateReason` code means, for a person reading the cause.
fn stop_reason_text(reason: Option<&str>) -> String {
    let Some(reason) = reason.filter(|r| !r.is_empty()) else {
        return "EC2 gives no StateReason".to_string();
    };
    let code = reason.split(':').next().unwrap_or(reason).trim();
    let meaning = match code {
        "Client.UserInitiatedShutdown" => {
            "stopped through the EC2 API: an operator, a script or another run"
        }
        "Client.UserInitiatedHibernate" => "hibernated through the EC2 API",
        "Server.ScheduledStop" => "stopped by EC2 for a scheduled retirement",
        "Server.SpotInstanceShutdown" => "a Spot interruption",
        "Server.InternalError" | "Client.InternalError" => "an EC2 internal error",
        _ => "see the EC2 StateReason documentation",
    };
    format!("StateReason {code}: {meaning}")
}

/// The cause of a command SSM could not run, by its `StatusDetails`.
fn not_delivered_text(details: Option<&str>) -> &'static str {
    match normalize_status(details.unwrap_or_default()).as_str() {
        "deliverytimedout" => {
            "its SSM agent did not take it before the delivery timeout (is the agent running and Online?)"
        }
        "undeliverable" => {
            "SSM could not deliver it (the instance is not a managed node, or is unreachable)"
        }
        "invalidplatform" => {
            "the job document (aws:runShellScript) does not run on the instance's platform (it needs Linux)"
        }
        "accessdenied" => "the instance refused it (check the instance profile's SSM permissions)",
        _ => "SSM could not run it",
    }
}

fn failure_message(
    failure: Failure,
    command_id: &str,
    invocation: &InvocationReport,
    stderr: Option<&str>,
) -> String {
    let id = &invocation.instance_id;
    let status = status_text(invocation);
    let exit = match invocation.exit_code {
        Some(code) => format!("exit code {code}"),
        None => "no exit code".to_string(),
    };
    match failure {
        Failure::CommandFailed => {
            let mut text =
                format!("the job failed on {id}: command {command_id} is {status} with {exit}");
            if let Some(stderr) = stderr.map(stderr_for_cause).filter(|s| !s.is_empty()) {
                text.push_str(&format!("; its stderr ends with:\n{stderr}\n"));
            }
            text
        }
        Failure::Interrupted => format!(
            "the job on {id} was interrupted: the worker is {} ({}), not shut down by its own OS ({OWN_SHUTDOWN_REASON}); command {command_id} was {status}",
            invocation.instance_state,
            stop_reason_text(invocation.state_reason.as_deref())
        ),
        Failure::Cancelled => {
            format!(
                "the job on {id} was cancelled (CancelCommand): command {command_id} is {status}"
            )
        }
        Failure::NotDelivered => format!(
            "the job did not run on {id}: command {command_id} is {status}: {}",
            not_delivered_text(invocation.status_details.as_deref())
        ),
        Failure::NeverStarted => format!(
            "the job did not run on {id}: the instance is {} ({}) while command {command_id} is still {status}",
            invocation.instance_state,
            stop_reason_text(invocation.state_reason.as_deref())
        ),
        Failure::TimedOut => format!(
            "command {command_id} on {id} is {status}: SSM ended it at its own execution timeout ({exit})"
        ),
        Failure::InstanceGone => format!(
            "worker {id} is {} and can never run again (command {command_id} is {status})",
            invocation.instance_state
        ),
        Failure::Terminated => format!(
            "SSM terminated command {command_id} on {id} ({status}) because the command passed its MaxErrors: another worker's invocation failed"
        ),
    }
}

/// Whether the job is over (pure): `Ok(Some(outcome))` when done,
/// `Ok(None)` to look again, or the error that ends the step. A failure
/// wins over the deadline: it is the better explanation.
/// `stderr[i]` is what `invocations[i]`'s job wrote to stderr, if known.
fn assess(
    job: &JobReport,
    command_id: &str,
    invocations: &[InvocationReport],
    stderr: &[Option<String>],
    now: Timestamp,
) -> Result<Option<JobOutcome>, StepError> {
    let verdicts: Vec<Verdict> = invocations.iter().map(decide).collect();
    let worst = verdicts
        .iter()
        .enumerate()
        .filter_map(|(index, verdict)| match verdict {
            Verdict::Fail(failure) => Some((*failure, index)),
            _ => None,
        })
        .min();
    if let Some((failure, index)) = worst {
        let mut message = failure_message(
            failure,
            command_id,
            &invocations[index],
            stderr.get(index).and_then(Option::as_deref),
        );
        let others: Vec<String> = invocations
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .map(|(_, invocation)| describe(invocation))
            .collect();
        if !others.is_empty() {
            message.push_str(&format!("; other workers: {}", others.join("; ")));
        }
        return Err(StepError::new(failure.name(), message));
    }
    if verdicts.iter().all(|v| *v == Verdict::Succeeded) {
        return Ok(Some(JobOutcome::Success));
    }
    if verdicts.iter().all(|v| *v != Verdict::InProgress) {
        return Ok(Some(JobOutcome::InstanceStoppedItself));
    }
    if now > job.deadline {
        let status: Vec<String> = invocations.iter().map(describe).collect();
        return Err(StepError::new(
            ErrorName::JobTimeout,
            format!(
                "the job did not end by its deadline {} ({} s after command {command_id} was sent at {}; execution input jobTimeoutSeconds, default JOB_TIMEOUT_SECONDS): {}",
                job.deadline,
                job.timeout_seconds,
                job.sent_at,
                status.join("; ")
            ),
        ));
    }
    Ok(None)
}

/// The `job` block, checked before any AWS call.
fn job_block<'a>(doc: &'a StateDocument, settings: &Settings) -> Result<&'a JobReport, StepError> {
    let job = doc.job.as_ref().ok_or_else(|| {
        StepError::new(
            ErrorName::InvalidInput,
            "the state document has no `job` block (written by ssm_launch)",
        )
    })?;
    if job.instance_ids.is_empty() && !job.dry_run {
        return Err(StepError::new(
            ErrorName::InvalidInput,
            "the state document's `job.instanceIds` is empty",
        ));
    }
    // Only the configured workers are ever looked at.
    if let Some(stranger) = job
        .instance_ids
        .iter()
        .find(|id| !settings.worker_instance_ids.contains(id))
    {
        return Err(StepError::new(
            ErrorName::InvalidInput,
            format!(
                "the state document's `job.instanceIds` has {stranger}, which is not a configured worker (WORKER_INSTANCE_IDS)"
            ),
        ));
    }
    Ok(job)
}

pub async fn handle(
    aws: &(impl Ec2Port + SsmPort),
    settings: &Settings,
    event: Value,
    now: Timestamp,
) -> Result<PollReport, StepError> {
    // Validate everything the caller controls before any AWS call.
    let (doc, run) = read_event(event, &settings.timing)?;
    require_run_mode(&run, "poll_ec2_state")?;
    let job = job_block(&doc, settings)?;
    let report = |done, outcome, invocations| PollReport {
        done,
        outcome,
        invocations,
        checked_at: now,
        deadline: job.deadline,
        retry_after_seconds: settings.timing.job_poll_seconds,
    };

    // A dry run sent nothing, so there is nothing to look at.
    if job.dry_run || (run.dry_run && job.command_id.is_none()) {
        tracing::info!(dry_run = true, "nothing was launched in this dry run");
        return Ok(report(true, Some(JobOutcome::DryRun), Vec::new()));
    }
    let command_id = job.command_id.as_deref().ok_or_else(|| {
        StepError::new(
            ErrorName::InvalidInput,
            "the state document's `job.commandId` is missing in a run that is not a dry run",
        )
    })?;

    let views = aws.describe_instances(&job.instance_ids).await?;
    let mut invocations = Vec::with_capacity(views.len());
    // Kept out of the state document: only a failure's cause shows it,
    // masked and bounded.
    let mut stderr = Vec::with_capacity(views.len());
    // Every worker's invocation in one round: the step's time does not grow
    // with the workers (settings::SEQUENTIAL_CALLS).
    let answers = join_all(
        views
            .iter()
            .map(|view| aws.command_invocation(command_id, &view.instance_id)),
    )
    .await;
    for (view, answer) in views.into_iter().zip(answers) {
        let invocation = answer?;
        invocations.push(InvocationReport {
            instance_id: view.instance_id,
            instance_state: view.state,
            state_reason: view.state_reason,
            command_status: invocation.status,
            status_details: invocation.status_details,
            exit_code: invocation.exit_code,
        });
        stderr.push(invocation.stderr);
    }
    let outcome = assess(job, command_id, &invocations, &stderr, now)?;
    tracing::info!(
        command_id,
        invocations = ?invocations.iter().map(|i| (&i.instance_id, &i.instance_state, &i.state_reason, &i.command_status, &i.status_details, i.exit_code)).collect::<Vec<_>>(),
        done = outcome.is_some(),
        outcome = ?outcome,
        "checked the job"
    );
    Ok(report(outcome.is_some(), outcome, invocations))
}

#[cfg(test)]
mod tests {
    use super::*;
    use makenaide_core::config::Env;
    use makenaide_core::ports::{CommandInvocation, Operation};
    use makenaide_core::testing::{Call, FakeAws};
    use serde_json::json;

    const I1: &str = "i-0123456789abcdef0";
    const I2: &str = "i-0fedcba9876543210";
    const COMMAND: &str = "2b1f6c4e-7d0a-4f53-9c1e-0d5a3b8e9f10";
    const T0: i64 = 1_795_309_200_000; // 2026-11-22T01:00:00Z

    fn settings() -> Settings {
        Settings::from_env(&Env::from_pairs(&[
            ("WORKER_INSTANCE_IDS", &format!("{I1},{I2}")),
            ("JOB_POLL_SECONDS", "45"),
        ]))
        .unwrap()
    }

    fn at(seconds: u64) -> Timestamp {
        Timestamp::from_millis(T0).plus_seconds(seconds)
    }

    fn job(instance_ids: &[&str]) -> JobReport {
        JobReport {
            command_id: Some(COMMAND.into()),
            comment: "makenaide:run-1".into(),
            document_name: "MakenaideOrchestrator-Job".into(),
            instance_ids: instance_ids.iter().map(|s| s.to_string()).collect(),
            reused_existing: false,
            dry_run: false,
            sent_at: at(0),
            deadline: at(3600),
            timeout_seconds: 3600,
        }
    }

    fn event(input: Value, job: Option<&JobReport>) -> Value {
        let mut event = json!({"input": input, "execution": {"name": "run-1", "startTime": "2026-11-22T01:00:00Z"}});
        if let Some(job) = job {
            event["job"] = serde_json::to_value(job).unwrap();
        }
        event
    }

    /// Workers in these states, each with its invocation of COMMAND in this
    /// status (`None`: not visible yet) and exit code.
    fn world(workers: &[(&str, &str, Option<&str>, Option<i32>)]) -> FakeAws {
        let aws = workers.iter().fold(FakeAws::new(), |aws, (id, state, ..)| {
            aws.with_instance(id, state, "t3.medium")
        });
        for (id, _, status, exit_code) in workers {
            if status.is_some() {
                aws.set_invocation(
                    COMMAND,
                    id,
                    CommandInvocation {
                        status: status.map(str::to_string),
                        status_details: status.map(details_of),
                        exit_code: *exit_code,
                        stderr: None,
                    },
                );
            }
        }
        aws
    }

    /// The `StatusDetails` SSM pairs with a plain status.
    fn details_of(status: &str) -> String {
        match status {
            "InProgress" => "In Progress".to_string(),
            "TimedOut" => "Execution Timed Out".to_string(),
            other => other.to_string(),
        }
    }

    const OWN: Option<&str> = Some("Client.InstanceInitiatedShutdown");
    const API: Option<&str> = Some("Client.UserInitiatedShutdown");

    async fn poll(aws: &FakeAws, job: &JobReport, now: Timestamp) -> Result<PollReport, StepError> {
        handle(aws, &settings(), event(json!({}), Some(job)), now).await
    }

    // ---- pure decisions ----

    fn observed(
        state: &str,
        reason: Option<&str>,
        status: Option<&str>,
        details: Option<&str>,
    ) -> InvocationReport {
        InvocationReport {
            instance_id: I1.into(),
            instance_state: state.into(),
            state_reason: reason.map(str::to_string),
            command_status: status.map(str::to_string),
            status_details: details.map(str::to_string),
            exit_code: None,
        }
    }

    #[test]
    fn verdict_table() {
        use Failure::*;
        use Verdict::*;
        let (ongoing, pending) = (
            (Some("InProgress"), Some("In Progress")),
            (Some("Pending"), Some("Pending")),
        );
        let sched = Some("Server.ScheduledStop");
        let spot = Some("Server.SpotInstanceShutdown");
        // (instance state, StateReason, (Status, StatusDetails)) -> verdict
        let table = [
            ("running", None, (None, None), InProgress),
            ("pending", None, pending, InProgress),
            (
                "running",
                None,
                (Some("Delayed"), Some("Delayed")),
                InProgress,
            ),
            ("running", None, ongoing, InProgress),
            (
                "running",
                None,
                (Some("Cancelling"), Some("Cancelling")),
                InProgress,
            ),
            ("running", None, (Some("SomethingNew"), None), InProgress),
            // Down under a running command: only the OS's own shutdown is the job's end.
            ("stopped", OWN, ongoing, StoppedItself),
            ("stopping", OWN, ongoing, StoppedItself),
            ("stopped", OWN, (Some("SomethingNew"), None), StoppedItself),
            ("stopped", API, ongoing, Fail(Interrupted)),
            ("stopping", API, ongoing, Fail(Interrupted)),
            ("stopped", sched, ongoing, Fail(Interrupted)),
            ("stopped", spot, ongoing, Fail(Interrupted)),
            ("stopped", None, ongoing, Fail(Interrupted)),
            // Down before the agent took the command: it never ran.
            ("stopped", OWN, pending, Fail(NeverStarted)),
            ("stopped", API, (None, None), Fail(NeverStarted)),
            (
                "stopping",
                sched,
                (Some("Delayed"), Some("Delayed")),
                Fail(NeverStarted),
            ),
            // Ended commands, whatever the instance does now.
            (
                "running",
                None,
                (Some("Success"), Some("Success")),
                Succeeded,
            ),
            (
                "stopped",
                OWN,
                (Some("Success"), Some("Success")),
                Succeeded,
            ),
            (
                "running",
                None,
                (Some("Failed"), Some("Failed")),
                Fail(CommandFailed),
            ),
            (
                "stopped",
                API,
                (Some("Failed"), Some("Failed")),
                Fail(CommandFailed),
            ),
            (
                "running",
                None,
                (Some("Failed"), Some("Undeliverable")),
                Fail(NotDelivered),
            ),
            (
                "running",
                None,
                (Some("Failed"), Some("InvalidPlatform")),
                Fail(NotDelivered),
            ),
            (
                "running",
                None,
                (Some("Failed"), Some("AccessDenied")),
                Fail(NotDelivered),
            ),
            (
                "running",
                None,
                (Some("TimedOut"), Some("Delivery Timed Out")),
                Fail(NotDelivered),
            ),
            (
                "running",
                None,
                (Some("TimedOut"), Some("DeliveryTimedOut")),
                Fail(NotDelivered),
            ),
            (
                "running",
                None,
                (Some("TimedOut"), Some("Execution Timed Out")),
                Fail(TimedOut),
            ),
            ("running", None, (Some("TimedOut"), None), Fail(TimedOut)),
            (
                "running",
                None,
                (Some("Failed"), Some("Terminated")),
                Fail(Terminated),
            ),
            (
                "running",
                None,
                (Some("Cancelled"), Some("Cancelled")),
                Fail(Cancelled),
            ),
            // A gone worker is gone, whatever its command says.
            ("shutting-down", None, ongoing, Fail(InstanceGone)),
            (
                "terminated",
                None,
                (Some("Success"), Some("Success")),
                Fail(InstanceGone),
            ),
        ];
        for (state, reason, (status, details), want) in table {
            assert_eq!(
                decide(&observed(state, reason, status, details)),
                want,
                "{state} {reason:?} {status:?}/{details:?}"
            );
        }
    }

    #[test]
    fn failure_names() {
        use Failure::*;
        let table = [
            (CommandFailed, ErrorName::JobFailed),
            (Interrupted, ErrorName::JobInterrupted),
            (Cancelled, ErrorName::JobInterrupted),
            (NotDelivered, ErrorName::JobNotDelivered),
            (NeverStarted, ErrorName::JobNotDelivered),
            (TimedOut, ErrorName::JobTimeout),
            (InstanceGone, ErrorName::Ec2UnrecoverableState),
            (Terminated, ErrorName::JobFailed),
        ];
        for (failure, name) in table {
            assert_eq!(failure.name(), name, "{failure:?}");
        }
    }

    fn inv(
        id: &str,
        state: &str,
        status: Option<&str>,
        exit_code: Option<i32>,
    ) -> InvocationReport {
        InvocationReport {
            instance_id: id.into(),
            instance_state: state.into(),
            state_reason: None,
            command_status: status.map(str::to_string),
            status_details: status.map(details_of),
            exit_code,
        }
    }

    fn with_reason(mut invocation: InvocationReport, reason: Option<&str>) -> InvocationReport {
        invocation.state_reason = reason.map(str::to_string);
        invocation
    }

    #[test]
    fn assessment_table() {
        use ErrorName::*;
        let ok = inv(I1, "running", Some("Success"), Some(0));
        let busy = inv(I2, "running", Some("InProgress"), None);
        let down = with_reason(inv(I2, "stopped", Some("InProgress"), None), OWN);
        let stopped_by_api = with_reason(inv(I2, "stopped", Some("InProgress"), None), API);
        let mut terminated = inv(I1, "running", Some("Failed"), None);
        terminated.status_details = Some("Terminated".into());
        let failed = inv(I2, "running", Some("Failed"), Some(2));
        let timed_out = inv(I1, "running", Some("TimedOut"), None);
        let gone = inv(I1, "terminated", Some("InProgress"), None);
        /// Done with an outcome, not done yet, or the error name.
        type Expected = Result<Option<JobOutcome>, ErrorName>;
        // (invocations, seconds after sending, expected)
        let cases: Vec<(Vec<&InvocationReport>, u64, Expected)> = vec![
            (vec![&ok], 10, Ok(Some(JobOutcome::Success))),
            (vec![&ok], 4000, Ok(Some(JobOutcome::Success))),
            (vec![&busy], 3600, Ok(None)),
            (vec![&busy], 3601, Err(JobTimeout)),
            (vec![&down], 10, Ok(Some(JobOutcome::InstanceStoppedItself))),
            (
                vec![&down],
                4000,
                Ok(Some(JobOutcome::InstanceStoppedItself)),
            ),
            (
                vec![&ok, &down],
                10,
                Ok(Some(JobOutcome::InstanceStoppedItself)),
            ),
            (vec![&ok, &busy], 10, Ok(None)),
            (vec![&busy, &failed], 10, Err(JobFailed)),
            (vec![&failed], 4000, Err(JobFailed)),
            // The most informative failure wins, whatever the worker order.
            (vec![&gone, &failed], 10, Err(JobFailed)),
            (vec![&timed_out, &failed], 10, Err(JobFailed)),
            (vec![&gone, &busy], 10, Err(Ec2UnrecoverableState)),
            (vec![&gone, &timed_out], 10, Err(JobTimeout)),
            // Stopped by someone else: not the job's end, even with the other done.
            (vec![&ok, &stopped_by_api], 10, Err(JobInterrupted)),
            (vec![&gone, &stopped_by_api], 10, Err(JobInterrupted)),
            (vec![&stopped_by_api, &failed], 10, Err(JobFailed)),
            // SSM terminated one because the other failed: the failure is reported.
            (vec![&terminated, &failed], 10, Err(JobFailed)),
            (vec![&terminated, &busy], 10, Err(JobFailed)),
        ];
        let job = job(&[I1, I2]);
        for (invocations, seconds, expected) in cases {
            let invocations: Vec<InvocationReport> = invocations.into_iter().cloned().collect();
            let result = assess(&job, COMMAND, &invocations, &[], at(seconds)).map_err(|e| e.name);
            assert_eq!(result, expected, "{invocations:?} at {seconds}");
        }
    }

    #[test]
    fn failure_messages_name_the_worker_and_mention_the_others() {
        let job = job(&[I1, I2]);
        let invocations = [
            inv(I1, "running", Some("InProgress"), None),
            inv(I2, "running", Some("Failed"), Some(2)),
        ];
        let stderr = [
            None,
            Some("starting\nERROR: relation \"orders\" does not exist\n".to_string()),
        ];
        let error = assess(&job, COMMAND, &invocations, &stderr, at(10)).unwrap_err();
        assert_eq!(
            error.message,
            format!(
                "the job failed on {I2}: command {COMMAND} is Failed with exit code 2; its stderr ends with:\nstarting\nERROR: relation \"orders\" does not exist\n; other workers: {I1} running, command InProgress"
            )
        );
        let invocations = [with_reason(inv(I1, "stopped", Some("Pending"), None), API)];
        let error = assess(&job, COMMAND, &invocations, &[], at(10)).unwrap_err();
        assert_eq!(error.name, ErrorName::JobNotDelivered);
        assert_eq!(
            error.message,
            format!(
                "the job did not run on {I1}: the instance is stopped (StateReason Client.UserInitiatedShutdown: stopped through the EC2 API: an operator, a script or another run) while command {COMMAND} is still Pending"
            )
        );
        let invocations = [with_reason(
            inv(I1, "stopping", Some("InProgress"), None),
            Some("Server.ScheduledStop: Stopped due to scheduled retirement"),
        )];
        let error = assess(&job, COMMAND, &invocations, &[], at(10)).unwrap_err();
        assert_eq!(error.name, ErrorName::JobInterrupted);
        assert_eq!(
            error.message,
            format!(
                "the job on {I1} was interrupted: the worker is stopping (StateReason Server.ScheduledStop: stopped by EC2 for a scheduled retirement), not shut down by its own OS (Client.InstanceInitiatedShutdown); command {COMMAND} was InProgress"
            )
        );
        let mut undeliverable = inv(I1, "running", Some("Failed"), None);
        undeliverable.status_details = Some("Undeliverable".into());
        let error = assess(&job, COMMAND, &[undeliverable], &[], at(10)).unwrap_err();
        assert_eq!(error.name, ErrorName::JobNotDelivered);
        assert!(
            error.message.contains("Failed (Undeliverable)")
                && error.message.contains("not a managed node"),
            "{}",
            error.message
        );
        let invocations = [inv(I1, "running", None, None)];
        let error = assess(&job, COMMAND, &invocations, &[], at(3601)).unwrap_err();
        assert_eq!(
            error.message,
            format!(
                "the job did not end by its deadline 2026-11-22T02:00:00Z (3600 s after command {COMMAND} was sent at 2026-11-22T01:00:00Z; execution input jobTimeoutSeconds, default JOB_TIMEOUT_SECONDS): {I1} running, command not visible yet"
            )
        );
    }

    // ---- handler ----

    #[tokio::test]
    async fn succeeded_command_is_done() {
        let aws = world(&[(I1, "running", Some("Success"), Some(0))]);
        let report = poll(&aws, &job(&[I1]), at(120)).await.unwrap();
        assert_eq!(
            report,
            PollReport {
                done: true,
                outcome: Some(JobOutcome::Success),
                invocations: vec![inv(I1, "running", Some("Success"), Some(0))],
                checked_at: at(120),
                deadline: at(3600),
                retry_after_seconds: 45,
            }
        );
        assert_eq!(
            aws.calls(),
            [
                Call::DescribeInstances {
                    instance_ids: vec![I1.into()]
                },
                Call::CommandInvocation {
                    command_id: COMMAND.into(),
                    instance_id: I1.into()
                }
            ]
        );
    }

    #[tokio::test]
    async fn running_command_is_not_done() {
        let aws = world(&[(I1, "running", Some("InProgress"), None)]);
        let report = poll(&aws, &job(&[I1]), at(120)).await.unwrap();
        assert!(!report.done);
        assert_eq!(report.outcome, None);
        assert_eq!(report.retry_after_seconds, 45);
        assert_eq!(
            report.invocations,
            [inv(I1, "running", Some("InProgress"), None)]
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["retryAfterSeconds"], json!(45));
        assert_eq!(json["done"], json!(false));
    }

    #[tokio::test]
    async fn failed_command_fails_with_its_exit_code() {
        let aws = world(&[(I1, "running", Some("Failed"), Some(3))]);
        let error = poll(&aws, &job(&[I1]), at(120)).await.unwrap_err();
        assert_eq!(error.name, ErrorName::JobFailed);
        assert!(!error.name.is_retryable());
        assert!(
            error.message.contains(&format!("failed on {I1}")),
            "{}",
            error.message
        );
        assert!(
            error.message.contains("Failed with exit code 3"),
            "{}",
            error.message
        );
    }

    #[tokio::test]
    async fn ssm_timeout_and_cancel_fail() {
        for (status, name) in [
            ("TimedOut", ErrorName::JobTimeout),
            ("Cancelled", ErrorName::JobInterrupted),
        ] {
            let aws = world(&[(I1, "running", Some(status), None)]);
            let error = poll(&aws, &job(&[I1]), at(120)).await.unwrap_err();
            assert_eq!(error.name, name, "{status}");
            assert!(
                error.message.contains(status) && error.message.contains(I1),
                "{}",
                error.message
            );
        }
    }

    #[tokio::test]
    async fn a_worker_that_went_down_under_its_command_stopped_itself() {
        for state in ["stopped", "stopping"] {
            let aws = world(&[(I1, state, Some("InProgress"), None)]);
            aws.set_instance_state(I1, state, OWN);
            let report = poll(&aws, &job(&[I1]), at(120)).await.unwrap();
            assert!(report.done, "{state}");
            assert_eq!(report.outcome, Some(JobOutcome::InstanceStoppedItself));
            assert_eq!(report.invocations[0].instance_state, state);
            assert_eq!(report.invocations[0].state_reason.as_deref(), OWN);
            assert_eq!(aws.count(Operation::GetCommandInvocation), 1);
        }
    }

    #[tokio::test]
    async fn a_worker_someone_else_stopped_interrupted_the_job() {
        for reason in [
            API,
            Some("Server.ScheduledStop"),
            Some("Server.SpotInstanceShutdown"),
        ] {
            let aws = world(&[(I1, "running", Some("InProgress"), None)]);
            aws.set_instance_state(I1, "stopping", reason);
            let error = poll(&aws, &job(&[I1]), at(120)).await.unwrap_err();
            assert_eq!(error.name, ErrorName::JobInterrupted, "{reason:?}");
            assert!(!error.name.is_retryable());
            assert!(
                error.message.contains(reason.unwrap()) && error.message.contains(I1),
                "{}",
                error.message
            );
        }
    }

    #[tokio::test]
    async fn a_failed_jobs_stderr_ends_its_cause_masked_and_stays_out_of_the_state() {
        let aws = world(&[(I1, "running", None, None)]);
        let mut stderr = "progress\n".repeat(2000);
        stderr.push_str("connecting with PGPASSWORD=hunter2\nFATAL: could not connect\n");
        aws.set_invocation(
            COMMAND,
            I1,
            CommandInvocation {
                status: Some("Failed".into()),
                status_details: Some("Failed".into()),
                exit_code: Some(2),
                stderr: Some(stderr),
            },
        );
        let error = poll(&aws, &job(&[I1]), at(120)).await.unwrap_err();
        assert_eq!(error.name, ErrorName::JobFailed);
        assert!(
            error.message.contains("exit code 2")
                && error.message.contains("PGPASSWORD=***")
                && error.message.contains("FATAL: could not connect"),
            "{}",
            error.message
        );
        assert!(!error.message.contains("hunter2"));
        assert!(error.message.len() < 2048 + 300, "{}", error.message.len());

        // While it runs, nothing of its output reaches the state document.
        aws.set_invocation(
            COMMAND,
            I1,
            CommandInvocation {
                status: Some("InProgress".into()),
                status_details: Some("In Progress".into()),
                exit_code: None,
                stderr: Some("PGPASSWORD=hunter2".into()),
            },
        );
        let report = poll(&aws, &job(&[I1]), at(130)).await.unwrap();
        let document = serde_json::to_string(&report).unwrap();
        assert!(!document.contains("hunter2") && !document.contains("PGPASSWORD"));
    }

    #[tokio::test]
    async fn invocation_not_visible_yet_is_still_running() {
        let aws = world(&[(I1, "running", None, None)]);
        let report = poll(&aws, &job(&[I1]), at(2)).await.unwrap();
        assert!(!report.done);
        assert_eq!(report.invocations, [inv(I1, "running", None, None)]);
    }

    #[tokio::test]
    async fn past_the_deadline_the_job_times_out() {
        let aws = world(&[(I1, "running", Some("InProgress"), None)]);
        poll(&aws, &job(&[I1]), at(3600)).await.unwrap();
        let error = poll(&aws, &job(&[I1]), at(3601)).await.unwrap_err();
        assert_eq!(error.name, ErrorName::JobTimeout);
        assert!(
            error.message.contains("deadline 2026-11-22T02:00:00Z"),
            "{}",
            error.message
        );
        assert!(
            error.message.contains("jobTimeoutSeconds")
                && error.message.contains("JOB_TIMEOUT_SECONDS")
        );
    }

    #[tokio::test]
    async fn dry_run_is_done_without_any_call() {
        let aws = world(&[(I1, "running", Some("Success"), Some(0))]);
        let mut dry = job(&[I1]);
        dry.dry_run = true;
        dry.command_id = None;
        for (input, job) in [(json!({"dryRun": true}), &dry), (json!({}), &dry)] {
            let report = handle(&aws, &settings(), event(input, Some(job)), at(1))
                .await
                .unwrap();
            assert!(report.done);
            assert_eq!(report.outcome, Some(JobOutcome::DryRun));
            assert!(report.invocations.is_empty());
            assert_eq!(report.deadline, at(3600));
        }
        // A dry-run execution whose job block has no command id.
        let mut no_command = job(&[I1]);
        no_command.command_id = None;
        let report = handle(
            &aws,
            &settings(),
            event(json!({"dryRun": true}), Some(&no_command)),
            at(1),
        )
        .await
        .unwrap();
        assert_eq!(report.outcome, Some(JobOutcome::DryRun));
        assert!(aws.calls().is_empty());
    }

    #[tokio::test]
    async fn two_workers_each_asked_about_their_own_invocation() {
        let aws = world(&[
            (I1, "running", Some("Success"), Some(0)),
            (I2, "running", Some("InProgress"), None),
        ]);
        let report = poll(&aws, &job(&[I1, I2]), at(60)).await.unwrap();
        assert!(!report.done);
        assert_eq!(
            report.invocations,
            [
                inv(I1, "running", Some("Success"), Some(0)),
                inv(I2, "running", Some("InProgress"), None)
            ]
        );
        let asked: Vec<Call> = aws
            .calls()
            .into_iter()
            .filter(|c| c.operation() == Operation::GetCommandInvocation)
            .collect();
        assert_eq!(
            asked,
            [I1, I2].map(|id| Call::CommandInvocation {
                command_id: COMMAND.into(),
                instance_id: id.into()
            })
        );
        assert_eq!(aws.count(Operation::DescribeInstances), 1);

        // One succeeded, the other shut itself down.
        aws.set_instance_state(I2, "stopped", Some("Client.InstanceInitiatedShutdown"));
        let report = poll(&aws, &job(&[I1, I2]), at(60)).await.unwrap();
        assert!(report.done);
        assert_eq!(report.outcome, Some(JobOutcome::InstanceStoppedItself));

        // Both succeeded.
        let aws = world(&[
            (I1, "running", Some("Success"), Some(0)),
            (I2, "running", Some("Success"), Some(0)),
        ]);
        let report = poll(&aws, &job(&[I1, I2]), at(60)).await.unwrap();
        assert_eq!(report.outcome, Some(JobOutcome::Success));

        // One failed while the other still runs: the step fails and names both.
        let aws = world(&[
            (I1, "running", Some("InProgress"), None),
            (I2, "running", Some("Failed"), Some(1)),
        ]);
        let error = poll(&aws, &job(&[I1, I2]), at(60)).await.unwrap_err();
        assert_eq!(error.name, ErrorName::JobFailed);
        assert!(
            error.message.contains(I1) && error.message.contains(I2),
            "{}",
            error.message
        );
    }

    #[tokio::test]
    async fn a_gone_worker_is_unrecoverable() {
        let aws = world(&[(I1, "terminated", Some("InProgress"), None)]);
        let error = poll(&aws, &job(&[I1]), at(60)).await.unwrap_err();
        assert_eq!(error.name, ErrorName::Ec2UnrecoverableState);
        assert!(
            error.message.contains(&format!("{I1} is terminated")),
            "{}",
            error.message
        );
    }

    #[tokio::test]
    async fn aws_errors_keep_their_name() {
        for operation in [
            Operation::DescribeInstances,
            Operation::GetCommandInvocation,
        ] {
            let aws = world(&[(I1, "running", Some("Success"), Some(0))]).fail_next(
                operation,
                1,
                ErrorName::AwsThrottled,
            );
            let error = poll(&aws, &job(&[I1]), at(60)).await.unwrap_err();
            assert_eq!(error.name, ErrorName::AwsThrottled, "{operation:?}");
            assert!(
                error.message.contains(operation.action()),
                "{}",
                error.message
            );
            // The state machine's retry of the step sees the job done.
            let report = poll(&aws, &job(&[I1]), at(61)).await.unwrap();
            assert_eq!(report.outcome, Some(JobOutcome::Success));
        }
    }

    #[tokio::test]
    async fn the_poll_never_changes_anything() {
        let aws = world(&[
            (I1, "running", Some("InProgress"), None),
            (I2, "stopped", Some("InProgress"), None),
        ]);
        aws.set_instance_state(I2, "stopped", OWN);
        poll(&aws, &job(&[I1, I2]), at(60)).await.unwrap();
        aws.set_instance_state(I2, "stopped", API);
        poll(&aws, &job(&[I1, I2]), at(60)).await.unwrap_err();
        assert!(aws.mutating_calls().is_empty());
    }

    #[tokio::test]
    async fn bad_documents_fail_before_any_aws_call() {
        let aws = world(&[(I1, "running", Some("Success"), Some(0))]);
        let mut no_command = job(&[I1]);
        no_command.command_id = None;
        let stranger = job(&["i-0aaaaaaaaaaaaaaaa"]);
        let empty = job(&[]);
        let cases = [
            (event(json!({}), None), "`job`"),
            (
                event(json!({"dryRun": "no"}), Some(&job(&[I1]))),
                "`dryRun`",
            ),
            (event(json!({}), Some(&no_command)), "`job.commandId`"),
            (event(json!({}), Some(&stranger)), "i-0aaaaaaaaaaaaaaaa"),
            (event(json!({}), Some(&empty)), "`job.instanceIds`"),
            (json!({"input": {}, "job": {"commandId": 7}}), "malformed"),
        ];
        for (event, needle) in cases {
            let error = handle(&aws, &settings(), event, at(60)).await.unwrap_err();
            assert_eq!(error.name, ErrorName::InvalidInput, "{needle}");
            assert!(error.message.contains(needle), "{}", error.message);
        }
        assert!(aws.calls().is_empty());
    }

    #[tokio::test]
    async fn dispatch_polls_the_document_and_stops_on_request() {
        let aws = world(&[(I1, "running", Some("InProgress"), None)]);
        let polled = dispatch(
            &aws,
            &settings(),
            event(json!({}), Some(&job(&[I1]))),
            at(60),
        )
        .await
        .unwrap();
        assert!(matches!(
            polled,
            Report::Poll(PollReport { done: false, .. })
        ));
        assert!(aws.mutating_calls().is_empty());

        let aws = world(&[(I1, "running", None, None)]);
        let stop = json!({"action": STOP_WORKERS, "state": event(json!({}), None)});
        let stopped = dispatch(&aws, &settings(), stop, at(60)).await.unwrap();
        let Report::StopWorkers(report) = stopped else {
            panic!("expected a stop report, got {stopped:?}");
        };
        assert!(report.done);
        assert_eq!(
            serde_json::to_value(&report).unwrap()["instances"][0]["action"],
            "stopped"
        );
        assert_eq!(aws.instance(I1).unwrap().state, "stopping");
    }

    #[tokio::test]
    async fn calls_exactly_its_declared_operations() {
        // Both actions of the function: the job poll and the workers' stop.
        let aws = world(&[
            (I1, "running", Some("InProgress"), None),
            (I2, "running", Some("InProgress"), None),
        ]);
        dispatch(
            &aws,
            &settings(),
            event(json!({}), Some(&job(&[I1, I2]))),
            at(60),
        )
        .await
        .unwrap();
        let stop = json!({"action": STOP_WORKERS, "state": event(json!({}), None)});
        dispatch(&aws, &settings(), stop, at(61)).await.unwrap();
        aws.assert_calls_exactly_declared("poll_ec2_state");
    }

    #[tokio::test]
    async fn dispatch_rejects_an_unknown_action_before_any_aws_call() {
        let aws = world(&[(I1, "running", None, None)]);
        let state = event(json!({}), None);
        for bad in [
            json!({"action": "terminate", "state": state}),
            json!({"action": STOP_WORKERS}),
            json!({"action": STOP_WORKERS, "state": state, "force": true}),
            json!({"action": 1, "state": state}),
        ] {
            let error = dispatch(&aws, &settings(), bad, at(60)).await.unwrap_err();
            assert_eq!(error.name, ErrorName::InvalidInput);
            assert!(error.message.contains("stopWorkers"), "{}", error.message);
        }
        assert!(aws.calls().is_empty());
    }

    #[test]
    fn missing_configuration_names_the_variable() {
        let error = Settings::from_env(&Env::from_pairs(&[])).unwrap_err();
        assert_eq!(error.name, ErrorName::ConfigError);
        assert!(error.message.contains("WORKER_INSTANCE_IDS"));
    }
}
