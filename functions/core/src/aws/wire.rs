//! Test support for the adapter tests: AWS error replies in each service's
//! wire format, so the tests exercise the SDK's own error parsing (and its
//! `code()`) exactly as a real or sandbox endpoint would, and a mocked SDK
//! client with the production retry policy but no real waiting.

use std::time::Duration;

use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use serde_json::json;

use crate::error::{ErrorName, StepError};

/// An `awsQuery` error (RDS, CloudWatch).
pub fn query_error(status: u16, code: &str, message: &str) -> Response {
    let body = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>test</RequestId></ErrorResponse>"
    );
    response(status, body)
}

/// An `ec2Query` error.
pub fn ec2_error(status: u16, code: &str, message: &str) -> Response {
    let body = format!(
        "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>test</RequestID></Response>"
    );
    response(status, body)
}

/// An `awsJson1_1` error (SSM).
pub fn json_error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({"__type": code, "message": message}).to_string();
    response(status, body)
}

fn response(status: u16, body: String) -> Response {
    Response::new(
        StatusCode::try_from(status).expect("valid status"),
        SdkBody::from(body),
    )
}

/// `error` has the stable name `expected` and its message names the
/// operation and the service's code (`ec2:StartInstances failed with X`).
pub fn assert_mapped(error: &StepError, expected: ErrorName, operation: &str, code: &str) {
    assert_eq!(error.name, expected, "{code}");
    let wanted = format!("{operation} failed with {code}");
    assert!(error.message.contains(&wanted), "{}", error.message);
}

/// The production retry policy (3 attempts) without real waiting.
pub fn fast_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(2))
}

/// A mocked SDK client (aws-smithy-mocks) for `$sdk` answering from
/// `$rules` in any order.
#[macro_export]
#[doc(hidden)]
macro_rules! mock_sdk_client {
    ($sdk:ident, $rules:expr) => {
        ::aws_smithy_mocks::mock_client!(
            $sdk,
            ::aws_smithy_mocks::RuleMode::MatchAny,
            $rules,
            |c| c.retry_config($crate::aws::wire::fast_retries())
        )
    };
}
