//! What every `main` shares: logging and the Lambda loop.

use std::future::Future;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;

use crate::error::StepError;
use crate::timestamp::Timestamp;

/// Structured logs: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON` (as deployed),
/// level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`.
pub fn init_logging() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// Runs `handler` for every invocation with the event and the current time.
/// Errors reach Step Functions as `{errorType, errorMessage}` with the
/// stable name, and are logged once here.
pub async fn serve<H, Fut, Out>(handler: H) -> Result<(), lambda_runtime::Error>
where
    H: Fn(Value, Timestamp) -> Fut,
    Fut: Future<Output = Result<Out, StepError>>,
    Out: Serialize,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let result = handler(event.payload, Timestamp::now()).await;
        if let Err(error) = &result {
            tracing::error!(error_type = error.name.as_str(), message = %error.message, "step failed");
        }
        result.map_err(Diagnostic::from)
    }))
    .await
}
