//! Observe the DB, start it when it is stopped, and report whether it is
//! ready. Never waits: the state machine loops on `retryAfterSeconds`.

use makenaide_core::config::{Env, Timing, db_instance_identifier};
use makenaide_core::document::{RdsReport, StartAction};
use makenaide_core::input::{check_launch_window, read_event, require_run_mode};
use makenaide_core::ports::{RdsPort, Transition};
use makenaide_core::states::{RdsClass, classify_rds_status};
use makenaide_core::{ErrorName, StepError, Timestamp};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Settings {
    pub db_instance_identifier: String,
    pub timing: Timing,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, StepError> {
        Ok(Self {
            db_instance_identifier: db_instance_identifier(env)?,
            timing: Timing::from_env(env)?,
        })
    }
}

/// What to do about the DB's current status (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Ready,
    Start,
    WaitForStop,
    Wait,
    Fail,
}

fn decide(class: RdsClass) -> Decision {
    match class {
        RdsClass::Available => Decision::Ready,
        RdsClass::Stopped => Decision::Start,
        RdsClass::Stopping => Decision::WaitForStop,
        RdsClass::Transitional => Decision::Wait,
        RdsClass::Unrecoverable => Decision::Fail,
    }
}

pub async fn handle(
    rds: &impl RdsPort,
    settings: &Settings,
    event: Value,
    now: Timestamp,
) -> Result<RdsReport, StepError> {
    // Validate everything the caller controls before any AWS call.
    let (doc, run) = read_event(event, &settings.timing)?;
    require_run_mode(&run, "rds_check")?;
    let id = settings.db_instance_identifier.as_str();
    let previous = doc.rds.as_ref();
    let first_checked_at = previous.map_or(now, |p| p.first_checked_at);
    let deadline = first_checked_at.plus_seconds(settings.timing.rds_ready_timeout_seconds);

    let db = rds.describe_db(id).await?.ok_or_else(|| {
        StepError::new(
            ErrorName::RdsInstanceNotFound,
            format!("DB instance {id} does not exist (DB_INSTANCE_IDENTIFIER)"),
        )
    })?;
    let class = classify_rds_status(&db.status);
    let decision = decide(class);
    if decision == Decision::Fail {
        return Err(StepError::new(
            ErrorName::RdsUnrecoverableState,
            format!(
                "DB instance {id} is {}, from which it cannot become available without an operator",
                db.status
            ),
        ));
    }
    if decision != Decision::Ready && !run.dry_run && now > deadline {
        return Err(StepError::new(
            ErrorName::RdsReadyTimeout,
            format!(
                "DB instance {id} is still {} after {} s (deadline {deadline}, RDS_READY_TIMEOUT_SECONDS)",
                db.status,
                now.seconds_since(first_checked_at).round()
            ),
        ));
    }

    if decision != Decision::Ready {
        // Past the window nothing is started, and waiting is pointless.
        check_launch_window(
            &doc,
            &run,
            &settings.timing,
            now,
            &format!("DB instance {id} is {}", db.status),
        )?;
    }

    let action = match decision {
        Decision::Start if run.dry_run => StartAction::WouldStart,
        Decision::Start => match rds.start_db(id).await? {
            Transition::Accepted => StartAction::Started,
            // It changed state since the describe: look again next time.
            Transition::Refused => StartAction::None,
        },
        Decision::WaitForStop => StartAction::WaitingForStop,
        _ => StartAction::None,
    };
    // A dry run changes nothing, so there is nothing to wait for.
    let ready = decision == Decision::Ready || run.dry_run;
    let report = RdsReport {
        db_instance_identifier: id.to_string(),
        status: db.status,
        ready,
        action,
        started_by_workflow: previous.is_some_and(|p| p.started_by_workflow)
            || action == StartAction::Started,
        available_at_first_check: previous
            .map_or(decision == Decision::Ready, |p| p.available_at_first_check),
        found_running: Some(previous.map_or(
            !matches!(class, RdsClass::Stopped | RdsClass::Stopping),
            RdsReport::found_running,
        )),
        instance_class: db.class,
        multi_az: Some(db.multi_az),
        dry_run: run.dry_run,
        first_checked_at,
        checked_at: now,
        deadline,
        ready_at: ready.then(|| previous.and_then(|p| p.ready_at).unwrap_or(now)),
        retry_after_seconds: settings.timing.rds_poll_seconds,
    };
    tracing::info!(
        db = id,
        status = %report.status,
        ready = report.ready,
        action = ?report.action,
        dry_run = run.dry_run,
        "checked DB instance"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use makenaide_core::ports::{Operation, RdsInstance};
    use makenaide_core::testing::{Call, Change, FakeAws};
    use serde_json::json;

    const DB: &str = "makenaide-db";
    const T0: i64 = 1_795_309_200_000; // 2026-11-22T01:00:00Z

    fn settings() -> Settings {
        Settings::from_env(&Env::from_pairs(&[
            ("DB_INSTANCE_IDENTIFIER", DB),
            ("RDS_READY_TIMEOUT_SECONDS", "600"),
            ("RDS_POLL_SECONDS", "20"),
        ]))
        .unwrap()
    }

    fn at(seconds: u64) -> Timestamp {
        Timestamp::from_millis(T0).plus_seconds(seconds)
    }

    fn db(status: &str) -> FakeAws {
        FakeAws::new().with_db(DB, status, "db.t3.micro")
    }

    fn first_event(input: Value) -> Value {
        json!({"input": input, "execution": {"name": "run-1", "startTime": "2026-11-22T01:00:00Z"}})
    }

    fn later_event(previous: &RdsReport) -> Value {
        let mut event = first_event(json!({}));
        event["rds"] = serde_json::to_value(previous).unwrap();
        event
    }

    async fn check(aws: &FakeAws, event: Value, now: Timestamp) -> Result<RdsReport, StepError> {
        handle(aws, &settings(), event, now).await
    }

    #[tokio::test]
    async fn calls_exactly_its_declared_operations() {
        let aws = db("stopped");
        check(&aws, first_event(json!({})), at(0)).await.unwrap();
        aws.assert_calls_exactly_declared("rds_check");
    }

    #[test]
    fn decision_table() {
        use RdsClass::*;
        let table = [
            (Available, Decision::Ready),
            (Stopped, Decision::Start),
            (Stopping, Decision::WaitForStop),
            (Transitional, Decision::Wait),
            (Unrecoverable, Decision::Fail),
        ];
        for (class, expected) in table {
            assert_eq!(decide(class), expected, "{class:?}");
        }
    }

    #[tokio::test]
    async fn available_db_is_ready_and_not_started() {
        let aws = db("available");
        let report = check(&aws, first_event(json!({})), at(0)).await.unwrap();
        assert!(report.ready);
        assert_eq!(report.action, StartAction::None);
        assert!(report.available_at_first_check);
        assert!(!report.started_by_workflow);
        assert_eq!(report.ready_at, Some(at(0)));
        assert_eq!(report.instance_class.as_deref(), Some("db.t3.micro"));
        assert_eq!(report.retry_after_seconds, 20);
        assert_eq!(
            aws.calls(),
            [Call::DescribeDb {
                identifier: DB.into()
            }]
        );
    }

    /// A DB as RDS describes it, for the fields the fake does not vary.
    struct DescribedDb(RdsInstance);

    impl RdsPort for DescribedDb {
        async fn describe_db(&self, _: &str) -> Result<Option<RdsInstance>, StepError> {
            Ok(Some(self.0.clone()))
        }
        async fn start_db(&self, _: &str) -> Result<Transition, StepError> {
            Ok(Transition::Accepted)
        }
        async fn stop_db(&self, _: &str) -> Result<Transition, StepError> {
            Ok(Transition::Accepted)
        }
    }

    #[tokio::test]
    async fn the_report_says_whether_the_db_is_multi_az() {
        // emit_metrics prices a Multi-AZ DB as one (its standby is billed too).
        for multi_az in [true, false] {
            let rds = DescribedDb(RdsInstance {
                identifier: DB.into(),
                status: "available".into(),
                class: Some("db.t4g.micro".into()),
                multi_az,
            });
            let report = handle(&rds, &settings(), first_event(json!({})), at(0))
                .await
                .unwrap();
            assert_eq!(report.multi_az, Some(multi_az));
            assert_eq!(serde_json::to_value(&report).unwrap()["multiAz"], multi_az);
        }
    }

    #[tokio::test]
    async fn stopped_db_is_started_once_then_waited_for() {
        let aws = db("stopped");
        let first = check(&aws, first_event(json!({})), at(0)).await.unwrap();
        assert!(!first.ready);
        assert_eq!(first.action, StartAction::Started);
        assert!(first.started_by_workflow);
        assert!(!first.available_at_first_check);
        assert_eq!(first.deadline, at(600));
        assert_eq!(
            aws.mutating_calls(),
            [Call::StartDb {
                identifier: DB.into()
            }]
        );

        // Next loop: starting, nothing more to do, sticky facts carried.
        let second = check(&aws, later_event(&first), at(20)).await.unwrap();
        assert_eq!(second.status, "starting");
        assert!(!second.ready);
        assert_eq!(second.action, StartAction::None);
        assert!(second.started_by_workflow);
        assert_eq!(second.first_checked_at, at(0));

        aws.set_db_status(DB, "available");
        let third = check(&aws, later_event(&second), at(40)).await.unwrap();
        assert!(third.ready && third.started_by_workflow && !third.available_at_first_check);
        assert_eq!(third.ready_at, Some(at(40)));
        assert_eq!(aws.count(Operation::StartDbInstance), 1);
    }

    #[tokio::test]
    async fn transitional_states_wait_without_acting() {
        for (status, action) in [
            ("stopping", StartAction::WaitingForStop),
            ("starting", StartAction::None),
            ("backing-up", StartAction::None),
            ("modifying", StartAction::None),
            ("configuring-log-exports", StartAction::None),
            ("upgrading", StartAction::None),
        ] {
            let aws = db(status);
            let report = check(&aws, first_event(json!({})), at(0)).await.unwrap();
            assert!(!report.ready, "{status}");
            assert_eq!(report.action, action, "{status}");
            assert!(aws.mutating_calls().is_empty(), "{status}");
        }
    }

    #[tokio::test]
    async fn a_start_that_races_a_state_change_is_not_a_failure() {
        // Described as stopped, but RDS refuses the start: it moved on.
        let aws = db("stopped").after_next(
            Operation::DescribeDbInstances,
            Change::DbStatus {
                identifier: DB.into(),
                status: "starting".into(),
            },
        );
        let report = check(&aws, first_event(json!({})), at(0)).await.unwrap();
        assert!(!report.ready);
        assert_eq!(report.action, StartAction::None);
        assert!(!report.started_by_workflow);
        assert_eq!(aws.count(Operation::StartDbInstance), 1);
    }

    #[tokio::test]
    async fn unrecoverable_states_fail() {
        for status in [
            "failed",
            "storage-full",
            "incompatible-parameters",
            "deleting",
        ] {
            let aws = db(status);
            let error = check(&aws, first_event(json!({})), at(0))
                .await
                .unwrap_err();
            assert_eq!(error.name, ErrorName::RdsUnrecoverableState, "{status}");
            assert!(error.message.contains(status));
            assert!(aws.mutating_calls().is_empty());
        }
    }

    #[tokio::test]
    async fn missing_db_is_not_found() {
        let aws = FakeAws::new();
        let error = check(&aws, first_event(json!({})), at(0))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::RdsInstanceNotFound);
        assert!(error.message.contains(DB));
        assert!(error.message.contains("DB_INSTANCE_IDENTIFIER"));
    }

    #[tokio::test]
    async fn aws_errors_keep_their_name() {
        for name in [
            ErrorName::AwsThrottled,
            ErrorName::AccessDenied,
            ErrorName::AwsServiceUnavailable,
        ] {
            let aws = db("stopped").fail_next(Operation::DescribeDbInstances, 1, name);
            let error = check(&aws, first_event(json!({})), at(0))
                .await
                .unwrap_err();
            assert_eq!(error.name, name);
            assert!(aws.mutating_calls().is_empty(), "{name}");
            let aws = db("stopped").fail_next(Operation::StartDbInstance, 1, name);
            let error = check(&aws, first_event(json!({})), at(0))
                .await
                .unwrap_err();
            assert_eq!(error.name, name);
        }
    }

    #[tokio::test]
    async fn past_the_deadline_it_times_out() {
        let aws = db("starting");
        let first = check(&aws, first_event(json!({})), at(0)).await.unwrap();
        let error = check(&aws, later_event(&first), at(601)).await.unwrap_err();
        assert_eq!(error.name, ErrorName::RdsReadyTimeout);
        assert!(
            error.message.contains("still starting"),
            "{}",
            error.message
        );
        // Ready at the deadline is still ready.
        aws.set_db_status(DB, "available");
        assert!(
            check(&aws, later_event(&first), at(601))
                .await
                .unwrap()
                .ready
        );
    }

    #[tokio::test]
    async fn found_running_is_anything_not_stopped_at_the_first_check() {
        for (status, found) in [
            ("available", true),
            ("backing-up", true),
            ("starting", true),
            ("modifying", true),
            ("stopped", false),
            ("stopping", false),
        ] {
            let aws = db(status);
            let first = check(&aws, first_event(json!({})), at(0)).await.unwrap();
            assert_eq!(first.found_running, Some(found), "{status}");
            // Sticky: a later check of a started DB keeps the first answer.
            aws.set_db_status(DB, "available");
            let later = check(&aws, later_event(&first), at(20)).await.unwrap();
            assert_eq!(later.found_running, Some(found), "{status}");
        }
    }

    #[tokio::test]
    async fn past_the_launch_window_nothing_is_started() {
        let settings = Settings::from_env(&Env::from_pairs(&[
            ("DB_INSTANCE_IDENTIFIER", DB),
            ("LAUNCH_WINDOW_SECONDS", "300"),
        ]))
        .unwrap();
        // The execution started at T0 (first_event): 301 s later is too late.
        let aws = db("stopped");
        let error = handle(&aws, &settings, first_event(json!({})), at(301))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::LaunchWindowMissed);
        assert!(error.message.contains("is stopped"), "{}", error.message);
        assert!(aws.mutating_calls().is_empty());
        // Still starting when the window ends: the run stops waiting.
        let aws = db("starting");
        let error = handle(&aws, &settings, first_event(json!({})), at(301))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::LaunchWindowMissed);
        // Ready is ready, late or not; a dry run is never late.
        let aws = db("available");
        assert!(
            handle(&aws, &settings, first_event(json!({})), at(301))
                .await
                .unwrap()
                .ready
        );
        let aws = db("stopped");
        let report = handle(
            &aws,
            &settings,
            first_event(json!({"dryRun": true})),
            at(301),
        )
        .await
        .unwrap();
        assert_eq!(report.action, StartAction::WouldStart);
    }

    #[tokio::test]
    async fn dry_run_reports_the_plan_and_changes_nothing() {
        let aws = db("stopped");
        let report = check(&aws, first_event(json!({"dryRun": true})), at(0))
            .await
            .unwrap();
        assert!(report.ready && report.dry_run);
        assert_eq!(report.action, StartAction::WouldStart);
        assert!(!report.started_by_workflow);
        assert!(aws.mutating_calls().is_empty());
    }

    #[tokio::test]
    async fn bad_input_fails_before_any_aws_call() {
        let aws = db("stopped");
        for input in [
            json!({"dryRun": "no"}),
            json!({"command": "reboot"}),
            json!([1]),
        ] {
            let error = check(&aws, first_event(input), at(0)).await.unwrap_err();
            assert_eq!(error.name, ErrorName::InvalidInput);
        }
        assert!(aws.calls().is_empty());
    }

    #[test]
    fn missing_configuration_names_the_variable() {
        let error = Settings::from_env(&Env::from_pairs(&[])).unwrap_err();
        assert_eq!(error.name, ErrorName::ConfigError);
        assert!(error.message.contains("DB_INSTANCE_IDENTIFIER"));
    }
}
