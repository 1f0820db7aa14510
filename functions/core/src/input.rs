//! The execution input: what a caller may set for one run, validated the
//! same way by every step (the first step fails with `InvalidInput`).

use serde_json::{Map, Value};

use crate::config::Timing;
use crate::document::StateDocument;
use crate::error::StepError;
use crate::settings::{DRY_RUN, INPUT_FIELDS, InputKind, JOB_TIMEOUT_INPUT};

/// The settings of one run after validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunInput {
    pub dry_run: bool,
    pub job_timeout_seconds: u64,
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
    let fields = match raw {
        Value::Null => return Ok(defaults(timing)),
        Value::Object(fields) => fields,
        _ => return Err(StepError::invalid_input("$", "must be a JSON object")),
    };
    let fields = match scheduled_event_detail(fields)? {
        Some(detail) => detail,
        None => fields,
    };
    let mut input = defaults(timing);
    for (name, value) in fields {
        match name.as_str() {
            name if name == DRY_RUN.name => {
                input.dry_run = value
                    .as_bool()
                    .ok_or_else(|| StepError::invalid_input(name, "must be true or false"))?;
            }
            name if name == JOB_TIMEOUT_INPUT.name => {
                input.job_timeout_seconds = job_timeout(value, timing)?;
            }
            other => {
                let allowed: Vec<&str> = INPUT_FIELDS.iter().map(|f| f.name).collect();
                return Err(StepError::invalid_input(
                    other,
                    format!("is not accepted; allowed fields: {}", allowed.join(", ")),
                ));
            }
        }
    }
    Ok(input)
}

fn defaults(timing: &Timing) -> RunInput {
    let InputKind::Boolean { default: dry_run } = DRY_RUN.kind else {
        unreachable!("dryRun is a boolean field")
    };
    RunInput {
        dry_run,
        // The field's default is the JOB_TIMEOUT_SECONDS setting.
        job_timeout_seconds: timing.job_timeout_seconds,
    }
}

fn job_timeout(value: &Value, timing: &Timing) -> Result<u64, StepError> {
    let InputKind::Seconds { min, .. } = JOB_TIMEOUT_INPUT.kind else {
        unreachable!("jobTimeoutSeconds is a seconds field")
    };
    let range = min..=timing.job_timeout_max_seconds;
    value
        .as_u64()
        .filter(|seconds| range.contains(seconds))
        .ok_or_else(|| {
            StepError::invalid_input(
                JOB_TIMEOUT_INPUT.name,
                format!(
                    "must be a whole number of seconds from {} to {}",
                    range.start(),
                    range.end()
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
        };
        assert_eq!(parse(json!({})).unwrap(), defaults);
        assert_eq!(parse(Value::Null).unwrap(), defaults);
        assert_eq!(
            parse(json!({"dryRun": true, "jobTimeoutSeconds": 7200})).unwrap(),
            RunInput {
                dry_run: true,
                job_timeout_seconds: 7200
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
        ];
        for (raw, field) in cases {
            let error = parse(raw.clone()).expect_err(&raw.to_string());
            assert_eq!(error.name, ErrorName::InvalidInput);
            assert!(error.message.contains(field), "{raw}: {}", error.message);
        }
    }
}
