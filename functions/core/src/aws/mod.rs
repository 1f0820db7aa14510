//! AWS access: one shared SDK configuration and a thin adapter per service.
//! Adapters return domain views and [`StepError`]s with stable names; they
//! keep the service error code in the message.
//!
//! [`StepError`]: crate::error::StepError

#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;
#[cfg(feature = "ec2")]
pub mod ec2;
#[cfg(feature = "rds")]
pub mod rds;
#[cfg(feature = "ssm")]
pub mod ssm;

use std::time::Duration;

/// The AWS services the worker steps (`ec2_start`, `poll_ec2_state`) call.
#[cfg(all(feature = "ec2", feature = "ssm"))]
pub struct WorkerAws {
    pub ec2: ec2::Ec2,
    pub ssm: ssm::Ssm,
}

#[cfg(all(feature = "ec2", feature = "ssm"))]
impl WorkerAws {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            ec2: ec2::Ec2::new(aws_sdk_ec2::Client::new(config)),
            ssm: ssm::Ssm::new(aws_sdk_ssm::Client::new(config)),
        }
    }
}

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Builds the SDK configuration once per Lambda instance. It honours the
/// standard variables (`AWS_REGION`, `AWS_ENDPOINT_URL`, ...), which is how
/// the local sandbox points the same binaries at loopback. Calls are bounded
/// well inside the Lambda timeout; the SDK retries a throttle twice quickly
/// and the state machine owns longer backoff.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        )
        .load()
        .await
}
