//! Observe the DB, start it when it is stopped, and report whether it is
//! ready. Never waits: the state machine loops on `retryAfterSeconds`.

use makenaide_core::aws::rds::{Rds, TransitionResult};
use makenaide_core::config::{Env, Timing, db_instance_identifier};
use makenaide_core::document::{RdsReport, StartAction, StateDocument};
use makenaide_core::input::parse_run_input;
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
    rds: &Rds,
    settings: &Settings,
    event: Value,
    now: Timestamp,
) -> Result<RdsReport, StepError> {
    // Validate everything the caller controls before any AWS call.
    let doc = StateDocument::from_event(event)?;
    let run = parse_run_input(&doc.input, &settings.timing)?;
    let id = settings.db_instance_identifier.as_str();
    let previous = doc.rds.as_ref();
    let first_checked_at = previous.map_or(now, |p| p.first_checked_at);
    let deadline = first_checked_at.plus_seconds(settings.timing.rds_ready_timeout_seconds);

    let db = rds.describe(id).await?.ok_or_else(|| {
        StepError::new(
            ErrorName::RdsInstanceNotFound,
            format!("DB instance {id} does not exist (DB_INSTANCE_IDENTIFIER)"),
        )
    })?;
    let decision = decide(classify_rds_status(&db.status));
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

    let action = match decision {
        Decision::Start if run.dry_run => StartAction::WouldStart,
        Decision::Start => match rds.start(id).await? {
            TransitionResult::Accepted => StartAction::Started,
            // It changed state since the describe: look again next time.
            TransitionResult::Refused => StartAction::None,
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
        instance_class: db.instance_class,
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
    use aws_sdk_rds::Client;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::operation::start_db_instance::StartDbInstanceOutput;
    use aws_sdk_rds::types::DbInstance;
    use aws_smithy_mocks::{Rule, mock};
    use makenaide_core::mock_sdk_client;
    use makenaide_core::testing::query_error;
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

    fn describe_returns(status: &'static str) -> Rule {
        mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some(DB))
            .then_output(move || db_output(status))
    }

    fn db_output(status: &str) -> DescribeDbInstancesOutput {
        DescribeDbInstancesOutput::builder()
            .db_instances(
                DbInstance::builder()
                    .db_instance_identifier(DB)
                    .db_instance_status(status)
                    .db_instance_class("db.t3.micro")
                    .build(),
            )
            .build()
    }

    fn start_accepts() -> Rule {
        mock!(Client::start_db_instance)
            .match_requests(|r| r.db_instance_identifier() == Some(DB))
            .then_output(|| StartDbInstanceOutput::builder().build())
    }

    fn rds(rules: &[&Rule]) -> Rds {
        Rds::new(mock_sdk_client!(aws_sdk_rds, rules))
    }

    fn first_event(input: Value) -> Value {
        json!({"input": input, "execution": {"name": "run-1", "startTime": "2026-11-22T01:00:00Z"}})
    }

    fn later_event(previous: &RdsReport) -> Value {
        let mut event = first_event(json!({}));
        event["rds"] = serde_json::to_value(previous).unwrap();
        event
    }

    #[tokio::test]
    async fn available_db_is_ready_and_not_started() {
        let (describe, start) = (describe_returns("available"), start_accepts());
        let report = handle(
            &rds(&[&describe, &start]),
            &settings(),
            first_event(json!({})),
            at(0),
        )
        .await
        .unwrap();
        assert!(report.ready);
        assert_eq!(report.action, StartAction::None);
        assert!(report.available_at_first_check);
        assert!(!report.started_by_workflow);
        assert_eq!(report.ready_at, Some(at(0)));
        assert_eq!(report.instance_class.as_deref(), Some("db.t3.micro"));
        assert_eq!(report.retry_after_seconds, 20);
        assert_eq!((describe.num_calls(), start.num_calls()), (1, 0));
    }

    #[tokio::test]
    async fn stopped_db_is_started_once_then_waited_for() {
        let (describe, start) = (describe_returns("stopped"), start_accepts());
        let first = handle(
            &rds(&[&describe, &start]),
            &settings(),
            first_event(json!({})),
            at(0),
        )
        .await
        .unwrap();
        assert!(!first.ready);
        assert_eq!(first.action, StartAction::Started);
        assert!(first.started_by_workflow);
        assert!(!first.available_at_first_check);
        assert_eq!(first.deadline, at(600));
        assert_eq!(start.num_calls(), 1);

        // Next loop: starting, nothing more to do, sticky facts carried.
        let (describe, start) = (describe_returns("starting"), start_accepts());
        let second = handle(
            &rds(&[&describe, &start]),
            &settings(),
            later_event(&first),
            at(20),
        )
        .await
        .unwrap();
        assert!(!second.ready);
        assert_eq!(second.action, StartAction::None);
        assert!(second.started_by_workflow);
        assert_eq!(second.first_checked_at, at(0));
        assert_eq!(start.num_calls(), 0);

        let (describe, start) = (describe_returns("available"), start_accepts());
        let third = handle(
            &rds(&[&describe, &start]),
            &settings(),
            later_event(&second),
            at(40),
        )
        .await
        .unwrap();
        assert!(third.ready && third.started_by_workflow && !third.available_at_first_check);
        assert_eq!(third.ready_at, Some(at(40)));
        assert_eq!(start.num_calls(), 0);
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
            let (describe, start) = (describe_returns(status), start_accepts());
            let report = handle(
                &rds(&[&describe, &start]),
                &settings(),
                first_event(json!({})),
                at(0),
            )
            .await
            .unwrap();
            assert!(!report.ready, "{status}");
            assert_eq!(report.action, action, "{status}");
            assert_eq!(start.num_calls(), 0, "{status}");
        }
    }

    #[tokio::test]
    async fn a_start_that_races_a_state_change_is_not_a_failure() {
        let describe = describe_returns("stopped");
        let start = mock!(Client::start_db_instance).then_http_response(|| {
            query_error(
                400,
                "InvalidDBInstanceState",
                "Instance makenaide-db is not stopped",
            )
        });
        let report = handle(
            &rds(&[&describe, &start]),
            &settings(),
            first_event(json!({})),
            at(0),
        )
        .await
        .unwrap();
        assert!(!report.ready);
        assert_eq!(report.action, StartAction::None);
        assert!(!report.started_by_workflow);
    }

    #[tokio::test]
    async fn unrecoverable_states_fail() {
        for status in [
            "failed",
            "storage-full",
            "incompatible-parameters",
            "deleting",
        ] {
            let (describe, start) = (describe_returns(status), start_accepts());
            let error = handle(
                &rds(&[&describe, &start]),
                &settings(),
                first_event(json!({})),
                at(0),
            )
            .await
            .unwrap_err();
            assert_eq!(error.name, ErrorName::RdsUnrecoverableState, "{status}");
            assert!(error.message.contains(status));
            assert_eq!(start.num_calls(), 0);
        }
    }

    #[tokio::test]
    async fn missing_db_is_not_found() {
        let describe = mock!(Client::describe_db_instances).then_http_response(|| {
            query_error(
                404,
                "DBInstanceNotFound",
                "DBInstance makenaide-db not found.",
            )
        });
        let error = handle(
            &rds(&[&describe]),
            &settings(),
            first_event(json!({})),
            at(0),
        )
        .await
        .unwrap_err();
        assert_eq!(error.name, ErrorName::RdsInstanceNotFound);
        assert!(error.message.contains(DB));
    }

    #[tokio::test]
    async fn throttling_is_retried_by_the_sdk_then_succeeds() {
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .http_response(|| query_error(400, "Throttling", "Rate exceeded"))
            .times(2)
            .output(|| db_output("available"))
            .build();
        let report = handle(
            &rds(&[&describe]),
            &settings(),
            first_event(json!({})),
            at(0),
        )
        .await
        .unwrap();
        assert!(report.ready);
        assert_eq!(describe.num_calls(), 3);
    }

    #[tokio::test]
    async fn persistent_throttling_is_the_retryable_name() {
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .http_response(|| query_error(400, "Throttling", "Rate exceeded"))
            .repeatedly()
            .build();
        let error = handle(
            &rds(&[&describe]),
            &settings(),
            first_event(json!({})),
            at(0),
        )
        .await
        .unwrap_err();
        assert_eq!(error.name, ErrorName::AwsThrottled);
        assert!(error.name.is_retryable());
        assert!(
            error
                .message
                .contains("rds:DescribeDBInstances failed with Throttling")
        );
    }

    #[tokio::test]
    async fn access_denied_is_fatal() {
        let describe = mock!(Client::describe_db_instances).then_http_response(|| {
            query_error(
                403,
                "AccessDenied",
                "not authorized to perform rds:DescribeDBInstances",
            )
        });
        let error = handle(
            &rds(&[&describe]),
            &settings(),
            first_event(json!({})),
            at(0),
        )
        .await
        .unwrap_err();
        assert_eq!(error.name, ErrorName::AccessDenied);
        assert!(!error.name.is_retryable());
    }

    #[tokio::test]
    async fn past_the_deadline_it_times_out() {
        let (describe, start) = (describe_returns("starting"), start_accepts());
        let first = handle(
            &rds(&[&describe, &start]),
            &settings(),
            first_event(json!({})),
            at(0),
        )
        .await
        .unwrap();
        let error = handle(
            &rds(&[&describe, &start]),
            &settings(),
            later_event(&first),
            at(601),
        )
        .await
        .unwrap_err();
        assert_eq!(error.name, ErrorName::RdsReadyTimeout);
        assert!(
            error.message.contains("still starting"),
            "{}",
            error.message
        );
    }

    #[tokio::test]
    async fn dry_run_reports_the_plan_and_changes_nothing() {
        let (describe, start) = (describe_returns("stopped"), start_accepts());
        let report = handle(
            &rds(&[&describe, &start]),
            &settings(),
            first_event(json!({"dryRun": true})),
            at(0),
        )
        .await
        .unwrap();
        assert!(report.ready && report.dry_run);
        assert_eq!(report.action, StartAction::WouldStart);
        assert!(!report.started_by_workflow);
        assert_eq!(start.num_calls(), 0);
    }

    #[tokio::test]
    async fn bad_input_fails_before_any_aws_call() {
        let (describe, start) = (describe_returns("stopped"), start_accepts());
        for input in [
            json!({"dryRun": "no"}),
            json!({"command": "reboot"}),
            json!([1]),
        ] {
            let error = handle(
                &rds(&[&describe, &start]),
                &settings(),
                first_event(input),
                at(0),
            )
            .await
            .unwrap_err();
            assert_eq!(error.name, ErrorName::InvalidInput);
        }
        assert_eq!((describe.num_calls(), start.num_calls()), (0, 0));
    }

    #[test]
    fn missing_configuration_names_the_variable() {
        let error = Settings::from_env(&Env::from_pairs(&[])).unwrap_err();
        assert_eq!(error.name, ErrorName::ConfigError);
        assert!(error.message.contains("DB_INSTANCE_IDENTIFIER"));
    }
}
