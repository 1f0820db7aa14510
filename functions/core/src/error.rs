//! The stable error names of every step, and how AWS errors map onto them.
//!
//! The state machine's `Retry` and `Catch` match on these names, so they are
//! part of the interface: never rename one. The README's error table is
//! checked against [`ErrorName::ALL`] by a test.

use std::fmt;

use lambda_runtime::Diagnostic;

/// Every error name a step can fail with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorName {
    InvalidInput,
    ConfigError,
    AccessDenied,
    AwsThrottled,
    AwsServiceUnavailable,
    AwsRequestFailed,
    RdsInstanceNotFound,
    RdsUnrecoverableState,
    RdsNotStoppableYet,
    RdsReadyTimeout,
    RdsStopTimeout,
    Ec2InstanceNotFound,
    Ec2UnrecoverableState,
    Ec2InsufficientCapacity,
    Ec2ReadyTimeout,
    Ec2StopTimeout,
    JobFailed,
    JobTimeout,
    JobInterrupted,
    JobNotDelivered,
    LaunchWindowMissed,
}

impl ErrorName {
    pub const ALL: [ErrorName; 21] = [
        Self::InvalidInput,
        Self::ConfigError,
        Self::AccessDenied,
        Self::AwsThrottled,
        Self::AwsServiceUnavailable,
        Self::AwsRequestFailed,
        Self::RdsInstanceNotFound,
        Self::RdsUnrecoverableState,
        Self::RdsNotStoppableYet,
        Self::RdsReadyTimeout,
        Self::RdsStopTimeout,
        Self::Ec2InstanceNotFound,
        Self::Ec2UnrecoverableState,
        Self::Ec2InsufficientCapacity,
        Self::Ec2ReadyTimeout,
        Self::Ec2StopTimeout,
        Self::JobFailed,
        Self::JobTimeout,
        Self::JobInterrupted,
        Self::JobNotDelivered,
        Self::LaunchWindowMissed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "InvalidInput",
            Self::ConfigError => "ConfigError",
            Self::AccessDenied => "AccessDenied",
            Self::AwsThrottled => "AwsThrottled",
            Self::AwsServiceUnavailable => "AwsServiceUnavailable",
            Self::AwsRequestFailed => "AwsRequestFailed",
            Self::RdsInstanceNotFound => "RdsInstanceNotFound",
            Self::RdsUnrecoverableState => "RdsUnrecoverableState",
            Self::RdsNotStoppableYet => "RdsNotStoppableYet",
            Self::RdsReadyTimeout => "RdsReadyTimeout",
            Self::RdsStopTimeout => "RdsStopTimeout",
            Self::Ec2InstanceNotFound => "Ec2InstanceNotFound",
            Self::Ec2UnrecoverableState => "Ec2UnrecoverableState",
            Self::Ec2InsufficientCapacity => "Ec2InsufficientCapacity",
            Self::Ec2ReadyTimeout => "Ec2ReadyTimeout",
            Self::Ec2StopTimeout => "Ec2StopTimeout",
            Self::JobFailed => "JobFailed",
            Self::JobTimeout => "JobTimeout",
            Self::JobInterrupted => "JobInterrupted",
            Self::JobNotDelivered => "JobNotDelivered",
            Self::LaunchWindowMissed => "LaunchWindowMissed",
        }
    }

    /// Whether the state machine retries this error (with backoff) instead
    /// of going to cleanup at once.
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::AwsThrottled
                | Self::AwsServiceUnavailable
                | Self::RdsNotStoppableYet
                | Self::Ec2InsufficientCapacity
        )
    }

    /// One line for the README's error table.
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::InvalidInput => "the execution input is malformed; the message names the field",
            Self::ConfigError => {
                "a deployment setting (Lambda environment) is missing or malformed"
            }
            Self::AccessDenied => "the function's role may not make an AWS call it needs",
            Self::AwsThrottled => "an AWS API throttled the request",
            Self::AwsServiceUnavailable => {
                "an AWS API answered 5xx or could not be reached in time"
            }
            Self::AwsRequestFailed => "an AWS API rejected the request for another reason",
            Self::RdsInstanceNotFound => "the configured DB instance does not exist",
            Self::RdsUnrecoverableState => {
                "the DB is in a state it cannot become available from (failed, deleting, storage-full, ...)"
            }
            Self::RdsNotStoppableYet => {
                "the DB cannot be stopped in its current state (starting, backing-up, ...) but will be later (older versions; `rds_stop` now waits in a loop instead)"
            }
            Self::RdsReadyTimeout => "the DB did not become available before its deadline",
            Self::RdsStopTimeout => {
                "RDS kept refusing to stop the DB (backing up, in maintenance, ...) until RDS_STOP_DEADLINE_SECONDS passed; it is still running"
            }
            Self::Ec2InstanceNotFound => "a configured worker instance does not exist",
            Self::Ec2UnrecoverableState => "a worker is shutting-down or terminated",
            Self::Ec2InsufficientCapacity => "EC2 has no capacity for the worker's type right now",
            Self::Ec2ReadyTimeout => {
                "the workers were not running with their SSM agent online before the deadline"
            }
            Self::Ec2StopTimeout => {
                "a worker stayed `pending` (it cannot be stopped before it runs) until EC2_READY_TIMEOUT_SECONDS after the stop began; the other workers were stopped"
            }
            Self::JobFailed => {
                "the batch job's command finished unsuccessfully; the cause has its exit code and the last lines of its stderr (secrets masked)"
            }
            Self::JobTimeout => {
                "the batch job did not end before its deadline, or SSM ended it at its own execution timeout (`Execution Timed Out`)"
            }
            Self::JobInterrupted => {
                "something other than the job ended it: a worker stopped with an EC2 `StateReason` other than `Client.InstanceInitiatedShutdown` (an operator, a scheduled retirement, a Spot interruption; the cause names it), or the command was cancelled"
            }
            Self::JobNotDelivered => {
                "the job never ran: SSM could not deliver the command (`Delivery Timed Out`, `Undeliverable`), the worker refused it (`InvalidPlatform`, `AccessDenied`), or the worker stopped before its agent took it"
            }
            Self::LaunchWindowMissed => {
                "the run was not ready to launch the job within LAUNCH_WINDOW_SECONDS of its start (a slow DB, capacity waits, a late redrive): nothing more is started, what was started is stopped"
            }
        }
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step failure: a stable name and a message for a person.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct StepError {
    pub name: ErrorName,
    pub message: String,
}

impl StepError {
    pub fn new(name: ErrorName, message: impl Into<String>) -> Self {
        Self {
            name,
            message: message.into(),
        }
    }

    pub fn invalid_input(field: &str, problem: impl fmt::Display) -> Self {
        Self::new(
            ErrorName::InvalidInput,
            format!("execution input field `{field}` {problem}"),
        )
    }

    pub fn config(variable: &str, problem: impl fmt::Display) -> Self {
        Self::new(
            ErrorName::ConfigError,
            format!("deployment setting {variable} {problem}"),
        )
    }
}

impl From<StepError> for Diagnostic {
    fn from(error: StepError) -> Self {
        Diagnostic {
            error_type: error.name.as_str().to_string(),
            error_message: error.message,
        }
    }
}

/// What an AWS SDK call failed with, keeping the service's error `code()`.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsError {
    /// e.g. `ec2:StartInstances`
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: Option<String>,
    pub http_status: Option<u16>,
    /// The request never got an answer (timeout, connection refused, ...).
    pub no_response: bool,
}

impl AwsError {
    pub fn from_sdk<E, R>(
        operation: &'static str,
        error: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
    ) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
        R: HttpStatus,
    {
        use aws_smithy_runtime_api::client::result::SdkError;
        let (code, message) = match error.as_service_error() {
            Some(service) => (
                service.code().map(str::to_owned),
                service.message().map(str::to_owned),
            ),
            None => (None, None),
        };
        let http_status = error.raw_response().map(HttpStatus::status_code);
        let no_response = matches!(
            error,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
        );
        let message = message.or_else(|| Some(describe_sdk_error(error)));
        Self {
            operation,
            code,
            message,
            http_status,
            no_response,
        }
    }

    pub fn has_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    pub fn has_any_code(&self, codes: &[&str]) -> bool {
        self.code
            .as_deref()
            .is_some_and(|code| codes.contains(&code))
    }

    /// The generic mapping to a step error; adapters handle the codes that
    /// mean something specific to them (not found, capacity, state) first.
    pub fn into_step_error(self) -> StepError {
        let name = classify(self.code.as_deref(), self.http_status, self.no_response);
        let mut text = format!("{} failed", self.operation);
        if let Some(code) = &self.code {
            text.push_str(&format!(" with {code}"));
        }
        if let Some(status) = self.http_status {
            text.push_str(&format!(" (HTTP {status})"));
        }
        if let Some(message) = &self.message {
            text.push_str(&format!(": {message}"));
        }
        StepError::new(name, text)
    }
}

fn describe_sdk_error<E, R>(
    error: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> String {
    use aws_smithy_runtime_api::client::result::SdkError;
    match error {
        SdkError::ConstructionFailure(_) => "the request could not be built".into(),
        SdkError::TimeoutError(_) => "the request timed out".into(),
        SdkError::DispatchFailure(_) => "the request could not be sent".into(),
        SdkError::ResponseError(_) => "the response could not be read".into(),
        SdkError::ServiceError(_) => "the service returned an error".into(),
        _ => "unknown SDK error".into(),
    }
}

/// Lets [`AwsError::from_sdk`] read the status of any SDK raw response type.
pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Error codes AWS services use for throttling.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "PriorRequestNotComplete",
];

const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthFailure",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
];

const UNAVAILABLE_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerErrorException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// The generic AWS error classification (pure, table-tested).
pub fn classify(code: Option<&str>, http_status: Option<u16>, no_response: bool) -> ErrorName {
    if let Some(code) = code {
        if THROTTLING_CODES.contains(&code) {
            return ErrorName::AwsThrottled;
        }
        if ACCESS_DENIED_CODES.contains(&code) {
            return ErrorName::AccessDenied;
        }
        if UNAVAILABLE_CODES.contains(&code) {
            return ErrorName::AwsServiceUnavailable;
        }
        if code == "InsufficientInstanceCapacity" {
            return ErrorName::Ec2InsufficientCapacity;
        }
    }
    match http_status {
        Some(429) => ErrorName::AwsThrottled,
        Some(403) => ErrorName::AccessDenied,
        Some(status) if status >= 500 => ErrorName::AwsServiceUnavailable,
        None if no_response => ErrorName::AwsServiceUnavailable,
        _ => ErrorName::AwsRequestFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_match_their_variant() {
        let mut seen = std::collections::HashSet::new();
        for name in ErrorName::ALL {
            assert!(seen.insert(name.as_str()), "duplicate {name}");
            assert_eq!(format!("{name:?}"), name.as_str());
            assert!(!name.meaning().is_empty());
        }
    }

    #[test]
    fn retryable_classes() {
        let retryable: Vec<_> = ErrorName::ALL
            .into_iter()
            .filter(|n| n.is_retryable())
            .map(ErrorName::as_str)
            .collect();
        assert_eq!(
            retryable,
            [
                "AwsThrottled",
                "AwsServiceUnavailable",
                "RdsNotStoppableYet",
                "Ec2InsufficientCapacity"
            ]
        );
    }

    #[test]
    fn classification_table() {
        use ErrorName::*;
        let cases: &[(Option<&str>, Option<u16>, bool, ErrorName)] = &[
            (Some("Throttling"), Some(400), false, AwsThrottled),
            (Some("ThrottlingException"), Some(400), false, AwsThrottled),
            (Some("RequestLimitExceeded"), Some(503), false, AwsThrottled),
            (
                Some("TooManyRequestsException"),
                Some(429),
                false,
                AwsThrottled,
            ),
            (Some("AccessDenied"), Some(403), false, AccessDenied),
            (
                Some("AccessDeniedException"),
                Some(400),
                false,
                AccessDenied,
            ),
            (
                Some("UnauthorizedOperation"),
                Some(403),
                false,
                AccessDenied,
            ),
            (
                Some("InternalError"),
                Some(500),
                false,
                AwsServiceUnavailable,
            ),
            (
                Some("ServiceUnavailable"),
                Some(503),
                false,
                AwsServiceUnavailable,
            ),
            (
                Some("InsufficientInstanceCapacity"),
                Some(500),
                false,
                Ec2InsufficientCapacity,
            ),
            (
                Some("SomethingOdd"),
                Some(502),
                false,
                AwsServiceUnavailable,
            ),
            (Some("ValidationError"), Some(400), false, AwsRequestFailed),
            (None, Some(429), false, AwsThrottled),
            (None, Some(503), false, AwsServiceUnavailable),
            (None, None, true, AwsServiceUnavailable),
            (None, Some(400), false, AwsRequestFailed),
        ];
        for (code, status, no_response, expected) in cases {
            assert_eq!(
                classify(*code, *status, *no_response),
                *expected,
                "code {code:?} status {status:?}"
            );
        }
    }

    #[test]
    fn diagnostic_carries_the_stable_name() {
        let diagnostic: Diagnostic = StepError::invalid_input("dryRun", "must be a boolean").into();
        assert_eq!(diagnostic.error_type, "InvalidInput");
        assert_eq!(
            diagnostic.error_message,
            "execution input field `dryRun` must be a boolean"
        );
    }

    #[test]
    fn aws_error_message_names_operation_code_and_status() {
        let error = AwsError {
            operation: "ec2:StartInstances",
            code: Some("RequestLimitExceeded".into()),
            message: Some("Request limit exceeded.".into()),
            http_status: Some(503),
            no_response: false,
        };
        let step = error.into_step_error();
        assert_eq!(step.name, ErrorName::AwsThrottled);
        assert_eq!(
            step.message,
            "ec2:StartInstances failed with RequestLimitExceeded (HTTP 503): Request limit exceeded."
        );
    }
}

/// The meaning of an error name an execution ended with: this workflow's
/// own ([`ErrorName`]), the state machine's `CleanupIncomplete`, or a word
/// on Step Functions' and Lambda's own names. The failure notification and
/// the operators' CLI both explain errors with it.
pub fn execution_error_meaning(error: &str) -> &'static str {
    if let Some(name) = ErrorName::ALL.iter().find(|name| name.as_str() == error) {
        return name.meaning();
    }
    match error {
        "CleanupIncomplete" => {
            "a cleanup run or sweep could not stop everything (the cause lists what)"
        }
        "States.Timeout" => "a step ran longer than its TimeoutSeconds",
        "States.TaskFailed" | "States.Runtime" => {
            "a step failed for a reason outside this workflow's error names (see the cause)"
        }
        _ if error.starts_with("Lambda.") => "Lambda could not run a step (see the cause)",
        _ if error.starts_with("States.") => "a Step Functions error (see the cause)",
        _ => "not an error name of this workflow (see the cause)",
    }
}

#[cfg(test)]
mod meaning_tests {
    use super::*;

    #[test]
    fn every_error_an_execution_can_end_with_has_a_meaning() {
        for name in ErrorName::ALL {
            assert_eq!(execution_error_meaning(name.as_str()), name.meaning());
        }
        for (error, says) in [
            ("CleanupIncomplete", "could not stop everything"),
            ("States.Timeout", "TimeoutSeconds"),
            ("States.Runtime", "outside this workflow's error names"),
            ("States.ResultPathMatchFailure", "Step Functions"),
            ("Lambda.Unknown", "Lambda"),
            ("Whatever", "not an error name"),
        ] {
            assert!(execution_error_meaning(error).contains(says), "{error}");
        }
    }
}

/// The error table of docs/failures.md, generated from [`ErrorName::ALL`] so
/// the two cannot drift (a test compares them).
pub fn markdown_table() -> String {
    let mut table =
        String::from("| errorType | meaning | retried by the state machine |\n|---|---|---|\n");
    for name in ErrorName::ALL {
        let retried = if name.is_retryable() { "yes" } else { "no" };
        table.push_str(&format!("| `{name}` | {} | {retried} |\n", name.meaning()));
    }
    table
}

#[cfg(test)]
mod readme_tests {
    #[test]
    fn docs_list_every_error_name() {
        let readme = include_str!("../../../docs/failures.md");
        let table = super::markdown_table();
        assert!(
            readme.contains(&table),
            "docs/failures.md's error table is out of date; replace it with:\n{table}"
        );
    }
}
