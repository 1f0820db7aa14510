//! AWS adapters: one shared SDK configuration and one adapter per service,
//! each implementing its port from [`crate::ports`]. Adapters alone know
//! the SDK: they return the project's types and [`StepError`]s with stable
//! names, keeping the service error code in the message.
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
#[cfg(test)]
pub(crate) mod wire;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

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
            ec2: ec2::Ec2::from_config(config),
            ssm: ssm::Ssm::from_config(config),
        }
    }
}

#[cfg(all(feature = "ec2", feature = "ssm"))]
mod worker_ports {
    use std::collections::HashMap;

    use super::WorkerAws;
    use crate::error::StepError;
    use crate::ports::{
        Command, CommandInvocation, Ec2Instance, Ec2Port, ShellCommand, SsmPort, StartResult,
        Transition,
    };
    use crate::timestamp::Timestamp;

    impl Ec2Port for WorkerAws {
        async fn describe_instances(&self, ids: &[String]) -> Result<Vec<Ec2Instance>, StepError> {
            self.ec2.describe_instances(ids).await
        }

        async fn start_instances(
            &self,
            ids: &[String],
            dry_run: bool,
        ) -> Result<StartResult, StepError> {
            self.ec2.start_instances(ids, dry_run).await
        }

        async fn stop_instance(&self, id: &str) -> Result<Transition, StepError> {
            self.ec2.stop_instance(id).await
        }
    }

    impl SsmPort for WorkerAws {
        async fn ping_statuses(
            &self,
            ids: &[String],
        ) -> Result<HashMap<String, String>, StepError> {
            self.ssm.ping_statuses(ids).await
        }

        async fn find_command(
            &self,
            instance_id: &str,
            comment: &str,
            invoked_after: Timestamp,
        ) -> Result<Option<Command>, StepError> {
            self.ssm
                .find_command(instance_id, comment, invoked_after)
                .await
        }

        async fn send_command(&self, command: &ShellCommand) -> Result<Command, StepError> {
            self.ssm.send_command(command).await
        }

        async fn command_invocation(
            &self,
            command_id: &str,
            instance_id: &str,
        ) -> Result<CommandInvocation, StepError> {
            self.ssm.command_invocation(command_id, instance_id).await
        }
    }
}

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
