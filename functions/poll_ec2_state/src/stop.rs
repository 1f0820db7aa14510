//! Stop the workers, one StopInstances call each, honouring
//! `EC2_STOP_POLICY`. Used by the normal end of a run, the cleanup path, the
//! cleanup runs and the sweeps, so it tolerates every state EC2 may report.
//!
//! One call per worker because EC2 refuses a whole batch when any of its
//! ids cannot be stopped (`pending`, `shutting-down`, `terminated`): one
//! dead worker would keep the others running. Never waits: a `pending`
//! worker cannot be stopped before it runs, so the step reports
//! `done: false` and the state machine calls again after
//! `retryAfterSeconds`, until `EC2_READY_TIMEOUT_SECONDS` from the first
//! try (`Ec2StopTimeout`).

use futures_util::future::join_all;
use makenaide_core::config::StopPolicy;
use makenaide_core::document::{StateDocument, StopAction, WorkerStopReport, WorkersStopReport};
use makenaide_core::input::{RunMode, read_event};
use makenaide_core::ports::{Ec2Port, Transition};
use makenaide_core::states::{Ec2Class, classify_ec2_state};
use makenaide_core::{ErrorName, StepError, Timestamp};
use serde_json::Value;

use crate::handler::Settings;

/// What to do with one worker in its current state (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Stop,
    Report(StopAction),
}

/// `leave_as_found`: the policy is `leave-as-found` and the run's first
/// check found this worker running or pending.
fn decide(class: Ec2Class, leave_as_found: bool, dry_run: bool) -> Decision {
    match class {
        Ec2Class::Stopped | Ec2Class::Stopping => Decision::Report(StopAction::AlreadyStopped),
        Ec2Class::Gone => Decision::Report(StopAction::Gone),
        Ec2Class::Running | Ec2Class::Pending if leave_as_found => {
            Decision::Report(StopAction::LeftRunning)
        }
        Ec2Class::Running | Ec2Class::Pending if dry_run => Decision::Report(StopAction::WouldStop),
        Ec2Class::Running => Decision::Stop,
        // EC2 refuses to stop an instance before it runs: wait for it.
        Ec2Class::Pending => Decision::Report(StopAction::NotYet),
    }
}

/// Which workers were already running before the run this stop is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    /// Recorded by the run's first `ec2_start` (or the lease it wrote).
    Known(Vec<String>),
    /// A sweep with no record: whatever runs now was found that way.
    Everything,
    /// Nobody knows (the run failed before its first look at the workers):
    /// they are stopped, nothing may be left running by accident.
    Unknown,
}

impl Found {
    /// Where the record comes from (pure): the lease a cleanup run or a
    /// sweep took over, else the run's own first check, else the mode.
    fn of(doc: &StateDocument, mode: &RunMode) -> Self {
        let recorded = doc
            .found
            .as_ref()
            .and_then(|found| found.workers_running())
            .or_else(|| doc.ec2.as_ref().and_then(|ec2| ec2.found_running.clone()));
        match recorded {
            Some(ids) => Self::Known(ids),
            None if matches!(mode, RunMode::Sweep { .. }) => Self::Everything,
            None => Self::Unknown,
        }
    }

    fn running(&self, id: &str) -> Option<bool> {
        match self {
            Self::Known(ids) => Some(ids.iter().any(|known| known == id)),
            Self::Everything => Some(true),
            Self::Unknown => None,
        }
    }
}

/// The outcome for one worker this time: its report, or the AWS error that
/// kept it from being handled.
struct Handled {
    report: WorkerStopReport,
    error: Option<StepError>,
}

async fn stop_one(
    ec2: &impl Ec2Port,
    id: &str,
    found_running: Option<bool>,
    policy: StopPolicy,
    dry_run: bool,
) -> Handled {
    let mut report = WorkerStopReport {
        instance_id: id.to_string(),
        state_before: None,
        found_running,
        action: StopAction::NotYet,
    };
    let leave_as_found = policy == StopPolicy::LeaveAsFound && found_running == Some(true);
    let view = match ec2.describe_instances(&[id.to_string()]).await {
        Ok(mut views) if !views.is_empty() => views.remove(0),
        Ok(_) => return gone_from_ec2(report),
        Err(error) if error.name == ErrorName::Ec2InstanceNotFound => {
            return gone_from_ec2(report);
        }
        Err(error) => return failed(report, error),
    };
    report.state_before = Some(view.state.clone());
    report.action = match decide(classify_ec2_state(&view.state), leave_as_found, dry_run) {
        Decision::Report(action) => action,
        Decision::Stop => match ec2.stop_instance(id).await {
            Ok(Transition::Accepted) => StopAction::Stopped,
            // It changed state since the describe: look again next time.
            Ok(Transition::Refused) => StopAction::NotYet,
            Err(error) if error.name == ErrorName::Ec2InstanceNotFound => StopAction::NotFound,
            Err(error) => return failed(report, error),
        },
    };
    Handled {
        report,
        error: None,
    }
}

/// EC2 forgets a terminated instance after a while: nothing to stop.
fn gone_from_ec2(mut report: WorkerStopReport) -> Handled {
    report.action = StopAction::NotFound;
    Handled {
        report,
        error: None,
    }
}

fn failed(report: WorkerStopReport, error: StepError) -> Handled {
    Handled {
        report,
        error: Some(error),
    }
}

/// What an earlier call of the same stop already did stays true: a worker
/// it stopped is `stopping` now, still stopped by this run, and the state
/// it had before the stop is the one that counts.
fn carry_over(report: &mut WorkerStopReport, earlier: Option<&WorkerStopReport>) {
    if let Some(earlier) = earlier {
        if earlier.state_before.is_some() {
            report.state_before.clone_from(&earlier.state_before);
        }
        if earlier.action == StopAction::Stopped && report.action == StopAction::AlreadyStopped {
            report.action = StopAction::Stopped;
        }
    }
}

/// `i-... (running): stopped` for messages.
fn describe(report: &WorkerStopReport, error: Option<&StepError>) -> String {
    let state = report.state_before.as_deref().unwrap_or("state unknown");
    match error {
        Some(error) => format!("{} ({state}): {error}", report.instance_id),
        None => format!(
            "{} ({state}): {}",
            report.instance_id,
            serde_json::to_value(report.action).unwrap_or_default()
        ),
    }
}

pub async fn stop_workers(
    ec2: &impl Ec2Port,
    settings: &Settings,
    event: Value,
    now: Timestamp,
) -> Result<WorkersStopReport, StepError> {
    let (doc, run) = read_event(event, &settings.timing)?;
    let found = Found::of(&doc, &run.mode);
    // The deadline counts from the first call of this stop (sticky across
    // the loop; a finished stop starts a new count).
    let previous = doc.workers_stop.as_ref().filter(|p| !p.done);
    let first_tried_at = previous.map_or(now, |p| p.first_tried_at);
    let deadline = first_tried_at.plus_seconds(settings.timing.ec2_ready_timeout_seconds);

    // Every worker is handled even when one fails: a failure on one must
    // not keep the others running. All go out together, so the step's time
    // does not grow with the workers (settings::SEQUENTIAL_CALLS).
    let mut handled = join_all(settings.worker_instance_ids.iter().map(|id| {
        stop_one(
            ec2,
            id,
            found.running(id),
            settings.stop_policy,
            run.dry_run,
        )
    }))
    .await;
    for one in &mut handled {
        let id = &one.report.instance_id;
        let earlier = previous.and_then(|p| p.instances.iter().find(|w| &w.instance_id == id));
        carry_over(&mut one.report, earlier);
    }
    let summary: Vec<String> = handled
        .iter()
        .map(|h| describe(&h.report, h.error.as_ref()))
        .collect();
    tracing::info!(
        workers = ?summary,
        policy = ?settings.stop_policy,
        dry_run = run.dry_run,
        "stop workers"
    );
    if let Some(first) = handled.iter().find_map(|h| h.error.as_ref()) {
        return Err(StepError::new(
            first.name,
            format!(
                "could not stop every worker (the others were handled): {}",
                summary.join("; ")
            ),
        ));
    }
    let waiting = handled
        .iter()
        .any(|h| h.report.action == StopAction::NotYet);
    if waiting && now > deadline {
        return Err(StepError::new(
            ErrorName::Ec2StopTimeout,
            format!(
                "a worker is still not stoppable after {} s (deadline {deadline}, EC2_READY_TIMEOUT_SECONDS); it may be running: {}",
                now.seconds_since(first_tried_at).round(),
                summary.join("; ")
            ),
        ));
    }
    Ok(WorkersStopReport {
        done: !waiting,
        policy: settings.stop_policy,
        dry_run: run.dry_run,
        instances: handled.into_iter().map(|h| h.report).collect(),
        checked_at: now,
        first_tried_at,
        deadline,
        retry_after_seconds: settings.timing.ec2_poll_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use makenaide_core::config::Env;
    use makenaide_core::ports::Operation;
    use makenaide_core::testing::{Call, FakeAws};
    use serde_json::json;

    const I1: &str = "i-0123456789abcdef0";
    const I2: &str = "i-0fedcba9876543210";
    const T0: i64 = 1_795_309_200_000; // 2026-11-22T01:00:00Z

    fn settings(policy: &str) -> Settings {
        Settings::from_env(&Env::from_pairs(&[
            ("WORKER_INSTANCE_IDS", &format!("{I1},{I2}")),
            ("EC2_READY_TIMEOUT_SECONDS", "300"),
            ("EC2_POLL_SECONDS", "10"),
            ("EC2_STOP_POLICY", policy),
        ]))
        .unwrap()
    }

    fn at(seconds: u64) -> Timestamp {
        Timestamp::from_millis(T0).plus_seconds(seconds)
    }

    fn workers(i1: &str, i2: &str) -> FakeAws {
        FakeAws::new()
            .with_instance(I1, i1, "t3.medium")
            .with_instance(I2, i2, "t3.medium")
    }

    /// A run's document; `found`: what its first `ec2_start` found running.
    fn event(input: Value, found: Option<&[&str]>) -> Value {
        let mut event = json!({
            "input": input,
            "execution": {"name": "run-1", "startTime": "2026-11-22T01:00:00Z"}
        });
        if let Some(found) = found {
            event["ec2"] = json!({
                "ready": true, "instances": [], "startedByWorkflow": [],
                "foundRunning": found, "dryRun": false,
                "firstCheckedAt": "2026-11-22T01:00:00Z", "checkedAt": "2026-11-22T01:01:00Z",
                "deadline": "2026-11-22T01:15:00Z", "readyAt": "2026-11-22T01:01:00Z",
                "retryAfterSeconds": 10
            });
        }
        event
    }

    fn again(mut event: Value, previous: &WorkersStopReport) -> Value {
        event["workersStop"] = serde_json::to_value(previous).unwrap();
        event
    }

    async fn run(
        aws: &FakeAws,
        policy: &str,
        event: Value,
        now: Timestamp,
    ) -> Result<WorkersStopReport, StepError> {
        stop_workers(aws, &settings(policy), event, now).await
    }

    fn actions(report: &WorkersStopReport) -> Vec<StopAction> {
        report.instances.iter().map(|w| w.action).collect()
    }

    fn stops(aws: &FakeAws) -> Vec<String> {
        aws.calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::StopInstance { instance_id } => Some(instance_id),
                _ => None,
            })
            .collect()
    }

    // ---- pure decisions ----

    #[test]
    fn decision_table() {
        use Decision::{Report, Stop};
        use StopAction::*;
        // (state, leave as found, dry run) -> decision
        let table = [
            ("running", false, false, Stop),
            ("pending", false, false, Report(NotYet)),
            ("stopping", false, false, Report(AlreadyStopped)),
            ("stopped", false, false, Report(AlreadyStopped)),
            ("shutting-down", false, false, Report(Gone)),
            ("terminated", false, false, Report(Gone)),
            ("running", true, false, Report(LeftRunning)),
            ("pending", true, false, Report(LeftRunning)),
            ("stopped", true, false, Report(AlreadyStopped)),
            ("terminated", true, false, Report(Gone)),
            ("running", false, true, Report(WouldStop)),
            ("pending", false, true, Report(WouldStop)),
            ("stopped", false, true, Report(AlreadyStopped)),
            ("running", true, true, Report(LeftRunning)),
        ];
        for (state, leave, dry_run, expected) in table {
            assert_eq!(
                decide(classify_ec2_state(state), leave, dry_run),
                expected,
                "{state} leave={leave} dry_run={dry_run}"
            );
        }
    }

    #[test]
    fn what_counts_as_found_running() {
        let doc = |value: Value| StateDocument::from_event(value).unwrap();
        let run = RunMode::Run;
        let sweep = RunMode::Sweep {
            reason: "scheduled".into(),
        };
        let cleanup = RunMode::CleanupAfter {
            execution_arn: "arn".into(),
            ended_with: "ABORTED".into(),
        };
        let own = doc(event(json!({}), Some(&[I1])));
        assert_eq!(Found::of(&own, &run), Found::Known(vec![I1.into()]));
        assert_eq!(Found::of(&own, &run).running(I2), Some(false));
        // The run failed before its first look at the workers.
        let none = doc(event(json!({}), None));
        assert_eq!(Found::of(&none, &run), Found::Unknown);
        assert_eq!(Found::of(&none, &cleanup), Found::Unknown);
        assert_eq!(Found::of(&none, &sweep), Found::Everything);
        assert_eq!(Found::Everything.running(I2), Some(true));
        assert_eq!(Found::Unknown.running(I1), None);
        // A lease taken over: its record wins, even an empty one.
        let lease = |record: Value| {
            let mut value = event(json!({}), None);
            value["found"] =
                json!({"item": {"pk": {"S": "run-lease"}, "workersFoundRunning": record}});
            doc(value)
        };
        let recorded = lease(json!({"S": format!("[\"{I2}\"]")}));
        assert_eq!(Found::of(&recorded, &sweep), Found::Known(vec![I2.into()]));
        assert_eq!(
            Found::of(&lease(json!({"S": "[]"})), &sweep),
            Found::Known(vec![])
        );
        // Unreadable: as if not recorded.
        assert_eq!(
            Found::of(&lease(json!({"S": "i-1"})), &cleanup),
            Found::Unknown
        );
    }

    // ---- handler ----

    #[tokio::test]
    async fn every_state_ec2_reports_is_handled_one_call_per_worker() {
        let cases = [
            ("running", StopAction::Stopped, true),
            ("stopping", StopAction::AlreadyStopped, false),
            ("stopped", StopAction::AlreadyStopped, false),
            ("shutting-down", StopAction::Gone, false),
            ("terminated", StopAction::Gone, false),
        ];
        for (state, expected, stopped) in cases {
            let aws = workers(state, "running");
            let report = run(&aws, "always", event(json!({}), Some(&[])), at(0))
                .await
                .unwrap();
            assert_eq!(actions(&report), [expected, StopAction::Stopped], "{state}");
            assert!(report.done);
            assert_eq!(report.instances[0].state_before.as_deref(), Some(state));
            let expected_stops: Vec<String> = if stopped {
                vec![I1.into(), I2.into()]
            } else {
                vec![I2.into()]
            };
            assert_eq!(stops(&aws), expected_stops, "{state}");
            assert_eq!(aws.instance(I2).unwrap().state, "stopping");
        }
    }

    #[tokio::test]
    async fn a_pending_worker_is_waited_for_then_stopped() {
        let aws = workers("pending", "running");
        let first = run(&aws, "always", event(json!({}), Some(&[])), at(0))
            .await
            .unwrap();
        assert!(!first.done);
        assert_eq!(actions(&first), [StopAction::NotYet, StopAction::Stopped]);
        assert_eq!(stops(&aws), [I2]);
        assert_eq!((first.deadline, first.retry_after_seconds), (at(300), 10));

        aws.set_instance_state(I1, "running", None);
        let base = event(json!({}), Some(&[]));
        let second = run(&aws, "always", again(base.clone(), &first), at(10))
            .await
            .unwrap();
        assert!(second.done);
        assert_eq!(second.first_tried_at, at(0));
        // I2 is stopping now, but this stop stopped it: still `stopped`.
        assert_eq!(actions(&second), [StopAction::Stopped, StopAction::Stopped]);
        assert_eq!(second.instances[0].state_before.as_deref(), Some("pending"));
        assert_eq!(second.instances[1].state_before.as_deref(), Some("running"));
        assert_eq!(stops(&aws), [I2, I1]);

        // A finished stop starts a new count.
        let third = run(&aws, "always", again(base, &second), at(1000))
            .await
            .unwrap();
        assert_eq!(third.first_tried_at, at(1000));
        assert_eq!(actions(&third), [StopAction::AlreadyStopped; 2]);
    }

    #[tokio::test]
    async fn a_worker_pending_past_the_deadline_fails_after_the_others_were_stopped() {
        let aws = workers("pending", "running");
        let base = event(json!({}), Some(&[]));
        let first = run(&aws, "always", base.clone(), at(0)).await.unwrap();
        aws.set_instance_state(I2, "running", None);
        let error = run(&aws, "always", again(base, &first), at(301))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::Ec2StopTimeout);
        assert!(error.message.contains(I1) && error.message.contains("EC2_READY_TIMEOUT_SECONDS"));
        assert_eq!(aws.instance(I2).unwrap().state, "stopping");
    }

    #[tokio::test]
    async fn one_workers_failure_does_not_keep_the_others_running() {
        let aws = workers("running", "running").fail_next(
            Operation::StopInstances,
            1,
            ErrorName::AccessDenied,
        );
        let error = run(&aws, "always", event(json!({}), Some(&[])), at(0))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::AccessDenied);
        assert_eq!(aws.instance(I1).unwrap().state, "running");
        assert_eq!(aws.instance(I2).unwrap().state, "stopping");
        assert!(
            error.message.contains(I1)
                && error
                    .message
                    .contains(&format!("{I2} (running): \"stopped\"")),
            "{}",
            error.message
        );
        // A describe that fails the same way.
        let aws = workers("running", "running").fail_next(
            Operation::DescribeInstances,
            1,
            ErrorName::AwsThrottled,
        );
        let error = run(&aws, "always", event(json!({}), Some(&[])), at(0))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::AwsThrottled);
        assert_eq!(stops(&aws), [I2]);
    }

    #[tokio::test]
    async fn a_worker_ec2_no_longer_knows_is_not_a_failure() {
        let aws = FakeAws::new().with_instance(I2, "running", "t3.medium");
        let report = run(&aws, "always", event(json!({}), Some(&[])), at(0))
            .await
            .unwrap();
        assert_eq!(
            actions(&report),
            [StopAction::NotFound, StopAction::Stopped]
        );
        assert_eq!(report.instances[0].state_before, None);
        assert!(report.done);
    }

    #[tokio::test]
    async fn leave_as_found_leaves_only_what_the_first_check_found_running() {
        let aws = workers("running", "running");
        let report = run(&aws, "leave-as-found", event(json!({}), Some(&[I1])), at(0))
            .await
            .unwrap();
        assert_eq!(
            actions(&report),
            [StopAction::LeftRunning, StopAction::Stopped]
        );
        assert_eq!(report.instances[0].found_running, Some(true));
        assert_eq!(report.instances[1].found_running, Some(false));
        assert_eq!(report.policy, StopPolicy::LeaveAsFound);
        assert_eq!(stops(&aws), [I2]);

        // `always` stops what it found running too.
        let aws = workers("running", "running");
        let report = run(&aws, "always", event(json!({}), Some(&[I1])), at(0))
            .await
            .unwrap();
        assert_eq!(actions(&report), [StopAction::Stopped; 2]);

        // Unknown (the run failed before its first look): stopped.
        let aws = workers("running", "running");
        let report = run(&aws, "leave-as-found", event(json!({}), None), at(0))
            .await
            .unwrap();
        assert_eq!(actions(&report), [StopAction::Stopped; 2]);
        assert_eq!(report.instances[0].found_running, None);

        // A sweep with no record leaves what runs; one that took over a
        // lease honours the holder's record.
        let aws = workers("running", "running");
        let report = run(
            &aws,
            "leave-as-found",
            event(json!({"sweep": "scheduled"}), None),
            at(0),
        )
        .await
        .unwrap();
        assert_eq!(actions(&report), [StopAction::LeftRunning; 2]);
        let mut taken_over = event(json!({"sweep": "scheduled"}), None);
        taken_over["found"] =
            json!({"item": {"workersFoundRunning": {"S": format!("[\"{I2}\"]")}}});
        let report = run(&aws, "leave-as-found", taken_over, at(0))
            .await
            .unwrap();
        assert_eq!(
            actions(&report),
            [StopAction::Stopped, StopAction::LeftRunning]
        );
    }

    #[tokio::test]
    async fn a_dry_run_stops_nothing() {
        let aws = workers("running", "pending");
        let report = run(
            &aws,
            "always",
            event(json!({"dryRun": true}), Some(&[])),
            at(0),
        )
        .await
        .unwrap();
        assert_eq!(actions(&report), [StopAction::WouldStop; 2]);
        assert!(report.done && report.dry_run);
        assert!(aws.mutating_calls().is_empty());
    }

    #[tokio::test]
    async fn bad_input_fails_before_any_aws_call() {
        let aws = workers("running", "running");
        let error = run(&aws, "always", event(json!({"dryRun": "yes"}), None), at(0))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::InvalidInput);
        assert!(aws.calls().is_empty());
    }
}
