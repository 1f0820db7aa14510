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

use crate::settings::{CALL_BUDGET, CallBudget};

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
            comment: &str,
            invoked_after: Timestamp,
        ) -> Result<Option<Command>, StepError> {
            self.ssm.find_command(comment, invoked_after).await
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
/// the local sandbox points the same binaries at loopback. Every call is
/// bounded by [`CALL_BUDGET`], so a step's calls fit its Lambda timeout
/// (a step that runs out of it dies as `Sandbox.Timedout`, with no stable
/// name); the SDK retries a throttle quickly and the state machine owns
/// longer backoff.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(CALL_BUDGET.max_attempts))
        .timeout_config(timeouts(&CALL_BUDGET))
        .load()
        .await
}

fn timeouts(budget: &CallBudget) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(budget.connect_seconds))
        .operation_attempt_timeout(Duration::from_secs(budget.attempt_seconds))
        .operation_timeout(Duration::from_secs(budget.operation_seconds))
        .build()
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[tokio::test]
    async fn the_sdk_config_applies_the_call_budget() {
        let config = sdk_config().await;
        let timeouts = config.timeout_config().expect("timeouts are set");
        assert_eq!(
            timeouts.connect_timeout(),
            Some(Duration::from_secs(CALL_BUDGET.connect_seconds))
        );
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_secs(CALL_BUDGET.attempt_seconds))
        );
        assert_eq!(
            timeouts.operation_timeout(),
            Some(Duration::from_secs(CALL_BUDGET.operation_seconds))
        );
        let retries = config.retry_config().expect("retries are set");
        assert_eq!(retries.max_attempts(), CALL_BUDGET.max_attempts);
    }
}
