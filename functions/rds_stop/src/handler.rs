//! Stop the DB unless the stop policy says to leave it as found. Used by the
//! normal end of a run and by the cleanup path, so it tolerates a DB that is
//! already stopped, missing, or broken.

use makenaide_core::aws::rds::{Rds, TransitionResult};
use makenaide_core::config::{Env, RdsStopPolicy, Timing, db_instance_identifier};
use makenaide_core::document::{RdsStopReport, StateDocument, StopAction};
use makenaide_core::input::parse_run_input;
use makenaide_core::states::{RdsClass, classify_rds_status};
use makenaide_core::{ErrorName, StepError, Timestamp};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Settings {
    pub db_instance_identifier: String,
    pub policy: RdsStopPolicy,
    pub timing: Timing,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, StepError> {
        Ok(Self {
            db_instance_identifier: db_instance_identifier(env)?,
            policy: RdsStopPolicy::from_env(env)?,
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
    /// now; the state machine retries `RdsNotStoppableYet` with backoff.
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

pub async fn handle(
    rds: &Rds,
    settings: &Settings,
    event: Value,
    now: Timestamp,
) -> Result<RdsStopReport, StepError> {
    let doc = StateDocument::from_event(event)?;
    let run = parse_run_input(&doc.input, &settings.timing)?;
    let id = settings.db_instance_identifier.as_str();
    let leave_as_found = settings.policy == RdsStopPolicy::LeaveAsFound
        && doc.rds.as_ref().is_some_and(|r| r.available_at_first_check);

    let db = rds.describe(id).await?;
    let status_before = db.as_ref().map(|db| db.status.clone());
    let action = match db {
        None => StopAction::NotFound,
        Some(db) => match decide(classify_rds_status(&db.status), leave_as_found, run.dry_run) {
            Decision::Report(action) => action,
            Decision::Stop => match rds.stop(id).await? {
                TransitionResult::Accepted => StopAction::Stopped,
                TransitionResult::Refused => return Err(not_yet(id, &db.status)),
            },
            Decision::NotYet => return Err(not_yet(id, &db.status)),
        },
    };
    let report = RdsStopReport {
        db_instance_identifier: id.to_string(),
        status_before,
        action,
        policy: settings.policy,
        dry_run: run.dry_run,
        stopped_at: now,
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

fn not_yet(id: &str, status: &str) -> StepError {
    StepError::new(
        ErrorName::RdsNotStoppableYet,
        format!("DB instance {id} is {status}; RDS refuses a stop until it is available"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::Client;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::operation::stop_db_instance::StopDbInstanceOutput;
    use aws_sdk_rds::types::DbInstance;
    use aws_smithy_mocks::{Rule, mock};
    use makenaide_core::mock_sdk_client;
    use makenaide_core::testing::query_error;
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

    fn describe_returns(status: &'static str) -> Rule {
        mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some(DB))
            .then_output(move || {
                DescribeDbInstancesOutput::builder()
                    .db_instances(
                        DbInstance::builder()
                            .db_instance_identifier(DB)
                            .db_instance_status(status)
                            .build(),
                    )
                    .build()
            })
    }

    fn stop_accepts() -> Rule {
        mock!(Client::stop_db_instance)
            .match_requests(|r| r.db_instance_identifier() == Some(DB))
            .then_output(|| StopDbInstanceOutput::builder().build())
    }

    fn rds(rules: &[&Rule]) -> Rds {
        Rds::new(mock_sdk_client!(aws_sdk_rds, rules))
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

    async fn run(rules: &[&Rule], policy: &str, event: Value) -> Result<RdsStopReport, StepError> {
        handle(&rds(rules), &settings(policy), event, now()).await
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
        let (describe, stop) = (describe_returns("available"), stop_accepts());
        let report = run(&[&describe, &stop], "always", event(json!({}), Some(false)))
            .await
            .unwrap();
        assert_eq!(report.action, StopAction::Stopped);
        assert_eq!(report.status_before.as_deref(), Some("available"));
        assert_eq!(report.stopped_at, now());
        assert_eq!(stop.num_calls(), 1);
    }

    #[tokio::test]
    async fn policy_always_stops_a_db_that_was_already_running() {
        let (describe, stop) = (describe_returns("available"), stop_accepts());
        let report = run(&[&describe, &stop], "always", event(json!({}), Some(true)))
            .await
            .unwrap();
        assert_eq!(report.action, StopAction::Stopped);
        assert_eq!(stop.num_calls(), 1);
    }

    #[tokio::test]
    async fn leave_as_found_leaves_a_db_that_was_already_running() {
        let (describe, stop) = (describe_returns("available"), stop_accepts());
        let report = run(
            &[&describe, &stop],
            "leave-as-found",
            event(json!({}), Some(true)),
        )
        .await
        .unwrap();
        assert_eq!(report.action, StopAction::LeftRunning);
        assert_eq!(report.policy, RdsStopPolicy::LeaveAsFound);
        assert_eq!(stop.num_calls(), 0);
    }

    #[tokio::test]
    async fn leave_as_found_stops_what_the_workflow_started_or_never_observed() {
        for first_check in [Some(false), None] {
            let (describe, stop) = (describe_returns("available"), stop_accepts());
            let report = run(
                &[&describe, &stop],
                "leave-as-found",
                event(json!({}), first_check),
            )
            .await
            .unwrap();
            assert_eq!(report.action, StopAction::Stopped, "{first_check:?}");
            assert_eq!(stop.num_calls(), 1);
        }
    }

    #[tokio::test]
    async fn stopping_again_is_a_no_op() {
        for status in ["stopped", "stopping"] {
            let (describe, stop) = (describe_returns(status), stop_accepts());
            let report = run(&[&describe, &stop], "always", event(json!({}), Some(false)))
                .await
                .unwrap();
            assert_eq!(report.action, StopAction::AlreadyStopped, "{status}");
            assert_eq!(stop.num_calls(), 0);
        }
    }

    #[tokio::test]
    async fn a_busy_db_is_retryable() {
        for status in ["backing-up", "starting", "modifying"] {
            let (describe, stop) = (describe_returns(status), stop_accepts());
            let error = run(&[&describe, &stop], "always", event(json!({}), Some(false)))
                .await
                .unwrap_err();
            assert_eq!(error.name, ErrorName::RdsNotStoppableYet, "{status}");
            assert!(error.name.is_retryable());
            assert!(error.message.contains(status));
            assert_eq!(stop.num_calls(), 0);
        }
    }

    #[tokio::test]
    async fn a_stop_refused_by_a_race_is_retryable() {
        let describe = describe_returns("available");
        let stop = mock!(Client::stop_db_instance).then_http_response(|| {
            query_error(400, "InvalidDBInstanceState", "Instance is backing-up")
        });
        let error = run(&[&describe, &stop], "always", event(json!({}), Some(false)))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::RdsNotStoppableYet);
    }

    #[tokio::test]
    async fn missing_or_broken_db_is_reported_not_failed() {
        let describe = mock!(Client::describe_db_instances)
            .then_http_response(|| query_error(404, "DBInstanceNotFound", "not found"));
        let report = run(&[&describe], "always", event(json!({}), None))
            .await
            .unwrap();
        assert_eq!(report.action, StopAction::NotFound);
        assert_eq!(report.status_before, None);

        let (describe, stop) = (describe_returns("failed"), stop_accepts());
        let report = run(&[&describe, &stop], "always", event(json!({}), None))
            .await
            .unwrap();
        assert_eq!(report.action, StopAction::CannotStop);
        assert_eq!(stop.num_calls(), 0);
    }

    #[tokio::test]
    async fn throttling_then_success() {
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .http_response(|| query_error(400, "Throttling", "Rate exceeded"))
            .output(|| {
                DescribeDbInstancesOutput::builder()
                    .db_instances(
                        DbInstance::builder()
                            .db_instance_identifier(DB)
                            .db_instance_status("available")
                            .build(),
                    )
                    .build()
            })
            .build();
        let stop = mock!(Client::stop_db_instance)
            .sequence()
            .http_response(|| query_error(400, "Throttling", "Rate exceeded"))
            .times(2)
            .output(|| StopDbInstanceOutput::builder().build())
            .build();
        let report = run(&[&describe, &stop], "always", event(json!({}), None))
            .await
            .unwrap();
        assert_eq!(report.action, StopAction::Stopped);
        assert_eq!((describe.num_calls(), stop.num_calls()), (2, 3));
    }

    #[tokio::test]
    async fn persistent_service_errors_are_retryable_names() {
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .http_response(|| query_error(503, "ServiceUnavailable", "try later"))
            .repeatedly()
            .build();
        let error = run(&[&describe], "always", event(json!({}), None))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::AwsServiceUnavailable);
        assert_eq!(describe.num_calls(), 3);
    }

    #[tokio::test]
    async fn dry_run_changes_nothing() {
        let (describe, stop) = (describe_returns("available"), stop_accepts());
        let report = run(
            &[&describe, &stop],
            "always",
            event(json!({"dryRun": true}), None),
        )
        .await
        .unwrap();
        assert_eq!(report.action, StopAction::WouldStop);
        assert!(report.dry_run);
        assert_eq!(stop.num_calls(), 0);
    }

    #[tokio::test]
    async fn bad_input_fails_before_any_aws_call() {
        let (describe, stop) = (describe_returns("available"), stop_accepts());
        let error = run(
            &[&describe, &stop],
            "always",
            event(json!({"dryRun": 1}), None),
        )
        .await
        .unwrap_err();
        assert_eq!(error.name, ErrorName::InvalidInput);
        assert_eq!((describe.num_calls(), stop.num_calls()), (0, 0));
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
