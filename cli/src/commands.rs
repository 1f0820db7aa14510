//! The commands, over the ports. Decisions and text come from the pure
//! modules (`history`, `render`, `schedule`); this module asks AWS and
//! prints.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;
use makenaide_core::Timestamp;
use makenaide_core::cost::PublishedRun;
use makenaide_core::input::{JobTimeoutBound, check_operator_input};
use serde::Serialize;
use serde_json::Value;

use crate::error::{CliError, exit};
use crate::follow::{View, follow, whole_history};
use crate::history::{LeaseDecision, Status, last_document, lease_decision, timeline};
use crate::ports::{Execution, Leases, Resources, Schedules, Stacks, StepFunctions};
use crate::render;

/// What the commands act on, from the stack's outputs or `--state-machine-arn`.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The unqualified state machine ARN (executions, listing).
    pub state_machine_arn: String,
    /// What runs are started on: the live alias when there is one.
    pub start_arn: String,
    pub schedule_name: Option<String>,
    pub lease_table: Option<String>,
    pub stack: Option<String>,
    /// The deployed `JOB_TIMEOUT_MAX_SECONDS` (stack output
    /// [`JOB_TIMEOUT_MAX_OUTPUT`]); `None` without the stack.
    pub job_timeout_max: Option<u64>,
}

/// The stack output with the deployed bound of `jobTimeoutSeconds`
/// (cdk/lib/stack.ts, `JOB_TIMEOUT_MAX_OUTPUT`).
pub const JOB_TIMEOUT_MAX_OUTPUT: &str = "JobTimeoutMaxSeconds";

/// `arn:aws:states:<region>:<account>:stateMachine:<name>[:<alias or version>]`
/// without the qualifier.
pub fn unqualified(arn: &str) -> String {
    arn.split(':').take(7).collect::<Vec<_>>().join(":")
}

pub fn target_from_outputs(
    stack: &str,
    outputs: &HashMap<String, String>,
) -> Result<Target, CliError> {
    let state_machine_arn = outputs
        .get("StateMachineArn")
        .ok_or(CliError::MissingOutput {
            stack: stack.to_string(),
            output: "StateMachineArn",
            why: "is it a makenaide-orchestrator stack? (--state-machine-arn bypasses the stack)",
        })?;
    Ok(Target {
        state_machine_arn: unqualified(state_machine_arn),
        start_arn: outputs
            .get("LiveAliasArn")
            .unwrap_or(state_machine_arn)
            .clone(),
        schedule_name: outputs.get("ScheduleName").cloned(),
        lease_table: outputs.get("LeaseTableName").cloned(),
        stack: Some(stack.to_string()),
        // A stack deployed before the output: the CLI checks what it can.
        job_timeout_max: outputs
            .get(JOB_TIMEOUT_MAX_OUTPUT)
            .and_then(|v| v.trim().parse().ok()),
    })
}

pub async fn resolve<S: Stacks>(
    stacks: &S,
    stack: &str,
    state_machine_arn: Option<&str>,
) -> Result<Target, CliError> {
    if let Some(arn) = state_machine_arn {
        if !arn.starts_with("arn:") || !arn.contains(":stateMachine:") {
            return Err(CliError::Invalid(format!(
                "--state-machine-arn {arn} is not a state machine ARN"
            )));
        }
        return Ok(Target {
            state_machine_arn: unqualified(arn),
            start_arn: arn.to_string(),
            schedule_name: None,
            lease_table: None,
            stack: None,
            job_timeout_max: None,
        });
    }
    target_from_outputs(stack, &stacks.outputs(stack).await?)
}

/// An execution's ARN from its name (or the ARN itself).
pub fn execution_arn(target: &Target, execution: &str) -> String {
    if execution.starts_with("arn:") {
        return execution.to_string();
    }
    format!(
        "{}:{execution}",
        target
            .state_machine_arn
            .replacen(":stateMachine:", ":execution:", 1)
    )
}

/// The execution input of `run`: `--input` with `dryRun` added for
/// `--dry-run`, refused as the workflow's first step would refuse it
/// (`makenaide_core::input`, the one declaration of the input), with the
/// deployed bound when known. Also whether it asks for a dry run.
pub fn run_input(
    input: &str,
    dry_run: bool,
    job_timeout_max: Option<u64>,
) -> Result<(String, bool), CliError> {
    let mut value: Value = serde_json::from_str(input)
        .map_err(|e| CliError::Invalid(format!("--input is not JSON: {e}")))?;
    let Some(object) = value.as_object_mut() else {
        return Err(CliError::Invalid(
            "--input must be a JSON object".to_string(),
        ));
    };
    if dry_run {
        object.insert("dryRun".to_string(), Value::Bool(true));
    }
    let bound = match job_timeout_max {
        Some(max) => JobTimeoutBound::Deployed(max),
        None => JobTimeoutBound::Unknown,
    };
    let dry = check_operator_input(&value, bound).map_err(|refused| {
        CliError::Invalid(format!(
            "--input refused, nothing started: {}",
            refused.message
        ))
    })?;
    Ok((value.to_string(), dry))
}

/// The state document of an ended execution: its output, else the last
/// document in its history (a failed run has no output).
pub async fn document_of<S: StepFunctions>(
    sfn: &S,
    execution: &Execution,
) -> Result<Option<Value>, CliError> {
    if let Some(doc) = render::document(execution, None) {
        return Ok(Some(doc));
    }
    if execution.status.is_running() {
        return Ok(None);
    }
    // Newest first, back to the last whole document.
    let mut events = Vec::new();
    let mut token = None;
    loop {
        let page = sfn.history(&execution.arn, token, true, 100).await?;
        events.extend(page.events);
        // By id: a service that ignores reverseOrder returns oldest first.
        let mut oldest_first = events.clone();
        oldest_first.sort_by_key(|e| e.id);
        if let Some(doc) = last_document(&oldest_first) {
            return Ok(Some(doc));
        }
        token = page.next_token;
        if token.is_none() {
            return Ok(None);
        }
    }
}

/// How long `run` (without `--follow`) waits for a started run's lease
/// decision, the first thing it does (about a second on AWS).
pub const LEASE_DECISION_WAIT: Duration = Duration::from_secs(20);

/// `run`'s advisory check before it starts anything: who holds the run
/// lease, and the lines to print when one does (a run started now would be
/// skipped). `None`: free, or no lease table to read (`--state-machine-arn`).
pub async fn lease_holder<S: StepFunctions + Leases>(
    aws: &S,
    target: &Target,
) -> Result<Option<Vec<String>>, CliError> {
    let Some(table) = &target.lease_table else {
        return Ok(None);
    };
    let Some(lease) = aws.lease(table).await? else {
        return Ok(None);
    };
    let holder = if lease.execution_arn.is_empty() {
        None
    } else {
        match aws.describe(&lease.execution_arn).await {
            Ok(holder) => Some(holder),
            Err(CliError::UnknownExecution(_)) => None,
            Err(e) => return Err(e),
        }
    };
    Ok(Some(render::lease_held(&lease, holder.as_ref())))
}

/// Reads a started execution's history until it shows its lease decision,
/// at most `wait`.
async fn await_lease_decision<S: StepFunctions>(
    sfn: &S,
    arn: &str,
    poll: Duration,
    wait: Duration,
) -> Result<Option<LeaseDecision>, CliError> {
    let since = std::time::Instant::now();
    loop {
        let events = whole_history(sfn, arn).await?;
        if let Some(decision) = lease_decision(&timeline(&events)) {
            return Ok(Some(decision));
        }
        if since.elapsed() >= wait {
            return Ok(None);
        }
        tokio::time::sleep(poll.min(Duration::from_secs(2))).await;
    }
}

#[allow(clippy::too_many_arguments)] // the command line's own arguments, one each
pub async fn run<S: StepFunctions + Leases>(
    aws: &S,
    target: &Target,
    input: &str,
    name: Option<&str>,
    dry_run: bool,
    follow_it: bool,
    poll: Duration,
    view: &mut dyn View,
) -> Result<u8, CliError> {
    let (input, dry) = run_input(input, dry_run, target.job_timeout_max)?;
    // A dry run takes no lease. For a run the check is advisory: the lease
    // may be taken between it and the start, which the run's own lease
    // decision below then shows.
    if !dry && let Some(lines) = lease_holder(aws, target).await? {
        for line in lines {
            view.line(&line);
        }
        return Ok(exit::SKIPPED);
    }
    let arn = aws.start(&target.start_arn, name, &input).await?;
    let short = render::short_name(&arn).to_string();
    view.line(&render::fit(&format!(
        "started {short} on {}",
        target.start_arn
    )));
    let started = aws.describe(&arn).await?;
    if let Some(warning) = render::bypass_warning(&started) {
        eprintln!("warning: {warning}");
    }
    if follow_it {
        return follow_to_end(aws, &arn, poll, view).await;
    }
    let follow_line = format!("follow it: makenaide follow {short}");
    if dry {
        view.line(&follow_line);
        return Ok(exit::OK);
    }
    match await_lease_decision(aws, &arn, poll, LEASE_DECISION_WAIT).await? {
        Some(LeaseDecision::Taken) => {
            view.line(&format!("{short}: run lease taken, the run is going"));
            view.line(&follow_line);
            Ok(exit::OK)
        }
        Some(LeaseDecision::Skipped(note)) => {
            for line in render::wrap("", &format!("{short} {note}; nothing was touched"), 2) {
                view.line(&line);
            }
            Ok(exit::SKIPPED)
        }
        Some(LeaseDecision::Ended) => follow_to_end(aws, &arn, poll, view).await,
        None => {
            view.line(&format!(
                "{short}: no lease decision within {}s yet",
                LEASE_DECISION_WAIT.as_secs()
            ));
            view.line(&follow_line);
            Ok(exit::OK)
        }
    }
}

/// Follows until the end, prints the summary; the run's exit code.
pub async fn follow_to_end<S: StepFunctions>(
    sfn: &S,
    arn: &str,
    poll: Duration,
    view: &mut dyn View,
) -> Result<u8, CliError> {
    let events = follow(sfn, arn, poll, view).await?;
    let execution = sfn.describe(arn).await?;
    let doc = render::document(&execution, last_document(&events));
    for line in render::summary(&execution, &timeline(&events), doc.as_ref()) {
        view.line(&line);
    }
    Ok(render::exit_code(&execution.status, doc.as_ref()))
}

pub async fn follow_execution<S: StepFunctions>(
    sfn: &S,
    target: &Target,
    execution: &str,
    poll: Duration,
    view: &mut dyn View,
) -> Result<u8, CliError> {
    let arn = execution_arn(target, execution);
    let described = sfn.describe(&arn).await?;
    if let Some(warning) = render::bypass_warning(&described) {
        eprintln!("warning: {warning}");
    }
    view.line(&render::fit(&format!(
        "{} {} since {}",
        described.name,
        described.status.as_str(),
        render::when(described.start)
    )));
    follow_to_end(sfn, &arn, poll, view).await
}

/// The cleanup run a rule started for `ended_arn`, if any yet.
async fn cleanup_run_for<S: StepFunctions>(
    sfn: &S,
    target: &Target,
    ended: &Execution,
) -> Result<Option<Execution>, CliError> {
    let recent = sfn.list(&target.state_machine_arn, false, 20).await?;
    for listed in recent
        .iter()
        .filter(|l| l.start >= ended.start && l.arn != ended.arn)
    {
        let candidate = sfn.describe(&listed.arn).await?;
        let input = candidate
            .input
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok());
        if input
            .as_ref()
            .and_then(|i| i.get("cleanupAfter"))
            .and_then(Value::as_str)
            == Some(ended.arn.as_str())
        {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

/// What `stop` without a name stops.
#[derive(Debug, Clone, PartialEq)]
pub enum ToStop {
    /// The one run running (its ARN).
    One(String),
    /// No run runs; the lines say so (and name a running cleanup run or sweep).
    Nothing(Vec<String>),
}

/// The run `stop` stops when given no name (pure): the one run (or dry
/// run) running. Cleanup runs and sweeps are the stack's own and stop what
/// runs: never picked. Several runs: a usage error listing them (exit 2:
/// nothing was done, and naming one is the fix).
pub fn to_stop(running: &[(Execution, Option<String>)]) -> Result<ToStop, CliError> {
    let (stack_own, runs): (Vec<_>, Vec<_>) = running.iter().partition(|(execution, _)| {
        let input = execution
            .input
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok());
        matches!(
            render::Kind::of(input.as_ref(), None),
            render::Kind::CleanupRun | render::Kind::Sweep
        )
    });
    let described = |(execution, label): &&(Execution, Option<String>)| {
        let name = match label {
            Some(label) => format!("{} ({label})", execution.name),
            None => execution.name.clone(),
        };
        format!("{name} since {}", render::when(execution.start))
    };
    match runs.as_slice() {
        [one] => Ok(ToStop::One(one.0.arn.clone())),
        [] => {
            let mut lines = vec!["nothing to stop: no run is running".to_string()];
            for other in &stack_own {
                lines.push(render::fit(&format!(
                    "  {} is running: it stops what is left, let it end (makenaide follow {})",
                    described(other),
                    other.0.name
                )));
            }
            Ok(ToStop::Nothing(lines))
        }
        several => Err(CliError::Invalid(format!(
            "{} runs are running, name the one to stop (makenaide stop <name>): {}",
            several.len(),
            several.iter().map(described).collect::<Vec<_>>().join(", ")
        ))),
    }
}

pub async fn stop<S: StepFunctions + Resources>(
    aws: &S,
    target: &Target,
    execution: Option<&str>,
    wait: u64,
    poll: Duration,
    view: &mut dyn View,
) -> Result<u8, CliError> {
    let arn = match execution {
        Some(execution) => execution_arn(target, execution),
        None => {
            let listed = aws.list(&target.state_machine_arn, true, 100).await?;
            let arns: Vec<String> = listed.iter().map(|l| l.arn.clone()).collect();
            let running: Vec<(Execution, Option<String>)> = rows(aws, &arns)
                .await?
                .into_iter()
                .filter(|(execution, _)| execution.status.is_running())
                .map(|(execution, doc)| {
                    let label = render::kind_label(&execution, doc.as_ref());
                    (execution, label)
                })
                .collect();
            match to_stop(&running)? {
                ToStop::One(arn) => {
                    view.line(&format!(
                        "the one run running: {}",
                        render::short_name(&arn)
                    ));
                    arn
                }
                ToStop::Nothing(lines) => {
                    for line in lines {
                        view.line(&line);
                    }
                    return Ok(exit::OK);
                }
            }
        }
    };
    let before = aws.describe(&arn).await?;
    if before.status.is_running() {
        aws.stop(&arn, "stopped by an operator (makenaide stop)")
            .await?;
        view.line(&format!(
            "stopped {}: the cleanup rule starts a cleanup run",
            before.name
        ));
    } else {
        view.line(&format!(
            "{} had already ended {}",
            before.name,
            before.status.as_str()
        ));
    }
    let waited_since = std::time::Instant::now();
    // The stop shows in DescribeExecution at once on AWS; give a slower service a moment.
    let mut ended = aws.describe(&arn).await?;
    while ended.status.is_running() && waited_since.elapsed().as_secs() < wait {
        tokio::time::sleep(poll.max(Duration::from_millis(200))).await;
        ended = aws.describe(&arn).await?;
    }
    let cleanup = loop {
        if let Some(found) = cleanup_run_for(aws, target, &ended).await? {
            break Some(found);
        }
        // A run that cleaned up itself (FAILED) released its lease: nothing to wait for.
        if ended.status == Status::Failed
            || ended.status == Status::Succeeded
            || waited_since.elapsed().as_secs() >= wait
        {
            break None;
        }
        view.now(&format!(
            "waiting for the cleanup run of {} ({}s)",
            ended.name,
            waited_since.elapsed().as_secs()
        ));
        tokio::time::sleep(poll.max(Duration::from_millis(500))).await;
    };
    let doc_of_ended = document_of(aws, &ended).await?;
    let (record, finished) = match &cleanup {
        Some(run) => {
            view.line(&format!("cleanup run {}:", run.name));
            follow(aws, &run.arn, poll, view).await?;
            let run = aws.describe(&run.arn).await?;
            let doc = document_of(aws, &run).await?;
            (doc, Some(run))
        }
        None => (doc_of_ended.clone(), None),
    };
    for line in render::why(
        &ended,
        doc_of_ended.as_ref(),
        finished.as_ref().map(|run| (run, record.as_ref())),
    ) {
        view.line(&line);
    }
    let left = record
        .as_ref()
        .map(render::left_running)
        .unwrap_or_default();
    let cleaned = finished
        .as_ref()
        .is_some_and(|r| r.status == Status::Succeeded)
        || (cleanup.is_none() && matches!(ended.status, Status::Failed | Status::Succeeded));
    if cleanup.is_none() && matches!(ended.status, Status::Aborted | Status::TimedOut) {
        view.line(&format!(
            "no cleanup run started within {wait}s: is the cleanup rule on (guards.cleanupAfterEnd)? the hourly sweeper stops what is left"
        ));
        return Ok(exit::CLI_FAILED);
    }
    if !(cleaned && left.is_empty()) {
        return Ok(exit::RUN_FAILED);
    }
    // The stops are accepted; RDS and EC2 say how far they are.
    let now = match &record {
        Some(record) => resources_now(aws, record).await?,
        None => Vec::new(),
    };
    let (lines, at_rest) = render::after_stop(&now);
    for line in lines {
        view.line(&line);
    }
    Ok(if at_rest { exit::OK } else { exit::RUN_FAILED })
}

/// What RDS and EC2 say now of the DB and the workers a document names.
async fn resources_now<S: Resources>(
    aws: &S,
    document: &Value,
) -> Result<Vec<(String, String)>, CliError> {
    let db = document
        .pointer("/rdsStop/dbInstanceIdentifier")
        .or(document.pointer("/rds/dbInstanceIdentifier"))
        .and_then(Value::as_str);
    let mut workers: Vec<String> = document
        .pointer("/workersStop/instances")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("instanceId").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    if workers.is_empty() {
        workers = document
            .pointer("/workers/instanceIds")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect();
    }
    let mut now = Vec::new();
    if let Some(id) = db {
        let state = aws.db_status(id).await?;
        now.push((
            format!("DB {id}"),
            state.unwrap_or_else(|| "not found".into()),
        ));
    }
    for (id, state) in aws.worker_states(&workers).await? {
        now.push((
            format!("worker {id}"),
            state.unwrap_or_else(|| "not found".into()),
        ));
    }
    Ok(now)
}

pub async fn pause_resume<S: Schedules>(
    schedules: &S,
    target: &Target,
    enable: bool,
) -> Result<Vec<String>, CliError> {
    let name = target
        .schedule_name
        .as_deref()
        .ok_or(CliError::MissingOutput {
            stack: target
                .stack
                .clone()
                .unwrap_or_else(|| "(none: --state-machine-arn)".into()),
            output: "ScheduleName",
            why: "pause and resume need the stack (give --stack, not --state-machine-arn)",
        })?;
    let schedule = schedules.set_enabled(name, enable).await?;
    let mut lines = vec![format!(
        "schedule {} {}: {}{}",
        schedule.name,
        if schedule.enabled {
            "ENABLED"
        } else {
            "DISABLED"
        },
        schedule.expression,
        schedule
            .time_zone
            .as_deref()
            .map(|z| format!(" ({z})"))
            .unwrap_or_default()
    )];
    if schedule.enabled {
        lines.push(next_run_line(
            &schedule.expression,
            schedule.time_zone.as_deref(),
        ));
    } else {
        lines.push(
            "no scheduled run starts until `makenaide resume`; the hourly sweeper keeps running"
                .to_string(),
        );
    }
    Ok(lines)
}

fn next_run_line(expression: &str, zone: Option<&str>) -> String {
    match crate::schedule::next_run(expression, zone, jiff::Timestamp::now()) {
        Ok(Some(at)) => format!(
            "next run: {} ({} UTC)",
            at.strftime("%Y-%m-%d %H:%M %Z"),
            at.timestamp().strftime("%Y-%m-%d %H:%M")
        ),
        Ok(None) => {
            "next run: not computed for this expression (see the Scheduler console)".to_string()
        }
        Err(e) => format!("next run: not computed ({e})"),
    }
}

/// The worker ids the deploy substituted into `Begin workers`.
pub fn workers_in_definition(definition: &str) -> Vec<String> {
    let Ok(asl) = serde_json::from_str::<Value>(definition) else {
        return Vec::new();
    };
    let Some(split) = asl
        .pointer("/States/Begin workers/Parameters/instanceIds.$")
        .and_then(Value::as_str)
    else {
        return Vec::new();
    };
    split
        .split('\'')
        .nth(1)
        .map(|ids| {
            ids.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The executions `status` shows, each once, by the status
/// `DescribeExecution` gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Sorted<'a> {
    /// Running now, newest first.
    pub running: Vec<&'a (Execution, Option<Value>)>,
    /// The newest that ended, whatever its kind.
    pub latest: Option<&'a (Execution, Option<Value>)>,
    /// The newest ended plain run (not a dry run, skip, cleanup or sweep).
    pub latest_run: Option<&'a (Execution, Option<Value>)>,
}

/// Sorts the described executions for `status` (pure): one that ended since
/// it was listed as running is shown as ended, never as both.
pub fn sort_out(seen: &[(Execution, Option<Value>)]) -> Sorted<'_> {
    let mut newest_first: Vec<&(Execution, Option<Value>)> = seen.iter().collect();
    newest_first.sort_by_key(|(e, _)| std::cmp::Reverse(e.start));
    let (running, ended): (Vec<_>, Vec<_>) = newest_first
        .into_iter()
        .partition(|(e, _)| e.status.is_running());
    let kind = |(e, doc): &(Execution, Option<Value>)| {
        let input = e
            .input
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok());
        render::Kind::of(input.as_ref(), doc.as_ref())
    };
    Sorted {
        latest: ended.first().copied(),
        latest_run: ended.iter().copied().find(|e| kind(e) == render::Kind::Run),
        running,
    }
}

pub async fn status<S: StepFunctions + Schedules + Leases + Resources>(
    aws: &S,
    target: &Target,
) -> Result<Vec<String>, CliError> {
    let mut lines = vec![format!("state machine: {}", target.start_arn)];
    if let Some(name) = &target.schedule_name {
        let schedule = aws.get(name).await?;
        let state = if schedule.enabled {
            "ENABLED"
        } else {
            "DISABLED (paused)"
        };
        lines.push(format!(
            "schedule: {} {state}, {}",
            schedule.name, schedule.expression
        ));
        if schedule.enabled {
            lines.push(format!(
                "  {}",
                next_run_line(&schedule.expression, schedule.time_zone.as_deref())
            ));
        }
    }
    match &target.lease_table {
        Some(table) => match aws.lease(table).await? {
            Some(lease) => lines.push(format!(
                "lease: held by {} (mode {}, since {})",
                lease.held_by,
                lease.mode.as_deref().unwrap_or("?"),
                lease.start_time.as_deref().unwrap_or("?")
            )),
            None => lines.push("lease: free (no run holds it)".to_string()),
        },
        None => lines.push("lease: unknown (no LeaseTableName: give --stack)".to_string()),
    }
    // Two listings (the running ones may be older than the ten newest), then
    // one DescribeExecution each: every execution shows once, with the
    // status it has now, as running or as ended.
    let running_listed = aws.list(&target.state_machine_arn, true, 10).await?;
    let recent_listed = aws.list(&target.state_machine_arn, false, 10).await?;
    let mut arns: Vec<String> = recent_listed.iter().map(|l| l.arn.clone()).collect();
    arns.extend(
        running_listed
            .iter()
            .filter(|l| !arns.contains(&l.arn))
            .map(|l| l.arn.clone())
            .collect::<Vec<_>>(),
    );
    let seen = rows(aws, &arns).await?;
    let sorted = sort_out(&seen);
    if sorted.running.is_empty() {
        lines.push("running: none".to_string());
    }
    for (execution, doc) in &sorted.running {
        let page = aws.history(&execution.arn, None, true, 60).await?;
        let mut events = page.events;
        events.sort_by_key(|e| e.id);
        let t = timeline(&events);
        let step = t
            .steps
            .last()
            .map(|s| format!("{}: {}", s.phase.title(), s.current()))
            .unwrap_or_default();
        lines.push(format!(
            "running: {} since {} ({}) {step}",
            render::labelled(execution, doc.as_ref()),
            render::when(execution.start),
            render::duration(Timestamp::now().seconds_since(execution.start))
        ));
    }
    let ended_line = |label: &str, (execution, doc): &(Execution, Option<Value>)| {
        let row = render::history_row(execution, doc.as_ref());
        format!(
            "{label}: {} {} at {}{}",
            render::labelled(execution, doc.as_ref()),
            row.status,
            render::when(execution.start),
            row.outcome.map(|o| format!(", {o}")).unwrap_or_default()
        )
    };
    match (sorted.latest, sorted.latest_run) {
        (Some(latest), latest_run) => {
            lines.push(ended_line("latest", latest));
            if let Some(run) = latest_run.filter(|run| run.0.arn != latest.0.arn) {
                lines.push(ended_line("latest run", run));
            }
        }
        (None, _) if seen.is_empty() => lines.push("latest: no execution yet".to_string()),
        (None, _) => lines.push("latest: none ended yet".to_string()),
    }
    let db = seen.iter().find_map(|(_, doc)| {
        doc.as_ref().and_then(|d| {
            d.pointer("/rds/dbInstanceIdentifier")
                .or(d.pointer("/rdsStop/dbInstanceIdentifier"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
    });
    let workers = workers_in_definition(&aws.definition(&target.state_machine_arn).await?);
    let mut now = Vec::new();
    match &db {
        Some(id) => now.push(format!(
            "DB {id} {}",
            aws.db_status(id)
                .await?
                .unwrap_or_else(|| "not found".into())
        )),
        None => now.push("DB unknown (no recent execution named it)".to_string()),
    }
    for (id, state) in aws.worker_states(&workers).await? {
        now.push(format!(
            "worker {id} {}",
            state.unwrap_or_else(|| "not found".into())
        ));
    }
    lines.push(format!("now: {}", now.join("; ")));
    // Wrapped at word breaks, never cut: a name is whole (`why` takes it).
    Ok(lines.iter().flat_map(|l| render::wrap("", l, 2)).collect())
}

/// The documents of `listed` executions, a few at a time.
async fn rows<S: StepFunctions>(
    sfn: &S,
    arns: &[String],
) -> Result<Vec<(Execution, Option<Value>)>, CliError> {
    let mut out = Vec::new();
    for chunk in arns.chunks(8) {
        let fetched = join_all(chunk.iter().map(|arn| async move {
            let execution = sfn.describe(arn).await?;
            let doc = document_of(sfn, &execution).await?;
            Ok::<_, CliError>((execution, doc))
        }))
        .await;
        for item in fetched {
            out.push(item?);
        }
    }
    Ok(out)
}

pub async fn history<S: StepFunctions>(
    sfn: &S,
    target: &Target,
    limit: usize,
    json: bool,
) -> Result<Vec<String>, CliError> {
    let listed = sfn.list(&target.state_machine_arn, false, limit).await?;
    let arns: Vec<String> = listed.iter().map(|l| l.arn.clone()).collect();
    let rows: Vec<render::HistoryRow> = rows(sfn, &arns)
        .await?
        .iter()
        .map(|(execution, doc)| render::history_row(execution, doc.as_ref()))
        .collect();
    if json {
        return Ok(vec![
            serde_json::to_string_pretty(&rows).unwrap_or_default(),
        ]);
    }
    if rows.is_empty() {
        return Ok(vec!["no executions yet".to_string()]);
    }
    Ok(render::history_table(&rows))
}

/// `savings --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Savings {
    pub month: String,
    /// Where the count starts: the month's start, or the first priced run
    /// when there was none before the month (`since`).
    pub from: String,
    pub to: String,
    /// `monthStart`, `firstPricedRun`, or `noPricedRun` (nothing counted).
    pub since: Since,
    /// The UTC days counted, whole or in part (the entries of `perDay`).
    pub days: usize,
    /// The hours counted, from `from` to `to`.
    pub hours: f64,
    pub saved_usd: f64,
    pub runs: usize,
    pub run_cost_usd: f64,
    pub last_always_on_usd_per_hour: Option<f64>,
    pub per_day: Vec<DaySavings>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Since {
    MonthStart,
    FirstPricedRun,
    NoPricedRun,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaySavings {
    pub date: String,
    pub saved_usd: f64,
}

/// The first instant of a `YYYY-MM` month and of the next, UTC.
pub fn month_range(month: &str) -> Result<(Timestamp, Timestamp), CliError> {
    let bad = || CliError::Invalid(format!("--month {month}: expected YYYY-MM, e.g. 2026-12"));
    let (year, number) = month.split_once('-').ok_or_else(bad)?;
    let (year, number): (i16, i8) = (
        year.parse().map_err(|_| bad())?,
        number.parse().map_err(|_| bad())?,
    );
    let first = jiff::civil::Date::new(year, number, 1).map_err(|_| bad())?;
    let next = first
        .first_of_month()
        .checked_add(jiff::ToSpan::months(1))
        .map_err(|_| bad())?;
    let millis = |d: jiff::civil::Date| -> Result<Timestamp, CliError> {
        let at = d.to_zoned(jiff::tz::TimeZone::UTC).map_err(|_| bad())?;
        Ok(Timestamp::from_millis(at.timestamp().as_millisecond()))
    };
    Ok((millis(first)?, millis(next)?))
}

const DAY_MILLIS: i64 = 86_400_000;

/// A priced run: when its execution started, and what it published.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Priced {
    pub started: Timestamp,
    pub run: PublishedRun,
}

/// What the period saved against running the DB and workers all the time,
/// from the runs' published figures (pure): the always-on rate each run
/// published (`AlwaysOnUsdPerHour`), in force from that run until the next
/// one that published one, times the hours counted, minus the runs' cost
/// (`RunCostUsd`): the dashboard's `FILL(rate, REPEAT) * PERIOD / 3600 -
/// FILL(cost, 0)`, over the hours counted rather than whole days.
///
/// The count starts at the month's start when a priced run came before it
/// (`earlier`, whose rate is in force at the start), else when the month's
/// first priced run started: the days before the product ran saved
/// nothing. It ends at `to` (now, or the month's end). `runs`: the month's
/// priced runs.
pub fn savings_of(
    month: &str,
    month_start: Timestamp,
    to: Timestamp,
    runs: &[Priced],
    earlier: Option<&PublishedRun>,
) -> Savings {
    let mut priced: Vec<Priced> = runs
        .iter()
        .filter(|p| p.run.at >= month_start && p.run.at < to)
        .copied()
        .collect();
    priced.sort_by_key(|p| p.run.at);
    let runs: Vec<PublishedRun> = priced.iter().map(|p| p.run).collect();
    let first_started = priced.iter().map(|p| p.started.max(month_start)).min();
    let (from, since) = match (earlier, first_started) {
        (Some(_), _) => (month_start, Since::MonthStart),
        (None, Some(first)) => (first, Since::FirstPricedRun),
        (None, None) => (to, Since::NoPricedRun),
    };
    let rates: Vec<(Timestamp, f64)> = earlier
        .into_iter()
        .chain(&runs)
        .filter_map(|r| r.always_on_usd_per_hour.map(|rate| (r.at, rate)))
        .collect();
    // The rate in force at `t`: the latest published at or before it; while
    // the first priced run runs, the rate it publishes at its end.
    let rate_at = |t: Timestamp| -> f64 {
        rates
            .iter()
            .filter(|(at, _)| *at <= t)
            .max_by_key(|(at, _)| *at)
            .or_else(|| rates.iter().min_by_key(|(at, _)| *at))
            .map_or(0.0, |(_, rate)| *rate)
    };
    // The baseline of [start, end): the rate changes where a run published one.
    let baseline = |start: Timestamp, end: Timestamp| -> f64 {
        let mut cuts = vec![start];
        cuts.extend(
            rates
                .iter()
                .filter(|(at, _)| *at > start && *at < end)
                .map(|(at, _)| *at),
        );
        cuts.push(end);
        cuts.sort();
        cuts.windows(2)
            .map(|w| rate_at(w[0]) * w[1].seconds_since(w[0]) / 3600.0)
            .sum()
    };
    let mut per_day = Vec::new();
    if since != Since::NoPricedRun {
        let mut day = Timestamp::from_millis(from.as_millis().div_euclid(DAY_MILLIS) * DAY_MILLIS);
        while day < to {
            let next = Timestamp::from_millis(day.as_millis() + DAY_MILLIS);
            let (start, end) = (day.max(from), next.min(to));
            let cost: f64 = runs
                .iter()
                .filter(|r| r.at >= start && r.at < end)
                .map(|r| r.run_cost_usd)
                .sum();
            per_day.push(DaySavings {
                date: day.to_string()[..10].to_string(),
                saved_usd: baseline(start, end) - cost,
            });
            day = next;
        }
    }
    Savings {
        month: month.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        since,
        days: per_day.len(),
        hours: to.seconds_since(from).max(0.0) / 3600.0,
        saved_usd: per_day.iter().map(|d| d.saved_usd).sum::<f64>() + 0.0,
        runs: runs.len(),
        run_cost_usd: runs.iter().map(|r| r.run_cost_usd).sum::<f64>() + 0.0,
        last_always_on_usd_per_hour: rates
            .iter()
            .max_by_key(|(at, _)| *at)
            .map(|(_, rate)| *rate),
        per_day,
    }
}

/// The text of `savings` (pure).
pub fn savings_lines(savings: &Savings, now: Timestamp) -> Vec<String> {
    let at = |text: &str| {
        Timestamp::parse(text)
            .map(|t| render::when(t)[..16].to_string() + "Z")
            .unwrap_or_else(|| text.to_string())
    };
    let month = &savings.month;
    if savings.since == Since::NoPricedRun {
        return vec![
            format!(
                "{month}: saved {}: no priced run in {month} or before it",
                render::usd(0.0)
            ),
            "  savings count from the first run that published its cost (RunCostUsd)".to_string(),
        ];
    }
    let to_is_now = Timestamp::parse(&savings.to).is_some_and(|to| to >= now);
    let span = if savings.hours < 24.0 {
        render::duration(savings.hours * 3600.0)
    } else {
        format!("{:.1} days", savings.hours / 24.0)
    };
    let lines = [
        format!(
            "{month}: saved {} against running the DB and workers all the time",
            render::usd(savings.saved_usd)
        ),
        format!(
            "  counted from {} ({}) to {} ({}): {span}",
            at(&savings.from),
            match savings.since {
                Since::MonthStart => "start of month",
                _ => "first priced run",
            },
            at(&savings.to),
            if to_is_now { "now" } else { "end of month" }
        ),
        format!(
            "  {} priced run(s) cost {}; always-on rate {}/h (the latest a run published)",
            savings.runs,
            render::usd(savings.run_cost_usd),
            render::usd(savings.last_always_on_usd_per_hour.unwrap_or(0.0))
        ),
        "  computed: each run's always-on rate, until the next run's, x the hours counted - the runs' cost"
            .to_string(),
    ];
    lines.iter().map(|l| render::fit(l)).collect()
}

/// A run's published cost figures from its document (`$.metrics`).
pub fn published(execution: &Execution, document: Option<&Value>) -> Option<PublishedRun> {
    let metrics = document?.get("metrics")?;
    if metrics.get("publication").and_then(Value::as_str) != Some("run")
        || metrics.get("published").and_then(Value::as_bool) == Some(false)
    {
        return None;
    }
    Some(PublishedRun {
        at: execution.stop.unwrap_or(execution.start),
        run_cost_usd: metrics.pointer("/cost/totalUsd")?.as_f64()?,
        always_on_usd_per_hour: metrics
            .pointer("/cost/alwaysOnUsdPerHour")
            .and_then(Value::as_f64),
    })
}

/// How many executions before the month `savings` reads back, at most, to
/// find a priced run (the one that says the product ran before the month).
const EARLIER_LOOKBACK: usize = 40;

pub async fn savings<S: StepFunctions>(
    sfn: &S,
    target: &Target,
    month: Option<&str>,
    json: bool,
) -> Result<Vec<String>, CliError> {
    let now = Timestamp::now();
    let month = match month {
        Some(month) => month.to_string(),
        None => now.to_string()[..7].to_string(),
    };
    let (from, end) = month_range(&month)?;
    let to = end.min(now);
    if to <= from {
        return Err(CliError::Invalid(format!(
            "--month {month} has not started yet"
        )));
    }
    // Newest first: read back until the month's start (Step Functions keeps 90 days).
    let listed = sfn.list(&target.state_machine_arn, false, 5000).await?;
    let arns: Vec<String> = listed
        .iter()
        .filter(|l| l.start >= from && l.start < to && !l.status.is_running())
        .map(|l| l.arn.clone())
        .collect();
    let runs: Vec<Priced> = rows(sfn, &arns)
        .await?
        .iter()
        .filter_map(|(execution, doc)| {
            published(execution, doc.as_ref()).map(|run| Priced {
                started: execution.start,
                run,
            })
        })
        .collect();
    // The newest priced run before the month, if any: a few at a time.
    let before: Vec<String> = listed
        .iter()
        .filter(|l| l.start < from && !l.status.is_running())
        .take(EARLIER_LOOKBACK)
        .map(|l| l.arn.clone())
        .collect();
    let mut earlier = None;
    for chunk in before.chunks(8) {
        earlier = rows(sfn, chunk)
            .await?
            .iter()
            .filter_map(|(execution, doc)| published(execution, doc.as_ref()))
            .filter(|run| run.at < from)
            .max_by_key(|run| run.at);
        if earlier.is_some() {
            break;
        }
    }
    let savings = savings_of(&month, from, to, &runs, earlier.as_ref());
    if json {
        return Ok(vec![
            serde_json::to_string_pretty(&savings).unwrap_or_default(),
        ]);
    }
    Ok(savings_lines(&savings, now))
}

pub async fn why<S: StepFunctions + Resources>(
    aws: &S,
    target: &Target,
    execution: &str,
) -> Result<(Vec<String>, u8), CliError> {
    let arn = execution_arn(target, execution);
    let ended = aws.describe(&arn).await?;
    let doc = document_of(aws, &ended).await?;
    let cleanup = if matches!(ended.status, Status::Aborted | Status::TimedOut) {
        cleanup_run_for(aws, target, &ended).await?
    } else {
        None
    };
    let cleanup_doc = match &cleanup {
        Some(run) => document_of(aws, run).await?,
        None => None,
    };
    let mut lines = render::why(
        &ended,
        doc.as_ref(),
        cleanup.as_ref().map(|run| (run, cleanup_doc.as_ref())),
    );
    // What runs now, from EC2 and RDS.
    if !ended.status.is_running() && ended.status != Status::Succeeded {
        let db = doc.as_ref().and_then(|d| {
            d.pointer("/rds/dbInstanceIdentifier")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let workers: Vec<String> = doc
            .as_ref()
            .and_then(|d| d.pointer("/workers/instanceIds"))
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut now = Vec::new();
        if let Some(id) = &db {
            now.push(format!(
                "DB {id} {}",
                aws.db_status(id)
                    .await?
                    .unwrap_or_else(|| "not found".into())
            ));
        }
        for (id, state) in aws.worker_states(&workers).await? {
            now.push(format!(
                "worker {id} {}",
                state.unwrap_or_else(|| "not found".into())
            ));
        }
        if !now.is_empty() {
            lines.push(render::fit(&format!("  now: {}", now.join("; "))));
        }
    }
    Ok((lines, exit::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_the_stack_outputs() {
        let sm = "arn:aws:states:us-east-1:123456789012:stateMachine:makenaide";
        let mut outputs = HashMap::from([("StateMachineArn".to_string(), sm.to_string())]);
        let t = target_from_outputs("S", &outputs).unwrap();
        assert_eq!(
            (t.start_arn.as_str(), t.schedule_name.as_deref()),
            (sm, None)
        );
        assert_eq!(t.job_timeout_max, None);
        outputs.insert("LiveAliasArn".into(), format!("{sm}:live"));
        outputs.insert("ScheduleName".into(), "S-Schedule".into());
        outputs.insert(JOB_TIMEOUT_MAX_OUTPUT.into(), "7200".into());
        let t = target_from_outputs("S", &outputs).unwrap();
        assert_eq!(t.job_timeout_max, Some(7200));
        assert_eq!(t.start_arn, format!("{sm}:live"));
        assert_eq!(t.state_machine_arn, sm);
        assert_eq!(
            execution_arn(&t, "run-1"),
            "arn:aws:states:us-east-1:123456789012:execution:makenaide:run-1"
        );
        assert_eq!(execution_arn(&t, "arn:x"), "arn:x");
        assert!(matches!(
            target_from_outputs("S", &HashMap::new()),
            Err(CliError::MissingOutput { .. })
        ));
        assert_eq!(unqualified(&format!("{sm}:live")), sm);
    }

    #[test]
    fn run_input_adds_the_dry_run() {
        assert_eq!(
            run_input("{}", true, None).unwrap(),
            (r#"{"dryRun":true}"#.to_string(), true)
        );
        assert_eq!(
            run_input(r#"{"jobTimeoutSeconds":600}"#, false, Some(600)).unwrap(),
            (r#"{"jobTimeoutSeconds":600}"#.to_string(), false)
        );
        assert!(matches!(
            run_input("[1]", false, None),
            Err(CliError::Invalid(_))
        ));
        assert!(matches!(
            run_input("{", false, None),
            Err(CliError::Invalid(_))
        ));
    }

    #[test]
    fn run_input_refuses_what_the_workflow_would_refuse_before_anything_starts() {
        let refused = |input: &str, max: Option<u64>| match run_input(input, false, max) {
            Err(e @ CliError::Invalid(_)) => {
                assert_eq!(e.exit_code(), exit::USAGE);
                e.one_line()
            }
            other => panic!("{input}: {other:?}"),
        };
        assert_eq!(
            refused(r#"{"jobTimeoutSeconds": -5}"#, Some(10_800)),
            "--input refused, nothing started: execution input field `jobTimeoutSeconds` must be a whole number of seconds from 60 to 10800"
        );
        // The deployed bound, from the stack's output.
        assert!(refused(r#"{"jobTimeoutSeconds": 301}"#, Some(300)).contains("from 60 to 300"));
        assert!(run_input(r#"{"jobTimeoutSeconds": 301}"#, false, None).is_ok());
        assert!(refused(r#"{"dryRun": "yes"}"#, None).contains("`dryRun` must be true or false"));
        let typo = refused(r#"{"dryrun": true}"#, None);
        assert!(
            typo.ends_with(
                "`dryrun` is not accepted; fields an operator may set: dryRun, jobTimeoutSeconds"
            ) && !typo.contains("cleanupAfter"),
            "{typo}"
        );
        assert!(
            refused(r#"{"sweep": "scheduled"}"#, None)
                .contains("`sweep` is set only by the stack's own rules")
        );
        // --dry-run wins over the input's own dryRun.
        assert!(run_input(r#"{"dryRun": false}"#, true, None).unwrap().1);
    }

    fn listed(name: &str, seconds: i64, status: Status, input: &str) -> (Execution, Option<Value>) {
        (
            Execution {
                arn: format!("arn:aws:states:us-east-1:123456789012:execution:m:{name}"),
                name: name.into(),
                status,
                start: Timestamp::from_millis(seconds * 1000),
                stop: None,
                input: Some(input.into()),
                output: None,
                error: None,
                cause: None,
                alias_arn: None,
                version_arn: None,
            },
            None,
        )
    }

    #[test]
    fn status_shows_each_execution_once() {
        let cleanup = r#"{"cleanupAfter": "arn:aws:states:us-east-1:123456789012:execution:m:run-2", "endedWith": "ABORTED"}"#;
        let seen = vec![
            listed("cleanup-1", 30, Status::Succeeded, cleanup),
            listed("run-2", 20, Status::Aborted, "{}"),
            listed("run-1", 10, Status::Succeeded, "{}"),
            // Listed as running, then described as ended: ended only.
            listed("dry-1", 25, Status::Succeeded, r#"{"dryRun": true}"#),
            listed("run-3", 40, Status::Running, "{}"),
        ];
        let sorted = sort_out(&seen);
        let names = |v: &[&(Execution, Option<Value>)]| -> Vec<String> {
            v.iter().map(|(e, _)| e.name.clone()).collect()
        };
        assert_eq!(names(&sorted.running), ["run-3"]);
        assert_eq!(sorted.latest.unwrap().0.name, "cleanup-1");
        assert_eq!(sorted.latest_run.unwrap().0.name, "run-2");
        let (latest, doc) = sorted.latest.unwrap();
        assert_eq!(
            render::labelled(latest, doc.as_ref()),
            "cleanup-1 (cleanup run of run-2)"
        );
        // The newest running one is never the latest.
        let only_running = vec![listed("run-3", 40, Status::Running, "{}")];
        let sorted = sort_out(&only_running);
        assert_eq!((sorted.running.len(), sorted.latest), (1, None));
    }

    #[test]
    fn stop_without_a_name_stops_the_one_run_running() {
        let run = listed("run-1", 10, Status::Running, "{}");
        let dry = listed("dry-1", 20, Status::Running, r#"{"dryRun": true}"#);
        let sweep = listed("sweep-1", 30, Status::Running, r#"{"sweep": "scheduled"}"#);
        let with = |v: &[&(Execution, Option<Value>)]| -> Vec<(Execution, Option<String>)> {
            v.iter()
                .map(|(e, _)| (e.clone(), render::kind_label(e, None)))
                .collect()
        };
        assert_eq!(
            to_stop(&with(&[&run, &sweep])).unwrap(),
            ToStop::One(run.0.arn.clone())
        );
        match to_stop(&with(&[&sweep])).unwrap() {
            ToStop::Nothing(lines) => {
                assert_eq!(lines[0], "nothing to stop: no run is running");
                assert!(lines[1].contains("sweep-1 (sweep) since "), "{lines:?}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            to_stop(&[]).unwrap(),
            ToStop::Nothing(vec!["nothing to stop: no run is running".into()])
        );
        let several = to_stop(&with(&[&run, &dry])).unwrap_err();
        assert_eq!(several.exit_code(), exit::USAGE);
        let text = several.one_line();
        assert!(
            text.starts_with(
                "2 runs are running, name the one to stop (makenaide stop <name>): run-1 since "
            ) && text.contains("dry-1 (dry run) since "),
            "{text}"
        );
    }

    #[test]
    fn workers_come_from_the_deployed_definition() {
        let asl = r#"{"States": {"Begin workers": {"Parameters": {"instanceIds.$": "States.StringSplit('i-0123456789abcdef0,i-0123456789abcdef1', ',')"}}}}"#;
        assert_eq!(
            workers_in_definition(asl),
            ["i-0123456789abcdef0", "i-0123456789abcdef1"]
        );
        assert!(workers_in_definition("{}").is_empty());
    }

    #[test]
    fn savings_count_from_the_first_priced_run_to_now() {
        let (from, to) = month_range("2026-02").unwrap();
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("2026-02-01T00:00:00Z".into(), "2026-03-01T00:00:00Z".into())
        );
        assert!(month_range("2026-13").is_err() && month_range("feb").is_err());
        let hour = |h: u64| from.plus_seconds(h * 3600);
        // A run that ended at hour `h` (and took no time).
        let run = |h: u64, cost: f64| Priced {
            started: hour(h),
            run: PublishedRun {
                at: hour(h),
                run_cost_usd: cost,
                always_on_usd_per_hour: Some(0.1),
            },
        };
        // The first priced run on day 14 at 12:00, the month over: the
        // days before it saved nothing.
        let first = 13 * 24 + 12;
        let s = savings_of(
            "2026-02",
            from,
            to,
            &[run(first, 0.1), run(first, 0.2)],
            None,
        );
        assert_eq!(s.since, Since::FirstPricedRun);
        assert_eq!(s.from, "2026-02-14T12:00:00Z");
        assert_eq!((s.days, s.per_day[0].date.as_str()), (15, "2026-02-14"));
        let hours = (28 * 24 - first) as f64;
        assert!((s.hours - hours).abs() < 1e-9);
        assert!(
            (s.saved_usd - (hours * 0.1 - 0.3)).abs() < 1e-9,
            "{}",
            s.saved_usd
        );
        // The first day counts from the run, not from midnight.
        assert!((s.per_day[0].saved_usd - (12.0 * 0.1 - 0.3)).abs() < 1e-9);
        // Up to now: an hour after the run, an hour of savings, not a day.
        let s = savings_of("2026-02", from, hour(first + 1), &[run(first, 0.05)], None);
        assert_eq!(s.days, 1);
        assert!((s.saved_usd - (0.1 - 0.05)).abs() < 1e-9, "{}", s.saved_usd);
        // From the start of the first run (its rate while it ran).
        let long = Priced {
            started: hour(first - 2),
            ..run(first, 0.05)
        };
        let s = savings_of("2026-02", from, hour(first + 1), &[long], None);
        assert_eq!(s.from, "2026-02-14T10:00:00Z");
        assert!((s.saved_usd - (0.3 - 0.05)).abs() < 1e-9, "{}", s.saved_usd);
        // A priced run before the month: from the month's start, at its rate.
        let earlier = PublishedRun {
            at: Timestamp::from_millis(from.as_millis() - DAY_MILLIS),
            run_cost_usd: 0.5,
            always_on_usd_per_hour: Some(0.2),
        };
        let s = savings_of("2026-02", from, hour(48), &[run(24, 0.0)], Some(&earlier));
        assert_eq!(
            (s.since, s.from.as_str()),
            (Since::MonthStart, "2026-02-01T00:00:00Z")
        );
        // 24 h at the earlier rate, 24 h at the month's run's.
        assert!(
            (s.saved_usd - (24.0 * 0.2 + 24.0 * 0.1)).abs() < 1e-9,
            "{}",
            s.saved_usd
        );
        assert_eq!(s.runs, 1);
        // No priced run at all: nothing, and no negative zero.
        let s = savings_of("2026-02", from, to, &[], None);
        assert_eq!((s.since, s.days, s.saved_usd), (Since::NoPricedRun, 0, 0.0));
        assert!(s.run_cost_usd.is_sign_positive());
        let lines = savings_lines(&s, to);
        assert_eq!(
            lines[0],
            "2026-02: saved $0.0000: no priced run in 2026-02 or before it"
        );
    }

    #[test]
    fn savings_say_how_and_from_when() {
        let (from, to) = month_range("2026-12").unwrap();
        let at = from.plus_seconds(3600 * 18);
        let run = Priced {
            started: at,
            run: PublishedRun {
                at,
                run_cost_usd: 0.0051,
                always_on_usd_per_hour: Some(0.0596),
            },
        };
        let now = at.plus_seconds(600);
        let lines = savings_lines(&savings_of("2026-12", from, now, &[run], None), now);
        assert_eq!(
            lines[0],
            "2026-12: saved $0.0048 against running the DB and workers all the time"
        );
        assert_eq!(
            lines[1],
            "  counted from 2026-12-01 18:00Z (first priced run) to 2026-12-01 18:10Z (now): 10m00s"
        );
        assert!(lines[2].starts_with("  1 priced run(s) cost $0.0051; always-on rate $0.0596/h"));
        assert!(lines[3].starts_with("  computed: "));
        let noon = Priced {
            started: from.plus_seconds(3600 * 12),
            run: PublishedRun {
                at: from.plus_seconds(3600 * 12),
                ..run.run
            },
        };
        let month = savings_lines(
            &savings_of("2026-12", from, to, &[noon], None),
            to.plus_seconds(1),
        );
        assert_eq!(
            month[1],
            "  counted from 2026-12-01 12:00Z (first priced run) to 2027-01-01 00:00Z (end of month): 30.5 days"
        );
    }

    #[test]
    fn only_published_runs_count() {
        use crate::history::tests::recorded;
        let run = recorded("happy_path");
        let output = run.describe["output"].as_str().unwrap();
        let doc: Value = serde_json::from_str(output).unwrap();
        let ex = Execution {
            arn: "a".into(),
            name: "n".into(),
            status: Status::Succeeded,
            start: Timestamp::from_millis(0),
            stop: Some(Timestamp::from_millis(10_000)),
            input: None,
            output: None,
            error: None,
            cause: None,
            alias_arn: None,
            version_arn: None,
        };
        let published_run = published(&ex, Some(&doc)).unwrap();
        assert_eq!(
            published_run.run_cost_usd,
            doc["metrics"]["cost"]["totalUsd"].as_f64().unwrap()
        );
        assert_eq!(published_run.at, Timestamp::from_millis(10_000));
        let dry = recorded("dry_run");
        let dry: Value = serde_json::from_str(dry.describe["output"].as_str().unwrap()).unwrap();
        assert_eq!(published(&ex, Some(&dry)), None);
    }
}
