//! Observe the workers, start the stopped ones, and report whether every
//! worker is running with its SSM agent online: only then can `ssm_launch`
//! deliver the job (the old code slept a fixed 60 s instead of asking).
//! Never waits: the state machine loops on `retryAfterSeconds`.

use std::collections::HashMap;

use makenaide_core::document::{Ec2Report, StartAction, WorkerReport};
use makenaide_core::input::{check_launch_window, read_event, require_run_mode};
use makenaide_core::ports::{Ec2Instance, Ec2Port, SsmPort, StartResult};
use makenaide_core::states::{Ec2Class, classify_ec2_state, ssm_agent_online};
use makenaide_core::{ErrorName, StepError, Timestamp};
use serde_json::Value;

pub type Settings = makenaide_core::config::WorkerSettings;
pub type Aws = makenaide_core::aws::WorkerAws;

/// What to do about one worker (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Running with its SSM agent online: a command can be delivered.
    Ready,
    /// Stopped: start it.
    Start,
    /// `pending`, `stopping`, or running before its agent is online: it
    /// settles by itself, look again next loop. A `stopping` instance cannot
    /// be started (`IncorrectInstanceState`); it is started on the loop that
    /// sees it `stopped`.
    Wait,
    /// `shutting-down` or `terminated`: no wait helps.
    Fail,
}

/// `ping_status` only matters for a running instance; it is `None` when the
/// agent never registered (or was not asked about, for any other state).
fn decide(class: Ec2Class, ping_status: Option<&str>) -> Decision {
    match class {
        Ec2Class::Running if ssm_agent_online(ping_status) => Decision::Ready,
        Ec2Class::Running | Ec2Class::Pending | Ec2Class::Stopping => Decision::Wait,
        Ec2Class::Stopped => Decision::Start,
        Ec2Class::Gone => Decision::Fail,
    }
}

/// One worker as observed this time, and the decision about it.
#[derive(Debug, Clone, PartialEq)]
struct Observed {
    view: Ec2Instance,
    ping_status: Option<String>,
    decision: Decision,
}

impl Observed {
    fn new(view: Ec2Instance, ping_status: Option<String>) -> Self {
        let decision = decide(classify_ec2_state(&view.state), ping_status.as_deref());
        Self {
            view,
            ping_status,
            decision,
        }
    }

    /// `i-... is running, SSM agent ConnectionLost` for error messages.
    fn describe(&self) -> String {
        let id = &self.view.instance_id;
        let state = &self.view.state;
        match (classify_ec2_state(state), self.ping_status.as_deref()) {
            (Ec2Class::Running, Some(ping)) => format!("{id} is {state}, SSM agent {ping}"),
            (Ec2Class::Running, None) => format!("{id} is {state}, SSM agent not registered"),
            _ => format!("{id} is {state}"),
        }
    }
}

/// Whether this observation ends the step with an error (pure). A gone
/// worker is reported first, even past the deadline: it is the cause, and
/// an operator must replace it. The deadline does not apply to a dry run,
/// which never waits.
fn check(
    workers: &[Observed],
    dry_run: bool,
    now: Timestamp,
    first_checked_at: Timestamp,
    deadline: Timestamp,
) -> Result<(), StepError> {
    let gone: Vec<String> = workers
        .iter()
        .filter(|w| w.decision == Decision::Fail)
        .map(Observed::describe)
        .collect();
    if !gone.is_empty() {
        return Err(StepError::new(
            ErrorName::Ec2UnrecoverableState,
            format!(
                "worker {} and can never run again; replace it in WORKER_INSTANCE_IDS",
                gone.join("; worker ")
            ),
        ));
    }
    let waiting: Vec<String> = workers
        .iter()
        .filter(|w| w.decision != Decision::Ready)
        .map(Observed::describe)
        .collect();
    if !waiting.is_empty() && !dry_run && now > deadline {
        return Err(StepError::new(
            ErrorName::Ec2ReadyTimeout,
            format!(
                "workers not running with their SSM agent Online after {} s (deadline {deadline}, EC2_READY_TIMEOUT_SECONDS): {}",
                now.seconds_since(first_checked_at).round(),
                waiting.join("; ")
            ),
        ));
    }
    Ok(())
}

/// The workers `running` or `pending` when first seen (pure): what
/// `EC2_STOP_POLICY=leave-as-found` leaves running at the end.
fn found_running(views: &[Ec2Instance]) -> Vec<String> {
    views
        .iter()
        .filter(|v| {
            matches!(
                classify_ec2_state(&v.state),
                Ec2Class::Running | Ec2Class::Pending
            )
        })
        .map(|v| v.instance_id.clone())
        .collect()
}

/// `previous` then `started`, each id once, in that order.
fn union(previous: &[String], started: &[String]) -> Vec<String> {
    let mut all = previous.to_vec();
    for id in started {
        if !all.contains(id) {
            all.push(id.clone());
        }
    }
    all
}

pub async fn handle(
    aws: &(impl Ec2Port + SsmPort),
    settings: &Settings,
    event: Value,
    now: Timestamp,
) -> Result<Ec2Report, StepError> {
    // Validate everything the caller controls before any AWS call.
    let (doc, run) = read_event(event, &settings.timing)?;
    require_run_mode(&run, "ec2_start")?;
    let previous = doc.ec2.as_ref();
    let first_checked_at = previous.map_or(now, |p| p.first_checked_at);
    let deadline = first_checked_at.plus_seconds(settings.timing.ec2_ready_timeout_seconds);

    let views = aws
        .describe_instances(&settings.worker_instance_ids)
        .await?;
    // Recorded at the first check only: later ones see what this run started.
    let found_running = match previous {
        None => Some(found_running(&views)),
        Some(p) => p.found_running.clone(),
    };
    // Only a running instance can have an agent worth asking about.
    let running: Vec<String> = views
        .iter()
        .filter(|v| classify_ec2_state(&v.state) == Ec2Class::Running)
        .map(|v| v.instance_id.clone())
        .collect();
    let mut pings = if running.is_empty() {
        HashMap::new()
    } else {
        aws.ping_statuses(&running).await?
    };
    let workers: Vec<Observed> = views
        .into_iter()
        .map(|view| {
            let ping_status = if running.contains(&view.instance_id) {
                pings.remove(&view.instance_id)
            } else {
                None
            };
            Observed::new(view, ping_status)
        })
        .collect();
    check(&workers, run.dry_run, now, first_checked_at, deadline)?;
    if workers.iter().any(|w| w.decision != Decision::Ready) {
        // Past the window nothing is started, and waiting is pointless.
        let waiting: Vec<String> = workers
            .iter()
            .filter(|w| w.decision != Decision::Ready)
            .map(Observed::describe)
            .collect();
        let what = format!("workers not ready ({})", waiting.join("; "));
        check_launch_window(&doc, &run, &settings.timing, now, &what)?;
    }

    // One StartInstances call for every stopped worker; in a dry run EC2
    // still checks the permissions and answers `DryRunOperation`.
    let to_start: Vec<&Observed> = workers
        .iter()
        .filter(|w| w.decision == Decision::Start)
        .collect();
    let start_ids: Vec<String> = to_start
        .iter()
        .map(|w| w.view.instance_id.clone())
        .collect();
    let start_action = if start_ids.is_empty() {
        StartAction::None
    } else {
        match aws.start_instances(&start_ids, run.dry_run).await {
            Ok(StartResult::Started) => StartAction::Started,
            Ok(StartResult::WouldStart) => StartAction::WouldStart,
            // One of them changed state since the describe: look again next loop.
            Ok(StartResult::StateChanged) => StartAction::None,
            Err(error) => return Err(naming_instances(error, &to_start)),
        }
    };
    let started_now: &[String] = if start_action == StartAction::Started {
        &start_ids
    } else {
        &[]
    };

    // A dry run changes nothing, so there is nothing to wait for.
    let ready = run.dry_run || workers.iter().all(|w| w.decision == Decision::Ready);
    let instances: Vec<WorkerReport> = workers
        .into_iter()
        .map(|w| WorkerReport {
            ready: w.decision == Decision::Ready,
            action: if w.decision == Decision::Start {
                start_action
            } else {
                StartAction::None
            },
            instance_id: w.view.instance_id,
            state: w.view.state,
            instance_type: w.view.instance_type,
            ping_status: w.ping_status,
        })
        .collect();
    let report = Ec2Report {
        ready,
        started_by_workflow: union(
            previous.map_or(&[][..], |p| &p.started_by_workflow),
            started_now,
        ),
        found_running,
        dry_run: run.dry_run,
        first_checked_at,
        checked_at: now,
        deadline,
        ready_at: ready.then(|| previous.and_then(|p| p.ready_at).unwrap_or(now)),
        retry_after_seconds: settings.timing.ec2_poll_seconds,
        instances,
    };
    tracing::info!(
        workers = ?report.instances.iter().map(|w| (&w.instance_id, &w.state, &w.ping_status)).collect::<Vec<_>>(),
        ready = report.ready,
        action = ?start_action,
        started = ?started_now,
        dry_run = run.dry_run,
        "checked worker instances"
    );
    Ok(report)
}

/// A failed start names the workers it was for (the SDK error names only
/// the operation), keeping the stable error name for the state machine.
fn naming_instances(error: StepError, workers: &[&Observed]) -> StepError {
    let names: Vec<String> = workers
        .iter()
        .map(|w| match &w.view.instance_type {
            Some(kind) => format!("{} ({kind})", w.view.instance_id),
            None => w.view.instance_id.clone(),
        })
        .collect();
    StepError::new(
        error.name,
        format!(
            "could not start worker {}: {}",
            names.join(", "),
            error.message
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use makenaide_core::config::Env;
    use makenaide_core::ports::Operation;
    use makenaide_core::testing::{Call, Change, FakeAws};
    use serde_json::json;

    const I1: &str = "i-0123456789abcdef0";
    const I2: &str = "i-0fedcba9876543210";
    const T0: i64 = 1_795_309_200_000; // 2026-11-22T01:00:00Z

    fn settings(ids: &str) -> Settings {
        Settings::from_env(&Env::from_pairs(&[
            ("WORKER_INSTANCE_IDS", ids),
            ("EC2_READY_TIMEOUT_SECONDS", "300"),
            ("EC2_POLL_SECONDS", "10"),
        ]))
        .unwrap()
    }

    fn one() -> Settings {
        settings(I1)
    }

    fn two() -> Settings {
        settings(&format!("{I1},{I2}"))
    }

    fn at(seconds: u64) -> Timestamp {
        Timestamp::from_millis(T0).plus_seconds(seconds)
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// The configured workers in these states.
    fn workers(states: &[(&str, &str)]) -> FakeAws {
        states.iter().fold(FakeAws::new(), |aws, (id, state)| {
            aws.with_instance(id, state, "t3.medium")
        })
    }

    fn first_event(input: Value) -> Value {
        json!({"input": input, "execution": {"name": "run-1", "startTime": "2026-11-22T01:00:00Z"}})
    }

    fn later_event(previous: &Ec2Report) -> Value {
        let mut event = first_event(json!({}));
        event["ec2"] = serde_json::to_value(previous).unwrap();
        event
    }

    fn start_call(list: &[&str], dry_run: bool) -> Call {
        Call::StartInstances {
            instance_ids: ids(list),
            dry_run,
        }
    }

    fn ping_calls(aws: &FakeAws) -> Vec<Call> {
        aws.calls()
            .into_iter()
            .filter(|c| c.operation() == Operation::DescribeInstanceInformation)
            .collect()
    }

    // ---- pure decisions ----

    #[test]
    fn decision_table() {
        use Decision::*;
        let pings = [
            Some("Online"),
            Some("ConnectionLost"),
            Some("Inactive"),
            None,
        ];
        // state -> expected decision for each ping status above
        let table = [
            ("pending", [Wait, Wait, Wait, Wait]),
            ("running", [Ready, Wait, Wait, Wait]),
            ("stopping", [Wait, Wait, Wait, Wait]),
            ("stopped", [Start, Start, Start, Start]),
            ("shutting-down", [Fail, Fail, Fail, Fail]),
            ("terminated", [Fail, Fail, Fail, Fail]),
            ("some-future-state", [Wait, Wait, Wait, Wait]),
        ];
        for (state, expected) in table {
            for (ping, want) in pings.iter().zip(expected) {
                assert_eq!(
                    decide(classify_ec2_state(state), *ping),
                    want,
                    "{state} {ping:?}"
                );
            }
        }
    }

    fn observed(id: &str, state: &str, ping: Option<&str>) -> Observed {
        Observed::new(
            Ec2Instance {
                instance_id: id.to_string(),
                state: state.to_string(),
                state_reason: None,
                instance_type: Some("t3.medium".to_string()),
            },
            ping.map(str::to_string),
        )
    }

    #[test]
    fn check_table() {
        use ErrorName::*;
        let online = observed(I1, "running", Some("Online"));
        let lost = observed(I2, "running", Some("ConnectionLost"));
        let pending = observed(I2, "pending", None);
        let gone = observed(I2, "terminated", None);
        // (workers, dry run, seconds since the first check, expected error)
        let deadline = at(300);
        let cases: Vec<(Vec<&Observed>, bool, u64, Option<ErrorName>)> = vec![
            (vec![&online], false, 0, None),
            (vec![&online], false, 301, None),
            (vec![&online, &pending], false, 300, None),
            (vec![&online, &pending], false, 301, Some(Ec2ReadyTimeout)),
            (vec![&online, &lost], false, 301, Some(Ec2ReadyTimeout)),
            (vec![&online, &pending], true, 301, None),
            (vec![&online, &gone], false, 0, Some(Ec2UnrecoverableState)),
            (
                vec![&pending, &gone],
                false,
                301,
                Some(Ec2UnrecoverableState),
            ),
            (vec![&gone], true, 0, Some(Ec2UnrecoverableState)),
        ];
        for (workers, dry_run, seconds, expected) in cases {
            let workers: Vec<Observed> = workers.into_iter().cloned().collect();
            let result = check(&workers, dry_run, at(seconds), at(0), deadline);
            assert_eq!(
                result.err().map(|e| e.name),
                expected,
                "{workers:?} dry run {dry_run} at {seconds}"
            );
        }
    }

    #[test]
    fn messages_describe_each_worker() {
        let workers = [
            observed(I1, "running", Some("ConnectionLost")),
            observed(I2, "running", None),
        ];
        let error = check(&workers, false, at(400), at(0), at(300)).unwrap_err();
        assert_eq!(
            error.message,
            format!(
                "workers not running with their SSM agent Online after 400 s (deadline 2026-11-22T01:05:00Z, EC2_READY_TIMEOUT_SECONDS): {I1} is running, SSM agent ConnectionLost; {I2} is running, SSM agent not registered"
            )
        );
        let workers = [observed(I1, "shutting-down", None)];
        let error = check(&workers, false, at(0), at(0), at(300)).unwrap_err();
        assert_eq!(
            error.message,
            format!(
                "worker {I1} is shutting-down and can never run again; replace it in WORKER_INSTANCE_IDS"
            )
        );
    }

    #[test]
    fn started_by_workflow_is_a_union_in_order() {
        assert_eq!(union(&ids(&[I1]), &ids(&[I2, I1])), ids(&[I1, I2]));
        assert_eq!(union(&[], &ids(&[I2])), ids(&[I2]));
        assert_eq!(union(&ids(&[I2]), &[]), ids(&[I2]));
    }

    #[test]
    fn found_running_is_running_or_pending() {
        let view = |id: &str, state: &str| Ec2Instance {
            instance_id: id.into(),
            state: state.into(),
            state_reason: None,
            instance_type: None,
        };
        let table = [
            ("running", true),
            ("pending", true),
            ("stopping", false),
            ("stopped", false),
            ("shutting-down", false),
            ("terminated", false),
        ];
        for (state, found) in table {
            let expected: Vec<String> = if found { ids(&[I1]) } else { vec![] };
            assert_eq!(found_running(&[view(I1, state)]), expected, "{state}");
        }
        assert_eq!(
            found_running(&[view(I1, "stopped"), view(I2, "running")]),
            ids(&[I2])
        );
    }

    // ---- handler ----

    #[tokio::test]
    async fn what_was_found_running_is_recorded_at_the_first_check_only() {
        let aws = workers(&[(I1, "running"), (I2, "stopped")]);
        let first = handle(&aws, &two(), first_event(json!({})), at(0))
            .await
            .unwrap();
        assert_eq!(first.found_running, Some(ids(&[I1])));
        assert_eq!(first.started_by_workflow, [I2]);
        // I2 is pending now because this run started it: still not found running.
        let second = handle(&aws, &two(), later_event(&first), at(10))
            .await
            .unwrap();
        assert_eq!(aws.instance(I2).unwrap().state, "pending");
        assert_eq!(second.found_running, Some(ids(&[I1])));
        // A document from an older version has no record: unknown stays unknown.
        let mut old = second.clone();
        old.found_running = None;
        let third = handle(&aws, &two(), later_event(&old), at(20))
            .await
            .unwrap();
        assert_eq!(third.found_running, None);
    }

    #[tokio::test]
    async fn stopped_worker_is_started_then_waited_for_until_its_agent_is_online() {
        let aws = workers(&[(I1, "stopped")]);
        let first = handle(&aws, &one(), first_event(json!({})), at(0))
            .await
            .unwrap();
        assert!(!first.ready);
        assert_eq!(
            aws.calls(),
            [
                Call::DescribeInstances {
                    instance_ids: ids(&[I1])
                },
                start_call(&[I1], false)
            ]
        );
        assert_eq!(
            first.instances,
            [WorkerReport {
                instance_id: I1.into(),
                state: "stopped".into(),
                instance_type: Some("t3.medium".into()),
                ping_status: None,
                ready: false,
                action: StartAction::Started,
            }]
        );
        assert_eq!(first.started_by_workflow, [I1]);
        assert_eq!(first.deadline, at(300));
        assert_eq!(first.retry_after_seconds, 10);
        assert_eq!(first.ready_at, None);

        // pending: nothing to do, no agent to ask about yet.
        let second = handle(&aws, &one(), later_event(&first), at(10))
            .await
            .unwrap();
        assert_eq!(second.instances[0].state, "pending");
        assert!(!second.ready);
        assert_eq!(second.instances[0].action, StartAction::None);
        assert_eq!(second.started_by_workflow, [I1]);
        assert_eq!(second.first_checked_at, at(0));
        assert!(ping_calls(&aws).is_empty());

        // running, agent not registered yet.
        aws.set_instance_state(I1, "running", None);
        let third = handle(&aws, &one(), later_event(&second), at(20))
            .await
            .unwrap();
        assert!(!third.ready);
        assert_eq!(third.instances[0].ping_status, None);
        assert_eq!(
            ping_calls(&aws),
            [Call::PingStatuses {
                instance_ids: ids(&[I1])
            }]
        );

        // running and Online: ready, the sticky facts carried.
        aws.set_ping(I1, "Online");
        let fourth = handle(&aws, &one(), later_event(&third), at(30))
            .await
            .unwrap();
        assert!(fourth.ready && fourth.instances[0].ready);
        assert_eq!(fourth.instances[0].ping_status.as_deref(), Some("Online"));
        assert_eq!(fourth.ready_at, Some(at(30)));
        assert_eq!(fourth.started_by_workflow, [I1]);
        assert_eq!(fourth.first_checked_at, at(0));

        // A redrive of the step after it was ready keeps ready_at.
        let again = handle(&aws, &one(), later_event(&fourth), at(40))
            .await
            .unwrap();
        assert_eq!(again.ready_at, Some(at(30)));
        assert_eq!(aws.count(Operation::StartInstances), 1);
    }

    #[tokio::test]
    async fn transitional_states_wait_without_acting() {
        for state in ["pending", "stopping"] {
            let aws = workers(&[(I1, state)]);
            let report = handle(&aws, &one(), first_event(json!({})), at(0))
                .await
                .unwrap();
            assert!(!report.ready, "{state}");
            assert_eq!(report.instances[0].state, state);
            assert_eq!(report.instances[0].action, StartAction::None, "{state}");
            assert!(report.started_by_workflow.is_empty());
            // No start, and no SSM call.
            assert_eq!(
                aws.calls(),
                [Call::DescribeInstances {
                    instance_ids: ids(&[I1])
                }],
                "{state}"
            );
        }
    }

    #[tokio::test]
    async fn a_stopping_worker_is_started_once_it_has_stopped() {
        let aws = workers(&[(I1, "stopping")]);
        let first = handle(&aws, &one(), first_event(json!({})), at(0))
            .await
            .unwrap();
        assert!(aws.mutating_calls().is_empty());
        aws.set_instance_state(I1, "stopped", Some("Client.UserInitiatedShutdown"));
        let second = handle(&aws, &one(), later_event(&first), at(10))
            .await
            .unwrap();
        assert_eq!(aws.mutating_calls(), [start_call(&[I1], false)]);
        assert_eq!(second.instances[0].action, StartAction::Started);
        assert_eq!(second.started_by_workflow, [I1]);
    }

    #[tokio::test]
    async fn running_worker_is_not_ready_until_its_agent_is_online() {
        for ping in [Some("ConnectionLost"), Some("Inactive"), None] {
            let mut aws = workers(&[(I1, "running")]);
            if let Some(ping) = ping {
                aws = aws.with_ping(I1, ping);
            }
            let report = handle(&aws, &one(), first_event(json!({})), at(0))
                .await
                .unwrap();
            assert!(!report.ready, "{ping:?}");
            assert!(!report.instances[0].ready);
            assert_eq!(report.instances[0].ping_status.as_deref(), ping);
            assert_eq!(ping_calls(&aws).len(), 1);
            assert!(aws.mutating_calls().is_empty());
        }
    }

    #[tokio::test]
    async fn all_workers_must_be_ready() {
        // Only the running worker's agent is asked about; the stopped one is started.
        let aws = workers(&[(I1, "running"), (I2, "stopped")]).with_ping(I1, "Online");
        let report = handle(&aws, &two(), first_event(json!({})), at(0))
            .await
            .unwrap();
        assert!(!report.ready);
        let summary: Vec<_> = report
            .instances
            .iter()
            .map(|w| (w.instance_id.as_str(), w.ready, w.action))
            .collect();
        assert_eq!(
            summary,
            [
                (I1, true, StartAction::None),
                (I2, false, StartAction::Started)
            ]
        );
        assert_eq!(report.started_by_workflow, [I2]);
        assert_eq!(
            ping_calls(&aws),
            [Call::PingStatuses {
                instance_ids: ids(&[I1])
            }]
        );
        assert_eq!(aws.mutating_calls(), [start_call(&[I2], false)]);

        aws.set_instance_state(I2, "running", None);
        aws.set_ping(I2, "Online");
        let report = handle(&aws, &two(), later_event(&report), at(10))
            .await
            .unwrap();
        assert!(report.ready);
        assert_eq!(report.started_by_workflow, [I2]);
    }

    #[tokio::test]
    async fn calls_exactly_its_declared_operations() {
        // One worker to start, one running whose agent is asked about.
        let aws = workers(&[(I1, "stopped"), (I2, "running")]);
        handle(&aws, &two(), first_event(json!({})), at(0))
            .await
            .unwrap();
        aws.assert_calls_exactly_declared("ec2_start");
    }

    #[tokio::test]
    async fn every_stopped_worker_is_started_in_one_call() {
        let aws = workers(&[(I1, "stopped"), (I2, "stopped")]);
        let report = handle(&aws, &two(), first_event(json!({})), at(0))
            .await
            .unwrap();
        assert_eq!(aws.mutating_calls(), [start_call(&[I1, I2], false)]);
        assert_eq!(report.started_by_workflow, [I1, I2]);
        assert!(
            report
                .instances
                .iter()
                .all(|w| w.action == StartAction::Started)
        );
    }

    #[tokio::test]
    async fn idempotent_rerun_with_everything_running_starts_nothing() {
        let previous = Ec2Report {
            ready: false,
            instances: vec![],
            started_by_workflow: ids(&[I1]),
            found_running: Some(ids(&[I2])),
            dry_run: false,
            first_checked_at: at(0),
            checked_at: at(10),
            deadline: at(300),
            ready_at: None,
            retry_after_seconds: 10,
        };
        let aws = workers(&[(I1, "running"), (I2, "running")])
            .with_ping(I1, "Online")
            .with_ping(I2, "Online");
        let report = handle(&aws, &two(), later_event(&previous), at(20))
            .await
            .unwrap();
        assert!(report.ready);
        assert!(aws.mutating_calls().is_empty());
        // I2 was running before the workflow: it is not ours to claim.
        assert_eq!(report.started_by_workflow, [I1]);
        assert_eq!(report.first_checked_at, at(0));
    }

    #[tokio::test]
    async fn gone_workers_fail_without_starting_anything() {
        for state in ["terminated", "shutting-down"] {
            let aws = workers(&[(I1, "stopped"), (I2, state)]);
            let error = handle(&aws, &two(), first_event(json!({})), at(0))
                .await
                .unwrap_err();
            assert_eq!(error.name, ErrorName::Ec2UnrecoverableState);
            assert!(
                error.message.contains(&format!("{I2} is {state}")),
                "{}",
                error.message
            );
            assert!(aws.mutating_calls().is_empty());
        }
    }

    #[tokio::test]
    async fn gone_fails_even_in_a_dry_run() {
        let aws = workers(&[(I1, "terminated")]);
        let error = handle(&aws, &one(), first_event(json!({"dryRun": true})), at(0))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::Ec2UnrecoverableState);
    }

    #[tokio::test]
    async fn missing_worker_is_not_found() {
        let aws = workers(&[(I2, "stopped")]);
        let error = handle(&aws, &one(), first_event(json!({})), at(0))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::Ec2InstanceNotFound);
        assert!(error.message.contains(I1));
    }

    #[tokio::test]
    async fn aws_errors_keep_their_name_and_a_failed_start_names_the_workers() {
        for name in [
            ErrorName::AwsThrottled,
            ErrorName::Ec2InsufficientCapacity,
            ErrorName::AccessDenied,
        ] {
            let aws = workers(&[(I1, "stopped")]).fail_next(Operation::StartInstances, 1, name);
            let error = handle(&aws, &one(), first_event(json!({})), at(0))
                .await
                .unwrap_err();
            assert_eq!(error.name, name);
            assert!(
                error.message.starts_with(&format!(
                    "could not start worker {I1} (t3.medium): ec2:StartInstances failed"
                )),
                "{}",
                error.message
            );
            // The state machine's retry of the step starts it.
            let report = handle(&aws, &one(), first_event(json!({})), at(1))
                .await
                .unwrap();
            assert_eq!(report.instances[0].action, StartAction::Started);
        }
        let aws = workers(&[(I1, "stopped")]).fail_next(
            Operation::DescribeInstances,
            1,
            ErrorName::AwsServiceUnavailable,
        );
        let error = handle(&aws, &one(), first_event(json!({})), at(0))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::AwsServiceUnavailable);
        assert!(aws.mutating_calls().is_empty());
    }

    #[tokio::test]
    async fn a_start_that_races_a_state_change_is_not_a_failure() {
        let aws = workers(&[(I1, "stopped")]).after_next(
            Operation::DescribeInstances,
            Change::InstanceState {
                instance_id: I1.into(),
                state: "stopping".into(),
            },
        );
        let report = handle(&aws, &one(), first_event(json!({})), at(0))
            .await
            .unwrap();
        assert!(!report.ready);
        assert_eq!(report.instances[0].action, StartAction::None);
        assert!(report.started_by_workflow.is_empty());
        assert_eq!(aws.mutating_calls(), [start_call(&[I1], false)]);
    }

    #[tokio::test]
    async fn dry_run_asks_ec2_to_check_the_start_and_changes_nothing() {
        let aws = workers(&[(I1, "stopped")]);
        let report = handle(&aws, &one(), first_event(json!({"dryRun": true})), at(0))
            .await
            .unwrap();
        assert!(report.ready && report.dry_run);
        assert_eq!(report.instances[0].action, StartAction::WouldStart);
        assert!(!report.instances[0].ready);
        assert!(report.started_by_workflow.is_empty());
        assert_eq!(report.ready_at, Some(at(0)));
        assert_eq!(aws.mutating_calls(), [start_call(&[I1], true)]);
        assert_eq!(aws.instance(I1).unwrap().state, "stopped");
    }

    #[tokio::test]
    async fn past_the_deadline_it_times_out_without_starting() {
        let aws = workers(&[(I1, "pending")]);
        let first = handle(&aws, &one(), first_event(json!({})), at(0))
            .await
            .unwrap();
        // Still pending exactly at the deadline: one more look is allowed.
        handle(&aws, &one(), later_event(&first), at(300))
            .await
            .unwrap();
        let error = handle(&aws, &one(), later_event(&first), at(301))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::Ec2ReadyTimeout);
        assert!(
            error.message.contains(&format!("{I1} is pending")),
            "{}",
            error.message
        );
        assert!(error.message.contains("EC2_READY_TIMEOUT_SECONDS"));

        aws.set_instance_state(I1, "stopped", None);
        let error = handle(&aws, &one(), later_event(&first), at(301))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::Ec2ReadyTimeout);
        assert!(aws.mutating_calls().is_empty());

        aws.set_instance_state(I1, "running", None);
        aws.set_ping(I1, "ConnectionLost");
        let error = handle(&aws, &one(), later_event(&first), at(301))
            .await
            .unwrap_err();
        assert!(
            error.message.contains("SSM agent ConnectionLost"),
            "{}",
            error.message
        );
    }

    #[tokio::test]
    async fn past_the_launch_window_nothing_is_started() {
        let settings = Settings::from_env(&Env::from_pairs(&[
            ("WORKER_INSTANCE_IDS", I1),
            ("LAUNCH_WINDOW_SECONDS", "60"),
        ]))
        .unwrap();
        let aws = workers(&[(I1, "stopped")]);
        let error = handle(&aws, &settings, first_event(json!({})), at(61))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::LaunchWindowMissed);
        assert!(
            error.message.contains(&format!("{I1} is stopped")),
            "{}",
            error.message
        );
        assert!(aws.mutating_calls().is_empty());
        // Ready workers are ready, late or not.
        let aws = workers(&[(I1, "running")]).with_ping(I1, "Online");
        assert!(
            handle(&aws, &settings, first_event(json!({})), at(61))
                .await
                .unwrap()
                .ready
        );
    }

    #[tokio::test]
    async fn bad_input_fails_before_any_aws_call() {
        let aws = workers(&[(I1, "stopped")]);
        for event in [
            first_event(json!({"dryRun": "no"})),
            first_event(json!({"command": "reboot"})),
            first_event(json!([1])),
            json!({"input": {}, "ec2": {"ready": "yes"}}),
        ] {
            let error = handle(&aws, &one(), event, at(0)).await.unwrap_err();
            assert_eq!(error.name, ErrorName::InvalidInput);
        }
        assert!(aws.calls().is_empty());
    }

    #[test]
    fn missing_configuration_names_the_variable() {
        let error = Settings::from_env(&Env::from_pairs(&[])).unwrap_err();
        assert_eq!(error.name, ErrorName::ConfigError);
        assert!(error.message.contains("WORKER_INSTANCE_IDS"));
        let error = Settings::from_env(&Env::from_pairs(&[
            ("WORKER_INSTANCE_IDS", I1),
            ("EC2_READY_TIMEOUT_SECONDS", "soon"),
        ]))
        .unwrap_err();
        assert!(error.message.contains("EC2_READY_TIMEOUT_SECONDS"));
    }
}
