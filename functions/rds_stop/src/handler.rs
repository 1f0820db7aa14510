//! Stop the DB unless the stop policy says to leave it as found. Used by the
//! normal end of a run and by the cleanup path, so it tolerates a DB that is
//! already stopped, missing, or broken.

use makenaide_core::config::{Env, StopPolicy, Timing, db_instance_identifier};
use makenaide_core::document::{FoundRecord, RdsReport, RdsStopReport, StateDocument, StopAction};
use makenaide_core::input::{RunMode, read_event};
use makenaide_core::ports::{RdsPort, Transition};
use makenaide_core::settings;
use makenaide_core::states::{RdsClass, classify_rds_status};
use makenaide_core::{ErrorName, StepError, Timestamp};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Settings {
    pub db_instance_identifier: String,
    pub policy: StopPolicy,
    pub timing: Timing,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, StepError> {
        Ok(Self {
            db_instance_identifier: db_instance_identifier(env)?,
            policy: StopPolicy::from_env(env, settings::RDS_STOP_POLICY)?,
            timing: Timing::from_env(env)?,
        })
    }
}

/// What to do with the DB in its current state (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Stop,
    Report(StopAction),
    /// Running but busy (`starting`, `backing-up`, ...): RDS refuses a stop
    /// now; report `notYet` and the state machine calls again after
    /// `retryAfterSeconds`, until `RDS_STOP_DEADLINE_SECONDS`.
    NotYet,
}

/// `leave_as_found`: the policy is `leave-as-found` and the first check saw
/// the DB `available`. Without a record of the first check (the run failed
/// before it), the DB is stopped: nothing may be left running by accident.
fn decide(class: RdsClass, leave_as_found: bool, dry_run: bool) -> Decision {
    match class {
        RdsClass::Stopped | RdsClass::Stopping => Decision::Report(StopAction::AlreadyStopped),
        RdsClass::Unrecoverable => Decision::Report(StopAction::CannotStop),
        RdsClass::Available | RdsClass::Transitional if leave_as_found => {
            Decision::Report(StopAction::LeftRunning)
        }
        RdsClass::Available | RdsClass::Transitional if dry_run => {
            Decision::Report(StopAction::WouldStop)
        }
        RdsClass::Available => Decision::Stop,
        RdsClass::Transitional => Decision::NotYet,
    }
}

/// Whether the DB was already running before the run this stop is for
/// began (pure). RDS restarts by itself only a DB that was stopped; a cleanup
/// run or a sweep that took over a lease uses what its holder recorded at its
/// first check; a run uses its own first check; a scheduled sweep with no
/// record treats what runs now as found that way. `None`: nobody knows, and
/// the DB is stopped (nothing may be left running by accident).
fn found_running(doc: &StateDocument, mode: &RunMode) -> Option<bool> {
    if matches!(mode, RunMode::Sweep { reason } if reason == "rds-auto-start") {
        return Some(false);
    }
    doc.found
        .as_ref()
        .and_then(FoundRecord::db_running)
        .or_else(|| doc.rds.as_ref().map(RdsReport::found_running))
        .or_else(|| matches!(mode, RunMode::Sweep { .. }).then_some(true))
}

pub async fn handle(
    rds: &impl RdsPort,
    settings: &Settings,
    event: Value,
    now: Timestamp,
) -> Result<RdsStopReport, StepError> {
    let (doc, run) = read_event(event, &settings.timing)?;
    let id = settings.db_instance_identifier.as_str();
    let leave_as_found =
        settings.policy == StopPolicy::LeaveAsFound && found_running(&doc, &run.mode) == Some(true);

    // The deadline counts from the first call of this stop (sticky across
    // the loop; a finished stop starts a new count).
    let first_tried_at = doc
        .rds_stop
        .as_ref()
        .filter(|previous| !previous.done)
        .and_then(|previous| previous.first_tried_at)
        .unwrap_or(now);
    let deadline = first_tried_at.plus_seconds(settings.timing.rds_stop_deadline_seconds);

    let db = rds.describe_db(id).await?;
    let status_before = db.as_ref().map(|db| db.status.clone());
    let action = match db {
        None => StopAction::NotFound,
        Some(db) => match decide(classify_rds_status(&db.status), leave_as_found, run.dry_run) {
            Decision::Report(action) => action,
            Decision::Stop => match rds.stop_db(id).await? {
                Transition::Accepted => StopAction::Stopped,
                // It turned busy since the describe: look again next time.
                Transition::Refused => StopAction::NotYet,
            },
            Decision::NotYet => StopAction::NotYet,
        },
    };
    if action == StopAction::NotYet && now > deadline {
        return Err(StepError::new(
            ErrorName::RdsStopTimeout,
            format!(
                "DB instance {id} is still {} after {} s of waiting for RDS to accept a stop (deadline {deadline}, RDS_STOP_DEADLINE_SECONDS); it is running",
                status_before.as_deref().unwrap_or("unknown"),
                now.seconds_since(first_tried_at).round()
            ),
        ));
    }
    let report = RdsStopReport {
        db_instance_identifier: id.to_string(),
        status_before,
        action,
        policy: settings.policy,
        dry_run: run.dry_run,
        stopped_at: now,
        done: action != StopAction::NotYet,
        first_tried_at: Some(first_tried_at),
        deadline: Some(deadline),
        retry_after_seconds: settings.timing.rds_poll_seconds,
    };
    tracing::info!(
        db = id,
        status_before = ?report.status_before,
        action = ?report.action,
        policy = ?report.policy,
        dry_run = run.dry_run,
        "stop DB instance"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use makenaide_core::ports::Operation;
    use makenaide_core::testing::{Call, Change, FakeAws};
    use serde_json::json;

    const DB: &str = "makenaide-db";

    fn settings(policy: &str) -> Settings {
        Settings::from_env(&Env::from_pairs(&[
            ("DB_INSTANCE_IDENTIFIER", DB),
            ("RDS_STOP_POLICY", policy),
        ]))
        .unwrap()
    }

    fn now() -> Timestamp {
        Timestamp::from_millis(1_795_309_800_000)
    }

    fn db(status: &str) -> FakeAws {
        FakeAws::new().with_db(DB, status, "db.t3.micro")
    }

    /// A document after `rds_check` saw the DB `available` (or not) first.
    fn event(input: Value, available_at_first_check: Option<bool>) -> Value {
        let mut event = json!({
            "input": input,
            "execution": {"name": "run-1", "startTime": "2026-11-22T01:00:00Z"}
        });
        if let Some(available) = available_at_first_check {
            event["rds"] = json!({
                "dbInstanceIdentifier": DB, "status": "available", "ready": true,
                "action": "none", "startedByWorkflow": !available,
                "availableAtFirstCheck": available, "instanceClass": "db.t3.micro",
                "dryRun": false, "firstCheckedAt": "2026-11-22T01:00:00Z",
                "checkedAt": "2026-11-22T01:05:00Z", "deadline": "2026-11-22T01:30:00Z",
                "readyAt": "2026-11-22T01:05:00Z", "retryAfterSeconds": 30
            });
        }
        event
    }

    async fn run(aws: &FakeAws, policy: &str, event: Value) -> Result<RdsStopReport, StepError> {
        handle(aws, &settings(policy), event, now()).await
    }

    #[tokio::test]
    async fn calls_exactly_its_declared_operations() {
        let aws = db("available");
        run(&aws, "always", event(json!({}), Some(false)))
            .await
            .unwrap();
        aws.assert_calls_exactly_declared("rds_stop");
    }

    fn stop_call() -> Call {
        Call::StopDb {
            identifier: DB.into(),
        }
    }

    #[test]
    fn decision_table() {
        use Decision::{NotYet, Report, Stop};
        use RdsClass::*;
        use StopAction::{AlreadyStopped, CannotStop, LeftRunning, WouldStop};
        // (class, leave_as_found, dry_run) -> decision
        let table = [
            (Available, false, false, Stop),
            (Available, true, false, Report(LeftRunning)),
            (Available, false, true, Report(WouldStop)),
            (Transitional, false, false, NotYet),
            (Transitional, true, false, Report(LeftRunning)),
            (Transitional, false, true, Report(WouldStop)),
            (RdsClass::Stopped, false, false, Report(AlreadyStopped)),
            (Stopping, true, true, Report(AlreadyStopped)),
            (Unrecoverable, false, false, Report(CannotStop)),
        ];
        for (class, leave, dry, expected) in table {
            assert_eq!(
                decide(class, leave, dry),
                expected,
                "{class:?} {leave} {dry}"
            );
        }
    }

    #[tokio::test]
    async fn available_db_is_stopped() {
        let aws = db("available");
        let report = run(&aws, "always", event(json!({}), Some(false)))
            .await
            .unwrap();
        assert_eq!(report.action, StopAction::Stopped);
        assert_eq!(report.status_before.as_deref(), Some("available"));
        assert_eq!(report.stopped_at, now());
        assert_eq!(aws.mutating_calls(), [stop_call()]);
        assert_eq!(aws.db(DB).unwrap().status, "stopping");
    }

    #[tokio::test]
    async fn policy_always_stops_a_db_that_was_already_running() {
        let aws = db("available");
        let report = run(&aws, "always", event(json!({}), Some(true)))
            .await
            .unwrap();
        assert_eq!(report.action, StopAction::Stopped);
        assert_eq!(aws.mutating_calls(), [stop_call()]);
    }

    #[tokio::test]
    async fn leave_as_found_leaves_a_db_that_was_already_running() {
        let aws = db("available");
        let report = run(&aws, "leave-as-found", event(json!({}), Some(true)))
            .await
            .unwrap();
        assert_eq!(report.action, StopAction::LeftRunning);
        assert_eq!(report.policy, StopPolicy::LeaveAsFound);
        assert!(aws.mutating_calls().is_empty());
    }

    #[tokio::test]
    async fn leave_as_found_stops_what_the_workflow_started_or_never_observed() {
        for first_check in [Some(false), None] {
            let aws = db("available");
            let report = run(&aws, "leave-as-found", event(json!({}), first_check))
                .await
                .unwrap();
            assert_eq!(report.action, StopAction::Stopped, "{first_check:?}");
            assert_eq!(aws.mutating_calls(), [stop_call()]);
        }
    }

    const ENDED: &str = "arn:aws:states:us-east-1:123456789012:execution:makenaide:run-1";

    /// A cleanup run's or a sweep's document: the lease record, no `$.rds`.
    fn taken_over(input: Value, db_found_running: Option<bool>) -> Value {
        let mut item = json!({"pk": {"S": "run-lease"}});
        if let Some(found) = db_found_running {
            item["dbFoundRunning"] = json!({"BOOL": found});
        }
        json!({
            "input": input,
            "execution": {"name": "cleanup-1", "startTime": "2026-11-22T02:00:00Z"},
            "found": {"item": item}
        })
    }

    #[tokio::test]
    async fn found_running_table_for_cleanup_runs_and_sweeps() {
        let cleanup = json!({"cleanupAfter": ENDED, "endedWith": "ABORTED"});
        // (input, recorded by the holder, expected action under leave-as-found)
        let cases = [
            (cleanup.clone(), Some(true), StopAction::LeftRunning),
            (cleanup.clone(), Some(false), StopAction::Stopped),
            (cleanup.clone(), None, StopAction::Stopped),
            (json!({"sweep": "scheduled"}), None, StopAction::LeftRunning),
            (
                json!({"sweep": "scheduled"}),
                Some(false),
                StopAction::Stopped,
            ),
            (
                json!({"sweep": "rds-auto-start"}),
                None,
                StopAction::Stopped,
            ),
            (
                json!({"sweep": "rds-auto-start"}),
                Some(true),
                StopAction::Stopped,
            ),
        ];
        for (input, recorded, expected) in cases {
            let aws = db("available");
            let report = run(&aws, "leave-as-found", taken_over(input.clone(), recorded))
                .await
                .unwrap();
            assert_eq!(report.action, expected, "{input} {recorded:?}");
            // Policy always stops in every case.
            let aws = db("available");
            let report = run(&aws, "always", taken_over(input.clone(), recorded))
                .await
                .unwrap();
            assert_eq!(report.action, StopAction::Stopped, "{input} {recorded:?}");
        }
    }

    #[tokio::test]
    async fn stopping_again_is_a_no_op() {
        for status in ["stopped", "stopping"] {
            let aws = db(status);
            let report = run(&aws, "always", event(json!({}), Some(false)))
                .await
                .unwrap();
            assert_eq!(report.action, StopAction::AlreadyStopped, "{status}");
            assert!(aws.mutating_calls().is_empty());
        }
    }

    #[tokio::test]
    async fn a_busy_db_is_waited_for_until_it_stops_or_the_deadline_passes() {
        for status in ["backing-up", "starting", "modifying"] {
            let aws = db(status);
            let report = run(&aws, "always", event(json!({}), Some(false)))
                .await
                .unwrap();
            assert_eq!(report.action, StopAction::NotYet, "{status}");
            assert!(!report.done);
            assert_eq!(report.retry_after_seconds, 30);
            assert_eq!(report.first_tried_at, Some(now()));
            assert_eq!(report.deadline, Some(now().plus_seconds(14_400)));
            assert!(aws.mutating_calls().is_empty());
        }
        // The loop: still busy an hour later, then available: stopped.
        let aws = db("backing-up");
        let first = run(&aws, "always", event(json!({}), Some(false)))
            .await
            .unwrap();
        let later = |previous: &RdsStopReport, seconds: u64| {
            let mut doc = event(json!({}), Some(false));
            doc["rdsStop"] = serde_json::to_value(previous).unwrap();
            (doc, now().plus_seconds(seconds))
        };
        let (doc, at) = later(&first, 3600);
        let second = handle(&aws, &settings("always"), doc, at).await.unwrap();
        assert_eq!(
            (second.action, second.first_tried_at),
            (StopAction::NotYet, Some(now()))
        );
        aws.set_db_status(DB, "available");
        let (doc, at) = later(&second, 3700);
        let third = handle(&aws, &settings("always"), doc, at).await.unwrap();
        assert_eq!(third.action, StopAction::Stopped);
        assert!(third.done);
        // Past the deadline it gives up, naming the variable; the DB runs.
        let aws = db("backing-up");
        let (doc, at) = later(&first, 14_401);
        let error = handle(&aws, &settings("always"), doc, at)
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::RdsStopTimeout);
        assert!(!error.name.is_retryable());
        assert!(error.message.contains("backing-up"), "{}", error.message);
        assert!(
            error.message.contains("RDS_STOP_DEADLINE_SECONDS"),
            "{}",
            error.message
        );
    }

    #[tokio::test]
    async fn a_stop_refused_by_a_race_is_not_yet() {
        let aws = db("available").after_next(
            Operation::DescribeDbInstances,
            Change::DbStatus {
                identifier: DB.into(),
                status: "backing-up".into(),
            },
        );
        let report = run(&aws, "always", event(json!({}), Some(false)))
            .await
            .unwrap();
        assert_eq!(report.action, StopAction::NotYet);
        assert!(!report.done);
        assert_eq!(aws.mutating_calls(), [stop_call()]);
    }

    #[tokio::test]
    async fn missing_or_broken_db_is_reported_not_failed() {
        let aws = FakeAws::new();
        let report = run(&aws, "always", event(json!({}), None)).await.unwrap();
        assert_eq!(report.action, StopAction::NotFound);
        assert_eq!(report.status_before, None);

        let aws = db("failed");
        let report = run(&aws, "always", event(json!({}), None)).await.unwrap();
        assert_eq!(report.action, StopAction::CannotStop);
        assert!(aws.mutating_calls().is_empty());
    }

    #[tokio::test]
    async fn aws_errors_keep_their_name() {
        for name in [ErrorName::AwsServiceUnavailable, ErrorName::AwsThrottled] {
            let aws = db("available").fail_next(Operation::DescribeDbInstances, 1, name);
            let error = run(&aws, "always", event(json!({}), None))
                .await
                .unwrap_err();
            assert_eq!(error.name, name);
            assert!(aws.mutating_calls().is_empty());
            let aws = db("available").fail_next(Operation::StopDbInstance, 1, name);
            let error = run(&aws, "always", event(json!({}), None))
                .await
                .unwrap_err();
            assert_eq!(error.name, name);
            // A retry of the step after the failure stops the DB.
            let report = run(&aws, "always", event(json!({}), None)).await.unwrap();
            assert_eq!(report.action, StopAction::Stopped);
        }
    }

    #[tokio::test]
    async fn dry_run_changes_nothing() {
        let aws = db("available");
        let report = run(&aws, "always", event(json!({"dryRun": true}), None))
            .await
            .unwrap();
        assert_eq!(report.action, StopAction::WouldStop);
        assert!(report.dry_run);
        assert!(aws.mutating_calls().is_empty());
    }

    #[tokio::test]
    async fn bad_input_fails_before_any_aws_call() {
        let aws = db("available");
        let error = run(&aws, "always", event(json!({"dryRun": 1}), None))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::InvalidInput);
        assert!(aws.calls().is_empty());
    }

    #[test]
    fn bad_policy_names_the_variable() {
        let error = Settings::from_env(&Env::from_pairs(&[
            ("DB_INSTANCE_IDENTIFIER", DB),
            ("RDS_STOP_POLICY", "sometimes"),
        ]))
        .unwrap_err();
        assert_eq!(error.name, ErrorName::ConfigError);
        assert!(error.message.contains("RDS_STOP_POLICY"));
    }
}
