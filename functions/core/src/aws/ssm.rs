//! SSM: agent ping status, Run Command launch, lookup and invocation status.

use std::collections::HashMap;

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{
    Command, CommandFilter, CommandFilterKey, InstanceInformationStringFilter,
};

use crate::error::{AwsError, StepError};
use crate::timestamp::Timestamp;

pub const RUN_SHELL_SCRIPT: &str = "AWS-RunShellScript";

#[derive(Debug, Clone, PartialEq)]
pub struct CommandView {
    pub command_id: String,
    pub comment: String,
    pub instance_ids: Vec<String>,
    pub requested_at: Option<Timestamp>,
}

/// What `ssm_launch` sends.
#[derive(Debug, Clone, PartialEq)]
pub struct ShellCommand {
    pub instance_ids: Vec<String>,
    pub commands: Vec<String>,
    pub working_directory: String,
    pub execution_timeout_seconds: u64,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InvocationView {
    /// `None` while SSM does not know the invocation yet.
    pub status: Option<String>,
    pub exit_code: Option<i32>,
}

#[derive(Clone, Debug)]
pub struct Ssm {
    client: Client,
}

impl Ssm {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Ping status per instance id; an instance whose agent never
    /// registered is absent.
    pub async fn ping_statuses(
        &self,
        instance_ids: &[String],
    ) -> Result<HashMap<String, String>, StepError> {
        let mut statuses = HashMap::new();
        let mut next_token: Option<String> = None;
        loop {
            let output = self
                .client
                .describe_instance_information()
                .filters(
                    InstanceInformationStringFilter::builder()
                        .key("InstanceIds")
                        .set_values(Some(instance_ids.to_vec()))
                        .build()
                        .expect("key and values are set"),
                )
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk("ssm:DescribeInstanceInformation", &e).into_step_error()
                })?;
            for info in output.instance_information_list() {
                if let (Some(id), Some(ping)) = (info.instance_id(), info.ping_status()) {
                    statuses.insert(id.to_string(), ping.as_str().to_string());
                }
            }
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(statuses),
            }
        }
    }

    /// A command already sent with exactly this `comment` to `instance_id`
    /// since `invoked_after` (the idempotency key of `ssm_launch`).
    pub async fn find_command(
        &self,
        instance_id: &str,
        comment: &str,
        invoked_after: Timestamp,
    ) -> Result<Option<CommandView>, StepError> {
        let mut next_token: Option<String> = None;
        loop {
            let output = self
                .client
                .list_commands()
                .instance_id(instance_id)
                .filters(filter(CommandFilterKey::DocumentName, RUN_SHELL_SCRIPT))
                .filters(filter(
                    CommandFilterKey::InvokedAfter,
                    &invoked_after.to_string(),
                ))
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ssm:ListCommands", &e).into_step_error())?;
            if let Some(found) = output
                .commands()
                .iter()
                .find(|c| c.comment() == Some(comment))
            {
                return Ok(Some(view(found)));
            }
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(None),
            }
        }
    }

    /// Sends the command exactly once. SendCommand has no idempotency token,
    /// so the SDK must not retry it: a retried attempt after a timeout or a
    /// 5xx could run the job twice. The failure reaches the state machine,
    /// whose retry runs `find_command` first.
    pub async fn send(&self, command: &ShellCommand) -> Result<CommandView, StepError> {
        let output = self
            .client
            .send_command()
            .document_name(RUN_SHELL_SCRIPT)
            .set_instance_ids(Some(command.instance_ids.clone()))
            .comment(&command.comment)
            .parameters("commands", command.commands.clone())
            .parameters("workingDirectory", vec![command.working_directory.clone()])
            .parameters(
                "executionTimeout",
                vec![command.execution_timeout_seconds.to_string()],
            )
            .customize()
            .config_override(
                aws_sdk_ssm::config::Builder::default()
                    .retry_config(aws_smithy_types::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ssm:SendCommand", &e).into_step_error())?;
        let sent = output.command().map(view).unwrap_or(CommandView {
            command_id: String::new(),
            comment: command.comment.clone(),
            instance_ids: command.instance_ids.clone(),
            requested_at: None,
        });
        if sent.command_id.is_empty() {
            return Err(AwsError {
                operation: "ssm:SendCommand",
                code: None,
                message: Some("the response has no command id".into()),
                http_status: None,
                no_response: false,
            }
            .into_step_error());
        }
        Ok(sent)
    }

    pub async fn invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<InvocationView, StepError> {
        let result = self
            .client
            .get_command_invocation()
            .command_id(command_id)
            .instance_id(instance_id)
            .send()
            .await;
        match result {
            Ok(output) => Ok(InvocationView {
                status: output.status().map(|s| s.as_str().to_string()),
                exit_code: Some(output.response_code()).filter(|code| *code >= 0),
            }),
            Err(e) => {
                let error = AwsError::from_sdk("ssm:GetCommandInvocation", &e);
                // Right after SendCommand the invocation may not be visible yet.
                if error.has_code("InvocationDoesNotExist") {
                    Ok(InvocationView {
                        status: None,
                        exit_code: None,
                    })
                } else {
                    Err(error.into_step_error())
                }
            }
        }
    }
}

fn filter(key: CommandFilterKey, value: &str) -> CommandFilter {
    CommandFilter::builder()
        .key(key)
        .value(value)
        .build()
        .expect("key and value are set")
}

fn view(command: &Command) -> CommandView {
    CommandView {
        command_id: command.command_id().unwrap_or_default().to_string(),
        comment: command.comment().unwrap_or_default().to_string(),
        instance_ids: command.instance_ids().to_vec(),
        requested_at: command.requested_date_time().map(|t| Timestamp::from(*t)),
    }
}
