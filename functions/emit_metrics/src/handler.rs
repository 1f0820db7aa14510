//! Summarize the run from the state document and publish it to CloudWatch
//! in one call. It runs on the normal path and in cleanup after any
//! failure, so it reads whichever blocks exist and treats a missing one as
//! "that phase never happened".

use std::collections::BTreeMap;

use makenaide_core::config::{Env, MetricsConfig, Timing};
use makenaide_core::cost::{
    Deployment, OrchestratorUsage, PriceTable, RunCost, Service, Usage, run_cost,
};
use makenaide_core::document::{JobOutcome, StateDocument, StopAction};
use makenaide_core::input::{RunInput, RunMode, parse_run_input};
use makenaide_core::ports::{Metric, MetricSeries, MetricUnit, MetricsPort};
use makenaide_core::states::{Ec2Class, RdsClass, classify_ec2_state, classify_rds_status};
use makenaide_core::{StepError, Timestamp};
use serde::Serialize;
use serde_json::Value;

use crate::notification::{Notification, notification};

/// The dimension of every metric. Never an execution id: one time series per
/// workflow keeps dashboards and alarms stable (and cheap).
const WORKFLOW_DIMENSION: &str = "Workflow";

/// The second dimension of the few metrics a rollout compares: the workflow
/// revision (one per deploy, so a handful of series, never one per run).
/// They are published in total too: CloudWatch does not add up across
/// dimension sets, and the dashboard, the alarms and the savings read the
/// totals.
const REVISION_DIMENSION: &str = "Revision";
const PER_REVISION: &[&str] = &["RunSucceeded", "RunFailed", "RunDurationSeconds"];

const SUCCEEDED: &str = "Succeeded";

/// The log line of a publication that failed; the stack's metric filter
/// on this function's log group counts it (cdk/lib/stack.ts).
pub const METRICS_NOT_PUBLISHED: &str = "metrics not published";

#[derive(Debug, Clone)]
pub struct Settings {
    pub metrics: MetricsConfig,
    /// Only to read `dryRun` from the raw input exactly as the first step did.
    pub timing: Timing,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (MB), set by Lambda; every step has
    /// the same. `None`: the Lambda cost of a run is unknown.
    pub lambda_memory_mb: Option<u32>,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, StepError> {
        Ok(Self {
            metrics: MetricsConfig::from_env(env)?,
            timing: Timing::from_env(env)?,
            lambda_memory_mb: Some(env.or_default("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0u32)?)
                .filter(|mb| *mb > 0),
        })
    }
}

/// How long the phases took; `None` when the run never got that far.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Durations {
    pub total_seconds: Option<f64>,
    pub rds_ready_seconds: Option<f64>,
    pub ec2_ready_seconds: Option<f64>,
    pub job_seconds: Option<f64>,
}

/// How long each resource ran because of this run (what it is billed for).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunningSeconds {
    pub rds: f64,
    /// Per worker instance id.
    pub ec2: BTreeMap<String, f64>,
}

/// What this execution publishes for: a run, a run skipped because another
/// execution held the lease, a cleanup run, or a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Publication {
    Run,
    /// `RunSkipped` only: a skipped run is not a failure.
    Skipped,
    /// `CleanupRuns`; and the ended run's failure when that run could not
    /// publish it itself (it was aborted or timed out).
    Cleanup {
        counts_as_failed_run: bool,
    },
    /// `UnattendedResources`: what was running while no run held the lease.
    Sweep {
        unattended_resources: u32,
    },
}

/// `$.metrics`: what was published, and the figures behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub publication: Publication,
    /// `Succeeded`, the original error name from `$.error.Error`, `Skipped`,
    /// `Aborted`/`TimedOut`/`Failed` for a cleanup run, `Swept`.
    pub outcome: String,
    pub job_outcome: Option<JobOutcome>,
    pub dry_run: bool,
    pub durations: Durations,
    pub running_seconds: RunningSeconds,
    /// What the run cost, component by component; `None` for a dry run and
    /// for executions that are not runs (skip, cleanup run, sweep).
    pub cost: Option<RunCost>,
    pub namespace: String,
    pub dimensions: BTreeMap<String, String>,
    /// The workflow revision of the execution (`$.execution.revision`), when
    /// it is one a dimension may carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Data points in all series.
    pub metric_count: usize,
    /// False when CloudWatch refused the data points after the SDK's own
    /// retries: metrics are best effort and never change a run's outcome.
    pub published: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_error: Option<PublishError>,
    /// `{subject, message}` for the alarm topic when the run ended badly
    /// (a failed run, a cleanup run); absent otherwise. The state machine
    /// publishes it (`Cleanup: notify`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification: Option<Notification>,
}

/// Why the data points were not published.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishError {
    pub error_type: String,
    pub error_message: String,
}

/// Seconds from `from` to `to`; clock skew between services never makes a
/// negative duration.
fn span(from: Timestamp, to: Timestamp) -> f64 {
    to.seconds_since(from).max(0.0)
}

/// The steps' own record first (they parsed the same input); the raw input
/// only when the run failed before any of them reported. An input that does
/// not parse counts as no dry run: this step must publish whatever happened.
fn is_dry_run(doc: &StateDocument, run: Option<&RunInput>) -> bool {
    doc.rds
        .as_ref()
        .map(|rds| rds.dry_run)
        .or_else(|| doc.job.as_ref().map(|job| job.dry_run))
        .unwrap_or_else(|| run.is_some_and(|run| run.dry_run))
}

fn durations(doc: &StateDocument, now: Timestamp) -> Durations {
    Durations {
        total_seconds: doc.execution.as_ref().map(|e| span(e.start_time, now)),
        rds_ready_seconds: doc
            .rds
            .as_ref()
            .and_then(|rds| rds.ready_at.map(|at| span(rds.first_checked_at, at))),
        ec2_ready_seconds: doc
            .ec2
            .as_ref()
            .and_then(|ec2| ec2.ready_at.map(|at| span(ec2.first_checked_at, at))),
        // Only a command that was sent has a duration; until the poll says
        // it is over (e.g. JobTimeout in cleanup) it counts until now.
        job_seconds: doc
            .job
            .as_ref()
            .filter(|job| job.command_id.is_some())
            .map(|job| {
                let end = doc
                    .poll
                    .as_ref()
                    .filter(|poll| poll.done)
                    .map_or(now, |poll| poll.checked_at);
                span(job.sent_at, end)
            }),
    }
}

/// How long each resource ran in this run, from the timestamps the steps
/// recorded (pure; `now` is just after the stop steps).
///
/// - Dry run: nothing ran, everything is 0.
/// - DB (`$.rds`): 0 when it never ran in this run (not started by the
///   workflow, not available at the first check and never ready). Otherwise
///   from `rds.firstCheckedAt` until `rdsStop.stoppedAt` when `rds_stop`
///   stopped it or found it stopped or gone, else until now: left running
///   by `leave-as-found`, could not be stopped, or no `$.rdsStop` because
///   stopping failed.
/// - Each worker in `$.ec2`: 0 when it never ran (not started by the
///   workflow and last seen neither pending nor running). Otherwise from
///   `ec2.firstCheckedAt` until `poll.checkedAt` when the poll saw it
///   stopping or stopped (the job shut it down), else until now (the Stop
///   workers step ran just before this one).
fn running_seconds(doc: &StateDocument, now: Timestamp, dry_run: bool) -> RunningSeconds {
    let rds = doc.rds.as_ref().map_or(0.0, |rds| {
        let ran = rds.started_by_workflow || rds.found_running() || rds.ready_at.is_some();
        if dry_run || !ran {
            return 0.0;
        }
        // Exhaustive on purpose: a new stop action must choose its end.
        let end = match &doc.rds_stop {
            None => now,
            Some(stop) => match stop.action {
                StopAction::LeftRunning | StopAction::CannotStop | StopAction::NotYet => now,
                StopAction::Stopped
                | StopAction::AlreadyStopped
                | StopAction::NotFound
                | StopAction::Gone
                | StopAction::WouldStop => stop.stopped_at,
            },
        };
        span(rds.first_checked_at, end)
    });
    let stopped_itself_at = |instance_id: &str| {
        doc.poll.as_ref().and_then(|poll| {
            poll.invocations
                .iter()
                .any(|inv| {
                    inv.instance_id == instance_id
                        && matches!(
                            classify_ec2_state(&inv.instance_state),
                            Ec2Class::Stopping | Ec2Class::Stopped | Ec2Class::Gone
                        )
                })
                .then_some(poll.checked_at)
        })
    };
    let ec2 = doc.ec2.as_ref().map_or_else(BTreeMap::new, |ec2| {
        ec2.instances
            .iter()
            .map(|worker| {
                let ran = ec2.started_by_workflow.contains(&worker.instance_id)
                    || matches!(
                        classify_ec2_state(&worker.state),
                        Ec2Class::Pending | Ec2Class::Running
                    );
                let seconds = if dry_run || !ran {
                    0.0
                } else {
                    let end = stopped_itself_at(&worker.instance_id).unwrap_or(now);
                    span(ec2.first_checked_at, end)
                };
                (worker.instance_id.clone(), seconds)
            })
            .collect()
    });
    RunningSeconds { rds, ec2 }
}

/// Every resource the run knows about, priced by its type.
fn usages(doc: &StateDocument, running: &RunningSeconds) -> Vec<Usage> {
    let db = doc.rds.iter().map(|rds| Usage {
        resource_id: rds.db_instance_identifier.clone(),
        service: Service::Rds,
        kind: rds.instance_class.clone(),
        deployment: rds.multi_az.map(Deployment::from_multi_az),
        running_seconds: running.rds,
        started_by_run: rds.started_by_workflow,
    });
    let workers = doc.ec2.iter().flat_map(|ec2| {
        ec2.instances.iter().map(|worker| Usage {
            resource_id: worker.instance_id.clone(),
            service: Service::Ec2,
            kind: worker.instance_type.clone(),
            deployment: None,
            running_seconds: running.ec2.get(&worker.instance_id).copied().unwrap_or(0.0),
            started_by_run: ec2.started_by_workflow.contains(&worker.instance_id),
        })
    });
    db.chain(workers).collect()
}

/// States a run enters with one lap of each poll loop, on the normal path of
/// `statemachine/workflow.asl.json`: Init, Which mode?, Take lease, Check
/// database, DB found recorded?, Record DB found, Database ready?, Begin
/// workers, Start workers, Workers found recorded?, Record workers found,
/// Workers ready?, Launch job, Check job, Job over?, Stop workers?, Stop
/// workers, Workers stopped?, Stop database, Database stopped?, Publish
/// metrics, Release lease, Done. A failed run's cleanup path is within a
/// state or two of the same length. `tests/asl` checks this number against
/// the file.
pub const RUN_STATES_WITH_ONE_LAP: u32 = 23;
/// Each further lap of the DB's or the workers' start loop: its Wait, its
/// Task, its "found recorded?" Choice and its "ready?" Choice.
const STATES_PER_EXTRA_START_LAP: u32 = 4;
/// Each further lap of the job poll and of the two stop loops: Wait, Task,
/// Choice. (The sandbox's happy path, 3 extra laps of each of the first three
/// loops, enters 23 + 4 * 6 + 3 * 3 = 56 states, the count its runner reports.)
const STATES_PER_EXTRA_LAP: u32 = 3;
/// Lambda invocations of a run with one lap of each loop: rds_check,
/// ec2_start, ssm_launch, poll_ec2_state twice (job, stopWorkers), rds_stop,
/// emit_metrics.
const INVOCATIONS_WITH_ONE_LAP: u32 = 7;
/// Billed seconds assumed per Lambda invocation: an upper estimate, not a
/// measurement (each step makes one to a few AWS calls; its real billed
/// duration is in the invocation's REPORT log line). At 128 MB even a run
/// with 70 invocations spends about $0.0001 on Lambda duration this way.
pub const ASSUMED_SECONDS_PER_INVOCATION: f64 = 1.0;

/// Extra laps of a poll loop, from the time it spent and its interval: each
/// lap waits `interval` seconds (the steps themselves take milliseconds).
fn extra_laps(first: Timestamp, last: Timestamp, interval: u64) -> u32 {
    if interval == 0 {
        return 0;
    }
    (span(first, last) / interval as f64).round() as u32
}

/// What the orchestrator itself did in a run, estimated from the document
/// (pure). Step Functions bills each state entered, retries included; the
/// retries of a step are not in the document, so they are not counted.
fn orchestrator_usage(doc: &StateDocument, lambda_memory_mb: Option<u32>) -> OrchestratorUsage {
    let start_laps = [
        doc.rds
            .as_ref()
            .map(|r| extra_laps(r.first_checked_at, r.checked_at, r.retry_after_seconds)),
        doc.ec2
            .as_ref()
            .map(|e| extra_laps(e.first_checked_at, e.checked_at, e.retry_after_seconds)),
    ];
    let other_laps = [
        doc.job
            .as_ref()
            .zip(doc.poll.as_ref())
            .map(|(job, poll)| extra_laps(job.sent_at, poll.checked_at, poll.retry_after_seconds)),
        doc.workers_stop
            .as_ref()
            .map(|w| extra_laps(w.first_tried_at, w.checked_at, w.retry_after_seconds)),
        doc.rds_stop.as_ref().and_then(|r| {
            r.first_tried_at
                .map(|first| extra_laps(first, r.stopped_at, r.retry_after_seconds))
        }),
    ];
    let start_laps: u32 = start_laps.into_iter().flatten().sum();
    let other_laps: u32 = other_laps.into_iter().flatten().sum();
    let invocations = INVOCATIONS_WITH_ONE_LAP + start_laps + other_laps;
    OrchestratorUsage {
        state_transitions: RUN_STATES_WITH_ONE_LAP
            + STATES_PER_EXTRA_START_LAP * start_laps
            + STATES_PER_EXTRA_LAP * other_laps,
        lambda_invocations: invocations,
        lambda_gb_seconds: lambda_memory_mb.map(|mb| {
            f64::from(invocations) * ASSUMED_SECONDS_PER_INVOCATION * f64::from(mb) / 1024.0
        }),
        lambda_architecture: LAMBDA_ARCHITECTURE,
        // One call per run; the SDK's retries of it are not counted.
        put_metric_data_requests: 1,
    }
}

/// The functions run on the architecture they were built for (arm64 as
/// deployed; the sandbox runs host binaries).
const LAMBDA_ARCHITECTURE: &str = if cfg!(target_arch = "aarch64") {
    "arm64"
} else {
    "x86_64"
};

/// How many configured resources were running when a sweep looked (pure):
/// the DB's status before `rds_stop` acted, and each worker's state before
/// the stop of the workers acted on it (`$.workersStop`; `$.ec2Stop` in
/// executions an older state machine started).
fn unattended_resources(doc: &StateDocument) -> u32 {
    let db = doc
        .rds_stop
        .as_ref()
        .and_then(|stop| stop.status_before.as_deref())
        .is_some_and(|status| {
            matches!(
                classify_rds_status(status),
                RdsClass::Available | RdsClass::Transitional
            )
        });
    let states_before: Vec<&str> = match (&doc.workers_stop, &doc.ec2_stop) {
        (Some(stop), _) => stop
            .instances
            .iter()
            .filter_map(|w| w.state_before.as_deref())
            .collect(),
        (None, Some(old)) => old
            .stopping_instances
            .iter()
            .map(|i| i.previous_state.name.as_str())
            .collect(),
        (None, None) => Vec::new(),
    };
    let workers = states_before
        .into_iter()
        .filter(|state| {
            matches!(
                classify_ec2_state(state),
                Ec2Class::Pending | Ec2Class::Running
            )
        })
        .count();
    u32::from(db) + workers as u32
}

/// What to publish for (pure). The mode comes from the execution input; an
/// input that does not parse counts as a run (this step must publish
/// whatever happened).
fn publication(doc: &StateDocument, run: Option<&RunInput>) -> (Publication, Option<&'static str>) {
    if doc.skipped.is_some() {
        return (Publication::Skipped, Some("Skipped"));
    }
    match run.map(|run| &run.mode) {
        Some(mode @ RunMode::CleanupAfter { .. }) => {
            let outcome = mode.cleanup_outcome();
            let counts_as_failed_run = matches!(outcome, Some("Aborted" | "TimedOut"));
            (
                Publication::Cleanup {
                    counts_as_failed_run,
                },
                outcome,
            )
        }
        Some(RunMode::Sweep { .. }) => (
            Publication::Sweep {
                unattended_resources: unattended_resources(doc),
            },
            Some("Swept"),
        ),
        _ => (Publication::Run, None),
    }
}

/// The whole summary of the run (pure).
pub fn summarize(doc: &StateDocument, now: Timestamp, settings: &Settings) -> Summary {
    let config = &settings.metrics;
    // An input that does not parse counts as a run and no dry run: this
    // step must publish whatever happened.
    let run = parse_run_input(&doc.input, &settings.timing).ok();
    let (publication, fixed_outcome) = publication(doc, run.as_ref());
    let dry_run = is_dry_run(doc, run.as_ref());
    let running = running_seconds(doc, now, dry_run);
    // A dry run ran nothing: no dollars. Skips, cleanup runs and sweeps
    // publish their counts only.
    let cost = (!dry_run && publication == Publication::Run).then(|| {
        let mut cost = run_cost(
            &usages(doc, &running),
            &orchestrator_usage(doc, settings.lambda_memory_mb),
            &config.region,
            &config.price_overrides,
            PriceTable::builtin(),
        );
        // The always-on rate must cover every configured resource: a run that
        // failed before it saw the workers would understate it.
        if doc.rds.is_none() || doc.ec2.is_none() {
            cost.always_on_usd_per_hour = None;
        }
        cost
    });
    let mut summary = Summary {
        publication,
        outcome: fixed_outcome.map(str::to_string).unwrap_or_else(|| {
            doc.error
                .as_ref()
                .map_or_else(|| SUCCEEDED.to_string(), |e| e.error.clone())
        }),
        job_outcome: doc.poll.as_ref().and_then(|poll| poll.outcome),
        dry_run,
        durations: durations(doc, now),
        running_seconds: running,
        cost,
        namespace: config.namespace.clone(),
        dimensions: BTreeMap::from([(
            WORKFLOW_DIMENSION.to_string(),
            config.workflow_name.clone(),
        )]),
        revision: doc
            .execution
            .as_ref()
            .and_then(|execution| execution.revision.as_deref())
            .filter(|revision| is_dimension_revision(revision))
            .map(str::to_string),
        metric_count: 0,
        published: false,
        publish_error: None,
        notification: notification(
            doc,
            run.as_ref(),
            dry_run,
            &config.workflow_name,
            &config.region,
        ),
    };
    summary.metric_count = series(&summary).iter().map(|s| s.metrics.len()).sum();
    summary
}

/// The data points (pure): outcome counts always; a duration only when
/// known; dollars only when priced (never in a dry run): `RunCostUsd`, what
/// this run cost, and `AlwaysOnUsdPerHour`, what its resources cost per hour
/// kept running. The savings of a period come from both on the dashboard
/// (`cost::savings_per_period`), never from one run.
/// A revision string the deploy wrote: short, plain characters. Anything
/// else (a definition from before revisions, a hand-edited one) publishes
/// the totals only.
fn is_dimension_revision(revision: &str) -> bool {
    (1..=64).contains(&revision.len())
        && revision
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Everything to publish: the totals (dimension `Workflow`), and the
/// rollout's metrics again per revision (`Workflow`, `Revision`).
fn series(summary: &Summary) -> Vec<MetricSeries> {
    let dimensions: Vec<(String, String)> = summary
        .dimensions
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let total = MetricSeries {
        dimensions: dimensions.clone(),
        metrics: metrics(summary),
    };
    let by_revision = summary.revision.as_ref().map(|revision| MetricSeries {
        dimensions: dimensions
            .iter()
            .cloned()
            .chain([(REVISION_DIMENSION.to_string(), revision.clone())])
            .collect(),
        metrics: total
            .metrics
            .iter()
            .filter(|metric| PER_REVISION.contains(&metric.name))
            .cloned()
            .collect(),
    });
    std::iter::once(total)
        .chain(by_revision.filter(|series| !series.metrics.is_empty()))
        .collect()
}

fn metrics(summary: &Summary) -> Vec<Metric> {
    let count = |yes: bool| if yes { 1.0 } else { 0.0 };
    let counted = |name: &'static str, value: f64| Metric {
        name,
        unit: MetricUnit::Count,
        value,
    };
    match summary.publication {
        Publication::Run => {}
        Publication::Skipped => return vec![counted("RunSkipped", 1.0)],
        Publication::Sweep {
            unattended_resources,
        } => {
            return vec![counted(
                "UnattendedResources",
                f64::from(unattended_resources),
            )];
        }
        Publication::Cleanup {
            counts_as_failed_run,
        } => {
            let mut metrics = vec![counted("CleanupRuns", 1.0)];
            if counts_as_failed_run {
                metrics.push(counted("RunSucceeded", 0.0));
                metrics.push(counted("RunFailed", 1.0));
            }
            return metrics;
        }
    }
    let succeeded = summary.outcome == SUCCEEDED;
    let durations = &summary.durations;
    let running = &summary.running_seconds;
    let mut metrics = vec![
        Metric {
            name: "RunSucceeded",
            unit: MetricUnit::Count,
            value: count(succeeded),
        },
        Metric {
            name: "RunFailed",
            unit: MetricUnit::Count,
            value: count(!succeeded),
        },
    ];
    let seconds = [
        ("RunDurationSeconds", durations.total_seconds),
        ("RdsReadySeconds", durations.rds_ready_seconds),
        ("Ec2ReadySeconds", durations.ec2_ready_seconds),
        ("JobDurationSeconds", durations.job_seconds),
        ("RdsRunningSeconds", Some(running.rds)),
        ("Ec2RunningSeconds", Some(running.ec2.values().sum())),
    ];
    let cost = summary.cost.as_ref();
    let dollars = [
        ("RunCostUsd", cost.and_then(|c| c.total_usd)),
        (
            "AlwaysOnUsdPerHour",
            cost.and_then(|c| c.total_usd.and(c.always_on_usd_per_hour)),
        ),
    ];
    let optional = seconds
        .into_iter()
        .map(|(name, value)| (name, MetricUnit::Seconds, value))
        .chain(
            dollars
                .into_iter()
                .map(|(name, value)| (name, MetricUnit::None, value)),
        );
    metrics.extend(
        optional.filter_map(|(name, unit, value)| value.map(|value| Metric { name, unit, value })),
    );
    metrics
}

pub async fn handle(
    cloudwatch: &impl MetricsPort,
    settings: &Settings,
    event: Value,
    now: Timestamp,
) -> Result<Summary, StepError> {
    let doc = StateDocument::from_event(event)?;
    let mut summary = summarize(&doc, now, settings);
    // Best effort: the SDK has already retried (throttling, 5xx); a metrics
    // problem must not fail a run whose resources are stopped, nor send it
    // through cleanup again. One error line, counted by the stack's filter.
    match cloudwatch
        .put_metrics(&summary.namespace, &series(&summary))
        .await
    {
        Ok(()) => summary.published = true,
        Err(error) => {
            tracing::error!(
                error_type = error.name.as_str(),
                error_message = %error.message,
                outcome = %summary.outcome,
                // The metric filter's Workflow dimension, as on the other metrics.
                workflow = %settings.metrics.workflow_name,
                "{METRICS_NOT_PUBLISHED}"
            );
            summary.publish_error = Some(PublishError {
                error_type: error.name.as_str().to_string(),
                error_message: error.message,
            });
        }
    }
    let cost = summary.cost.as_ref();
    tracing::info!(
        outcome = %summary.outcome,
        dry_run = summary.dry_run,
        published = summary.published,
        metric_count = summary.metric_count,
        cost_usd = ?cost.and_then(|c| c.total_usd),
        always_on_usd_per_hour = ?cost.and_then(|c| c.always_on_usd_per_hour),
        unpriced = ?cost.map(|c| &c.unpriced),
        "run metrics"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use makenaide_core::ErrorName;
    use makenaide_core::ports::Operation;
    use makenaide_core::testing::{Call, FakeAws};
    use serde_json::json;

    const W1: &str = "i-0123456789abcdef0";
    const W2: &str = "i-0fedcba9876543210";

    /// Resource prices by override, so the tests do not move when the
    /// committed table is regenerated; the orchestrator's prices come from
    /// the table (`orchestrator_usd` below).
    const PRICES: &str = r#"{"t3.medium": 0.0416, "db.t3.micro": 0.018}"#;

    fn settings() -> Settings {
        Settings::from_env(&Env::from_pairs(&[
            ("AWS_REGION", "us-east-1"),
            ("PRICE_OVERRIDES", PRICES),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ]))
        .unwrap()
    }

    /// The orchestrator's cost at the table's us-east-1 prices.
    fn orchestrator_usd(transitions: f64, invocations: f64, gb_seconds: f64) -> f64 {
        let table = PriceTable::builtin();
        let price = |service: &str, kind: &str| table.get("us-east-1", service, kind, "-").unwrap();
        transitions * price("stepfunctions", "standard-transition")
            + gb_seconds * price("lambda", &format!("{LAMBDA_ARCHITECTURE}-gb-second"))
            + invocations * price("lambda", "request")
            + price("cloudwatch", "put-metric-data")
    }

    /// The happy run: 30 more laps of the DB loop (900.5 s / 30 s), 4 of the
    /// workers' (64 s / 15 s), 29 of the job's (1713.3 s / 60 s): 246
    /// transitions (23, plus 4 for each of the 34 start laps, plus 3 for each
    /// of the 29 job laps) and 70 invocations (7 plus 63) of 1 s at 128 MB,
    /// 8.75 GB-s.
    fn happy_orchestrator_usd() -> f64 {
        orchestrator_usd(246.0, 70.0, 8.75)
    }

    /// `hh:mm:ss[.mmm]` on the day of the test run.
    fn at(time: &str) -> Timestamp {
        Timestamp::parse(&format!("2026-11-22T{time}Z")).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn worker(id: &str, state: &str) -> Value {
        json!({"instanceId": id, "state": state, "instanceType": "t3.medium",
               "pingStatus": "Online", "ready": true, "action": "started"})
    }

    /// A successful run: DB started by the workflow, one t3.medium worker,
    /// the job succeeded, everything stopped. Published at 01:45:02.
    fn happy() -> Value {
        json!({
            "input": {},
            "execution": {"name": "run-1", "startTime": "2026-11-22T01:00:00.000Z"},
            "rds": {
                "dbInstanceIdentifier": "makenaide-db", "status": "available", "ready": true,
                "action": "none", "startedByWorkflow": true, "availableAtFirstCheck": false,
                "instanceClass": "db.t3.micro", "multiAz": false, "dryRun": false,
                "firstCheckedAt": "2026-11-22T01:00:01.000Z",
                "checkedAt": "2026-11-22T01:15:01.500Z",
                "deadline": "2026-11-22T01:30:01.000Z",
                "readyAt": "2026-11-22T01:15:01.500Z", "retryAfterSeconds": 30
            },
            "workers": {"instanceIds": [W1], "dryRun": false},
            "ec2": {
                "ready": true, "instances": [worker(W1, "running")], "startedByWorkflow": [W1],
                "dryRun": false, "firstCheckedAt": "2026-11-22T01:15:02.000Z",
                "checkedAt": "2026-11-22T01:16:06.000Z", "deadline": "2026-11-22T01:30:02.000Z",
                "readyAt": "2026-11-22T01:16:06.000Z", "retryAfterSeconds": 15
            },
            "job": {
                "commandId": "cmd-1", "comment": "makenaide:run-1",
                "documentName": "MakenaideOrchestrator-Job", "instanceIds": [W1],
                "reusedExisting": false, "dryRun": false,
                "sentAt": "2026-11-22T01:16:07.000Z", "deadline": "2026-11-22T02:16:07.000Z",
                "timeoutSeconds": 3600
            },
            "poll": {
                "done": true, "outcome": "Success",
                "invocations": [{"instanceId": W1, "instanceState": "running",
                                 "commandStatus": "Success", "exitCode": 0}],
                "checkedAt": "2026-11-22T01:44:40.300Z", "deadline": "2026-11-22T02:16:07.000Z",
                "retryAfterSeconds": 60
            },
            "ec2Stop": {"StoppingInstances": [{"InstanceId": W1}]},
            "rdsStop": {
                "dbInstanceIdentifier": "makenaide-db", "statusBefore": "available",
                "action": "stopped", "policy": "always", "dryRun": false,
                "stoppedAt": "2026-11-22T01:45:01.000Z"
            }
        })
    }

    fn doc(value: Value) -> StateDocument {
        StateDocument::from_event(value).unwrap()
    }

    struct Case {
        name: &'static str,
        doc: Value,
        now: &'static str,
        outcome: &'static str,
        job_outcome: Option<JobOutcome>,
        dry_run: bool,
        /// total, rds ready, ec2 ready, job
        durations: [Option<f64>; 4],
        rds_running: f64,
        ec2_running: &'static [(&'static str, f64)],
    }

    fn cases() -> Vec<Case> {
        let mut timed_out = happy();
        timed_out["error"] = json!({"Error": "JobTimeout", "Cause": "the job did not end"});
        timed_out["poll"]["done"] = json!(false);
        timed_out["poll"]["outcome"] = Value::Null;
        timed_out["poll"]["invocations"][0]["commandStatus"] = json!("InProgress");
        timed_out["poll"]["checkedAt"] = json!("2026-11-22T02:16:10.000Z");
        timed_out["rdsStop"]["stoppedAt"] = json!("2026-11-22T02:16:35.000Z");

        // Two workers; W1's job shut it down, W2 was stopped by the workflow.
        let mut stopped_itself = happy();
        stopped_itself["ec2"]["instances"] = json!([worker(W1, "running"), worker(W2, "running")]);
        stopped_itself["ec2"]["startedByWorkflow"] = json!([W1, W2]);
        stopped_itself["poll"]["outcome"] = json!("InstanceStoppedItself");
        stopped_itself["poll"]["invocations"] = json!([
            {"instanceId": W1, "instanceState": "stopped", "commandStatus": "InProgress", "exitCode": null},
            {"instanceId": W2, "instanceState": "running", "commandStatus": "InProgress", "exitCode": null}
        ]);

        let mut left_running = happy();
        left_running["rds"]["availableAtFirstCheck"] = json!(true);
        left_running["rds"]["startedByWorkflow"] = json!(false);
        left_running["rds"]["readyAt"] = json!("2026-11-22T01:00:01.000Z");
        left_running["rdsStop"]["action"] = json!("leftRunning");
        left_running["rdsStop"]["policy"] = json!("leave-as-found");

        let dry_run = json!({
            "input": {"dryRun": true},
            "execution": {"name": "dry-1", "startTime": "2026-11-22T01:00:00.000Z"},
            "rds": {
                "dbInstanceIdentifier": "makenaide-db", "status": "stopped", "ready": true,
                "action": "wouldStart", "startedByWorkflow": false, "availableAtFirstCheck": false,
                "instanceClass": "db.t3.micro", "multiAz": false, "dryRun": true,
                "firstCheckedAt": "2026-11-22T01:00:01.000Z", "checkedAt": "2026-11-22T01:00:01.000Z",
                "deadline": "2026-11-22T01:30:01.000Z", "readyAt": "2026-11-22T01:00:01.000Z",
                "retryAfterSeconds": 30
            },
            "workers": {"instanceIds": [W1], "dryRun": true},
            "ec2": {
                "ready": true, "instances": [worker(W1, "stopped")], "startedByWorkflow": [],
                "dryRun": true, "firstCheckedAt": "2026-11-22T01:00:02.000Z",
                "checkedAt": "2026-11-22T01:00:02.000Z", "deadline": "2026-11-22T01:15:02.000Z",
                "readyAt": "2026-11-22T01:00:02.000Z", "retryAfterSeconds": 15
            },
            "job": {
                "commandId": null, "comment": "makenaide:dry-1",
                "documentName": "MakenaideOrchestrator-Job", "instanceIds": [W1],
                "reusedExisting": false, "dryRun": true,
                "sentAt": "2026-11-22T01:00:03.000Z", "deadline": "2026-11-22T02:00:03.000Z",
                "timeoutSeconds": 3600
            },
            "poll": {
                "done": true, "outcome": "DryRun", "invocations": [],
                "checkedAt": "2026-11-22T01:00:04.000Z", "deadline": "2026-11-22T02:00:03.000Z",
                "retryAfterSeconds": 60
            },
            "rdsStop": {
                "dbInstanceIdentifier": "makenaide-db", "statusBefore": "stopped",
                "action": "wouldStop", "policy": "always", "dryRun": true,
                "stoppedAt": "2026-11-22T01:00:05.000Z"
            }
        });

        let mut before_ec2 = happy();
        for block in ["workers", "ec2", "job", "poll", "ec2Stop"] {
            before_ec2.as_object_mut().unwrap().remove(block);
        }
        before_ec2["error"] = json!({"Error": "RdsReadyTimeout", "Cause": "still starting"});
        before_ec2["rds"]["status"] = json!("starting");
        before_ec2["rds"]["ready"] = json!(false);
        before_ec2["rds"]["readyAt"] = Value::Null;
        before_ec2["rdsStop"]["stoppedAt"] = json!("2026-11-22T01:30:10.000Z");

        // The DB was stopping at the first check and the start was refused.
        let mut db_never_ran = before_ec2.clone();
        db_never_ran["error"] = json!({"Error": "AccessDenied", "Cause": "rds:StartDBInstance"});
        db_never_ran["rds"]["status"] = json!("stopped");
        db_never_ran["rds"]["action"] = json!("waitingForStop");
        db_never_ran["rds"]["startedByWorkflow"] = json!(false);
        db_never_ran["rdsStop"]["action"] = json!("alreadyStopped");

        let mut worker_never_ran = happy();
        for block in ["job", "poll"] {
            worker_never_ran.as_object_mut().unwrap().remove(block);
        }
        worker_never_ran["error"] = json!({"Error": "Ec2InsufficientCapacity", "Cause": "none"});
        worker_never_ran["ec2"]["instances"] = json!([worker(W1, "stopped")]);
        worker_never_ran["ec2"]["startedByWorkflow"] = json!([]);
        worker_never_ran["ec2"]["ready"] = json!(false);
        worker_never_ran["ec2"]["readyAt"] = Value::Null;

        vec![
            Case {
                // 01:00:00 -> 01:45:02; DB ready 01:00:01 -> 01:15:01.5;
                // worker ready 01:15:02 -> 01:16:06; job 01:16:07 ->
                // 01:44:40.3; DB ran 01:00:01 -> stopped 01:45:01; worker
                // ran 01:15:02 -> now.
                name: "happy path",
                doc: happy(),
                now: "01:45:02",
                outcome: "Succeeded",
                job_outcome: Some(JobOutcome::Success),
                dry_run: false,
                durations: [Some(2702.0), Some(900.5), Some(64.0), Some(1713.3)],
                rds_running: 2700.0,
                ec2_running: &[(W1, 1800.0)],
            },
            Case {
                // Cleanup at 02:16:40: the job ran 01:16:07 -> now; DB
                // 01:00:01 -> 02:16:35; worker 01:15:02 -> now.
                name: "job timeout with $.error",
                doc: timed_out,
                now: "02:16:40",
                outcome: "JobTimeout",
                job_outcome: None,
                dry_run: false,
                durations: [Some(4600.0), Some(900.5), Some(64.0), Some(3633.0)],
                rds_running: 4594.0,
                ec2_running: &[(W1, 3698.0)],
            },
            Case {
                // W1 ran 01:15:02 -> poll 01:44:40.3; W2 until now.
                name: "job stopped its instance",
                doc: stopped_itself,
                now: "01:45:02",
                outcome: "Succeeded",
                job_outcome: Some(JobOutcome::InstanceStoppedItself),
                dry_run: false,
                durations: [Some(2702.0), Some(900.5), Some(64.0), Some(1713.3)],
                rds_running: 2700.0,
                ec2_running: &[(W1, 1778.3), (W2, 1800.0)],
            },
            Case {
                // Ready at the first check; left running: 01:00:01 -> now.
                name: "leave-as-found left the DB running",
                doc: left_running,
                now: "01:45:02",
                outcome: "Succeeded",
                job_outcome: Some(JobOutcome::Success),
                dry_run: false,
                durations: [Some(2702.0), Some(0.0), Some(64.0), Some(1713.3)],
                rds_running: 2701.0,
                ec2_running: &[(W1, 1800.0)],
            },
            Case {
                name: "dry run",
                doc: dry_run,
                now: "01:00:06",
                outcome: "Succeeded",
                job_outcome: Some(JobOutcome::DryRun),
                dry_run: true,
                durations: [Some(6.0), Some(0.0), Some(0.0), None],
                rds_running: 0.0,
                ec2_running: &[(W1, 0.0)],
            },
            Case {
                // DB ran 01:00:01 -> stopped 01:30:10.
                name: "failure before the EC2 phase",
                doc: before_ec2,
                now: "01:30:12",
                outcome: "RdsReadyTimeout",
                job_outcome: None,
                dry_run: false,
                durations: [Some(1812.0), None, None, None],
                rds_running: 1809.0,
                ec2_running: &[],
            },
            Case {
                name: "DB never ran",
                doc: db_never_ran,
                now: "01:30:12",
                outcome: "AccessDenied",
                job_outcome: None,
                dry_run: false,
                durations: [Some(1812.0), None, None, None],
                rds_running: 0.0,
                ec2_running: &[],
            },
            Case {
                name: "worker never started",
                doc: worker_never_ran,
                now: "01:45:02",
                outcome: "Ec2InsufficientCapacity",
                job_outcome: None,
                dry_run: false,
                durations: [Some(2702.0), Some(900.5), None, None],
                rds_running: 2700.0,
                ec2_running: &[(W1, 0.0)],
            },
        ]
    }

    #[test]
    fn summary_table() {
        for case in cases() {
            let summary = summarize(&doc(case.doc), at(case.now), &settings());
            let name = case.name;
            assert_eq!(summary.outcome, case.outcome, "{name}");
            assert_eq!(summary.job_outcome, case.job_outcome, "{name}");
            assert_eq!(summary.dry_run, case.dry_run, "{name}");
            let d = &summary.durations;
            assert_eq!(
                [
                    d.total_seconds,
                    d.rds_ready_seconds,
                    d.ec2_ready_seconds,
                    d.job_seconds
                ],
                case.durations,
                "{name}"
            );
            assert_eq!(summary.running_seconds.rds, case.rds_running, "{name}");
            let ec2: Vec<(&str, f64)> = summary
                .running_seconds
                .ec2
                .iter()
                .map(|(id, s)| (id.as_str(), *s))
                .collect();
            assert_eq!(ec2, case.ec2_running, "{name}");
            if case.dry_run {
                assert_eq!(summary.cost, None, "{name}");
            } else {
                let cost = summary.cost.as_ref().unwrap();
                assert!(cost.total_usd.is_some(), "{name}: {:?}", cost.unpriced);
            }
        }
    }

    #[test]
    fn only_a_run_that_ended_badly_carries_a_notification() {
        for case in cases() {
            let failed = case.doc.get("error").is_some();
            let summary = summarize(&doc(case.doc), at(case.now), &settings());
            let value = serde_json::to_value(&summary).unwrap();
            let note = value.get("notification");
            assert_eq!(note.is_some(), failed, "{}", case.name);
            if let Some(note) = note {
                let subject = note["subject"].as_str().unwrap();
                assert!(
                    subject.contains(&format!("FAILED ({})", case.outcome)),
                    "{subject}"
                );
                assert!(note["message"].as_str().unwrap().contains("Status: FAILED"));
            }
        }
    }

    #[test]
    fn happy_path_summary_with_cost() {
        let summary = summarize(&doc(happy()), at("01:45:02"), &settings());
        // t3.medium $0.0416/h for 1800 s = 0.0208; db.t3.micro $0.018/h for
        // 2700 s = 0.0135 (both above their billing minimums); plus the
        // orchestrator. Always on: 0.0416 + 0.018 per hour.
        let cost = summary.cost.as_ref().unwrap();
        assert!(close(cost.resources_usd.unwrap(), 0.0343));
        assert!(close(
            cost.orchestrator_usd.unwrap(),
            happy_orchestrator_usd()
        ));
        assert!(close(
            cost.total_usd.unwrap(),
            0.0343 + happy_orchestrator_usd()
        ));
        assert!(close(cost.always_on_usd_per_hour.unwrap(), 0.0596));
        assert!(cost.unpriced.is_empty(), "{:?}", cost.unpriced);
        let quantities: Vec<(&str, Option<f64>)> = cost
            .orchestrator
            .iter()
            .map(|c| (c.component, c.quantity))
            .collect();
        assert_eq!(
            quantities,
            [
                ("stepFunctionsTransitions", Some(246.0)),
                ("lambdaDuration", Some(8.75)),
                ("lambdaRequests", Some(70.0)),
                ("putMetricDataRequests", Some(1.0)),
            ]
        );
        let breakdown: Vec<(&str, Option<&str>, f64)> = cost
            .resources
            .iter()
            .map(|r| (r.resource_id.as_str(), r.kind.as_deref(), r.billed_seconds))
            .collect();
        assert_eq!(
            breakdown,
            [
                ("makenaide-db", Some("db.t3.micro"), 2700.0),
                (W1, Some("t3.medium"), 1800.0)
            ]
        );
        assert_eq!(summary.metric_count, 10);
        let value = serde_json::to_value(&summary).unwrap();
        assert_eq!(value["outcome"], "Succeeded");
        assert_eq!(value["jobOutcome"], "Success");
        assert_eq!(value["dryRun"], false);
        assert_eq!(
            value["durations"],
            json!({"totalSeconds": 2702.0, "rdsReadySeconds": 900.5,
                   "ec2ReadySeconds": 64.0, "jobSeconds": 1713.3})
        );
        assert_eq!(
            value["runningSeconds"],
            json!({"rds": 2700.0, "ec2": {W1: 1800.0}})
        );
        assert_eq!(value["namespace"], "Makenaide/Orchestrator");
        assert_eq!(value["dimensions"], json!({"Workflow": "makenaide"}));
        assert_eq!(value["metricCount"], 10);
        assert_eq!(value["cost"]["resources"][0]["deployment"], "single-az");
        assert_eq!(value["cost"]["resources"][1]["usdPerHour"], 0.0416);
        assert_eq!(value["cost"]["orchestrator"][0]["priceRegion"], "us-east-1");
        assert!(value["cost"]["totalUsd"].is_f64() && value["cost"]["alwaysOnUsdPerHour"].is_f64());
        assert_eq!(value["cost"]["unpriced"], json!([]));
    }

    #[test]
    fn a_short_run_pays_the_billing_minimums_and_a_multi_az_db_costs_as_one() {
        // The DB started by the run ran 2 minutes (billed 10), the worker
        // 20 s (billed 60 s); the DB is Multi-AZ, priced as deployed.
        let mut value = happy();
        value["rds"]["multiAz"] = json!(true);
        value["rdsStop"]["stoppedAt"] = json!("2026-11-22T01:02:01.000Z");
        let short = Settings::from_env(&Env::from_pairs(&[
            ("AWS_REGION", "us-east-1"),
            (
                "PRICE_OVERRIDES",
                r#"{"t3.medium": 0.0416, "db.t3.micro": 0.036}"#,
            ),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ]))
        .unwrap();
        let summary = summarize(&doc(value.clone()), at("01:15:22"), &short);
        let cost = summary.cost.unwrap();
        let db = &cost.resources[0];
        assert_eq!((db.running_seconds, db.billed_seconds), (120.0, 600.0));
        assert_eq!(db.deployment, Some(Deployment::MultiAz));
        let worker = &cost.resources[1];
        assert_eq!(
            (worker.running_seconds, worker.billed_seconds),
            (20.0, 60.0)
        );
        assert!(close(
            cost.resources_usd.unwrap(),
            0.036 / 6.0 + 0.0416 / 60.0
        ));

        // Without a price for the Multi-AZ class in the table, it is unpriced
        // rather than priced as Single-AZ.
        value["rds"]["instanceClass"] = json!("db.t4g.large");
        let summary = summarize(&doc(value), at("01:15:22"), &settings());
        let cost = summary.cost.unwrap();
        assert_eq!(cost.total_usd, None);
        assert_eq!(
            cost.unpriced,
            ["makenaide-db (db.t4g.large: no price for this region)"]
        );
    }

    #[test]
    fn the_always_on_rate_needs_every_resource() {
        // Failed before the workers were seen: the run's cost is known, the
        // always-on rate of the configured resources is not.
        let before_ec2 = cases()
            .into_iter()
            .find(|c| c.name == "failure before the EC2 phase")
            .unwrap();
        let summary = summarize(&doc(before_ec2.doc), at("01:30:12"), &settings());
        let cost = summary.cost.as_ref().unwrap();
        assert!(cost.total_usd.is_some());
        assert_eq!(cost.always_on_usd_per_hour, None);
        let names: Vec<&str> = metrics(&summary).iter().map(|m| m.name).collect();
        assert!(names.contains(&"RunCostUsd") && !names.contains(&"AlwaysOnUsdPerHour"));
    }

    #[test]
    fn the_orchestrator_usage_counts_the_laps_of_the_poll_loops() {
        // tests/asl/test_asl_structure.py counts the states of the normal
        // path in workflow.asl.json and compares RUN_STATES_WITH_ONE_LAP.
        let usage = orchestrator_usage(&doc(happy()), Some(128));
        assert_eq!(usage.state_transitions, 246);
        assert_eq!(usage.lambda_invocations, 70);
        assert_eq!(
            orchestrator_usage(&doc(happy()), None).lambda_gb_seconds,
            None
        );
    }

    #[test]
    fn dry_run_comes_from_the_steps_or_the_raw_input() {
        let base = |input: Value| {
            json!({"input": input,
                   "execution": {"name": "run-1", "startTime": "2026-11-22T01:00:00Z"},
                   "error": {"Error": "AccessDenied", "Cause": "rds:DescribeDBInstances"}})
        };
        let mut recorded = happy();
        recorded["input"] = json!({"dryRun": "not even valid"});
        let cases = [
            (base(json!({})), false),
            (base(json!({"dryRun": true})), true),
            (
                base(
                    json!({"source": "aws.events", "detail-type": "Scheduled Event",
                            "detail": {"dryRun": true}}),
                ),
                true,
            ),
            // Never fails on a bad input: publish it as a real run.
            (base(json!({"dryRun": "yes"})), false),
            (base(json!({"typo": true})), false),
            (base(json!([1, 2])), false),
            // The steps' record wins over the raw input.
            (recorded, false),
        ];
        for (value, expected) in cases {
            let text = value.to_string();
            let summary = summarize(&doc(value), at("01:00:10"), &settings());
            assert_eq!(summary.dry_run, expected, "{text}");
        }
    }

    #[test]
    fn a_run_that_never_touched_anything_costs_only_the_orchestrator() {
        let value = json!({"input": {},
                           "execution": {"name": "run-1", "startTime": "2026-11-22T01:00:00Z"},
                           "error": {"Error": "AccessDenied", "Cause": "x"}});
        let summary = summarize(&doc(value), at("01:00:10"), &settings());
        assert_eq!(summary.outcome, "AccessDenied");
        assert_eq!(summary.durations.total_seconds, Some(10.0));
        // No resource ran: only the orchestrator cost anything.
        let cost = summary.cost.as_ref().unwrap();
        assert_eq!(cost.resources_usd, Some(0.0));
        assert!(close(
            cost.total_usd.unwrap(),
            orchestrator_usd(23.0, 7.0, 0.875)
        ));
        assert_eq!(cost.always_on_usd_per_hour, None);
        let names: Vec<&str> = metrics(&summary).iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "RunSucceeded",
                "RunFailed",
                "RunDurationSeconds",
                "RdsRunningSeconds",
                "Ec2RunningSeconds",
                "RunCostUsd",
            ]
        );
    }

    /// `(name, unit, value)` of every datum of the one PutMetricData call,
    /// checking it carries the namespace and exactly the `Workflow` dimension.
    fn published(aws: &FakeAws) -> Vec<(&'static str, MetricUnit, f64)> {
        let calls = aws.calls();
        assert_eq!(calls.len(), 1, "one call: {calls:?}");
        match &calls[0] {
            Call::PutMetrics { namespace, series } => {
                assert_eq!(namespace, "Makenaide/Orchestrator");
                assert_eq!(series.len(), 1, "no revision, no second series");
                assert_eq!(
                    series[0].dimensions,
                    [("Workflow".to_string(), "makenaide".to_string())]
                );
                series[0]
                    .metrics
                    .iter()
                    .map(|m| (m.name, m.unit, m.value))
                    .collect()
            }
            other => panic!("not a PutMetricData call: {other:?}"),
        }
    }

    fn assert_data(actual: &[(&str, MetricUnit, f64)], expected: &[(&str, MetricUnit, f64)]) {
        assert_eq!(actual.len(), expected.len(), "{actual:?}");
        for ((name, unit, value), (want_name, want_unit, want_value)) in actual.iter().zip(expected)
        {
            assert_eq!(name, want_name);
            assert_eq!(unit, want_unit, "{name}");
            assert!(
                close(*value, *want_value),
                "{name}: {value} != {want_value}"
            );
        }
    }

    #[tokio::test]
    async fn publishes_every_metric_in_one_request() {
        let aws = FakeAws::new();
        let summary = handle(&aws, &settings(), happy(), at("01:45:02"))
            .await
            .unwrap();
        aws.assert_calls_exactly_declared("emit_metrics");
        use MetricUnit::{Count, None as NoUnit, Seconds};
        assert_data(
            &published(&aws),
            &[
                ("RunSucceeded", Count, 1.0),
                ("RunFailed", Count, 0.0),
                ("RunDurationSeconds", Seconds, 2702.0),
                ("RdsReadySeconds", Seconds, 900.5),
                ("Ec2ReadySeconds", Seconds, 64.0),
                ("JobDurationSeconds", Seconds, 1713.3),
                ("RdsRunningSeconds", Seconds, 2700.0),
                ("Ec2RunningSeconds", Seconds, 1800.0),
                ("RunCostUsd", NoUnit, 0.0343 + happy_orchestrator_usd()),
                ("AlwaysOnUsdPerHour", NoUnit, 0.0596),
            ],
        );
        assert_eq!(summary.metric_count, 10);
        assert!(summary.published && summary.publish_error.is_none());
        assert_eq!(summary.namespace, "Makenaide/Orchestrator");
    }

    #[tokio::test]
    async fn a_revision_adds_the_rollout_metrics_per_revision_in_the_same_call() {
        let all_series = |revision: Value, error: Option<&'static str>| async move {
            let aws = FakeAws::new();
            let mut value = happy();
            value["execution"]["revision"] = revision;
            if let Some(error) = error {
                value["error"] = json!({"Error": error, "Cause": "exit 2"});
            }
            let summary = handle(&aws, &settings(), value, at("01:45:02"))
                .await
                .unwrap();
            let calls = aws.calls();
            assert_eq!(calls.len(), 1, "one PutMetricData call");
            match calls.into_iter().next() {
                Some(Call::PutMetrics { series, .. }) => (summary, series),
                other => panic!("{other:?}"),
            }
        };
        let (summary, series) = all_series(json!("r-1f2e3d4c5b6a"), Some("JobFailed")).await;
        assert_eq!(series.len(), 2);
        assert_eq!(
            series[0].metrics.len(),
            10,
            "the totals are all still there"
        );
        assert_eq!(
            series[1].dimensions,
            [
                ("Workflow".to_string(), "makenaide".to_string()),
                ("Revision".to_string(), "r-1f2e3d4c5b6a".to_string())
            ]
        );
        let by_revision: Vec<(&str, f64)> = series[1]
            .metrics
            .iter()
            .map(|m| (m.name, m.value))
            .collect();
        assert_eq!(
            by_revision,
            [
                ("RunSucceeded", 0.0),
                ("RunFailed", 1.0),
                ("RunDurationSeconds", 2702.0)
            ]
        );
        assert_eq!(summary.metric_count, 13);
        assert_eq!(summary.revision.as_deref(), Some("r-1f2e3d4c5b6a"));
        // No revision, or one no dimension should carry: the totals only.
        for revision in [
            Value::Null,
            json!(""),
            json!("arn:aws:states:us-east-1:123456789012:execution:m:run-1"),
            json!("r".repeat(65)),
        ] {
            let (summary, series) = all_series(revision.clone(), None).await;
            assert_eq!(series.len(), 1, "{revision}");
            assert_eq!(summary.revision, None);
        }
    }

    #[tokio::test]
    async fn a_failed_run_counts_as_failed_and_sums_running_workers() {
        let mut value = happy();
        value["error"] = json!({"Error": "JobFailed", "Cause": "exit 2"});
        value["ec2"]["instances"] = json!([worker(W1, "running"), worker(W2, "running")]);
        value["ec2"]["startedByWorkflow"] = json!([W1, W2]);
        let aws = FakeAws::new();
        let summary = handle(&aws, &settings(), value, at("01:45:02"))
            .await
            .unwrap();
        assert_eq!(summary.outcome, "JobFailed");
        let data = published(&aws);
        let value_of = |name: &str| data.iter().find(|d| d.0 == name).map(|d| d.2);
        assert_eq!(value_of("RunSucceeded"), Some(0.0));
        assert_eq!(value_of("RunFailed"), Some(1.0));
        assert_eq!(value_of("Ec2RunningSeconds"), Some(3600.0));
    }

    #[tokio::test]
    async fn a_dry_run_publishes_no_cost() {
        let aws = FakeAws::new();
        let dry_run = cases().into_iter().find(|c| c.name == "dry run").unwrap();
        let summary = handle(&aws, &settings(), dry_run.doc, at("01:00:06"))
            .await
            .unwrap();
        use MetricUnit::{Count, Seconds};
        assert_data(
            &published(&aws),
            &[
                ("RunSucceeded", Count, 1.0),
                ("RunFailed", Count, 0.0),
                ("RunDurationSeconds", Seconds, 6.0),
                ("RdsReadySeconds", Seconds, 0.0),
                ("Ec2ReadySeconds", Seconds, 0.0),
                ("RdsRunningSeconds", Seconds, 0.0),
                ("Ec2RunningSeconds", Seconds, 0.0),
            ],
        );
        assert!(summary.dry_run);
        assert_eq!(summary.metric_count, 7);
    }

    #[tokio::test]
    async fn an_unpriced_type_publishes_no_cost_metrics() {
        let mut value = happy();
        value["ec2"]["instances"][0]["instanceType"] = json!("x9.huge");
        let aws = FakeAws::new();
        let summary = handle(&aws, &settings(), value, at("01:45:02"))
            .await
            .unwrap();
        let names: Vec<&str> = published(&aws).into_iter().map(|d| d.0).collect();
        assert!(
            !names
                .iter()
                .any(|n| *n == "RunCostUsd" || *n == "AlwaysOnUsdPerHour"),
            "{names:?}"
        );
        assert_eq!(names.len(), 8);
        assert_eq!(summary.metric_count, 8);
        let cost = summary.cost.unwrap();
        assert_eq!((cost.total_usd, cost.always_on_usd_per_hour), (None, None));
        assert_eq!(
            cost.unpriced,
            [format!("{W1} (x9.huge: no price for this region)")]
        );
    }

    #[tokio::test]
    async fn a_failed_publish_is_reported_not_raised() {
        // The SDK has retried already; whatever CloudWatch answers last, the
        // run keeps its outcome and the block says why nothing was published.
        for name in [
            ErrorName::AwsThrottled,
            ErrorName::AwsServiceUnavailable,
            ErrorName::AccessDenied,
        ] {
            let aws = FakeAws::new().fail_always(Operation::PutMetricData, name);
            let summary = handle(&aws, &settings(), happy(), at("01:45:02"))
                .await
                .unwrap();
            assert_eq!(summary.outcome, "Succeeded");
            assert!(!summary.published);
            let error = summary.publish_error.as_ref().unwrap();
            assert_eq!(error.error_type, name.as_str());
            assert!(
                error.error_message.contains("cloudwatch:PutMetricData"),
                "{}",
                error.error_message
            );
            // One attempt per invocation: the retries are the SDK's.
            assert_eq!(aws.count(Operation::PutMetricData), 1);
            let value = serde_json::to_value(&summary).unwrap();
            assert_eq!(value["published"], false);
            assert_eq!(value["publishError"]["errorType"], name.as_str());
            // The cost is still in the state.
            assert!(value["cost"]["totalUsd"].is_f64());
        }
        // A failed run's cleanup publishes its failure the same way.
        let mut failed = happy();
        failed["error"] = json!({"Error": "JobFailed", "Cause": "exit 2"});
        let aws = FakeAws::new().fail_always(Operation::PutMetricData, ErrorName::AccessDenied);
        let summary = handle(&aws, &settings(), failed, at("01:45:02"))
            .await
            .unwrap();
        assert_eq!(
            (summary.outcome.as_str(), summary.published),
            ("JobFailed", false)
        );
    }

    #[tokio::test]
    async fn a_published_block_has_no_error() {
        let aws = FakeAws::new();
        let summary = handle(&aws, &settings(), happy(), at("01:45:02"))
            .await
            .unwrap();
        let value = serde_json::to_value(&summary).unwrap();
        assert_eq!(value["published"], true);
        assert!(value.get("publishError").is_none());
    }

    thread_local! {
        /// What this test thread logged (see `capture_logs`).
        static LOGGED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    /// Writes to the calling thread's `LOGGED`.
    struct ThreadLog;

    impl std::io::Write for ThreadLog {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            LOGGED.with(|logged| logged.borrow_mut().extend_from_slice(bytes));
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Logs as deployed (lambda_runtime's default subscriber with
    /// AWS_LAMBDA_LOG_FORMAT=JSON) into a per-thread buffer. One global
    /// subscriber for the whole test binary: a thread-scoped one loses events
    /// to tracing's callsite cache when other tests log at the same time.
    fn capture_logs() {
        static GLOBAL: std::sync::Once = std::sync::Once::new();
        GLOBAL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_target(false)
                .without_time()
                .with_writer(|| ThreadLog)
                .json()
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
        });
        LOGGED.with(|logged| logged.borrow_mut().clear());
    }

    fn logged() -> String {
        LOGGED.with(|logged| String::from_utf8(logged.borrow().clone()).unwrap())
    }

    #[tokio::test]
    async fn a_failed_publish_logs_one_error_line_the_stack_counts() {
        // The stack's metric filter matches `$.level = "ERROR"` and
        // `$.fields.message` = this message, with `$.fields.workflow` as the
        // Workflow dimension.
        capture_logs();
        let aws = FakeAws::new().fail_always(Operation::PutMetricData, ErrorName::AccessDenied);
        handle(&aws, &settings(), happy(), at("01:45:02"))
            .await
            .unwrap();
        let text = logged();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
        assert_eq!(errors.len(), 1, "logged: {text:?}");
        assert_eq!(errors[0]["fields"]["message"], METRICS_NOT_PUBLISHED);
        assert_eq!(errors[0]["fields"]["error_type"], "AccessDenied");
        assert_eq!(errors[0]["fields"]["outcome"], "Succeeded");
        assert_eq!(errors[0]["fields"]["workflow"], "makenaide");

        // A publication that goes through logs no error.
        capture_logs();
        handle(&FakeAws::new(), &settings(), happy(), at("01:45:02"))
            .await
            .unwrap();
        let text = logged();
        assert!(text.contains("run metrics"), "{text}");
        assert!(!text.contains("\"ERROR\""), "{text}");
    }

    const ENDED: &str = "arn:aws:states:us-east-1:123456789012:execution:makenaide:run-1";

    /// What each kind of execution publishes (its data points, by name).
    #[tokio::test]
    async fn publication_table() {
        let stop_answer = json!({"StoppingInstances": [
            {"InstanceId": W1, "PreviousState": {"Name": "running"}},
            {"InstanceId": W2, "PreviousState": {"Name": "stopped"}}
        ]});
        let rds_stop = |before: &str| {
            json!({
                "dbInstanceIdentifier": "makenaide-db", "statusBefore": before, "action": "stopped",
                "policy": "always", "dryRun": false, "stoppedAt": "2026-11-22T01:45:00Z"
            })
        };
        let base = |input: Value| json!({"input": input, "execution": {"name": "x", "startTime": "2026-11-22T01:00:00Z"}});
        let mut skipped = happy();
        skipped["skipped"] = json!({"reason": "RunInProgress", "heldBy": "run-0"});
        let workers_stop = json!({
            "done": true, "policy": "always", "dryRun": false,
            "instances": [
                {"instanceId": W1, "stateBefore": "running", "foundRunning": true, "action": "stopped"},
                {"instanceId": W2, "stateBefore": "terminated", "foundRunning": true, "action": "gone"}
            ],
            "checkedAt": "2026-11-22T01:45:00Z", "firstTriedAt": "2026-11-22T01:44:00Z",
            "deadline": "2026-11-22T02:00:00Z", "retryAfterSeconds": 15
        });
        let mut swept = base(json!({"sweep": "scheduled"}));
        swept["workersStop"] = workers_stop;
        let mut swept_by_older_machine = base(json!({"sweep": "scheduled"}));
        swept_by_older_machine["ec2Stop"] = stop_answer.clone();
        swept_by_older_machine["rdsStop"] = rds_stop("backing-up");
        swept["rdsStop"] = rds_stop("available");
        let mut swept_nothing = base(json!({"sweep": "rds-auto-start"}));
        swept_nothing["ec2Stop"] = json!({"StoppingInstances": [{"InstanceId": W1, "PreviousState": {"Name": "stopped"}}]});
        swept_nothing["rdsStop"] = rds_stop("stopped");
        let aborted = base(json!({"cleanupAfter": ENDED, "endedWith": "ABORTED"}));
        let timed_out = base(json!({"cleanupAfter": ENDED, "endedWith": "TIMED_OUT"}));
        let failed = base(json!({"cleanupAfter": ENDED, "endedWith": "FAILED"}));
        type Case = (&'static str, Value, &'static str, Vec<(&'static str, f64)>);
        let cases: Vec<Case> = vec![
            ("skipped", skipped, "Skipped", vec![("RunSkipped", 1.0)]),
            (
                "sweep finding a DB and a worker",
                swept,
                "Swept",
                vec![("UnattendedResources", 2.0)],
            ),
            (
                "sweep by an older state machine ($.ec2Stop)",
                swept_by_older_machine,
                "Swept",
                vec![("UnattendedResources", 2.0)],
            ),
            (
                "sweep finding nothing",
                swept_nothing,
                "Swept",
                vec![("UnattendedResources", 0.0)],
            ),
            (
                "cleanup after an abort",
                aborted,
                "Aborted",
                vec![
                    ("CleanupRuns", 1.0),
                    ("RunSucceeded", 0.0),
                    ("RunFailed", 1.0),
                ],
            ),
            (
                "cleanup after a timeout",
                timed_out,
                "TimedOut",
                vec![
                    ("CleanupRuns", 1.0),
                    ("RunSucceeded", 0.0),
                    ("RunFailed", 1.0),
                ],
            ),
            // A failed run published its own failure already.
            (
                "cleanup after a failure",
                failed,
                "Failed",
                vec![("CleanupRuns", 1.0)],
            ),
        ];
        for (name, doc, outcome, expected) in cases {
            let aws = FakeAws::new();
            let summary = handle(&aws, &settings(), doc, at("01:45:02"))
                .await
                .unwrap();
            assert_eq!(summary.outcome, outcome, "{name}");
            let data: Vec<(&str, f64)> = published(&aws)
                .into_iter()
                .map(|(n, _, v)| (n, v))
                .collect();
            assert_eq!(data, expected, "{name}");
            assert_eq!(summary.metric_count, expected.len(), "{name}");
        }
        let cleanup = serde_json::to_value(Publication::Cleanup {
            counts_as_failed_run: true,
        })
        .unwrap();
        assert_eq!(cleanup, json!({"cleanup": {"countsAsFailedRun": true}}));
    }

    #[test]
    fn malformed_configuration_names_the_variable() {
        let cases = [
            ("PRICE_OVERRIDES", "t3.medium=0.05"),
            ("SCHEDULE_INTERVAL_HOURS", "often"),
            ("JOB_TIMEOUT_SECONDS", "0"),
        ];
        for (variable, value) in cases {
            let env = [(variable, value)];
            let error = Settings::from_env(&Env::from_pairs(&env)).unwrap_err();
            assert_eq!(error.name, ErrorName::ConfigError);
            assert!(error.message.contains(variable), "{}", error.message);
        }
    }
}
