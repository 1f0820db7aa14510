//! The one list of deployment settings (Lambda environment variables) and
//! execution input fields: name, type, default, bounds and meaning.
//!
//! Everything else is derived from it or tested against it:
//! - the functions read their configuration through these declarations
//!   (`config.rs`), so a default lives nowhere else in Rust;
//! - `functions/core/settings.json` is generated from it (a test fails when
//!   the committed file is stale; `UPDATE_SETTINGS=1 cargo test -p
//!   makenaide_core settings` rewrites it), and the CDK app reads its
//!   defaults and bounds from that file;
//! - the configuration table of `statemachine/README.md` is generated from it
//!   and checked by a test.

use serde_json::{Map, Value, json};

/// A whole number of seconds within bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds {
    pub variable: &'static str,
    pub default: u64,
    pub min: u64,
    pub max: u64,
}

/// What one variable holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Required, no default; `format` says what is accepted.
    Required {
        format: &'static str,
    },
    Seconds(Seconds),
    /// A number greater than 0 and at most `max`.
    Number {
        default: f64,
        max: f64,
    },
    Choice {
        default: &'static str,
        values: &'static [&'static str],
    },
    Text {
        default: &'static str,
    },
    /// A JSON object; the default is `{}`.
    JsonObject,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    pub variable: &'static str,
    pub kind: Kind,
    pub meaning: &'static str,
}

pub const JOB_TIMEOUT: Seconds = Seconds {
    variable: "JOB_TIMEOUT_SECONDS",
    default: 3600,
    min: 1,
    max: 172_800,
};
pub const JOB_TIMEOUT_MAX: Seconds = Seconds {
    variable: "JOB_TIMEOUT_MAX_SECONDS",
    default: 10_800,
    min: 1,
    max: 172_800,
};
pub const RDS_READY_TIMEOUT: Seconds = Seconds {
    variable: "RDS_READY_TIMEOUT_SECONDS",
    default: 1800,
    min: 1,
    max: 86_400,
};
pub const EC2_READY_TIMEOUT: Seconds = Seconds {
    variable: "EC2_READY_TIMEOUT_SECONDS",
    default: 900,
    min: 1,
    max: 86_400,
};
pub const RDS_STOP_DEADLINE: Seconds = Seconds {
    variable: "RDS_STOP_DEADLINE_SECONDS",
    default: 14_400,
    min: 1,
    max: 86_400,
};
pub const LAUNCH_WINDOW: Seconds = Seconds {
    variable: "LAUNCH_WINDOW_SECONDS",
    default: 7200,
    min: 1,
    max: 604_800,
};
pub const RDS_POLL: Seconds = Seconds {
    variable: "RDS_POLL_SECONDS",
    default: 30,
    min: 1,
    max: 3600,
};
pub const EC2_POLL: Seconds = Seconds {
    variable: "EC2_POLL_SECONDS",
    default: 15,
    min: 1,
    max: 3600,
};
pub const JOB_POLL: Seconds = Seconds {
    variable: "JOB_POLL_SECONDS",
    default: 60,
    min: 1,
    max: 3600,
};

/// `RDS_STOP_POLICY` and `EC2_STOP_POLICY` take the same values.
pub const STOP_POLICY_VALUES: &[&str] = &["always", "leave-as-found"];
pub const DEFAULT_STOP_POLICY: &str = "always";
pub const RDS_STOP_POLICY: &str = "RDS_STOP_POLICY";
pub const EC2_STOP_POLICY: &str = "EC2_STOP_POLICY";
pub const DEFAULT_METRICS_NAMESPACE: &str = "Makenaide/Orchestrator";
pub const JOB_LOG_GROUP: &str = "JOB_LOG_GROUP";
pub const JOB_DOCUMENT_NAME: &str = "JOB_DOCUMENT_NAME";
pub const DEFAULT_WORKFLOW_NAME: &str = "makenaide";
pub const DEFAULT_SCHEDULE_INTERVAL_HOURS: f64 = 4.0;
/// A month: the longest interval the savings baseline makes sense for.
pub const MAX_SCHEDULE_INTERVAL_HOURS: f64 = 744.0;

/// Every variable the functions read, in the order the docs list them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        variable: "DB_INSTANCE_IDENTIFIER",
        kind: Kind::Required {
            format: "1-63 letters, digits or hyphens; starts with a letter; no trailing or double hyphen",
        },
        meaning: "RDS DB instance identifier",
    },
    Setting {
        variable: "WORKER_INSTANCE_IDS",
        kind: Kind::Required {
            format: "comma-separated EC2 instance ids (`i-` + 8 or 17 hex digits)",
        },
        meaning: "the worker instances, 1..n",
    },
    Setting {
        variable: JOB_DOCUMENT_NAME,
        kind: Kind::Required {
            format: "an SSM document name (3 to 128 of a-z A-Z 0-9 _ - .), not an AWS-owned `AWS-` one",
        },
        meaning: "the stack's SSM Command document that runs the job (`aws:runShellScript` with the configured commands and working directory, statemachine/job-document.json). The stack creates it and sets this",
    },
    Setting {
        variable: JOB_LOG_GROUP,
        kind: Kind::Text { default: "" },
        meaning: "CloudWatch Logs group the SSM agent sends the job's whole stdout and stderr to (`CloudWatchOutputConfig`); empty: none. The stack creates it and sets this",
    },
    Setting {
        variable: JOB_TIMEOUT.variable,
        kind: Kind::Seconds(JOB_TIMEOUT),
        meaning: "default job deadline (from the moment the command is sent)",
    },
    Setting {
        variable: JOB_TIMEOUT_MAX.variable,
        kind: Kind::Seconds(JOB_TIMEOUT_MAX),
        meaning: "upper bound for an execution input `jobTimeoutSeconds`; at least `JOB_TIMEOUT_SECONDS`",
    },
    Setting {
        variable: RDS_READY_TIMEOUT.variable,
        kind: Kind::Seconds(RDS_READY_TIMEOUT),
        meaning: "deadline for the DB to become `available`",
    },
    Setting {
        variable: EC2_READY_TIMEOUT.variable,
        kind: Kind::Seconds(EC2_READY_TIMEOUT),
        meaning: "deadline for workers to be `running` with SSM `Online`",
    },
    Setting {
        variable: RDS_STOP_DEADLINE.variable,
        kind: Kind::Seconds(RDS_STOP_DEADLINE),
        meaning: "how long `rds_stop` waits for RDS to accept a stop (backups and maintenance refuse it) before `RdsStopTimeout`",
    },
    Setting {
        variable: LAUNCH_WINDOW.variable,
        kind: Kind::Seconds(LAUNCH_WINDOW),
        meaning: "from the execution's start: past it no step starts anything and no job is launched (`LaunchWindowMissed`); a redrive inside it still works",
    },
    Setting {
        variable: RDS_POLL.variable,
        kind: Kind::Seconds(RDS_POLL),
        meaning: "`retryAfterSeconds` of `rds_check` and of `rds_stop` while the DB cannot be stopped yet",
    },
    Setting {
        variable: EC2_POLL.variable,
        kind: Kind::Seconds(EC2_POLL),
        meaning: "`retryAfterSeconds` of `ec2_start`, and of the stop of the workers while one is `pending`",
    },
    Setting {
        variable: JOB_POLL.variable,
        kind: Kind::Seconds(JOB_POLL),
        meaning: "`retryAfterSeconds` of `poll_ec2_state`",
    },
    Setting {
        variable: RDS_STOP_POLICY,
        kind: Kind::Choice {
            default: DEFAULT_STOP_POLICY,
            values: STOP_POLICY_VALUES,
        },
        meaning: "`always`: stop the DB at the end of every run; `leave-as-found`: leave it running when the run's first check found it running (not `stopped`/`stopping`: `available`, `backing-up`, `starting`, ...)",
    },
    Setting {
        variable: EC2_STOP_POLICY,
        kind: Kind::Choice {
            default: DEFAULT_STOP_POLICY,
            values: STOP_POLICY_VALUES,
        },
        meaning: "`always`: stop every worker at the end of every run; `leave-as-found`: leave running the workers the run's first check found `running`/`pending`",
    },
    Setting {
        variable: "METRICS_NAMESPACE",
        kind: Kind::Text {
            default: DEFAULT_METRICS_NAMESPACE,
        },
        meaning: "CloudWatch namespace",
    },
    Setting {
        variable: "WORKFLOW_NAME",
        kind: Kind::Text {
            default: DEFAULT_WORKFLOW_NAME,
        },
        meaning: "value of the `Workflow` metric dimension",
    },
    Setting {
        variable: "SCHEDULE_INTERVAL_HOURS",
        kind: Kind::Number {
            default: DEFAULT_SCHEDULE_INTERVAL_HOURS,
            max: MAX_SCHEDULE_INTERVAL_HOURS,
        },
        meaning: "hours between scheduled runs (synth warns when the cron disagrees); no longer used by the cost metrics: savings belong to a period (docs/dollars.md)",
    },
    Setting {
        variable: "PRICE_OVERRIDES",
        kind: Kind::JsonObject,
        meaning: "instance type or DB class -> USD per hour as deployed (a Multi-AZ DB's Multi-AZ price), e.g. `{\"t3.medium\":0.052,\"db.t3.micro\":0.025}`; wins over the price table `functions/core/prices/prices.tsv`",
    },
];

/// How long one AWS call may take, SDK retries included, and how many calls
/// each function makes one after another (calls for several workers go out
/// together, so the count does not grow with the workers): together they
/// bound a step's time, which must fit its Lambda timeout with a margin.
/// `aws::sdk_config` applies the budget; the CDK app reads it from
/// `settings.json` and refuses a Lambda timeout below
/// [`CallBudget::lambda_timeout_seconds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBudget {
    pub connect_seconds: u64,
    /// One attempt of one call.
    pub attempt_seconds: u64,
    /// Attempts of one call (the first and the SDK's retries).
    pub max_attempts: u32,
    /// One call, all its attempts and backoff included.
    pub operation_seconds: u64,
    /// Start-up, JSON and logging around the calls.
    pub margin_seconds: u64,
}

pub const CALL_BUDGET: CallBudget = CallBudget {
    connect_seconds: 2,
    attempt_seconds: 3,
    max_attempts: 3,
    operation_seconds: 6,
    margin_seconds: 2,
};

/// The AWS calls each function makes one after another, at most.
pub const SEQUENTIAL_CALLS: &[(&str, u64)] = &[
    // DescribeDBInstances, StartDBInstance
    ("rds_check", 2),
    // DescribeInstances, DescribeInstanceInformation (one page), StartInstances
    ("ec2_start", 3),
    // ListCommands (one page: one execution's window), SendCommand
    ("ssm_launch", 2),
    // job: DescribeInstances, then every worker's GetCommandInvocation together;
    // stopWorkers: every worker's DescribeInstances then StopInstances together
    ("poll_ec2_state", 2),
    // DescribeDBInstances, StopDBInstance
    ("rds_stop", 2),
    // PutMetricData
    ("emit_metrics", 1),
];

impl CallBudget {
    /// The shortest Lambda timeout that fits every function's calls.
    pub const fn lambda_timeout_seconds(&self) -> u64 {
        let mut most = 0;
        let mut index = 0;
        while index < SEQUENTIAL_CALLS.len() {
            if SEQUENTIAL_CALLS[index].1 > most {
                most = SEQUENTIAL_CALLS[index].1;
            }
            index += 1;
        }
        most * self.operation_seconds + self.margin_seconds
    }
}

/// The Lambda timeout the CDK app deploys by default.
pub const DEFAULT_LAMBDA_TIMEOUT_SECONDS: u64 = 20;

/// The smallest job deadline an execution may ask for.
pub const JOB_TIMEOUT_MIN_SECONDS: u64 = 60;

/// One field of the execution input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputField {
    pub name: &'static str,
    pub kind: InputKind,
    /// Who sets it: an operator (and the schedule), or only the stack's own
    /// triggers (the cleanup rule, the guard and the sweeper).
    pub set_by: SetBy,
    pub meaning: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetBy {
    Operator,
    Stack,
}

impl SetBy {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Stack => "stack",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputKind {
    Boolean {
        default: bool,
    },
    /// Whole seconds from `min` to the value of the `max` setting; the
    /// default is the `default` setting's value.
    Seconds {
        min: u64,
        max: Seconds,
        default: Seconds,
    },
    /// One of `values`; absent by default.
    Choice {
        values: &'static [&'static str],
    },
    /// The ARN of an execution of a state machine.
    ExecutionArn,
}

pub const DRY_RUN: InputField = InputField {
    name: "dryRun",
    kind: InputKind::Boolean { default: false },
    set_by: SetBy::Operator,
    meaning: "observe and report the plan; start, stop and launch nothing",
};
pub const JOB_TIMEOUT_INPUT: InputField = InputField {
    name: "jobTimeoutSeconds",
    kind: InputKind::Seconds {
        min: JOB_TIMEOUT_MIN_SECONDS,
        max: JOB_TIMEOUT_MAX,
        default: JOB_TIMEOUT,
    },
    set_by: SetBy::Operator,
    meaning: "this run's job deadline",
};
/// How an ended execution ended, as the status-change event says.
pub const ENDED_WITH_VALUES: &[&str] = &["ABORTED", "TIMED_OUT", "FAILED"];
pub const CLEANUP_AFTER: InputField = InputField {
    name: "cleanupAfter",
    kind: InputKind::ExecutionArn,
    set_by: SetBy::Stack,
    meaning: "cleanup mode: stop what that ended execution left running, if it still holds the run lease; never launches a job",
};
pub const ENDED_WITH: InputField = InputField {
    name: "endedWith",
    kind: InputKind::Choice {
        values: ENDED_WITH_VALUES,
    },
    set_by: SetBy::Stack,
    meaning: "with `cleanupAfter`: the ended execution's status",
};
pub const SWEEP_VALUES: &[&str] = &["scheduled", "rds-auto-start"];
pub const SWEEP: InputField = InputField {
    name: "sweep",
    kind: InputKind::Choice {
        values: SWEEP_VALUES,
    },
    set_by: SetBy::Stack,
    meaning: "sweep mode (the hourly sweeper, or RDS restarting a stopped DB): when no run holds the lease, stop what the stop policy says; never launches a job",
};

/// Every field the execution input may set; anything else is rejected.
pub const INPUT_FIELDS: &[InputField] =
    &[DRY_RUN, JOB_TIMEOUT_INPUT, CLEANUP_AFTER, ENDED_WITH, SWEEP];

/// `settings.json`: the machine-readable form of [`SETTINGS`] and
/// [`INPUT_FIELDS`] that the CDK app and the docs read.
pub fn to_json() -> Value {
    let mut environment = Map::new();
    for setting in SETTINGS {
        let mut entry = match setting.kind {
            Kind::Required { format } => {
                json!({"type": "string", "required": true, "format": format})
            }
            Kind::Seconds(s) => {
                json!({"type": "seconds", "default": s.default, "min": s.min, "max": s.max})
            }
            Kind::Number { default, max } => {
                json!({"type": "number", "default": default, "exclusiveMin": 0, "max": max})
            }
            Kind::Choice { default, values } => {
                json!({"type": "choice", "default": default, "values": values})
            }
            Kind::Text { default } => json!({"type": "string", "default": default}),
            Kind::JsonObject => json!({"type": "object", "default": {}}),
        };
        entry["meaning"] = json!(setting.meaning);
        environment.insert(setting.variable.to_string(), entry);
    }
    let mut input = Map::new();
    for field in INPUT_FIELDS {
        let mut entry = match field.kind {
            InputKind::Boolean { default } => json!({"type": "boolean", "default": default}),
            InputKind::Seconds { min, max, default } => json!({
                "type": "seconds", "min": min,
                "maxSetting": max.variable, "defaultSetting": default.variable
            }),
            InputKind::Choice { values } => json!({"type": "choice", "values": values}),
            InputKind::ExecutionArn => json!({"type": "executionArn"}),
        };
        entry["setBy"] = json!(field.set_by.as_str());
        entry["meaning"] = json!(field.meaning);
        input.insert(field.name.to_string(), entry);
    }
    let budget = CALL_BUDGET;
    let sequential_calls: Map<String, Value> = SEQUENTIAL_CALLS
        .iter()
        .map(|(function, calls)| (function.to_string(), json!(calls)))
        .collect();
    let operations: Map<String, Value> = crate::ports::FUNCTION_OPERATIONS
        .iter()
        .map(|(function, operations)| {
            let actions: Vec<&str> = operations.iter().map(|o| o.action()).collect();
            (function.to_string(), json!(actions))
        })
        .collect();
    json!({
        "$comment": "Generated from functions/core/src/settings.rs (UPDATE_SETTINGS=1 cargo test -p makenaide_core settings). Do not edit by hand.",
        "environment": environment,
        "input": input,
        "operations": operations,
        "callBudget": {
            "connectSeconds": budget.connect_seconds,
            "attemptSeconds": budget.attempt_seconds,
            "maxAttempts": budget.max_attempts,
            "operationSeconds": budget.operation_seconds,
            "marginSeconds": budget.margin_seconds,
            "sequentialCalls": sequential_calls,
            "lambdaTimeoutSeconds": budget.lambda_timeout_seconds(),
            "defaultLambdaTimeoutSeconds": DEFAULT_LAMBDA_TIMEOUT_SECONDS,
        },
    })
}

/// The configuration table of `statemachine/README.md`.
pub fn markdown_table() -> String {
    let mut table = String::from("| variable | default | meaning |\n|---|---|---|\n");
    for setting in SETTINGS {
        let (default, meaning) = match setting.kind {
            Kind::Required { format } => (
                "(required)".to_string(),
                format!("{}: {format}", setting.meaning),
            ),
            Kind::Seconds(s) => (
                format!("`{}`", s.default),
                format!("{} ({}..{} s)", setting.meaning, s.min, s.max),
            ),
            Kind::Number { default, max } => (
                format!("`{default}`"),
                format!("{} (more than 0, at most {max})", setting.meaning),
            ),
            Kind::Choice { default, .. } | Kind::Text { default } => {
                (format!("`{default}`"), setting.meaning.to_string())
            }
            Kind::JsonObject => (
                "`{}`".to_string(),
                format!("JSON object, {}", setting.meaning),
            ),
        };
        table.push_str(&format!(
            "| `{}` | {default} | {meaning} |\n",
            setting.variable
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/settings.json");

    #[test]
    fn settings_json_is_current() {
        let expected = format!("{}\n", serde_json::to_string_pretty(&to_json()).unwrap());
        if std::env::var_os("UPDATE_SETTINGS").is_some() {
            std::fs::write(SETTINGS_FILE, &expected).unwrap();
        }
        let committed = std::fs::read_to_string(SETTINGS_FILE).unwrap_or_default();
        assert!(
            committed == expected,
            "functions/core/settings.json is stale: run `UPDATE_SETTINGS=1 cargo test -p makenaide_core settings` and commit it"
        );
    }

    #[test]
    fn settings_readme_table_is_current() {
        let readme = include_str!("../../../statemachine/README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "statemachine/README.md's configuration table is out of date; replace it with:\n{table}"
        );
    }

    #[test]
    fn variables_are_unique_and_defaults_within_bounds() {
        let mut seen = std::collections::HashSet::new();
        for setting in SETTINGS {
            assert!(seen.insert(setting.variable), "{} twice", setting.variable);
            if let Kind::Seconds(s) = setting.kind {
                assert_eq!(s.variable, setting.variable);
                assert!(s.min <= s.default && s.default <= s.max, "{}", s.variable);
            }
            if let Kind::Choice { default, values } = setting.kind {
                assert!(values.contains(&default), "{}", setting.variable);
            }
        }
        const {
            assert!(JOB_TIMEOUT.default <= JOB_TIMEOUT_MAX.default);
            assert!(JOB_TIMEOUT_MIN_SECONDS <= JOB_TIMEOUT.default);
        }
    }

    #[test]
    fn the_call_budget_fits_the_lambda_timeout() {
        let budget = CALL_BUDGET;
        // One call's attempts fit its operation timeout only with a backoff
        // between them, so the operation timeout is the binding bound.
        assert!(budget.attempt_seconds <= budget.operation_seconds);
        assert!(budget.connect_seconds <= budget.attempt_seconds);
        assert!(
            budget.max_attempts >= 2,
            "a throttle must get one quick retry"
        );
        // Every function is listed once.
        let mut functions: Vec<&str> = SEQUENTIAL_CALLS.iter().map(|(f, _)| *f).collect();
        functions.sort_unstable();
        assert_eq!(
            functions,
            [
                "ec2_start",
                "emit_metrics",
                "poll_ec2_state",
                "rds_check",
                "rds_stop",
                "ssm_launch"
            ]
        );
        for (function, calls) in SEQUENTIAL_CALLS {
            let needed = calls * budget.operation_seconds + budget.margin_seconds;
            assert!(
                needed <= DEFAULT_LAMBDA_TIMEOUT_SECONDS,
                "{function}: {calls} calls of up to {} s need {needed} s, over the default Lambda timeout {DEFAULT_LAMBDA_TIMEOUT_SECONDS} s",
                budget.operation_seconds
            );
        }
        assert!(budget.lambda_timeout_seconds() <= DEFAULT_LAMBDA_TIMEOUT_SECONDS);
        assert_eq!(
            budget.lambda_timeout_seconds(),
            3 * budget.operation_seconds + budget.margin_seconds
        );
    }
}
