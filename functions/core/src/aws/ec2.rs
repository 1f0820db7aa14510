//! EC2 adapter: describe, start and stop the worker instances.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Instance;

use crate::error::{AwsError, ErrorName, StepError};
use crate::ports::{Ec2Instance, Ec2Port, Operation, StartResult, Transition};

const NOT_FOUND: &[&str] = &["InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"];

#[derive(Clone, Debug)]
pub struct Ec2 {
    client: Client,
}

impl Ec2 {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The adapter a function's `main` builds once.
    pub fn from_config(config: &aws_types::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }
}

impl Ec2Port for Ec2 {
    async fn describe_instances(&self, ids: &[String]) -> Result<Vec<Ec2Instance>, StepError> {
        let op = Operation::DescribeInstances.action();
        let output = self
            .client
            .describe_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| {
                let error = AwsError::from_sdk(op, &e);
                if error.has_any_code(NOT_FOUND) {
                    not_found(ids, &error)
                } else {
                    error.into_step_error()
                }
            })?;
        let found: Vec<Ec2Instance> = output
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(view)
            .collect();
        ids.iter()
            .map(|id| {
                found
                    .iter()
                    .find(|i| &i.instance_id == id)
                    .cloned()
                    .ok_or_else(|| {
                        StepError::new(
                            ErrorName::Ec2InstanceNotFound,
                            format!("{op} did not return worker instance {id}"),
                        )
                    })
            })
            .collect()
    }

    async fn start_instances(
        &self,
        ids: &[String],
        dry_run: bool,
    ) -> Result<StartResult, StepError> {
        let result = self
            .client
            .start_instances()
            .set_instance_ids(Some(ids.to_vec()))
            // DryRun only when asked for: a real start carries no DryRun
            // parameter at all, exactly as the console and CLI send it.
            .set_dry_run(dry_run.then_some(true))
            .send()
            .await;
        match result {
            Ok(_) if dry_run => Ok(StartResult::WouldStart),
            Ok(_) => Ok(StartResult::Started),
            Err(e) => {
                let error = AwsError::from_sdk(Operation::StartInstances.action(), &e);
                match error.code.as_deref() {
                    Some("DryRunOperation") => Ok(StartResult::WouldStart),
                    Some("IncorrectInstanceState") => Ok(StartResult::StateChanged),
                    Some("InvalidInstanceID.NotFound") => Err(not_found(ids, &error)),
                    _ => Err(error.into_step_error()),
                }
            }
        }
    }

    async fn stop_instance(&self, id: &str) -> Result<Transition, StepError> {
        // A plain stop: no Force (the OS gets to shut down cleanly), no
        // Hibernate. Stopping a stopped or stopping instance is accepted.
        let result = self.client.stop_instances().instance_ids(id).send().await;
        match result {
            Ok(_) => Ok(Transition::Accepted),
            Err(e) => {
                let error = AwsError::from_sdk(Operation::StopInstances.action(), &e);
                match error.code.as_deref() {
                    // pending, shutting-down or terminated since the describe.
                    Some("IncorrectInstanceState") => Ok(Transition::Refused),
                    Some(code) if NOT_FOUND.contains(&code) => {
                        Err(not_found(&[id.to_string()], &error))
                    }
                    _ => Err(error.into_step_error()),
                }
            }
        }
    }
}

fn view(instance: &Instance) -> Ec2Instance {
    Ec2Instance {
        instance_id: instance.instance_id().unwrap_or_default().to_string(),
        state: instance
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        state_reason: instance
            .state_reason()
            .and_then(|r| r.code())
            .map(str::to_string),
        instance_type: instance.instance_type().map(|t| t.as_str().to_string()),
    }
}

fn not_found(ids: &[String], error: &AwsError) -> StepError {
    StepError::new(
        ErrorName::Ec2InstanceNotFound,
        format!(
            "worker instance(s) {} not found ({}: {})",
            ids.join(", "),
            error.operation,
            error.message.as_deref().unwrap_or("no message")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::wire::{assert_mapped, ec2_error};
    use crate::mock_sdk_client;
    use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
    use aws_sdk_ec2::operation::start_instances::StartInstancesOutput;
    use aws_sdk_ec2::operation::stop_instances::StopInstancesOutput;
    use aws_sdk_ec2::types::{
        InstanceState, InstanceStateName, InstanceType, Reservation, StateReason,
    };
    use aws_smithy_mocks::{Rule, mock};

    const A: &str = "i-0123456789abcdef0";
    const B: &str = "i-0fedcba9876543210";

    fn ec2(rules: &[&Rule]) -> Ec2 {
        Ec2::new(mock_sdk_client!(aws_sdk_ec2, rules))
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn instance(id: &str, state: &str, reason: Option<&str>) -> Instance {
        Instance::builder()
            .instance_id(id)
            .instance_type(InstanceType::T3Medium)
            .state(
                InstanceState::builder()
                    .name(InstanceStateName::from(state))
                    .build(),
            )
            .set_state_reason(reason.map(|code| StateReason::builder().code(code).build()))
            .build()
    }

    #[tokio::test]
    async fn describe_returns_the_instances_in_the_order_asked() {
        let describe = mock!(Client::describe_instances)
            .match_requests(|r| r.instance_ids() == [A, B])
            .then_output(|| {
                DescribeInstancesOutput::builder()
                    .reservations(
                        Reservation::builder()
                            .instances(instance(B, "stopped", Some("Client.UserInitiatedShutdown")))
                            .instances(instance(A, "running", None))
                            .build(),
                    )
                    .build()
            });
        let found = ec2(&[&describe])
            .describe_instances(&ids(&[A, B]))
            .await
            .unwrap();
        assert_eq!(
            found,
            [
                Ec2Instance {
                    instance_id: A.into(),
                    state: "running".into(),
                    state_reason: None,
                    instance_type: Some("t3.medium".into()),
                },
                Ec2Instance {
                    instance_id: B.into(),
                    state: "stopped".into(),
                    state_reason: Some("Client.UserInitiatedShutdown".into()),
                    instance_type: Some("t3.medium".into()),
                },
            ]
        );
    }

    #[tokio::test]
    async fn an_instance_missing_from_the_answer_or_unknown_to_ec2_is_not_found() {
        let describe = mock!(Client::describe_instances)
            .then_output(|| DescribeInstancesOutput::builder().build());
        let error = ec2(&[&describe])
            .describe_instances(&ids(&[A]))
            .await
            .unwrap_err();
        assert_eq!(error.name, ErrorName::Ec2InstanceNotFound);
        assert!(error.message.contains(A));
        let describe = mock!(Client::describe_instances).then_http_response(|| {
            ec2_error(
                400,
                "InvalidInstanceID.NotFound",
                "The instance ID does not exist",
            )
        });
        let start = mock!(Client::start_instances).then_http_response(|| {
            ec2_error(
                400,
                "InvalidInstanceID.NotFound",
                "The instance ID does not exist",
            )
        });
        let adapter = ec2(&[&describe, &start]);
        for error in [
            adapter.describe_instances(&ids(&[A])).await.unwrap_err(),
            adapter
                .start_instances(&ids(&[A]), false)
                .await
                .unwrap_err(),
        ] {
            assert_eq!(error.name, ErrorName::Ec2InstanceNotFound);
            assert!(error.message.contains(A), "{}", error.message);
        }
    }

    #[tokio::test]
    async fn start_sends_every_id_and_dry_run_only_when_asked() {
        let start = mock!(Client::start_instances)
            .match_requests(|r| r.instance_ids() == [A, B] && r.dry_run().is_none())
            .then_output(|| StartInstancesOutput::builder().build());
        let started = ec2(&[&start]).start_instances(&ids(&[A, B]), false).await;
        assert_eq!(started.unwrap(), StartResult::Started);
        assert_eq!(start.num_calls(), 1);

        let dry = mock!(Client::start_instances)
            .match_requests(|r| r.dry_run() == Some(true))
            .then_http_response(|| {
                ec2_error(
                    412,
                    "DryRunOperation",
                    "Request would have succeeded, but DryRun flag is set.",
                )
            });
        let result = ec2(&[&dry]).start_instances(&ids(&[A]), true).await;
        assert_eq!(result.unwrap(), StartResult::WouldStart);
        assert_eq!(dry.num_calls(), 1);
    }

    #[tokio::test]
    async fn incorrect_state_on_start_means_look_again() {
        let start = mock!(Client::start_instances).then_http_response(|| {
            ec2_error(
                400,
                "IncorrectInstanceState",
                "The instance is not in a state from which it can be started.",
            )
        });
        let result = ec2(&[&start]).start_instances(&ids(&[A]), false).await;
        assert_eq!(result.unwrap(), StartResult::StateChanged);
    }

    #[tokio::test]
    async fn stop_sends_one_id_plainly_and_refused_means_look_again() {
        let stop = mock!(Client::stop_instances)
            .match_requests(|r| {
                r.instance_ids() == [A]
                    && r.force().is_none()
                    && r.hibernate().is_none()
                    && r.dry_run().is_none()
            })
            .then_output(|| StopInstancesOutput::builder().build());
        assert_eq!(
            ec2(&[&stop]).stop_instance(A).await.unwrap(),
            Transition::Accepted
        );
        assert_eq!(stop.num_calls(), 1);

        let refused = mock!(Client::stop_instances).then_http_response(|| {
            ec2_error(
                400,
                "IncorrectInstanceState",
                "This instance is not in a state from which it can be stopped.",
            )
        });
        assert_eq!(
            ec2(&[&refused]).stop_instance(A).await.unwrap(),
            Transition::Refused
        );

        let gone = mock!(Client::stop_instances).then_http_response(|| {
            ec2_error(
                400,
                "InvalidInstanceID.NotFound",
                "The instance ID does not exist",
            )
        });
        let error = ec2(&[&gone]).stop_instance(A).await.unwrap_err();
        assert_eq!(error.name, ErrorName::Ec2InstanceNotFound);
        assert!(error.message.contains(A), "{}", error.message);

        let denied = mock!(Client::stop_instances)
            .then_http_response(|| ec2_error(403, "UnauthorizedOperation", "not authorized"));
        let error = ec2(&[&denied]).stop_instance(A).await.unwrap_err();
        assert_mapped(
            &error,
            ErrorName::AccessDenied,
            "ec2:StopInstances",
            "UnauthorizedOperation",
        );
    }

    /// The generic classes, once for this service's wire format (ec2Query).
    #[tokio::test]
    async fn service_errors_map_to_stable_names() {
        let cases = [
            (503, "RequestLimitExceeded", ErrorName::AwsThrottled),
            (500, "InternalError", ErrorName::AwsServiceUnavailable),
            (
                500,
                "InsufficientInstanceCapacity",
                ErrorName::Ec2InsufficientCapacity,
            ),
            (403, "UnauthorizedOperation", ErrorName::AccessDenied),
            (
                400,
                "InvalidParameterCombination",
                ErrorName::AwsRequestFailed,
            ),
        ];
        for (status, code, expected) in cases {
            let start = mock!(Client::start_instances)
                .then_http_response(move || ec2_error(status, code, "message"));
            let error = ec2(&[&start])
                .start_instances(&ids(&[A]), false)
                .await
                .unwrap_err();
            assert_mapped(&error, expected, "ec2:StartInstances", code);
        }
    }

    #[tokio::test]
    async fn throttling_is_retried_by_the_sdk_then_succeeds() {
        let describe = mock!(Client::describe_instances)
            .sequence()
            .http_response(|| ec2_error(503, "RequestLimitExceeded", "Request limit exceeded."))
            .times(2)
            .output(|| {
                DescribeInstancesOutput::builder()
                    .reservations(
                        Reservation::builder()
                            .instances(instance(A, "pending", None))
                            .build(),
                    )
                    .build()
            })
            .build();
        let found = ec2(&[&describe])
            .describe_instances(&ids(&[A]))
            .await
            .unwrap();
        assert_eq!(found[0].state, "pending");
        assert_eq!(describe.num_calls(), 3);
    }
}
