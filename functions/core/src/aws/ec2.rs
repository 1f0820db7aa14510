//! EC2: describe and start the worker instances.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Instance;

use crate::error::{AwsError, ErrorName, StepError};

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceView {
    pub instance_id: String,
    pub state: String,
    pub instance_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartResult {
    Started,
    /// Dry run: EC2 answered that the start would have succeeded.
    WouldStart,
    /// The instance changed state between the describe and the start
    /// (`IncorrectInstanceState`): look again next time.
    StateChanged,
}

#[derive(Clone, Debug)]
pub struct Ec2 {
    client: Client,
}

impl Ec2 {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The instances in the order asked; a missing one is `Ec2InstanceNotFound`.
    pub async fn describe(&self, instance_ids: &[String]) -> Result<Vec<InstanceView>, StepError> {
        const OP: &str = "ec2:DescribeInstances";
        let output = self
            .client
            .describe_instances()
            .set_instance_ids(Some(instance_ids.to_vec()))
            .send()
            .await
            .map_err(|e| {
                let error = AwsError::from_sdk(OP, &e);
                if error.has_code("InvalidInstanceID.NotFound")
                    || error.has_code("InvalidInstanceID.Malformed")
                {
                    not_found(instance_ids, &error)
                } else {
                    error.into_step_error()
                }
            })?;
        let found: Vec<InstanceView> = output
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(view)
            .collect();
        instance_ids
            .iter()
            .map(|id| {
                found
                    .iter()
                    .find(|i| &i.instance_id == id)
                    .cloned()
                    .ok_or_else(|| {
                        StepError::new(
                            ErrorName::Ec2InstanceNotFound,
                            format!("{OP} did not return worker instance {id}"),
                        )
                    })
            })
            .collect()
    }

    pub async fn start(
        &self,
        instance_ids: &[String],
        dry_run: bool,
    ) -> Result<StartResult, StepError> {
        const OP: &str = "ec2:StartInstances";
        let result = self
            .client
            .start_instances()
            .set_instance_ids(Some(instance_ids.to_vec()))
            // DryRun only when asked for: a real start carries no DryRun
            // parameter at all, exactly as the console and CLI send it.
            .set_dry_run(dry_run.then_some(true))
            .send()
            .await;
        match result {
            Ok(_) if dry_run => Ok(StartResult::WouldStart),
            Ok(_) => Ok(StartResult::Started),
            Err(e) => {
                let error = AwsError::from_sdk(OP, &e);
                match error.code.as_deref() {
                    Some("DryRunOperation") => Ok(StartResult::WouldStart),
                    Some("IncorrectInstanceState") => Ok(StartResult::StateChanged),
                    Some("InvalidInstanceID.NotFound") => Err(not_found(instance_ids, &error)),
                    _ => Err(error.into_step_error()),
                }
            }
        }
    }
}

fn view(instance: &Instance) -> InstanceView {
    InstanceView {
        instance_id: instance.instance_id().unwrap_or_default().to_string(),
        state: instance
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        instance_type: instance.instance_type().map(|t| t.as_str().to_string()),
    }
}

fn not_found(instance_ids: &[String], error: &AwsError) -> StepError {
    StepError::new(
        ErrorName::Ec2InstanceNotFound,
        format!(
            "worker instance(s) {} not found ({}: {})",
            instance_ids.join(", "),
            error.operation,
            error.message.as_deref().unwrap_or("no message")
        ),
    )
}
