//! Deployment configuration, read from the Lambda environment.
//!
//! Every function gets the same environment (documented in
//! `statemachine/README.md`); each reads the parts it needs and fails with
//! `ConfigError` naming the variable when one is missing or malformed.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::StepError;
use crate::settings::{self, Seconds};

/// Reads variables from a source; the real one is the process environment.
pub struct Env<'a> {
    lookup: Box<Lookup<'a>>,
}

type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

impl Env<'static> {
    pub fn process() -> Self {
        Self::from_fn(|name| std::env::var(name).ok())
    }
}

impl<'a> Env<'a> {
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    pub fn from_pairs(pairs: &'a [(&'a str, &'a str)]) -> Self {
        Self::from_fn(move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    pub(crate) fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.trim().is_empty())
    }

    pub fn required(&self, name: &str) -> Result<String, StepError> {
        self.get(name)
            .map(|value| value.trim().to_string())
            .ok_or_else(|| StepError::config(name, "is not set"))
    }

    pub fn or_default<T: FromStr>(&self, name: &str, default: T) -> Result<T, StepError> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse()
                .map_err(|_| StepError::config(name, format!("has a malformed value {text:?}"))),
        }
    }

    /// A whole number of seconds within the setting's bounds.
    pub fn seconds(&self, setting: &Seconds) -> Result<u64, StepError> {
        let value: u64 = self.or_default(setting.variable, setting.default)?;
        if !(setting.min..=setting.max).contains(&value) {
            return Err(StepError::config(
                setting.variable,
                format!(
                    "is {value}; it must be from {} to {} seconds",
                    setting.min, setting.max
                ),
            ));
        }
        Ok(value)
    }
}

/// Deadlines and poll intervals of the check loops and the job.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub rds_ready_timeout_seconds: u64,
    pub ec2_ready_timeout_seconds: u64,
    pub rds_stop_deadline_seconds: u64,
    pub launch_window_seconds: u64,
    pub job_timeout_seconds: u64,
    pub job_timeout_max_seconds: u64,
    pub rds_poll_seconds: u64,
    pub ec2_poll_seconds: u64,
    pub job_poll_seconds: u64,
}

pub use settings::JOB_TIMEOUT_MIN_SECONDS;

impl Timing {
    pub fn from_env(env: &Env) -> Result<Self, StepError> {
        let timing = Self {
            rds_ready_timeout_seconds: env.seconds(&settings::RDS_READY_TIMEOUT)?,
            ec2_ready_timeout_seconds: env.seconds(&settings::EC2_READY_TIMEOUT)?,
            rds_stop_deadline_seconds: env.seconds(&settings::RDS_STOP_DEADLINE)?,
            launch_window_seconds: env.seconds(&settings::LAUNCH_WINDOW)?,
            job_timeout_seconds: env.seconds(&settings::JOB_TIMEOUT)?,
            job_timeout_max_seconds: env.seconds(&settings::JOB_TIMEOUT_MAX)?,
            rds_poll_seconds: env.seconds(&settings::RDS_POLL)?,
            ec2_poll_seconds: env.seconds(&settings::EC2_POLL)?,
            job_poll_seconds: env.seconds(&settings::JOB_POLL)?,
        };
        if timing.job_timeout_max_seconds < timing.job_timeout_seconds {
            return Err(StepError::config(
                "JOB_TIMEOUT_MAX_SECONDS",
                format!(
                    "({}) is below JOB_TIMEOUT_SECONDS ({})",
                    timing.job_timeout_max_seconds, timing.job_timeout_seconds
                ),
            ));
        }
        Ok(timing)
    }
}

/// What the worker steps (`ec2_start`, `poll_ec2_state`) are configured with.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub worker_instance_ids: Vec<String>,
    pub timing: Timing,
    /// `EC2_STOP_POLICY`, read by `poll_ec2_state`'s stop of the workers.
    pub stop_policy: StopPolicy,
}

impl WorkerSettings {
    pub fn from_env(env: &Env) -> Result<Self, StepError> {
        Ok(Self {
            worker_instance_ids: worker_instance_ids(env)?,
            timing: Timing::from_env(env)?,
            stop_policy: StopPolicy::from_env(env, settings::EC2_STOP_POLICY)?,
        })
    }
}

/// The configured worker instance ids (`WORKER_INSTANCE_IDS`, comma-separated).
pub fn worker_instance_ids(env: &Env) -> Result<Vec<String>, StepError> {
    const NAME: &str = "WORKER_INSTANCE_IDS";
    let raw = env.required(NAME)?;
    let mut ids: Vec<String> = Vec::new();
    for id in raw.split(',').map(str::trim) {
        if !is_instance_id(id) {
            return Err(StepError::config(
                NAME,
                format!("has {id:?}, which is not an EC2 instance id (i- and 8 or 17 hex digits)"),
            ));
        }
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

pub fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17) && hex.chars().all(|c| c.is_ascii_hexdigit())
    })
}

/// `DB_INSTANCE_IDENTIFIER`: letters, digits and hyphens, starting with a letter.
pub fn db_instance_identifier(env: &Env) -> Result<String, StepError> {
    const NAME: &str = "DB_INSTANCE_IDENTIFIER";
    let id = env.required(NAME)?;
    let valid = id.len() <= 63
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.ends_with('-')
        && !id.contains("--");
    if !valid {
        return Err(StepError::config(
            NAME,
            format!("has {id:?}, which is not a DB instance identifier"),
        ));
    }
    Ok(id)
}

/// What the end of a run does with a resource that was already running
/// when the run began (`RDS_STOP_POLICY` for the DB, `EC2_STOP_POLICY` for
/// the workers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopPolicy {
    /// Stop it at the end of every run.
    Always,
    /// Leave it running when the run's first check found it running.
    LeaveAsFound,
}

impl StopPolicy {
    /// `variable`: [`settings::RDS_STOP_POLICY`] or [`settings::EC2_STOP_POLICY`].
    pub fn from_env(env: &Env, variable: &str) -> Result<Self, StepError> {
        match env
            .or_default(variable, settings::DEFAULT_STOP_POLICY.to_string())?
            .as_str()
        {
            "always" => Ok(Self::Always),
            "leave-as-found" => Ok(Self::LeaveAsFound),
            other => Err(StepError::config(
                variable,
                format!("is {other:?}; expected always or leave-as-found"),
            )),
        }
    }
}

/// The batch job: what `ssm_launch` runs on the workers. The commands and
/// their working directory are not here: they are in the stack's job
/// document (statemachine/job-document.json), so neither this function's
/// environment nor its input can change what runs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobConfig {
    /// `JOB_DOCUMENT_NAME`: the stack's SSM Command document.
    pub document_name: String,
    /// `JOB_LOG_GROUP`; `None` when empty.
    pub output_log_group: Option<String>,
}

/// An SSM document name of the account's own (SendCommand's pattern without
/// the ARN and shared-document forms), never an AWS-owned `AWS-` document.
fn job_document_name(env: &Env) -> Result<String, StepError> {
    let name = env
        .required(settings::JOB_DOCUMENT_NAME)?
        .trim()
        .to_string();
    let valid = (3..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !valid {
        return Err(StepError::config(
            settings::JOB_DOCUMENT_NAME,
            "is not an SSM document name (3 to 128 of a-z A-Z 0-9 _ - .)",
        ));
    }
    if name.to_ascii_lowercase().starts_with("aws-") {
        return Err(StepError::config(
            settings::JOB_DOCUMENT_NAME,
            format!(
                "names {name}, an AWS-owned document; the job runs only as the stack's own job document"
            ),
        ));
    }
    Ok(name)
}

impl JobConfig {
    pub fn from_env(env: &Env) -> Result<Self, StepError> {
        let document_name = job_document_name(env)?;
        let output_log_group = env
            .or_default(settings::JOB_LOG_GROUP, String::new())?
            .trim()
            .to_string();
        let valid_group = output_log_group.len() <= 512
            && output_log_group
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-/.#".contains(c));
        if !valid_group {
            return Err(StepError::config(
                settings::JOB_LOG_GROUP,
                "is not a CloudWatch Logs group name (at most 512 of a-z A-Z 0-9 _ - / . #)",
            ));
        }
        Ok(Self {
            document_name,
            output_log_group: Some(output_log_group).filter(|group| !group.is_empty()),
        })
    }
}

/// What `emit_metrics` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    pub namespace: String,
    pub workflow_name: String,
    pub schedule_interval_hours: f64,
    pub region: String,
    pub price_overrides: BTreeMap<String, f64>,
}

impl MetricsConfig {
    pub fn from_env(env: &Env) -> Result<Self, StepError> {
        let schedule_interval_hours: f64 = env.or_default(
            "SCHEDULE_INTERVAL_HOURS",
            settings::DEFAULT_SCHEDULE_INTERVAL_HOURS,
        )?;
        if !(schedule_interval_hours > 0.0
            && schedule_interval_hours <= settings::MAX_SCHEDULE_INTERVAL_HOURS)
        {
            return Err(StepError::config(
                "SCHEDULE_INTERVAL_HOURS",
                format!(
                    "must be more than 0 and at most {} (a month)",
                    settings::MAX_SCHEDULE_INTERVAL_HOURS
                ),
            ));
        }
        let price_overrides: BTreeMap<String, f64> = match env.get("PRICE_OVERRIDES") {
            None => BTreeMap::new(),
            Some(raw) => serde_json::from_str(&raw).map_err(|_| {
                StepError::config(
                    "PRICE_OVERRIDES",
                    "must be a JSON object of instance type to USD per hour",
                )
            })?,
        };
        if let Some((kind, price)) = price_overrides
            .iter()
            .find(|(_, p)| p.is_nan() || **p < 0.0)
        {
            return Err(StepError::config(
                "PRICE_OVERRIDES",
                format!("has a negative price {price} for {kind}"),
            ));
        }
        Ok(Self {
            namespace: env.or_default(
                "METRICS_NAMESPACE",
                settings::DEFAULT_METRICS_NAMESPACE.to_string(),
            )?,
            workflow_name: env
                .or_default("WORKFLOW_NAME", settings::DEFAULT_WORKFLOW_NAME.to_string())?,
            schedule_interval_hours,
            region: env.or_default("AWS_REGION", "us-east-1".to_string())?,
            price_overrides,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorName;

    fn message(result: Result<impl std::fmt::Debug, StepError>) -> String {
        let error = result.expect_err("should fail");
        assert_eq!(error.name, ErrorName::ConfigError);
        error.message
    }

    #[test]
    fn timing_defaults() {
        let timing = Timing::from_env(&Env::from_pairs(&[])).unwrap();
        assert_eq!(timing.rds_ready_timeout_seconds, 1800);
        assert_eq!(timing.job_timeout_seconds, 3600);
        assert_eq!(timing.job_timeout_max_seconds, 10800);
        assert_eq!(timing.job_poll_seconds, 60);
    }

    #[test]
    fn timing_bounds_come_from_the_settings_table() {
        let env = [("JOB_POLL_SECONDS", "3601")];
        assert!(message(Timing::from_env(&Env::from_pairs(&env))).contains("from 1 to 3600"));
        let env = [("RDS_READY_TIMEOUT_SECONDS", "86401")];
        assert!(
            message(Timing::from_env(&Env::from_pairs(&env))).contains("RDS_READY_TIMEOUT_SECONDS")
        );
        let env = [("JOB_TIMEOUT_SECONDS", "5"), ("RDS_POLL_SECONDS", "1")];
        assert_eq!(
            Timing::from_env(&Env::from_pairs(&env))
                .unwrap()
                .job_timeout_seconds,
            5
        );
    }

    #[test]
    fn timing_errors_name_the_variable() {
        let env = [("RDS_POLL_SECONDS", "soon")];
        assert!(message(Timing::from_env(&Env::from_pairs(&env))).contains("RDS_POLL_SECONDS"));
        let env = [("EC2_POLL_SECONDS", "0")];
        assert!(message(Timing::from_env(&Env::from_pairs(&env))).contains("EC2_POLL_SECONDS"));
        let env = [
            ("JOB_TIMEOUT_SECONDS", "600"),
            ("JOB_TIMEOUT_MAX_SECONDS", "300"),
        ];
        assert!(
            message(Timing::from_env(&Env::from_pairs(&env))).contains("JOB_TIMEOUT_MAX_SECONDS")
        );
    }

    #[test]
    fn worker_ids_are_validated_and_deduplicated() {
        let env = [(
            "WORKER_INSTANCE_IDS",
            " i-0123456789abcdef0, i-12345678,i-12345678 ",
        )];
        assert_eq!(
            worker_instance_ids(&Env::from_pairs(&env)).unwrap(),
            ["i-0123456789abcdef0", "i-12345678"]
        );
        for bad in ["i-xyz", "", "i-0123456789abcdef0;reboot", "sg-12345678"] {
            let env = [("WORKER_INSTANCE_IDS", bad)];
            assert!(
                message(worker_instance_ids(&Env::from_pairs(&env)))
                    .contains("WORKER_INSTANCE_IDS")
            );
        }
    }

    #[test]
    fn db_identifier_rules() {
        let env = [("DB_INSTANCE_IDENTIFIER", "makenaide-db")];
        assert_eq!(
            db_instance_identifier(&Env::from_pairs(&env)).unwrap(),
            "makenaide-db"
        );
        for bad in ["1db", "db--x", "db-", "db;x"] {
            let env = [("DB_INSTANCE_IDENTIFIER", bad)];
            assert!(message(db_instance_identifier(&Env::from_pairs(&env))).contains(bad));
        }
        assert!(message(db_instance_identifier(&Env::from_pairs(&[]))).contains("is not set"));
    }

    #[test]
    fn stop_policy_values() {
        for variable in [settings::RDS_STOP_POLICY, settings::EC2_STOP_POLICY] {
            assert_eq!(
                StopPolicy::from_env(&Env::from_pairs(&[]), variable).unwrap(),
                StopPolicy::Always
            );
            let env = [(variable, "leave-as-found")];
            assert_eq!(
                StopPolicy::from_env(&Env::from_pairs(&env), variable).unwrap(),
                StopPolicy::LeaveAsFound
            );
            let env = [(variable, "never")];
            let error = message(StopPolicy::from_env(&Env::from_pairs(&env), variable));
            assert!(
                error.contains("never") && error.contains(variable),
                "{error}"
            );
        }
        // Each resource reads its own variable.
        let env = [(settings::EC2_STOP_POLICY, "leave-as-found")];
        assert_eq!(
            StopPolicy::from_env(&Env::from_pairs(&env), settings::RDS_STOP_POLICY).unwrap(),
            StopPolicy::Always
        );
    }

    #[test]
    fn job_config() {
        let env = [("JOB_DOCUMENT_NAME", "MakenaideOrchestrator-Job")];
        let job = JobConfig::from_env(&Env::from_pairs(&env)).unwrap();
        assert_eq!(job.document_name, "MakenaideOrchestrator-Job");
        assert_eq!(job.output_log_group, None);
        let with_group = [
            ("JOB_DOCUMENT_NAME", "job"),
            ("JOB_LOG_GROUP", "/makenaide/job-output"),
        ];
        let job = JobConfig::from_env(&Env::from_pairs(&with_group)).unwrap();
        assert_eq!(
            job.output_log_group.as_deref(),
            Some("/makenaide/job-output")
        );
        let bad_group = [
            ("JOB_DOCUMENT_NAME", "job"),
            ("JOB_LOG_GROUP", "my group; rm -rf /"),
        ];
        assert!(
            message(JobConfig::from_env(&Env::from_pairs(&bad_group))).contains("JOB_LOG_GROUP")
        );
        assert!(message(JobConfig::from_env(&Env::from_pairs(&[]))).contains("JOB_DOCUMENT_NAME"));
        for (name, why) in [
            ("AWS-RunShellScript", "AWS-owned"),
            ("aws-runpatchbaseline", "AWS-owned"),
            ("job; reboot", "not an SSM document name"),
            ("jo", "not an SSM document name"),
            (
                "arn:aws:ssm:us-east-1:123456789012:document/Job",
                "not an SSM document name",
            ),
        ] {
            let env = [("JOB_DOCUMENT_NAME", name)];
            let error = message(JobConfig::from_env(&Env::from_pairs(&env)));
            assert!(
                error.contains(why) && error.contains("JOB_DOCUMENT_NAME"),
                "{name}: {error}"
            );
        }
    }

    #[test]
    fn metrics_config() {
        let env = [
            ("PRICE_OVERRIDES", r#"{"t3.medium": 0.05}"#),
            ("SCHEDULE_INTERVAL_HOURS", "6"),
            ("AWS_REGION", "ap-northeast-2"),
        ];
        let config = MetricsConfig::from_env(&Env::from_pairs(&env)).unwrap();
        assert_eq!(config.price_overrides["t3.medium"], 0.05);
        assert_eq!(config.schedule_interval_hours, 6.0);
        assert_eq!(config.namespace, "Makenaide/Orchestrator");
        let env = [("PRICE_OVERRIDES", r#"{"t3.medium": -1}"#)];
        assert!(message(MetricsConfig::from_env(&Env::from_pairs(&env))).contains("negative"));
        let env = [("SCHEDULE_INTERVAL_HOURS", "0")];
        assert!(
            message(MetricsConfig::from_env(&Env::from_pairs(&env)))
                .contains("SCHEDULE_INTERVAL_HOURS")
        );
    }
}
