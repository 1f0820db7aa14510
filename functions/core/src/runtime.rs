//! What every `main` shares: logging and the Lambda loop.

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

/// Runs `handler` for every invocation with the AWS adapters (built once
/// per Lambda instance), the deployment settings, the event and the current
/// time. A settings error is returned on every invocation, so a
/// misconfigured deployment fails its steps with `ConfigError` naming the
/// variable rather than crashing at start-up. Errors reach Step Functions as
/// `{errorType, errorMessage}` with the stable name, and are logged once here.
pub async fn serve<A, S, H, Out>(
    aws: A,
    settings: Result<S, StepError>,
    handler: H,
) -> Result<(), lambda_runtime::Error>
where
    H: AsyncFn(&A, &S, Value, Timestamp) -> Result<Out, StepError>,
    Out: Serialize,
{
    let (aws, settings, handler) = (&aws, &settings, &handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let result = match settings {
            Ok(settings) => handler(aws, settings, event.payload, Timestamp::now()).await,
            Err(error) => Err(error.clone()),
        };
        if let Err(error) = &result {
            tracing::error!(error_type = error.name.as_str(), message = %error.message, "step failed");
        }
        result.map_err(Diagnostic::from)
    }))
    .await
}
