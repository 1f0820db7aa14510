//! The execution input: what a caller may set for one run, validated the
//! same way by every step (the first step fails with `InvalidInput`).

use serde_json::{Map, Value};

use crate::config::Timing;
use crate::document::StateDocument;
use crate::error::StepError;
use crate::settings::{
    CLEANUP_AFTER, DRY_RUN, ENDED_WITH, ENDED_WITH_VALUES, INPUT_FIELDS, InputKind,
    JOB_TIMEOUT_INPUT, JOB_TIMEOUT_MIN_SECONDS, SWEEP, SWEEP_VALUES, SetBy,
};

/// The settings of one run after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInput {
    pub dry_run: bool,
    pub job_timeout_seconds: u64,
    pub mode: RunMode,
}

/// What an execution is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMode {
    /// Start the DB and the workers, run the job, stop them.
    Run,
    /// Stop what an ended execution left running (it still held the lease).
    CleanupAfter {
        execution_arn: String,
        /// `ABORTED`, `TIMED_OUT` or `FAILED`.
        ended_with: String,
    },
    /// No run holds the lease: stop what the policy says (`scheduled` or
    /// `rds-auto-start`).
    Sweep { reason: String },
}

impl RunMode {
    pub fn is_run(&self) -> bool {
        *self == Self::Run
    }

    /// What it asks for, in words (error messages).
    pub fn describe(&self) -> String {
        match self {
            Self::Run => "a run".to_string(),
            Self::CleanupAfter {
                execution_arn,
                ended_with,
            } => format!("a cleanup after {execution_arn} ({ended_with})"),
            Self::Sweep { reason } => format!("a sweep ({reason})"),
        }
    }

    /// The outcome a cleanup publishes for the execution it cleaned up after.
    pub fn cleanup_outcome(&self) -> Option<&'static str> {
        match self {
            Self::CleanupAfter { ended_with, .. } => Some(match ended_with.as_str() {
                "ABORTED" => "Aborted",
                "TIMED_OUT" => "TimedOut",
                _ => "Failed",
            }),
            _ => None,
        }
    }
}

/// Steps that start things or launch the job refuse every mode but a run.
pub fn require_run_mode(run: &RunInput, step: &str) -> Result<(), StepError> {
    if run.mode.is_run() {
        return Ok(());
    }
    Err(StepError::new(
        crate::error::ErrorName::InvalidInput,
        format!(
            "the execution input asks for {}; {step} only runs in a normal run and never starts anything for a cleanup or a sweep",
            run.mode.describe()
        ),
    ))
}

/// What every step does first with its event: read the state document and
/// validate the execution input in it, before any AWS call.
pub fn read_event(event: Value, timing: &Timing) -> Result<(StateDocument, RunInput), StepError> {
    let doc = StateDocument::from_event(event)?;
    let run = parse_run_input(&doc.input, timing)?;
    Ok((doc, run))
}

/// Parses the raw execution input. Accepts `{}`/`null`, the documented
/// fields, and the legacy EventBridge scheduled-event envelope (whose
/// `detail` is the input). Any other field is rejected by name so a typo
/// never silently runs the real job.
pub fn parse_run_input(raw: &Value, timing: &Timing) -> Result<RunInput, StepError> {
    parse_with(
        raw,
        timing.job_timeout_seconds,
        JobTimeoutBound::Deployed(timing.job_timeout_max_seconds),
    )
}

/// The upper bound of `jobTimeoutSeconds`: the deployment's
/// `JOB_TIMEOUT_MAX_SECONDS` when known, else only the largest any
/// deployment may set (the setting's own maximum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobTimeoutBound {
    Deployed(u64),
    Unknown,
}

impl JobTimeoutBound {
    fn max(self) -> u64 {
        match self {
            Self::Deployed(max) => max,
            Self::Unknown => JOB_TIMEOUT_INPUT_MAX.max,
        }
    }
}

/// The fields an operator (and the schedule) may set, as the messages name
/// them; the others are the stack's own triggers'.
pub fn operator_fields() -> Vec<&'static str> {
    INPUT_FIELDS
        .iter()
        .filter(|f| f.set_by == SetBy::Operator)
        .map(|f| f.name)
        .collect()
}

/// What an operator's tool (the `makenaide` CLI) checks before it starts a
/// run: everything the workflow's first step would refuse with
/// `InvalidInput`, with the same messages, and the stack's own fields
/// (`cleanupAfter`, `endedWith`, `sweep`), which only its rules and sweeper
/// send. `bound`: the deployment's `JOB_TIMEOUT_MAX_SECONDS`, when the tool
/// knows it (the stack output `JobTimeoutMaxSeconds`). `Ok`: whether the
/// input asks for a dry run.
pub fn check_operator_input(raw: &Value, bound: JobTimeoutBound) -> Result<bool, StepError> {
    if let Value::Object(fields) = raw {
        let fields = scheduled_event_detail(fields)?.unwrap_or(fields);
        let stack_field = INPUT_FIELDS
            .iter()
            .find(|f| f.set_by == SetBy::Stack && fields.contains_key(f.name));
        if let Some(field) = stack_field {
            return Err(StepError::invalid_input(
                field.name,
                format!(
                    "is set only by the stack's own rules and sweeper; fields an operator may set: {}",
                    operator_fields().join(", ")
                ),
            ));
        }
    }
    // The default deadline is the deployment's; only the bound matters here.
    parse_with(raw, JOB_TIMEOUT_MIN_SECONDS, bound).map(|input| input.dry_run)
}

fn parse_with(
    raw: &Value,
    job_timeout_default: u64,
    bound: JobTimeoutBound,
) -> Result<RunInput, StepError> {
    let fields = match raw {
        Value::Null => return Ok(defaults(job_timeout_default)),
        Value::Object(fields) => fields,
        _ => return Err(StepError::invalid_input("$", "must be a JSON object")),
    };
    let fields = match scheduled_event_detail(fields)? {
        Some(detail) => detail,
        None => fields,
    };
    let mut input = defaults(job_timeout_default);
    let (mut cleanup_after, mut ended_with, mut sweep) = (None, None, None);
    for (name, value) in fields {
        match name.as_str() {
            name if name == DRY_RUN.name => {
                input.dry_run = value
                    .as_bool()
                    .ok_or_else(|| StepError::invalid_input(name, "must be true or false"))?;
            }
            name if name == JOB_TIMEOUT_INPUT.name => {
                input.job_timeout_seconds = job_timeout(value, bound)?;
            }
            name if name == CLEANUP_AFTER.name => cleanup_after = Some(execution_arn(name, value)?),
            name if name == ENDED_WITH.name => {
                ended_with = Some(choice(name, value, ENDED_WITH_VALUES)?);
            }
            name if name == SWEEP.name => sweep = Some(choice(name, value, SWEEP_VALUES)?),
            other => {
                // Operators read this message: it offers their fields only
                // (the stack's own triggers never send an unknown field).
                return Err(StepError::invalid_input(
                    other,
                    format!(
                        "is not accepted; fields an operator may set: {}",
                        operator_fields().join(", ")
                    ),
                ));
            }
        }
    }
    input.mode = match (cleanup_after, ended_with, sweep) {
        (None, None, None) => RunMode::Run,
        (Some(execution_arn), Some(ended_with), None) => RunMode::CleanupAfter {
            execution_arn,
            ended_with,
        },
        (None, None, Some(reason)) => RunMode::Sweep { reason },
        (Some(_), None, _) => {
            return Err(StepError::invalid_input(
                ENDED_WITH.name,
                format!("is required with `{}`", CLEANUP_AFTER.name),
            ));
        }
        (None, Some(_), _) => {
            return Err(StepError::invalid_input(
                CLEANUP_AFTER.name,
                format!("is required with `{}`", ENDED_WITH.name),
            ));
        }
        (Some(_), Some(_), Some(_)) => {
            return Err(StepError::invalid_input(
                SWEEP.name,
                format!("cannot be combined with `{}`", CLEANUP_AFTER.name),
            ));
        }
    };
    // The stack's own triggers send exactly their fields: a cleanup or a
    // sweep is never a dry run and has no job.
    if !input.mode.is_run()
        && fields
            .keys()
            .any(|k| k == DRY_RUN.name || k == JOB_TIMEOUT_INPUT.name)
    {
        return Err(StepError::invalid_input(
            if fields.contains_key(DRY_RUN.name) {
                DRY_RUN.name
            } else {
                JOB_TIMEOUT_INPUT.name
            },
            "cannot be combined with a cleanup or a sweep",
        ));
    }
    Ok(input)
}

fn choice(name: &str, value: &Value, values: &[&str]) -> Result<String, StepError> {
    value
        .as_str()
        .filter(|v| values.contains(v))
        .map(str::to_string)
        .ok_or_else(|| {
            StepError::invalid_input(name, format!("must be one of {}", values.join(", ")))
        })
}

/// `arn:aws:states:<region>:<account>:execution:<state machine>:<name>`,
/// names as Step Functions allows them (no spaces, quotes or shell
/// characters), so the value is safe in a DynamoDB condition and a log.
fn execution_arn(name: &str, value: &Value) -> Result<String, StepError> {
    let valid = |arn: &str| {
        let parts: Vec<&str> = arn.split(':').collect();
        let token = |t: &str, max: usize| {
            !t.is_empty()
                && t.len() <= max
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        arn.len() <= 256
            && parts.len() == 8
            && parts[..3] == ["arn", "aws", "states"]
            && parts[1].starts_with("aws")
            && token(parts[3], 32)
            && parts[4].len() == 12
            && parts[4].chars().all(|c| c.is_ascii_digit())
            && parts[5] == "execution"
            && token(parts[6], 80)
            && token(parts[7], 80)
    };
    value
        .as_str()
        .filter(|arn| valid(arn))
        .map(str::to_string)
        .ok_or_else(|| {
            StepError::invalid_input(
                name,
                "must be the ARN of an execution (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)",
            )
        })
}

fn defaults(job_timeout_default: u64) -> RunInput {
    let InputKind::Boolean { default: dry_run } = DRY_RUN.kind else {
        unreachable!("dryRun is a boolean field")
    };
    RunInput {
        dry_run,
        // The field's default is the JOB_TIMEOUT_SECONDS setting.
        job_timeout_seconds: job_timeout_default,
        mode: RunMode::Run,
    }
}

/// The setting that bounds `jobTimeoutSeconds` (`JOB_TIMEOUT_MAX_SECONDS`).
const JOB_TIMEOUT_INPUT_MAX: crate::settings::Seconds = match JOB_TIMEOUT_INPUT.kind {
    InputKind::Seconds { max, .. } => max,
    _ => panic!("jobTimeoutSeconds is a seconds field"),
};

fn job_timeout(value: &Value, bound: JobTimeoutBound) -> Result<u64, StepError> {
    let InputKind::Seconds { min, .. } = JOB_TIMEOUT_INPUT.kind else {
        unreachable!("jobTimeoutSeconds is a seconds field")
    };
    let range = min..=bound.max();
    value
        .as_u64()
        .filter(|seconds| range.contains(seconds))
        .ok_or_else(|| {
            let to = match bound {
                JobTimeoutBound::Deployed(max) => max.to_string(),
                JobTimeoutBound::Unknown => format!(
                    "the deployment's {} (at most {})",
                    JOB_TIMEOUT_INPUT_MAX.variable,
                    range.end()
                ),
            };
            StepError::invalid_input(
                JOB_TIMEOUT_INPUT.name,
                format!(
                    "must be a whole number of seconds from {} to {to}",
                    range.start()
                ),
            )
        })
}

/// The `detail` of an EventBridge scheduled-event envelope, if `fields` is one.
fn scheduled_event_detail(
    fields: &Map<String, Value>,
) -> Result<Option<&Map<String, Value>>, StepError> {
    let is_envelope = fields.get("source").and_then(Value::as_str) == Some("aws.events")
        && fields.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
    if !is_envelope {
        return Ok(None);
    }
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match fields.get("detail") {
        None | Some(Value::Null) => Ok(Some(EMPTY.get_or_init(Map::new))),
        Some(Value::Object(detail)) => Ok(Some(detail)),
        Some(_) => Err(StepError::invalid_input("detail", "must be a JSON object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;
    use crate::error::ErrorName;
    use serde_json::json;

    fn timing() -> Timing {
        Timing::from_env(&Env::from_pairs(&[])).unwrap()
    }

    fn parse(raw: Value) -> Result<RunInput, StepError> {
        parse_run_input(&raw, &timing())
    }

    #[test]
    fn accepted_inputs() {
        let defaults = RunInput {
            dry_run: false,
            job_timeout_seconds: 3600,
            mode: RunMode::Run,
        };
        assert_eq!(parse(json!({})).unwrap(), defaults);
        assert_eq!(parse(Value::Null).unwrap(), defaults);
        assert_eq!(
            parse(json!({"dryRun": true, "jobTimeoutSeconds": 7200})).unwrap(),
            RunInput {
                dry_run: true,
                job_timeout_seconds: 7200,
                mode: RunMode::Run,
            }
        );
        let envelope = json!({
            "version": "0", "id": "53dc4d37", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-11-22T01:00:00Z",
            "region": "ap-northeast-2", "resources": ["arn:aws:events:ap-northeast-2:123456789012:rule/r"],
            "detail": {}
        });
        assert_eq!(parse(envelope).unwrap(), defaults);
        let envelope = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {"dryRun": true}});
        assert!(parse(envelope).unwrap().dry_run);
    }

    const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:makenaide:run-1";

    #[test]
    fn stack_triggers_select_a_mode() {
        let cleanup = parse(json!({"cleanupAfter": ARN, "endedWith": "ABORTED"})).unwrap();
        assert_eq!(
            cleanup.mode,
            RunMode::CleanupAfter {
                execution_arn: ARN.into(),
                ended_with: "ABORTED".into()
            }
        );
        assert_eq!(cleanup.mode.cleanup_outcome(), Some("Aborted"));
        let timed_out = parse(json!({"cleanupAfter": ARN, "endedWith": "TIMED_OUT"})).unwrap();
        assert_eq!(timed_out.mode.cleanup_outcome(), Some("TimedOut"));
        for reason in ["scheduled", "rds-auto-start"] {
            let sweep = parse(json!({"sweep": reason})).unwrap();
            assert_eq!(
                sweep.mode,
                RunMode::Sweep {
                    reason: reason.into()
                }
            );
            let refused = require_run_mode(&sweep, "ssm_launch").unwrap_err();
            assert!(
                refused.message.starts_with(&format!(
                    "the execution input asks for a sweep ({reason}); ssm_launch only runs"
                )),
                "{}",
                refused.message
            );
        }
        assert!(require_run_mode(&parse(json!({})).unwrap(), "ssm_launch").is_ok());
    }

    #[test]
    fn a_misspelt_field_is_offered_the_operators_fields_only() {
        let error = parse(json!({"dryrun": true})).unwrap_err();
        assert_eq!(
            error.message,
            "execution input field `dryrun` is not accepted; fields an operator may set: dryRun, jobTimeoutSeconds"
        );
        assert_eq!(operator_fields(), ["dryRun", "jobTimeoutSeconds"]);
    }

    #[test]
    fn an_operators_input_is_checked_as_the_workflow_checks_it() {
        let deployed = JobTimeoutBound::Deployed(300);
        let check = |raw: Value, bound| check_operator_input(&raw, bound);
        assert_eq!(check(json!({}), deployed), Ok(false));
        assert_eq!(check(json!({"dryRun": true}), deployed), Ok(true));
        assert_eq!(
            check(json!({"jobTimeoutSeconds": 300}), deployed),
            Ok(false)
        );
        // Whatever the workflow refuses, with its own message.
        for raw in [
            json!({"jobTimeoutSeconds": -5}),
            json!({"jobTimeoutSeconds": 301}),
            json!({"dryRun": "yes"}),
            json!({"dryrun": true}),
            json!([1]),
        ] {
            let workflow = parse_with(&raw, 60, deployed).unwrap_err();
            assert_eq!(check(raw.clone(), deployed), Err(workflow), "{raw}");
        }
        let error = check(json!({"jobTimeoutSeconds": 301}), deployed).unwrap_err();
        assert_eq!(
            error.message,
            "execution input field `jobTimeoutSeconds` must be a whole number of seconds from 60 to 300"
        );
        // Without the deployed bound: what no deployment accepts.
        let unknown = JobTimeoutBound::Unknown;
        assert_eq!(check(json!({"jobTimeoutSeconds": 301}), unknown), Ok(false));
        let error = check(json!({"jobTimeoutSeconds": 172_801}), unknown).unwrap_err();
        assert_eq!(
            error.message,
            "execution input field `jobTimeoutSeconds` must be a whole number of seconds from 60 to the deployment's JOB_TIMEOUT_MAX_SECONDS (at most 172800)"
        );
        assert!(check(json!({"jobTimeoutSeconds": 59}), unknown).is_err());
        // The stack's own fields, even valid ones, are not an operator's.
        for raw in [
            json!({"sweep": "scheduled"}),
            json!({"cleanupAfter": ARN, "endedWith": "ABORTED"}),
            json!({"endedWith": "nonsense"}),
        ] {
            let error = check(raw.clone(), deployed).unwrap_err();
            assert_eq!(error.name, ErrorName::InvalidInput);
            assert!(
                error.message.contains("is set only by the stack's own rules and sweeper; fields an operator may set: dryRun, jobTimeoutSeconds"),
                "{raw}: {}",
                error.message
            );
        }
    }

    #[test]
    fn rejected_inputs_name_the_field() {
        let cases = [
            (json!([]), "`$`"),
            (json!("run"), "`$`"),
            (json!({"dryRun": "yes"}), "`dryRun`"),
            (json!({"jobTimeoutSeconds": 59}), "`jobTimeoutSeconds`"),
            (json!({"jobTimeoutSeconds": 10801}), "`jobTimeoutSeconds`"),
            (json!({"jobTimeoutSeconds": 600.5}), "`jobTimeoutSeconds`"),
            (json!({"jobTimeoutSeconds": "600"}), "`jobTimeoutSeconds`"),
            (json!({"dryrun": true}), "`dryrun`"),
            (json!({"commands": ["rm -rf /"]}), "`commands`"),
            (
                json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": []}),
                "`detail`",
            ),
            (
                json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {"x": 1}}),
                "`x`",
            ),
            (json!({"cleanupAfter": ARN}), "`endedWith`"),
            (json!({"endedWith": "ABORTED"}), "`cleanupAfter`"),
            (
                json!({"cleanupAfter": ARN, "endedWith": "SUCCEEDED"}),
                "`endedWith`",
            ),
            (
                json!({"cleanupAfter": "run-1", "endedWith": "ABORTED"}),
                "`cleanupAfter`",
            ),
            (
                json!({"cleanupAfter": format!("{ARN}; reboot"), "endedWith": "ABORTED"}),
                "`cleanupAfter`",
            ),
            (
                json!({"cleanupAfter": "arn:aws:states:us-east-1:123456789012:stateMachine:makenaide:x", "endedWith": "ABORTED"}),
                "`cleanupAfter`",
            ),
            (json!({"sweep": "now"}), "`sweep`"),
            (json!({"sweep": "scheduled", "dryRun": true}), "`dryRun`"),
            (
                json!({"cleanupAfter": ARN, "endedWith": "ABORTED", "jobTimeoutSeconds": 600}),
                "`jobTimeoutSeconds`",
            ),
            (
                json!({"cleanupAfter": ARN, "endedWith": "ABORTED", "sweep": "scheduled"}),
                "`sweep`",
            ),
        ];
        for (raw, field) in cases {
            let error = parse(raw.clone()).expect_err(&raw.to_string());
            assert_eq!(error.name, ErrorName::InvalidInput);
            assert!(error.message.contains(field), "{raw}: {}", error.message);
        }
    }
}

/// The end of the launch window: `LAUNCH_WINDOW_SECONDS` after the
/// execution's start (`None` without an `execution` block).
pub fn launch_window_end(doc: &StateDocument, timing: &Timing) -> Option<crate::Timestamp> {
    doc.execution
        .as_ref()
        .map(|e| e.start_time.plus_seconds(timing.launch_window_seconds))
}

/// Fails with `LaunchWindowMissed` when `now` is past the launch window and
/// the step is about to start or wait for something (pure). A dry run starts
/// nothing and is never late.
pub fn check_launch_window(
    doc: &StateDocument,
    run: &RunInput,
    timing: &Timing,
    now: crate::Timestamp,
    what: &str,
) -> Result<(), StepError> {
    match launch_window_end(doc, timing) {
        Some(end) if !run.dry_run && now > end => Err(StepError::new(
            crate::error::ErrorName::LaunchWindowMissed,
            format!(
                "{what} {} s after the execution started, past its launch window (ended {end}, LAUNCH_WINDOW_SECONDS={}): nothing more is started",
                doc.execution
                    .as_ref()
                    .map_or(0.0, |e| now.seconds_since(e.start_time).round()),
                timing.launch_window_seconds
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;
    use crate::config::Env;
    use crate::error::ErrorName;
    use serde_json::json;

    #[test]
    fn the_window_counts_from_the_execution_start() {
        let timing =
            Timing::from_env(&Env::from_pairs(&[("LAUNCH_WINDOW_SECONDS", "600")])).unwrap();
        let doc = StateDocument::from_event(json!({
            "input": {}, "execution": {"name": "r", "startTime": "2026-11-22T01:00:00Z"}
        }))
        .unwrap();
        let start = doc.execution.as_ref().unwrap().start_time;
        let run = parse_run_input(&doc.input, &timing).unwrap();
        // (seconds after the start, dry run, late?)
        for (seconds, dry_run, late) in [
            (0, false, false),
            (600, false, false),
            (601, false, true),
            (601, true, false),
        ] {
            let run = RunInput {
                dry_run,
                ..run.clone()
            };
            let result = check_launch_window(
                &doc,
                &run,
                &timing,
                start.plus_seconds(seconds),
                "starting the DB",
            );
            assert_eq!(result.is_err(), late, "{seconds} {dry_run}");
            if let Err(error) = result {
                assert_eq!(error.name, ErrorName::LaunchWindowMissed);
                assert!(
                    error.message.contains("LAUNCH_WINDOW_SECONDS=600"),
                    "{}",
                    error.message
                );
            }
        }
        // Without an execution block there is no window to miss.
        let bare = StateDocument::from_event(json!({"input": {}})).unwrap();
        assert!(check_launch_window(&bare, &run, &timing, start.plus_seconds(99_999), "x").is_ok());
    }
}
