//! Pure rendering: run summaries, the history table, `why`, money and
//! durations. Human output fits [`WIDTH`] columns, but for whole execution
//! names (the history table's last column; other lines wrap at word
//! breaks): a name is never cut, `why` and `follow` take it. `--json`
//! shapes are the serde structs here (docs/operating.md).

use makenaide_core::Timestamp;
use makenaide_core::error::execution_error_meaning;
use serde::Serialize;
use serde_json::Value;

use crate::error::exit;
use crate::history::{Status, Timeline, readable_cause};
use crate::ports::Execution;

/// Human output is at most this wide.
pub const WIDTH: usize = 100;

/// Dollars: four decimals below one dollar (a run costs fractions of a
/// cent); the sign before the `$`, and never a negative zero (`$-0.0000`:
/// a sum of nothing is -0.0 in Rust).
pub fn usd(value: f64) -> String {
    let text = if value.abs() < 1.0 {
        format!("{:.4}", value.abs())
    } else {
        format!("{:.2}", value.abs())
    };
    let zero = text.chars().all(|c| c == '0' || c == '.');
    if value.is_sign_negative() && !zero {
        format!("-${text}")
    } else {
        format!("${text}")
    }
}

/// `3.1s`, `3m12s`, `1h02m`.
pub fn duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h{:02}m", whole / 3600, (whole % 3600) / 60)
    }
}

/// Cuts a line to [`WIDTH`] characters (`...` at the end when cut).
pub fn fit(line: &str) -> String {
    cut(line, WIDTH)
}

/// `text` cut to at most `max` characters (`...` at the end when cut).
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(3)).collect();
    cut.push_str("...");
    cut
}

/// `first` then `text`, wrapped at word breaks to [`WIDTH`] columns; the
/// lines after the first are indented by `indent` spaces.
pub fn wrap(first: &str, text: &str, indent: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut fresh = first.is_empty() || first.ends_with(' ');
    for word in text.split(' ') {
        if !fresh && line.chars().count() + 1 + word.chars().count() > WIDTH {
            lines.push(line);
            line = " ".repeat(indent);
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    lines.push(line);
    lines.into_iter().map(|l| fit(&l)).collect()
}

/// `2026-12-01 15:55:33Z`.
pub fn when(at: Timestamp) -> String {
    let text = at.to_string();
    format!("{} {}Z", &text[..10], &text[11..19])
}

/// One line of a live transcript: seconds since the start, the step, a note.
pub fn note_line(offset: f64, title: &str, text: &str) -> String {
    fit(&format!("[{offset:>7.1}s] {title:<16} {text}"))
}

/// What an execution was for, from its input and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Run,
    DryRun,
    Skipped,
    CleanupRun,
    Sweep,
}

impl Kind {
    pub fn of(input: Option<&Value>, document: Option<&Value>) -> Self {
        let has = |value: Option<&Value>, key: &str| value.and_then(|v| v.get(key)).is_some();
        if has(input, "cleanupAfter") {
            Self::CleanupRun
        } else if has(input, "sweep") {
            Self::Sweep
        } else if has(document, "skipped") {
            Self::Skipped
        } else if input
            .and_then(|v| v.get("dryRun"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            Self::DryRun
        } else {
            Self::Run
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Run => "run",
            Self::DryRun => "dry run",
            Self::Skipped => "skipped",
            Self::CleanupRun => "cleanup",
            Self::Sweep => "sweep",
        }
    }
}

/// The execution a cleanup run cleaned up after (its input's `cleanupAfter`).
pub fn cleanup_after(execution: &Execution) -> Option<String> {
    let input = execution
        .input
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok())?;
    input
        .get("cleanupAfter")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The name of an execution from its ARN (its last part).
pub fn short_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// What `status` says an execution is, beside its name, for anything but a
/// plain run: `cleanup run of <name>`, `sweep`, `skipped`, `dry run`.
pub fn kind_label(execution: &Execution, document: Option<&Value>) -> Option<String> {
    let input = execution
        .input
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok());
    match Kind::of(input.as_ref(), document) {
        Kind::Run => None,
        Kind::CleanupRun => Some(match cleanup_after(execution) {
            Some(arn) => format!("cleanup run of {}", short_name(&arn)),
            None => "cleanup run".to_string(),
        }),
        kind => Some(kind.as_str().to_string()),
    }
}

/// `name`, or `name (label)`.
pub fn labelled(execution: &Execution, document: Option<&Value>) -> String {
    match kind_label(execution, document) {
        Some(label) => format!("{} ({label})", execution.name),
        None => execution.name.clone(),
    }
}

/// A warning when an execution was not started through an alias: it runs
/// what it was started on (the state machine's latest definition, or one
/// version), outside the rollout the live alias does.
pub fn bypass_warning(execution: &Execution) -> Option<String> {
    if execution.alias_arn.is_some() {
        return None;
    }
    let what = match &execution.version_arn {
        Some(version) => format!("version {} directly", short_name(version)),
        None => "the state machine itself (its latest definition)".to_string(),
    };
    Some(format!(
        "{} was started on {what}, not on the live alias: it bypasses the rollout (start on the alias: --stack, or --state-machine-arn <arn>:live)",
        execution.name
    ))
}

/// `run` when another execution holds the run lease: what a run started now
/// would meet (the workflow skips it), and where to look. `holder`: the
/// holder as `DescribeExecution` shows it, when it still exists.
pub fn lease_held(lease: &crate::ports::Lease, holder: Option<&Execution>) -> Vec<String> {
    let name = if lease.held_by.is_empty() {
        short_name(&lease.execution_arn).to_string()
    } else {
        lease.held_by.clone()
    };
    let mode = match lease.mode.as_deref() {
        Some("run") | None => String::new(),
        Some(mode) => format!(", mode {mode}"),
    };
    let running =
        holder.is_some_and(|h| matches!(h.status, Status::Running | Status::PendingRedrive));
    let lines = if running {
        let since = holder.map(|h| when(h.start)).unwrap_or_default();
        vec![
            format!(
                "not started: {name} holds the run lease (running since {since}{mode}); a run started now would be skipped (RunInProgress)"
            ),
            format!("follow it: makenaide follow {name}"),
        ]
    } else {
        let ended = holder
            .map(|h| format!("ended {}", h.status.as_str()))
            .unwrap_or_else(|| "no longer exists".to_string());
        vec![
            format!(
                "not started: the run lease is still held by {name}, which {ended}{mode}; a run started now would be skipped (CleanupPending)"
            ),
            "its cleanup run releases the lease: makenaide status shows it".to_string(),
        ]
    };
    lines.iter().flat_map(|l| wrap("", l, 2)).collect()
}

/// The exit code of `run --follow` / `follow` for an ended execution.
pub fn exit_code(status: &Status, document: Option<&Value>) -> u8 {
    match status {
        Status::Succeeded if document.and_then(|d| d.get("skipped")).is_some() => exit::SKIPPED,
        Status::Succeeded => exit::OK,
        Status::Running => exit::OK,
        _ => exit::RUN_FAILED,
    }
}

/// The execution's state document: its output, or for an execution that
/// ended without one, the last document its history shows.
pub fn document(execution: &Execution, from_history: Option<Value>) -> Option<Value> {
    execution
        .output
        .as_deref()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .filter(crate::history::is_document)
        .or(from_history)
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn f64_at(value: &Value, pointer: &str) -> Option<f64> {
    value.pointer(pointer).and_then(Value::as_f64)
}

/// What the run's stops left running, and why, from its document: the
/// workers and DB a stop left (`leftRunning`, `notYet`, `cannotStop`) and
/// every failed cleanup step. Empty: nothing.
pub fn left_running(document: &Value) -> Vec<String> {
    let mut left = Vec::new();
    let stops = document.get("workersStop").and_then(|s| s.get("instances"));
    for worker in stops.and_then(Value::as_array).into_iter().flatten() {
        let id = str_at(worker, "/instanceId").unwrap_or("?");
        match str_at(worker, "/action") {
            Some("leftRunning") => left.push(format!(
                "worker {id}: left running (found running, leave-as-found)"
            )),
            Some("notYet") => left.push(format!(
                "worker {id}: still pending, its stop had not happened yet"
            )),
            _ => {}
        }
    }
    let db = str_at(document, "/rdsStop/dbInstanceIdentifier")
        .or(str_at(document, "/rds/dbInstanceIdentifier"))
        .unwrap_or("the DB");
    match str_at(document, "/rdsStop/action") {
        Some("leftRunning") => left.push(format!(
            "DB {db}: left running (found running, leave-as-found)"
        )),
        Some("notYet") => left.push(format!("DB {db}: RDS refused the stop for now")),
        Some("cannotStop") => {
            let status = str_at(document, "/rdsStop/statusBefore").unwrap_or("?");
            left.push(format!("DB {db}: cannot be stopped ({status})"))
        }
        _ => {}
    }
    if let Some(errors) = document.get("cleanupErrors").and_then(Value::as_object) {
        for (step, failure) in errors {
            let error = str_at(failure, "/Error").unwrap_or("an error");
            let what = if step == "stopWorkers" {
                "the workers' stop"
            } else {
                "the DB's stop"
            };
            left.push(format!(
                "{what} failed ({error}): what it did not stop is still running"
            ));
        }
    }
    left
}

/// The lines that end `run --follow` / `follow`.
pub fn summary(
    execution: &Execution,
    timeline: &Timeline,
    document: Option<&Value>,
) -> Vec<String> {
    let mut lines = Vec::new();
    let end = execution.stop.or(timeline.end.as_ref().map(|e| e.at));
    let took = end.map(|at| duration(at.seconds_since(execution.start)));
    let input = execution
        .input
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok());
    let kind = Kind::of(input.as_ref(), document);
    let status = execution.status.as_str();
    let mut head = format!("{} {status}", execution.name);
    if let Some(took) = took {
        head.push_str(&format!(" in {took}"));
    }
    if kind != Kind::Run {
        head.push_str(&format!(" ({})", kind.as_str()));
    }
    if let Some(error) = &execution.error {
        head.push_str(&format!(": {error}"));
    }
    lines.push(head);
    if let Some(skipped) = document.and_then(|d| d.get("skipped")) {
        let reason = str_at(skipped, "/reason").unwrap_or("?");
        let holder = str_at(skipped, "/heldBy").unwrap_or("another execution");
        lines.push(format!(
            "  skipped ({reason}): the run lease is held by {holder}; nothing was touched"
        ));
        return lines.into_iter().map(|l| fit(&l)).collect();
    }
    if let Some(error) = &execution.error {
        lines.extend(wrap("  ", execution_error_meaning(error), 2));
        if let Some(cause) = &execution.cause {
            let cause = readable_cause(cause);
            let mut cause_lines = cause.lines();
            if let Some(first) = cause_lines.next() {
                lines.extend(wrap("  cause:", first, 4));
            }
            for line in cause_lines.take(8) {
                lines.extend(wrap("    ", line, 6));
            }
        }
    }
    let steps: Vec<String> = timeline
        .steps
        .iter()
        .filter_map(|s| {
            s.ended.map(|e| {
                format!(
                    "{} {}",
                    s.phase.title(),
                    duration(e.seconds_since(s.started))
                )
            })
        })
        .collect();
    if !steps.is_empty() {
        lines.extend(wrap("  steps:", &steps.join(", "), 4));
    }
    if let Some(metrics) = document.and_then(|d| d.get("metrics")) {
        let mut parts = Vec::new();
        if let Some(s) = f64_at(metrics, "/durations/rdsReadySeconds") {
            parts.push(format!("DB ready in {}", duration(s)));
        }
        if let Some(s) = f64_at(metrics, "/durations/ec2ReadySeconds") {
            parts.push(format!("workers in {}", duration(s)));
        }
        if let Some(s) = f64_at(metrics, "/durations/jobSeconds") {
            let outcome = str_at(metrics, "/jobOutcome").unwrap_or("");
            parts.push(
                format!("job {} {outcome}", duration(s))
                    .trim_end()
                    .to_string(),
            );
        }
        if !parts.is_empty() {
            lines.push(format!("  {}", parts.join(", ")));
        }
        match (
            f64_at(metrics, "/cost/totalUsd"),
            f64_at(metrics, "/cost/resourcesUsd"),
            f64_at(metrics, "/cost/orchestratorUsd"),
        ) {
            (Some(total), Some(resources), Some(orchestrator)) => lines.push(format!(
                "  cost {} (resources {}, orchestrator {})",
                usd(total),
                usd(resources),
                usd(orchestrator)
            )),
            _ if kind == Kind::Run => {
                lines.push("  cost: not priced (see `unpriced` in the run's metrics)".to_string())
            }
            _ => {}
        }
    }
    if let Some(document) = document
        && !execution.status.is_running()
        && execution.status != Status::Succeeded
    {
        let left = left_running(document);
        if left.is_empty() {
            if document.get("workersStop").is_some() || document.get("rdsStop").is_some() {
                lines.push("  cleanup: complete, nothing left running".to_string());
            }
        } else {
            lines.push("  still running:".to_string());
            lines.extend(left.into_iter().map(|l| format!("    {l}")));
        }
    }
    lines.into_iter().map(|l| fit(&l)).collect()
}

/// States that mean a resource is not running (or no longer exists).
const AT_REST: [&str; 4] = ["stopped", "terminated", "deleted", "not found"];

/// `stop`'s last line, from what RDS and EC2 say now of what the run
/// started (`("DB makenaide-db", "stopping")`, ...), once the cleanup left
/// nothing running by policy; with whether all is at rest or stopping.
pub fn after_stop(now: &[(String, String)]) -> (Vec<String>, bool) {
    let listed = |all: &[&(String, String)]| {
        all.iter()
            .map(|(what, state)| format!("{what} {state}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let all: Vec<&(String, String)> = now.iter().collect();
    let awake: Vec<&(String, String)> = now
        .iter()
        .filter(|(_, state)| !AT_REST.contains(&state.as_str()) && state != "stopping")
        .collect();
    let (line, at_rest) = if now
        .iter()
        .all(|(_, state)| AT_REST.contains(&state.as_str()))
    {
        ("everything the run started is stopped".to_string(), true)
    } else if awake.is_empty() {
        (
            format!(
                "every stop is accepted; everything the run started is stopped or stopping (now: {})",
                listed(&all)
            ),
            true,
        )
    } else {
        (
            format!(
                "every stop was accepted, but this runs now: {}",
                listed(&awake)
            ),
            false,
        )
    };
    (wrap("", &line, 2), at_rest)
}

/// One row of `history` (`--json`: an array of these).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRow {
    pub name: String,
    pub execution_arn: String,
    pub kind: Kind,
    pub status: String,
    pub start: String,
    pub stop: Option<String>,
    pub seconds: Option<f64>,
    /// `Succeeded`, the error name, `Skipped`, ... (`$.metrics.outcome`), else the error.
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub job_seconds: Option<f64>,
    pub cost_usd: Option<f64>,
    /// A cleanup run's: the ARN of the execution it cleaned up after.
    pub cleanup_after: Option<String>,
}

pub fn history_row(execution: &Execution, document: Option<&Value>) -> HistoryRow {
    let input = execution
        .input
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok());
    let metrics = document.and_then(|d| d.get("metrics"));
    HistoryRow {
        name: execution.name.clone(),
        execution_arn: execution.arn.clone(),
        kind: Kind::of(input.as_ref(), document),
        status: execution.status.as_str().to_string(),
        start: execution.start.to_string(),
        stop: execution.stop.map(|t| t.to_string()),
        seconds: execution.stop.map(|t| t.seconds_since(execution.start)),
        outcome: metrics
            .and_then(|m| str_at(m, "/outcome"))
            .map(str::to_string)
            .or_else(|| execution.error.clone()),
        error: execution.error.clone(),
        job_seconds: metrics.and_then(|m| f64_at(m, "/durations/jobSeconds")),
        cost_usd: metrics.and_then(|m| f64_at(m, "/cost/totalUsd")),
        cleanup_after: cleanup_after(execution),
    }
}

/// The `history` table, one run a line. The last column is the whole
/// execution name (what `why` and `follow` take), never cut: a long one
/// (Step Functions names are 36-character UUIDs) runs past [`WIDTH`]. A
/// cleanup run names the run it cleaned up after.
pub fn history_table(rows: &[HistoryRow]) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<17} {:>8} {:<7} {:<9} {:<18} {:>6} {:>7}  {}",
        "start (UTC)", "duration", "kind", "status", "outcome/error", "job s", "cost", "execution"
    )];
    for row in rows {
        let start = Timestamp::parse(&row.start)
            .map(|at| when(at)[..16].to_string() + "Z")
            .unwrap_or_else(|| row.start.clone());
        let outcome: String = row
            .outcome
            .clone()
            .unwrap_or_else(|| "-".into())
            .chars()
            .take(18)
            .collect();
        let columns = fit(&format!(
            "{:<17} {:>8} {:<7} {:<9} {:<18} {:>6} {:>7}",
            start,
            row.seconds.map(duration).unwrap_or_else(|| "-".into()),
            row.kind.as_str(),
            row.status,
            outcome,
            row.job_seconds
                .map(|s| format!("{s:.0}"))
                .unwrap_or_else(|| "-".into()),
            row.cost_usd.map(usd).unwrap_or_else(|| "-".into()),
        ));
        let of = row
            .cleanup_after
            .as_deref()
            .map(|arn| format!(" (cleanup of {})", short_name(arn)))
            .unwrap_or_default();
        lines.push(format!("{columns}  {}{of}", row.name));
    }
    lines
}

/// `why`: the error, its meaning, the cause, and what the cleanup did.
/// `cleanup`: the cleanup run of an aborted or timed-out run, with its document.
pub fn why(
    execution: &Execution,
    document: Option<&Value>,
    cleanup: Option<(&Execution, Option<&Value>)>,
) -> Vec<String> {
    let mut lines = vec![format!("{} {}", execution.name, execution.status.as_str())];
    match execution.status {
        Status::Running => {
            lines.push("  still running: `makenaide follow` shows it".to_string());
            return lines;
        }
        Status::Succeeded => {
            match document.and_then(|d| d.get("skipped")) {
                Some(skipped) => lines.push(format!(
                    "  it did not fail: skipped ({}), the lease was held by {}",
                    str_at(skipped, "/reason").unwrap_or("?"),
                    str_at(skipped, "/heldBy").unwrap_or("?")
                )),
                None => lines.push("  it did not fail".to_string()),
            }
            return lines;
        }
        _ => {}
    }
    let error = execution.error.clone().or_else(|| {
        document
            .and_then(|d| str_at(d, "/error/Error"))
            .map(str::to_string)
    });
    match &error {
        Some(error) => {
            lines.push(format!("  error: {error}"));
            lines.extend(wrap("  meaning:", execution_error_meaning(error), 11));
        }
        None => lines.push(format!(
            "  error: none recorded: the execution ended {} before its own cleanup could run",
            execution.status.as_str()
        )),
    }
    let cause = execution.cause.clone().or_else(|| {
        document
            .and_then(|d| str_at(d, "/error/Cause"))
            .map(str::to_string)
    });
    if let Some(cause) = cause {
        lines.push("  cause:".to_string());
        for line in readable_cause(&cause).lines().take(30) {
            lines.extend(wrap("    ", line, 6));
        }
    }
    if let Some((run, _)) = cleanup {
        lines.push(format!(
            "  cleanup run: {} {}",
            run.name,
            run.status.as_str()
        ));
    }
    let record = cleanup.and_then(|(_, doc)| doc).or(document);
    match record {
        Some(record) if record.get("workersStop").is_some() || record.get("rdsStop").is_some() => {
            if let Some(stop) = record.get("workersStop") {
                let actions: Vec<String> = stop
                    .get("instances")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(crate::history::worker_stop)
                    .collect();
                lines.push(format!("  cleanup, workers: {}", actions.join(", ")));
            }
            if let Some(stop) = record.get("rdsStop") {
                let done = crate::history::database_stop(stop);
                lines.push(format!(
                    "  cleanup, DB: {}",
                    done.strip_prefix("DB ").unwrap_or(&done)
                ));
            }
            let left = left_running(record);
            if left.is_empty() {
                lines.push("  left running by the cleanup: nothing".to_string());
            } else {
                lines.push("  left running by the cleanup:".to_string());
                lines.extend(left.into_iter().map(|l| format!("    {l}")));
            }
        }
        _ if matches!(execution.status, Status::Aborted | Status::TimedOut)
            && cleanup.is_none() =>
        {
            lines.push(
                "  cleanup: no cleanup run found yet (the cleanup rule starts one within a minute)"
                    .to_string(),
            )
        }
        _ => lines.push("  cleanup: nothing was started, nothing to stop".to_string()),
    }
    lines.into_iter().map(|l| fit(&l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::recorded;
    use crate::history::{Event, last_document, timeline};

    fn execution(describe: &Value) -> Execution {
        let time = |key: &str| {
            describe
                .get(key)
                .and_then(Value::as_f64)
                .map(|s| Timestamp::from_millis((s * 1000.0).round() as i64))
        };
        let text = |key: &str| {
            describe
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Execution {
            arn: text("executionArn").unwrap(),
            name: text("name").unwrap(),
            status: Status::parse(&text("status").unwrap()),
            start: time("startDate").unwrap(),
            stop: time("stopDate"),
            input: text("input"),
            output: text("output"),
            error: text("error"),
            cause: text("cause"),
            alias_arn: text("stateMachineAliasArn"),
            version_arn: text("stateMachineVersionArn"),
        }
    }

    fn rendered(name: &str) -> (Execution, Vec<Event>, Option<Value>) {
        let run = recorded(name);
        let ex = execution(&run.describe);
        let doc = document(&ex, last_document(&run.events));
        (ex, run.events, doc)
    }

    #[test]
    fn money_and_durations() {
        assert_eq!(usd(0.005139866), "$0.0051");
        assert_eq!(usd(12.345), "$12.35");
        assert_eq!(duration(3.12), "3.1s");
        assert_eq!(duration(192.0), "3m12s");
        assert_eq!(duration(3720.0), "1h02m");
        assert_eq!(fit(&"x".repeat(150)).chars().count(), WIDTH);
    }

    #[test]
    fn money_never_shows_a_negative_zero() {
        let nothing: f64 = Vec::<f64>::new().iter().sum();
        assert!(nothing.is_sign_negative(), "a sum of nothing is -0.0");
        assert_eq!(usd(nothing), "$0.0000");
        assert_eq!(usd(-0.00001), "$0.0000");
        assert_eq!(usd(-0.0123), "-$0.0123");
        assert_eq!(usd(-12.345), "-$12.35");
        assert_eq!(usd(1.4329), "$1.43");
    }

    fn started(alias: Option<&str>, version: Option<&str>) -> Execution {
        let (mut ex, _, _) = rendered("happy_path");
        ex.alias_arn = alias.map(str::to_string);
        ex.version_arn = version.map(str::to_string);
        ex
    }

    #[test]
    fn a_run_started_outside_the_alias_is_warned_of() {
        let sm = "arn:aws:states:us-east-1:123456789012:stateMachine:m";
        let through_alias = started(Some(&format!("{sm}:live")), Some(&format!("{sm}:1")));
        assert_eq!(bypass_warning(&through_alias), None);
        let plain = started(None, None);
        assert_eq!(
            bypass_warning(&plain).unwrap(),
            format!(
                "{} was started on the state machine itself (its latest definition), not on the live alias: it bypasses the rollout (start on the alias: --stack, or --state-machine-arn <arn>:live)",
                plain.name
            )
        );
        let version = started(None, Some(&format!("{sm}:3")));
        assert!(
            bypass_warning(&version)
                .unwrap()
                .contains(" was started on version 3 directly, not on the live alias")
        );
    }

    /// Wrapped lines as one text again.
    fn unwrapped(lines: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for line in lines {
            match (line.strip_prefix("  "), out.last_mut()) {
                (Some(rest), Some(last)) if !rest.starts_with(' ') => {
                    last.push(' ');
                    last.push_str(rest);
                }
                _ => out.push(line.clone()),
            }
        }
        out
    }

    #[test]
    fn a_held_lease_says_who_holds_it_and_what_a_run_would_meet() {
        let lease = crate::ports::Lease {
            held_by: "nightly-1".into(),
            execution_arn: "arn:aws:states:us-east-1:123456789012:execution:m:nightly-1".into(),
            start_time: None,
            mode: Some("run".into()),
        };
        let mut holder = started(Some("x"), None);
        holder.status = Status::Running;
        let wrapped = lease_held(&lease, Some(&holder));
        assert!(wrapped.iter().all(|l| l.chars().count() <= WIDTH));
        let lines = unwrapped(&wrapped);
        assert!(
            lines[0].starts_with(
                "not started: nightly-1 holds the run lease (running since 2026-12-01 "
            ) && lines[0].ends_with("); a run started now would be skipped (RunInProgress)"),
            "{lines:?}"
        );
        assert_eq!(lines[1], "follow it: makenaide follow nightly-1");
        holder.status = Status::Aborted;
        let lines = unwrapped(&lease_held(&lease, Some(&holder)));
        assert!(
            lines[0].starts_with(
                "not started: the run lease is still held by nightly-1, which ended ABORTED;"
            ) && lines[0].contains("(CleanupPending)"),
            "{lines:?}"
        );
        assert!(unwrapped(&lease_held(&lease, None))[0].contains("which no longer exists"));
    }

    #[test]
    fn after_a_stop_says_what_rds_and_ec2_say_now() {
        let now = |db: &str, worker: &str| {
            vec![
                ("DB makenaide-db".to_string(), db.to_string()),
                ("worker i-1".to_string(), worker.to_string()),
            ]
        };
        let after_stop = |now: &[(String, String)]| {
            let (lines, at_rest) = after_stop(now);
            (unwrapped(&lines).join("\n"), at_rest)
        };
        assert_eq!(
            after_stop(&now("stopped", "stopped")),
            ("everything the run started is stopped".to_string(), true)
        );
        assert_eq!(
            after_stop(&now("stopping", "stopped")),
            (
                "every stop is accepted; everything the run started is stopped or stopping (now: DB makenaide-db stopping; worker i-1 stopped)".to_string(),
                true
            )
        );
        assert_eq!(
            after_stop(&now("available", "stopped")),
            (
                "every stop was accepted, but this runs now: DB makenaide-db available".to_string(),
                false
            )
        );
    }

    #[test]
    fn exit_codes_by_outcome() {
        for (name, code) in [
            ("happy_path", exit::OK),
            ("dry_run", exit::OK),
            ("job_fails_with_stderr", exit::RUN_FAILED),
            ("second_run_mid_job.concurrent-0", exit::SKIPPED),
            ("abort_during_job", exit::RUN_FAILED),
        ] {
            let (ex, _, doc) = rendered(name);
            assert_eq!(exit_code(&ex.status, doc.as_ref()), code, "{name}");
        }
    }

    #[test]
    fn the_summary_of_a_good_run_has_durations_and_cost() {
        let (ex, events, doc) = rendered("happy_path");
        let lines = summary(&ex, &timeline(&events), doc.as_ref());
        assert!(
            lines[0].starts_with(&format!("{} SUCCEEDED in ", ex.name)),
            "{lines:?}"
        );
        let metrics = &doc.as_ref().unwrap()["metrics"];
        let total = metrics["cost"]["totalUsd"].as_f64().unwrap();
        let cost = lines.iter().find(|l| l.starts_with("  cost ")).unwrap();
        assert!(
            cost.starts_with(&format!("  cost {} (resources ", usd(total))),
            "{cost}"
        );
        let job = duration(metrics["durations"]["jobSeconds"].as_f64().unwrap());
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("job {job} Success"))),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("  steps: run lease ")),
            "{lines:?}"
        );
        assert!(lines.iter().all(|l| l.chars().count() <= WIDTH));
    }

    #[test]
    fn the_summary_of_a_failed_run_explains_it() {
        let (ex, events, doc) = rendered("job_fails_with_stderr");
        let lines = summary(&ex, &timeline(&events), doc.as_ref());
        assert!(lines[0].ends_with(": JobFailed"), "{lines:?}");
        let meaning = makenaide_core::ErrorName::JobFailed.meaning();
        assert!(
            lines[1].len() <= WIDTH && meaning.starts_with(lines[1].trim()),
            "{lines:?}"
        );
        assert!(meaning.ends_with(lines[2].trim()), "wrapped: {lines:?}");
        assert!(
            lines[3].starts_with("  cause: the job failed on i-"),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("ERROR: relation \"prices\" does not exist"))
        );
        assert!(
            lines.iter().any(|l| l.contains("PGPASSWORD=***")),
            "the masked stderr: {lines:?}"
        );
        assert!(
            lines.contains(&"  cleanup: complete, nothing left running".to_string()),
            "{lines:?}"
        );
    }

    #[test]
    fn the_summary_of_a_skipped_run_names_the_holder() {
        let (ex, events, doc) = rendered("second_run_mid_job.concurrent-0");
        let lines = summary(&ex, &timeline(&events), doc.as_ref());
        assert!(
            lines[0].contains("SUCCEEDED in ") && lines[0].ends_with("(skipped)"),
            "{lines:?}"
        );
        let holder = recorded("second_run_mid_job").describe["name"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            lines[1],
            format!(
                "  skipped (RunInProgress): the run lease is held by {holder}; nothing was touched"
            )
        );
    }

    #[test]
    fn what_a_document_says_is_left_running() {
        let (_, _, doc) = rendered("job_fails_with_stderr");
        assert!(left_running(doc.as_ref().unwrap()).is_empty());
        let mut doc = doc.unwrap();
        doc["rdsStop"]["action"] = "leftRunning".into();
        doc["workersStop"]["instances"][0]["action"] = "notYet".into();
        doc["cleanupErrors"] =
            serde_json::json!({"stopWorkers": {"Error": "AwsThrottled", "Cause": "..."}});
        let left = left_running(&doc);
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(
            left[0].starts_with("worker i-") && left[0].ends_with("its stop had not happened yet")
        );
        assert_eq!(
            left[1],
            "DB makenaide-db: left running (found running, leave-as-found)"
        );
        assert!(left[2].starts_with("the workers' stop failed (AwsThrottled)"));
    }

    #[test]
    fn why_a_run_failed() {
        let (ex, _, doc) = rendered("job_fails_with_stderr");
        let lines = why(&ex, doc.as_ref(), None);
        assert_eq!(lines[1], "  error: JobFailed");
        assert!(
            lines[2].starts_with("  meaning: the batch job's command finished"),
            "{lines:?}"
        );
        assert!(
            lines[3].starts_with("           ") && lines[4] == "  cause:",
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l == "  cleanup, DB: stop accepted (was available): stopping"),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("  cleanup, workers: i-")
                && l.ends_with(" stop accepted (was running)")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l == "  left running by the cleanup: nothing"),
            "{lines:?}"
        );
    }

    #[test]
    fn why_an_aborted_run_reads_its_cleanup_run() {
        let (ex, _, doc) = rendered("abort_during_job");
        let (cleanup, _, cleanup_doc) = rendered("abort_during_job.cleanupafterend-1");
        let lines = why(&ex, doc.as_ref(), Some((&cleanup, cleanup_doc.as_ref())));
        assert!(
            lines[1].starts_with("  error: none recorded: the execution ended ABORTED"),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l == &format!("  cleanup run: {} SUCCEEDED", cleanup.name)),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("  cleanup, workers: i-")
                && l.ends_with(" stop accepted (was running)")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l == "  left running by the cleanup: nothing"),
            "{lines:?}"
        );
    }

    #[test]
    fn history_rows() {
        let (ex, _, doc) = rendered("happy_path");
        let row = history_row(&ex, doc.as_ref());
        assert_eq!(row.kind, Kind::Run);
        assert_eq!(row.outcome.as_deref(), Some("Succeeded"));
        assert!(row.cost_usd.unwrap() > 0.0 && row.job_seconds.unwrap() > 0.0);
        let (ex, _, doc) = rendered("dry_run");
        assert_eq!(history_row(&ex, doc.as_ref()).kind, Kind::DryRun);
        let (ex, _, doc) = rendered("job_fails_with_stderr");
        let failed = history_row(&ex, doc.as_ref());
        assert_eq!(
            (failed.outcome.as_deref(), failed.error.as_deref()),
            (Some("JobFailed"), Some("JobFailed"))
        );
        let (cleanup, _, cleanup_doc) = rendered("abort_during_job.cleanupafterend-1");
        let cleanup_row = history_row(&cleanup, cleanup_doc.as_ref());
        let (aborted, _, _) = rendered("abort_during_job");
        assert_eq!(cleanup_row.kind, Kind::CleanupRun);
        assert_eq!(
            cleanup_row.cleanup_after.as_deref(),
            Some(aborted.arn.as_str())
        );
        let table = history_table(&[row.clone(), failed.clone(), cleanup_row.clone()]);
        assert_eq!(table.len(), 4);
        assert!(
            table[2].contains(" FAILED ") && table[2].contains("JobFailed"),
            "{table:#?}"
        );
        // The columns fit; the last one is the whole name, which `why` takes
        // (a 36-character UUID runs past the width), and a cleanup run
        // names the run it cleaned up after.
        for (line, row) in table[1..].iter().zip([&row, &failed, &cleanup_row]) {
            assert_eq!(line.find(&row.name), Some(80), "{table:#?}");
        }
        assert!(
            table[3].ends_with(&format!("  {} (cleanup of {})", cleanup.name, aborted.name)),
            "{table:#?}"
        );
        assert_eq!(cleanup.name.len(), 36);
        assert!(table[3].chars().count() > WIDTH);
        // `status` labels the kinds beside the name.
        assert_eq!(
            labelled(&cleanup, cleanup_doc.as_ref()),
            format!("{} (cleanup run of {})", cleanup.name, aborted.name)
        );
        let (dry, _, dry_doc) = rendered("dry_run");
        assert_eq!(
            labelled(&dry, dry_doc.as_ref()),
            format!("{} (dry run)", dry.name)
        );
        let (skip, _, skip_doc) = rendered("second_run_mid_job.concurrent-0");
        assert_eq!(
            labelled(&skip, skip_doc.as_ref()),
            format!("{} (skipped)", skip.name)
        );
        assert_eq!(labelled(&ex, doc.as_ref()), ex.name);
    }
}
