//! The commands, over the ports. Decisions and text come from the pure
//! modules (`history`, `render`, `schedule`); this module asks AWS and
//! prints.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;
use makenaide_core::Timestamp;
use makenaide_core::cost::{PublishedRun, savings_per_period};
use serde::Serialize;
use serde_json::Value;

use crate::error::{CliError, exit};
use crate::follow::{View, follow};
use crate::history::{Status, last_document, timeline};
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
}

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

/// The execution input of `run`: `--input` with `dryRun` added for `--dry-run`.
pub fn run_input(input: &str, dry_run: bool) -> Result<String, CliError> {
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
    Ok(value.to_string())
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

#[allow(clippy::too_many_arguments)] // the command line's own arguments, one each
pub async fn run<S: StepFunctions>(
    sfn: &S,
    target: &Target,
    input: &str,
    name: Option<&str>,
    dry_run: bool,
    follow_it: bool,
    poll: Duration,
    view: &mut dyn View,
) -> Result<u8, CliError> {
    let input = run_input(input, dry_run)?;
    let arn = sfn.start(&target.start_arn, name, &input).await?;
    let short = arn.rsplit(':').next().unwrap_or(&arn);
    view.line(&render::fit(&format!(
        "started {short} on {}",
        target.start_arn
    )));
    if !follow_it {
        view.line(&format!("follow it: makenaide follow {short}"));
        return Ok(exit::OK);
    }
    follow_to_end(sfn, &arn, poll, view).await
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

pub async fn stop<S: StepFunctions + Resources>(
    aws: &S,
    target: &Target,
    execution: &str,
    wait: u64,
    poll: Duration,
    view: &mut dyn View,
) -> Result<u8, CliError> {
    let arn = execution_arn(target, execution);
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
    if cleaned && left.is_empty() {
        view.line("everything the run started is stopped");
        Ok(exit::OK)
    } else {
        Ok(exit::RUN_FAILED)
    }
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
    let running = aws.list(&target.state_machine_arn, true, 10).await?;
    if running.is_empty() {
        lines.push("running: none".to_string());
    }
    for listed in &running {
        let page = aws.history(&listed.arn, None, true, 60).await?;
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
            listed.name,
            render::when(listed.start),
            render::duration(Timestamp::now().seconds_since(listed.start))
        ));
    }
    let recent = aws.list(&target.state_machine_arn, false, 10).await?;
    let mut db = None;
    let mut run_shown = false;
    for (index, listed) in recent.iter().enumerate() {
        let execution = aws.describe(&listed.arn).await?;
        let doc = document_of(aws, &execution).await?;
        let input = execution
            .input
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok());
        let kind = render::Kind::of(input.as_ref(), doc.as_ref());
        let first_run = kind == render::Kind::Run && !execution.status.is_running() && !run_shown;
        if index == 0 || first_run {
            run_shown |= first_run;
            let row = render::history_row(&execution, doc.as_ref());
            lines.push(format!(
                "{}: {} {} at {}{}",
                if index == 0 { "latest" } else { "latest run" },
                row.name,
                row.status,
                render::when(execution.start),
                row.outcome.map(|o| format!(", {o}")).unwrap_or_default()
            ));
        }
        if db.is_none() {
            db = doc.as_ref().and_then(|d| {
                d.pointer("/rds/dbInstanceIdentifier")
                    .or(d.pointer("/rdsStop/dbInstanceIdentifier"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        }
    }
    if recent.is_empty() {
        lines.push("latest: no execution yet".to_string());
    }
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
    Ok(lines.iter().map(|l| render::fit(l)).collect())
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
    pub from: String,
    pub to: String,
    pub days: usize,
    pub saved_usd: f64,
    pub runs: usize,
    pub run_cost_usd: f64,
    pub last_always_on_usd_per_hour: Option<f64>,
    pub per_day: Vec<DaySavings>,
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

/// The savings of a period from the runs' published figures, as the
/// dashboard computes them (`makenaide_core::cost::savings_per_period`).
pub fn savings_of(month: &str, from: Timestamp, to: Timestamp, runs: &[PublishedRun]) -> Savings {
    const DAY: u64 = 86_400;
    let days = (to.seconds_since(from) / DAY as f64).ceil().max(0.0) as usize;
    let per_day = savings_per_period(runs, from, DAY, days);
    Savings {
        month: month.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        days,
        saved_usd: per_day.iter().sum(),
        runs: runs.len(),
        run_cost_usd: runs.iter().map(|r| r.run_cost_usd).sum(),
        last_always_on_usd_per_hour: runs
            .iter()
            .filter_map(|r| r.always_on_usd_per_hour)
            .next_back(),
        per_day: per_day
            .iter()
            .enumerate()
            .map(|(i, saved)| DaySavings {
                date: from.plus_seconds(i as u64 * DAY).to_string()[..10].to_string(),
                saved_usd: *saved,
            })
            .collect(),
    }
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
    let mut runs: Vec<PublishedRun> = rows(sfn, &arns)
        .await?
        .iter()
        .filter_map(|(execution, doc)| published(execution, doc.as_ref()))
        .collect();
    runs.sort_by_key(|r| r.at);
    let savings = savings_of(&month, from, to, &runs);
    if json {
        return Ok(vec![
            serde_json::to_string_pretty(&savings).unwrap_or_default(),
        ]);
    }
    let mut lines = vec![format!(
        "{month}: saved {} over {} day(s) against running the DB and workers all the time",
        render::usd(savings.saved_usd),
        savings.days
    )];
    lines.push(format!(
        "  {} priced run(s) cost {}; always-on rate {}",
        savings.runs,
        render::usd(savings.run_cost_usd),
        savings
            .last_always_on_usd_per_hour
            .map(|r| format!("{}/h", render::usd(r)))
            .unwrap_or_else(|| "unknown (no priced run)".into())
    ));
    lines.push("  as the dashboard computes it: FILL(rate, REPEAT) * PERIOD / 3600 - FILL(cost, 0), per day".to_string());
    Ok(lines)
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
        outputs.insert("LiveAliasArn".into(), format!("{sm}:live"));
        outputs.insert("ScheduleName".into(), "S-Schedule".into());
        let t = target_from_outputs("S", &outputs).unwrap();
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
        assert_eq!(run_input("{}", true).unwrap(), r#"{"dryRun":true}"#);
        assert_eq!(
            run_input(r#"{"jobTimeoutSeconds":600}"#, false).unwrap(),
            r#"{"jobTimeoutSeconds":600}"#
        );
        assert!(matches!(run_input("[1]", false), Err(CliError::Invalid(_))));
        assert!(matches!(run_input("{", false), Err(CliError::Invalid(_))));
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
    fn a_month_of_savings_counts_the_always_on_baseline_once_a_day() {
        let (from, to) = month_range("2026-02").unwrap();
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("2026-02-01T00:00:00Z".into(), "2026-03-01T00:00:00Z".into())
        );
        assert!(month_range("2026-13").is_err() && month_range("feb").is_err());
        let run = |day: u64, cost: f64| PublishedRun {
            at: from.plus_seconds(day * 86_400 + 3_600),
            run_cost_usd: cost,
            always_on_usd_per_hour: Some(0.1),
        };
        // Two runs on day 0, none after: 28 days at 2.4 a day, minus 0.3.
        let s = savings_of("2026-02", from, to, &[run(0, 0.1), run(0, 0.2)]);
        assert_eq!(s.days, 28);
        assert!(
            (s.saved_usd - (28.0 * 2.4 - 0.3)).abs() < 1e-9,
            "{}",
            s.saved_usd
        );
        assert_eq!(s.per_day[1].date, "2026-02-02");
        assert_eq!(s.runs, 2);
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
