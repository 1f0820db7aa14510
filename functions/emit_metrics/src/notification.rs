//! The operator's message for a run that ended badly (pure). The state
//! machine publishes it to the alarm topic (`Cleanup: notify`); the alarms
//! stay for trends and paging, this says which run and why.

use makenaide_core::config::StopPolicy;
use makenaide_core::document::{StateDocument, StopAction};
use makenaide_core::error::execution_error_meaning;
use makenaide_core::input::{RunInput, RunMode};
use serde::Serialize;

/// SNS refuses a longer subject.
pub const SUBJECT_MAX_CHARS: usize = 100;
/// How much of `$.error.Cause` the message quotes (it can hold the tail of
/// the job's stderr): the first characters only, then `...`.
pub const CAUSE_MAX_CHARS: usize = 500;

/// `$.metrics.notification`: `Subject`/`Message` of the SNS publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub subject: String,
    pub message: String,
}

/// What ended badly: a run's own cleanup, or a cleanup run for an ended one.
struct Ended<'a> {
    name: String,
    arn: Option<&'a str>,
    status: &'a str,
    cleaned_up_by: Option<&'a str>,
}

/// The first `max` characters of `text`, cut at a character boundary, with
/// `...` when something was cut.
pub fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}...", &text[..end]),
    }
}

/// An SNS subject: printable ASCII on one line, at most 100 characters.
fn subject_text(text: &str) -> String {
    let ascii: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if ascii.len() <= SUBJECT_MAX_CHARS {
        ascii
    } else {
        format!("{}...", &ascii[..SUBJECT_MAX_CHARS - 3])
    }
}

/// Plain text: no control characters but line breaks.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

/// A Lambda step's cause is its error as JSON (`{"errorType", "errorMessage"}`):
/// the message alone reads better (the name is on the line above).
fn readable_cause(cause: &str) -> std::borrow::Cow<'_, str> {
    serde_json::from_str::<serde_json::Value>(cause)
        .ok()
        .and_then(|value| value.get("errorMessage")?.as_str().map(str::to_string))
        .map_or(std::borrow::Cow::Borrowed(cause), std::borrow::Cow::Owned)
}

/// `arn:aws:states:<region>:<account>:execution:<machine>:<name>`.
fn arn_part(arn: &str, index: usize) -> Option<&str> {
    arn.split(':').nth(index).filter(|part| !part.is_empty())
}

pub fn console_link(region: &str, arn: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"
    )
}

/// What may still be running, from the stop blocks and the cleanup's own
/// failures.
fn still_running(doc: &StateDocument) -> Vec<String> {
    let mut lines = Vec::new();
    let cleanup_errors = doc.cleanup_errors.as_ref();
    let failed_step = |step: &str| {
        cleanup_errors
            .and_then(|errors| errors.get(step))
            .map(|error| {
                error
                    .get("Error")
                    .and_then(|e| e.as_str())
                    .unwrap_or("unknown error")
                    .to_string()
            })
    };
    if let Some(error) = failed_step("stopWorkers") {
        lines.push(format!(
            "workers: the cleanup could not stop them ({error}); they may still be running"
        ));
    } else if let Some(stop) = &doc.workers_stop {
        lines.extend(stop.instances.iter().filter_map(|worker| {
            left_running_line(
                &format!("worker {}", worker.instance_id),
                worker.action,
                stop.policy,
                action_name(worker.action),
            )
        }));
    }
    if let Some(error) = failed_step("stopDatabase") {
        lines.push(format!(
            "DB: the cleanup could not stop it ({error}); it may still be running"
        ));
    } else if let Some(stop) = &doc.rds_stop {
        let why = format!(
            "{}, status {}",
            action_name(stop.action),
            stop.status_before.as_deref().unwrap_or("unknown")
        );
        lines.extend(left_running_line(
            &format!("DB {}", stop.db_instance_identifier),
            stop.action,
            stop.policy,
            &why,
        ));
    }
    lines
}

/// The line for a resource the end of the run left running, if it did:
/// by policy, or because its stop failed (`why`).
fn left_running_line(
    what: &str,
    action: StopAction,
    policy: StopPolicy,
    why: &str,
) -> Option<String> {
    match action {
        StopAction::LeftRunning => Some(format!(
            "{what}: left running by policy {}",
            policy_name(policy)
        )),
        StopAction::CannotStop | StopAction::NotYet => Some(format!(
            "{what}: the stop failed ({why}); it may still be running"
        )),
        _ => None,
    }
}

fn policy_name(policy: StopPolicy) -> &'static str {
    match policy {
        StopPolicy::Always => "always",
        StopPolicy::LeaveAsFound => "leave-as-found",
    }
}

fn action_name(action: StopAction) -> &'static str {
    match action {
        StopAction::Stopped => "stopped",
        StopAction::AlreadyStopped => "alreadyStopped",
        StopAction::LeftRunning => "leftRunning",
        StopAction::WouldStop => "wouldStop",
        StopAction::CannotStop => "cannotStop",
        StopAction::NotFound => "notFound",
        StopAction::NotYet => "notYet",
        StopAction::Gone => "gone",
    }
}

/// The notification of a run that ended badly (pure); `None` for a run that
/// succeeded, a dry run, a skipped run and a sweep. `region`: where the
/// execution ran when its ARN does not say.
pub fn notification(
    doc: &StateDocument,
    run: Option<&RunInput>,
    dry_run: bool,
    workflow: &str,
    region: &str,
) -> Option<Notification> {
    if doc.skipped.is_some() || dry_run {
        return None;
    }
    let own = doc.execution.as_ref();
    let ended = match run.map(|run| &run.mode) {
        Some(RunMode::Sweep { .. }) => return None,
        Some(RunMode::CleanupAfter {
            execution_arn,
            ended_with,
        }) => Ended {
            name: arn_part(execution_arn, 7)
                .unwrap_or(execution_arn)
                .to_string(),
            arn: Some(execution_arn),
            status: ended_with,
            cleaned_up_by: own.map(|e| e.name.as_str()),
        },
        // An input that does not parse is a run (as for the metrics).
        Some(RunMode::Run) | None => {
            doc.error.as_ref()?;
            Ended {
                name: own.map_or_else(|| "unknown".to_string(), |e| e.name.clone()),
                arn: own.and_then(|e| e.arn.as_deref()),
                status: "FAILED",
                cleaned_up_by: None,
            }
        }
    };
    let error = doc.error.as_ref().filter(|_| ended.cleaned_up_by.is_none());
    let mut lines = vec![
        format!("Execution: {}", ended.name),
        format!("Status: {}", ended.status),
    ];
    match error {
        Some(error) => {
            lines.push(format!(
                "Error: {} - {}",
                error.error,
                execution_error_meaning(&error.error)
            ));
            if let Some(cause) = error.cause.as_deref().map(readable_cause) {
                let cause = cause.trim();
                if !cause.is_empty() {
                    lines.push(format!("Cause: {}", bounded(cause, CAUSE_MAX_CHARS)));
                }
            }
        }
        None => {
            let by = ended.cleaned_up_by.unwrap_or("unknown");
            lines.push(if ended.status == "FAILED" {
                // It failed with its own error (and sent its own message), but
                // its cleanup was incomplete: this run tried again.
                format!(
                    "Error: see the execution's own notification; its cleanup was incomplete and cleanup run {by} tried again"
                )
            } else {
                format!(
                    "Error: none recorded: the execution ended {} before its own cleanup could run; cleanup run {by} stopped what it left",
                    ended.status
                )
            })
        }
    }
    let running = still_running(doc);
    if running.is_empty() {
        lines.push("Still running: nothing (the cleanup stopped everything)".to_string());
    } else {
        lines.push("Still running:".to_string());
        lines.extend(running.into_iter().map(|line| format!("- {line}")));
    }
    if let Some(arn) = ended.arn {
        let region = arn_part(arn, 3).unwrap_or(region);
        lines.push(format!("Console: {}", console_link(region, arn)));
    }
    let reason = error.map_or(String::new(), |e| format!(" ({})", e.error));
    let what = if ended.cleaned_up_by.is_some() {
        " - cleanup run"
    } else {
        ""
    };
    Some(Notification {
        subject: subject_text(&format!(
            "{workflow}: {} {}{reason}{what}",
            ended.name, ended.status
        )),
        message: plain(&lines.join("\n")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use makenaide_core::config::{Env, Timing};
    use makenaide_core::input::parse_run_input;
    use serde_json::{Value, json};

    const RUN_ARN: &str =
        "arn:aws:states:eu-west-1:123456789012:execution:makenaide-orchestrator:run-1";
    const CLEANUP_ARN: &str =
        "arn:aws:states:eu-west-1:123456789012:execution:makenaide-orchestrator:cleanup-1";
    const LINK: &str = "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:makenaide-orchestrator:run-1";

    fn execution(name: &str, arn: &str) -> Value {
        json!({"name": name, "startTime": "2026-11-22T01:00:00.000Z", "arn": arn})
    }

    fn rds_stop(action: &str, policy: &str) -> Value {
        json!({"dbInstanceIdentifier": "makenaide-db", "statusBefore": "available",
               "action": action, "policy": policy, "dryRun": false,
               "stoppedAt": "2026-11-22T01:45:01.000Z"})
    }

    fn workers_stop(actions: &[(&str, &str)], policy: &str) -> Value {
        let instances: Vec<Value> = actions
            .iter()
            .map(|(id, action)| {
                json!({"instanceId": id, "stateBefore": "running",
                                       "foundRunning": false, "action": action})
            })
            .collect();
        json!({"done": true, "policy": policy, "dryRun": false, "instances": instances,
               "checkedAt": "2026-11-22T01:45:00.000Z", "firstTriedAt": "2026-11-22T01:45:00.000Z",
               "deadline": "2026-11-22T02:00:00.000Z", "retryAfterSeconds": 15})
    }

    /// A run that failed with `error`/`cause`, everything stopped.
    fn failed(error: &str, cause: &str) -> Value {
        json!({
            "input": {},
            "execution": execution("run-1", RUN_ARN),
            "error": {"Error": error, "Cause": cause},
            "workersStop": workers_stop(&[("i-1", "stopped")], "always"),
            "rdsStop": rds_stop("stopped", "always"),
        })
    }

    fn cleanup_run(ended_with: &str) -> Value {
        json!({
            "input": {"cleanupAfter": RUN_ARN, "endedWith": ended_with},
            "execution": execution("cleanup-1", CLEANUP_ARN),
            "workersStop": workers_stop(&[("i-1", "stopped")], "always"),
            "rdsStop": rds_stop("stopped", "always"),
        })
    }

    fn notify(value: Value) -> Option<Notification> {
        let doc = StateDocument::from_event(value).unwrap();
        let timing = Timing::from_env(&Env::from_pairs(&[])).unwrap();
        let run = parse_run_input(&doc.input, &timing).ok();
        let dry_run = run.as_ref().is_some_and(|run| run.dry_run);
        notification(&doc, run.as_ref(), dry_run, "makenaide", "us-east-1")
    }

    struct Case {
        name: &'static str,
        doc: Value,
        /// `None`: no notification.
        subject: Option<&'static str>,
        message_contains: &'static [&'static str],
        message_lacks: &'static [&'static str],
    }

    fn cases() -> Vec<Case> {
        let mut succeeded = failed("x", "y");
        succeeded.as_object_mut().unwrap().remove("error");
        let mut dry_run = failed("JobFailed", "exit 2");
        dry_run["input"] = json!({"dryRun": true});
        let mut skipped = failed("x", "y");
        skipped.as_object_mut().unwrap().remove("error");
        skipped["skipped"] = json!({"reason": "runInProgress", "heldBy": "run-0"});
        let sweep = json!({"input": {"sweep": "scheduled"},
                           "execution": execution("sweep-1", CLEANUP_ARN),
                           "rdsStop": rds_stop("stopped", "always")});

        let mut left_running = failed("Ec2ReadyTimeout", "agent offline");
        left_running["rdsStop"] = rds_stop("leftRunning", "leave-as-found");
        left_running["workersStop"] =
            workers_stop(&[("i-1", "stopped"), ("i-2", "cannotStop")], "always");

        let mut cleanup_failed = failed("JobFailed", "exit 2");
        cleanup_failed.as_object_mut().unwrap().remove("rdsStop");
        cleanup_failed["cleanupErrors"] = json!({"stopDatabase": {
            "Error": "AccessDenied", "Cause": "SECRET-FROM-STOP rds:StopDBInstance"}});

        let mut no_arn = failed("States.Timeout", "");
        no_arn["execution"] = json!({"name": "run-1", "startTime": "2026-11-22T01:00:00.000Z"});

        let mut cleanup_still_running = cleanup_run("TIMED_OUT");
        cleanup_still_running["cleanupErrors"] =
            json!({"stopWorkers": {"Error": "AwsThrottled", "Cause": "slow down"}});

        vec![
            Case {
                name: "succeeded",
                doc: succeeded,
                subject: None,
                message_contains: &[],
                message_lacks: &[],
            },
            Case {
                name: "dry run",
                doc: dry_run,
                subject: None,
                message_contains: &[],
                message_lacks: &[],
            },
            Case {
                name: "skipped",
                doc: skipped,
                subject: None,
                message_contains: &[],
                message_lacks: &[],
            },
            Case {
                name: "sweep",
                doc: sweep,
                subject: None,
                message_contains: &[],
                message_lacks: &[],
            },
            Case {
                name: "job failed, everything stopped",
                doc: failed("JobFailed", "exit code 2\nstderr: boom"),
                subject: Some("makenaide: run-1 FAILED (JobFailed)"),
                message_contains: &[
                    "Execution: run-1\nStatus: FAILED\n",
                    "Error: JobFailed - the batch job's command finished unsuccessfully",
                    "Cause: exit code 2\nstderr: boom\n",
                    "Still running: nothing",
                    LINK,
                ],
                message_lacks: &["...", "cleanup run"],
            },
            Case {
                name: "DB left by policy, a worker not stopped",
                doc: left_running,
                subject: Some("makenaide: run-1 FAILED (Ec2ReadyTimeout)"),
                message_contains: &[
                    "Error: Ec2ReadyTimeout - the workers were not running",
                    "Still running:\n",
                    "- worker i-2: the stop failed (cannotStop); it may still be running",
                    "- DB makenaide-db: left running by policy leave-as-found",
                ],
                message_lacks: &["i-1", "Still running: nothing"],
            },
            Case {
                name: "the cleanup could not stop the DB",
                doc: cleanup_failed,
                subject: Some("makenaide: run-1 FAILED (JobFailed)"),
                message_contains: &[
                    "- DB: the cleanup could not stop it (AccessDenied); it may still be running",
                ],
                // Only the error name of a cleanup failure, never its cause.
                message_lacks: &["SECRET-FROM-STOP", "Still running: nothing"],
            },
            Case {
                name: "Step Functions error, no ARN recorded, empty cause",
                doc: no_arn,
                subject: Some("makenaide: run-1 FAILED (States.Timeout)"),
                message_contains: &[
                    "Error: States.Timeout - a step ran longer than its TimeoutSeconds",
                ],
                message_lacks: &["Cause:", "Console:"],
            },
            Case {
                name: "cleanup run after an abort",
                doc: cleanup_run("ABORTED"),
                subject: Some("makenaide: run-1 ABORTED - cleanup run"),
                message_contains: &[
                    "Execution: run-1\nStatus: ABORTED\n",
                    "Error: none recorded: the execution ended ABORTED before its own cleanup could run; cleanup run cleanup-1 stopped what it left",
                    "Still running: nothing",
                    LINK,
                ],
                message_lacks: &["cleanup-1\n", "Cause:"],
            },
            Case {
                name: "cleanup run after a timeout that could not stop the workers",
                doc: cleanup_still_running,
                subject: Some("makenaide: run-1 TIMED_OUT - cleanup run"),
                message_contains: &[
                    "Status: TIMED_OUT",
                    "- workers: the cleanup could not stop them (AwsThrottled); they may still be running",
                ],
                message_lacks: &["slow down"],
            },
            Case {
                name: "cleanup run after a failed run",
                doc: cleanup_run("FAILED"),
                subject: Some("makenaide: run-1 FAILED - cleanup run"),
                message_contains: &[
                    "Status: FAILED",
                    "Error: see the execution's own notification; its cleanup was incomplete and cleanup run cleanup-1 tried again",
                    LINK,
                ],
                message_lacks: &["none recorded"],
            },
        ]
    }

    #[test]
    fn notification_table() {
        for case in cases() {
            let name = case.name;
            let got = notify(case.doc);
            let Some(expected) = case.subject else {
                assert_eq!(got, None, "{name}");
                continue;
            };
            let got = got.unwrap_or_else(|| panic!("{name}: no notification"));
            assert_eq!(got.subject, expected, "{name}");
            for part in case.message_contains {
                assert!(
                    got.message.contains(part),
                    "{name}: {part:?} not in\n{}",
                    got.message
                );
            }
            for part in case.message_lacks {
                assert!(
                    !got.message.contains(part),
                    "{name}: {part:?} in\n{}",
                    got.message
                );
            }
        }
    }

    #[test]
    fn a_lambda_error_cause_is_quoted_by_its_message() {
        let cause = json!({"errorType": "JobFailed", "errorMessage": "exit code 3; stderr ends with:\nboom"});
        let got = notify(failed("JobFailed", &cause.to_string())).unwrap();
        assert!(
            got.message
                .contains("Cause: exit code 3; stderr ends with:\nboom\n"),
            "{}",
            got.message
        );
        assert!(!got.message.contains("errorType"));
        // Other JSON, or none, is quoted as it is.
        let got = notify(failed("States.Timeout", r#"{"other": 1}"#)).unwrap();
        assert!(
            got.message.contains(r#"Cause: {"other": 1}"#),
            "{}",
            got.message
        );
    }

    #[test]
    fn cause_is_bounded_and_nothing_after_it_gets_in() {
        // A long stderr tail with multi-byte characters across the cut.
        let head = "é".repeat(CAUSE_MAX_CHARS - 1);
        let cause = format!("{head}ü-AFTER-THE-BOUND {}", "x".repeat(5000));
        let got = notify(failed("JobFailed", &cause)).unwrap();
        assert!(
            got.message.contains(&format!("Cause: {head}ü...\n")),
            "{}",
            got.message
        );
        assert!(!got.message.contains("AFTER-THE-BOUND"));
        assert!(!got.message.contains('x'.to_string().repeat(2).as_str()));
        assert!(got.message.chars().count() < 1500, "{}", got.message.len());
    }

    #[test]
    fn control_characters_never_reach_the_message() {
        let got = notify(failed("JobFailed", "a\u{1b}[31mred\r\n\u{0}b")).unwrap();
        assert!(
            got.message.contains("Cause: a [31mred \n b\n"),
            "{:?}",
            got.message
        );
        assert!(!got.message.chars().any(|c| c.is_control() && c != '\n'));
    }

    #[test]
    fn subject_is_ascii_and_at_most_100_characters() {
        let mut doc = failed("JobFailed", "exit 2");
        let long = format!("run-é{}", "n".repeat(200));
        doc["execution"]["name"] = json!(long);
        let got = notify(doc).unwrap();
        assert_eq!(got.subject.chars().count(), SUBJECT_MAX_CHARS);
        assert!(
            got.subject.starts_with("makenaide: run-?nnn"),
            "{}",
            got.subject
        );
        assert!(got.subject.ends_with("..."));
        assert!(
            got.subject
                .chars()
                .all(|c| c.is_ascii_graphic() || c == ' ')
        );
        // The message keeps the name as it is.
        assert!(got.message.contains(&long));
    }

    #[test]
    fn bounded_cuts_at_a_character_boundary() {
        for (text, max, expected) in [
            ("", 3, ""),
            ("abc", 3, "abc"),
            ("abcd", 3, "abc..."),
            ("ééé", 2, "éé..."),
            ("日本語テキスト", 3, "日本語..."),
        ] {
            assert_eq!(bounded(text, max), expected, "{text}");
        }
    }
}
