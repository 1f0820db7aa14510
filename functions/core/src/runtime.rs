//! What every `main` shares: logging and the Lambda loop.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

use crate::config::Env;
use crate::error::StepError;
use crate::timestamp::Timestamp;

/// Structured logs as Lambda's advanced logging controls ask: JSON when
/// `AWS_LAMBDA_LOG_FORMAT=JSON` (as deployed), level from
/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` (`level` or `target=level`
/// directives), else INFO.
pub fn init_logging() {
    let env = Env::process();
    let filter = log_filter(
        env.get("AWS_LAMBDA_LOG_LEVEL").as_deref(),
        env.get("RUST_LOG").as_deref(),
    );
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(std::io::stdout);
    let json = env
        .get("AWS_LAMBDA_LOG_FORMAT")
        .is_some_and(|format| format.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry();
    if json {
        registry.with(layer.json().with_filter(filter)).init();
    } else {
        registry.with(layer.with_filter(filter)).init();
    }
}

/// Lambda's log levels are TRACE, DEBUG, INFO, WARN, ERROR and FATAL; an
/// unreadable value keeps INFO rather than silencing the function.
fn log_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let level = |name: &str| match name.trim().to_ascii_uppercase().as_str() {
        "FATAL" => LevelFilter::ERROR,
        other => other.parse().unwrap_or(LevelFilter::INFO),
    };
    match (lambda_level, rust_log) {
        (Some(name), _) => Targets::new().with_default(level(name)),
        (None, Some(directives)) => directives
            .parse()
            .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO)),
        (None, None) => Targets::new().with_default(LevelFilter::INFO),
    }
}

/// Runs `handler` for every invocation with the AWS adapters (built once
/// per Lambda instance), the deployment settings, the event and the current
/// time. A settings error is returned on every invocation, so a
/// misconfigured deployment fails its steps with `ConfigError` naming the
/// variable rather than crashing at start-up. Errors reach Step Functions as
/// `{errorType, errorMessage}` with the stable name, and are logged once here.
pub async fn serve<A, S, H, Out>(
    aws: Result<A, StepError>,
    settings: Result<S, StepError>,
    handler: H,
) -> Result<(), lambda_runtime::Error>
where
    H: AsyncFn(&A, &S, Value, Timestamp) -> Result<Out, StepError>,
    Out: Serialize,
{
    let (aws, settings, handler) = (&aws, &settings, &handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let result = match (aws, settings) {
            (Ok(aws), Ok(settings)) => {
                handler(aws, settings, event.payload, Timestamp::now()).await
            }
            (Err(error), _) | (_, Err(error)) => Err(error.clone()),
        };
        if let Err(error) = &result {
            tracing::error!(error_type = error.name.as_str(), message = %error.message, "step failed");
        }
        result.map_err(Diagnostic::from)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_level_comes_from_lambda_then_rust_log_then_info() {
        use tracing::Level;
        // AWS_LAMBDA_LOG_LEVEL, RUST_LOG, event target, event level, shown.
        type Case = (
            Option<&'static str>,
            Option<&'static str>,
            &'static str,
            Level,
            bool,
        );
        let cases: &[Case] = &[
            (None, None, "rds_check", Level::INFO, true),
            (None, None, "rds_check", Level::DEBUG, false),
            (
                Some("DEBUG"),
                Some("error"),
                "rds_check",
                Level::DEBUG,
                true,
            ),
            (Some("WARN"), None, "rds_check", Level::INFO, false),
            (Some("FATAL"), None, "rds_check", Level::ERROR, true),
            (Some("FATAL"), None, "rds_check", Level::WARN, false),
            (Some("loud"), None, "rds_check", Level::INFO, true),
            (None, Some("debug"), "rds_check", Level::DEBUG, true),
            (
                None,
                Some("warn,aws_smithy_runtime=trace"),
                "aws_smithy_runtime::client",
                Level::TRACE,
                true,
            ),
            (
                None,
                Some("warn,aws_smithy_runtime=trace"),
                "rds_check",
                Level::INFO,
                false,
            ),
        ];
        for (lambda_level, rust_log, target, level, shown) in cases {
            let filter = log_filter(*lambda_level, *rust_log);
            assert_eq!(
                filter.would_enable(target, level),
                *shown,
                "{lambda_level:?} {rust_log:?} {target} {level}"
            );
        }
    }
}
