//! SSM adapter: agent ping status, Run Command launch, lookup and
//! invocation status.

use std::collections::HashMap;

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{
    CloudWatchOutputConfig, CommandFilter, CommandFilterKey, InstanceInformationStringFilter,
};

use crate::error::{AwsError, StepError};
use crate::ports::{
    Command, CommandInvocation, JOB_DOCUMENT_VERSION, JobCommand, Operation, SsmPort,
};
use crate::timestamp::Timestamp;

#[derive(Clone, Debug)]
pub struct Ssm {
    client: Client,
}

impl Ssm {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The adapter a function's `main` builds once.
    pub fn from_config(config: &aws_types::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }
}

impl SsmPort for Ssm {
    async fn ping_statuses(
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
                    AwsError::from_sdk(Operation::DescribeInstanceInformation.action(), &e)
                        .into_step_error()
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

    /// No instance filter: ListCommands with `InstanceId` misses a command
    /// whose invocations are still `Pending`. `InvokedAfter` is sent in
    /// whole seconds (the form the API reference shows), rounded down so it
    /// never excludes the command; the exact, millisecond comparison with
    /// the command's `RequestedDateTime` is made here.
    async fn find_command(
        &self,
        document_name: &str,
        comment: &str,
        invoked_after: Timestamp,
    ) -> Result<Option<Command>, StepError> {
        let since_whole_second =
            Timestamp::from_millis(invoked_after.as_millis().div_euclid(1000) * 1000);
        let mut next_token: Option<String> = None;
        loop {
            let output = self
                .client
                .list_commands()
                .filters(filter(CommandFilterKey::DocumentName, document_name))
                .filters(filter(
                    CommandFilterKey::InvokedAfter,
                    &since_whole_second.to_string(),
                ))
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(Operation::ListCommands.action(), &e).into_step_error()
                })?;
            if let Some(found) = output.commands().iter().map(view).find(|c| {
                c.comment == comment && c.requested_at.is_none_or(|at| at >= invoked_after)
            }) {
                return Ok(Some(found));
            }
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(None),
            }
        }
    }

    /// SendCommand has no idempotency token, so the SDK must not retry it:
    /// a retried attempt after a timeout or a 5xx could run the job twice.
    /// The failure reaches the state machine, whose retry runs
    /// `find_command` first.
    async fn send_command(&self, command: &JobCommand) -> Result<Command, StepError> {
        let output = self
            .client
            .send_command()
            .document_name(&command.document_name)
            .document_version(JOB_DOCUMENT_VERSION)
            .set_instance_ids(Some(command.instance_ids.clone()))
            .comment(&command.comment)
            .parameters(
                "executionTimeout",
                vec![command.execution_timeout_seconds.to_string()],
            )
            .set_cloud_watch_output_config(command.output_log_group.as_ref().map(|group| {
                CloudWatchOutputConfig::builder()
                    .cloud_watch_log_group_name(group)
                    .cloud_watch_output_enabled(true)
                    .build()
            }))
            .customize()
            .config_override(
                aws_sdk_ssm::config::Builder::default()
                    .retry_config(aws_smithy_types::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(Operation::SendCommand.action(), &e).into_step_error()
            })?;
        let sent = output.command().map(view).unwrap_or(Command {
            command_id: String::new(),
            comment: command.comment.clone(),
            document_name: command.document_name.clone(),
            instance_ids: command.instance_ids.clone(),
            requested_at: None,
        });
        if sent.command_id.is_empty() {
            return Err(AwsError {
                operation: Operation::SendCommand.action(),
                code: None,
                message: Some("the response has no command id".into()),
                http_status: None,
                no_response: false,
            }
            .into_step_error());
        }
        Ok(sent)
    }

    async fn command_invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<CommandInvocation, StepError> {
        let result = self
            .client
            .get_command_invocation()
            .command_id(command_id)
            .instance_id(instance_id)
            .send()
            .await;
        match result {
            Ok(output) => Ok(CommandInvocation {
                status: output.status().map(|s| s.as_str().to_string()),
                status_details: output.status_details().map(str::to_string),
                exit_code: Some(output.response_code()).filter(|code| *code >= 0),
                stderr: output
                    .standard_error_content()
                    .filter(|text| !text.is_empty())
                    .map(str::to_string),
            }),
            Err(e) => {
                let error = AwsError::from_sdk(Operation::GetCommandInvocation.action(), &e);
                // Right after SendCommand the invocation may not be visible yet.
                if error.has_code("InvocationDoesNotExist") {
                    Ok(CommandInvocation::default())
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

fn view(command: &aws_sdk_ssm::types::Command) -> Command {
    Command {
        command_id: command.command_id().unwrap_or_default().to_string(),
        comment: command.comment().unwrap_or_default().to_string(),
        document_name: command.document_name().unwrap_or_default().to_string(),
        instance_ids: command.instance_ids().to_vec(),
        requested_at: command.requested_date_time().map(|t| Timestamp::from(*t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::wire::{assert_mapped, json_error};
    use crate::error::ErrorName;
    use crate::mock_sdk_client;
    use aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationOutput;
    use aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationOutput;
    use aws_sdk_ssm::operation::list_commands::ListCommandsOutput;
    use aws_sdk_ssm::operation::send_command::SendCommandOutput;
    use aws_sdk_ssm::types::{CommandInvocationStatus, InstanceInformation, PingStatus};
    use aws_smithy_mocks::{Rule, mock};

    const W1: &str = "i-0123456789abcdef0";
    const W2: &str = "i-0fedcba9876543210";
    const T0: i64 = 1_795_309_200_000; // 2026-11-22T01:00:00Z
    const DOC: &str = "MakenaideOrchestrator-Job";

    fn ssm(rules: &[&Rule]) -> Ssm {
        Ssm::new(mock_sdk_client!(aws_sdk_ssm, rules))
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn sdk_command(id: &str, comment: &str, requested_millis: i64) -> aws_sdk_ssm::types::Command {
        aws_sdk_ssm::types::Command::builder()
            .command_id(id)
            .comment(comment)
            .document_name(DOC)
            .instance_ids(W1)
            .instance_ids(W2)
            .requested_date_time(aws_smithy_types::DateTime::from_millis(requested_millis))
            .build()
    }

    fn info(id: &str, ping: PingStatus) -> InstanceInformation {
        InstanceInformation::builder()
            .instance_id(id)
            .ping_status(ping)
            .build()
    }

    #[tokio::test]
    async fn ping_statuses_filter_by_instance_and_follow_pages() {
        let first = mock!(Client::describe_instance_information)
            .match_requests(|r| {
                r.next_token().is_none()
                    && r.filters()
                        .first()
                        .is_some_and(|f| f.key() == "InstanceIds" && f.values() == [W1, W2])
            })
            .then_output(|| {
                DescribeInstanceInformationOutput::builder()
                    .instance_information_list(info(W1, PingStatus::Online))
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(Client::describe_instance_information)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(|| {
                DescribeInstanceInformationOutput::builder()
                    .instance_information_list(info(W2, PingStatus::ConnectionLost))
                    .build()
            });
        let pings = ssm(&[&first, &second])
            .ping_statuses(&ids(&[W1, W2]))
            .await
            .unwrap();
        assert_eq!(pings[W1], "Online");
        assert_eq!(pings[W2], "ConnectionLost");
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn find_command_filters_by_document_and_time_and_matches_the_comment() {
        // The execution started at .750 s: InvokedAfter goes in whole seconds
        // (rounded down), the command's own time is compared in milliseconds.
        let since = Timestamp::from_millis(T0 + 750);
        let first = mock!(Client::list_commands)
            .match_requests(|r| {
                let filters: Vec<(String, String)> = r
                    .filters()
                    .iter()
                    .map(|f| (f.key().as_str().to_string(), f.value().to_string()))
                    .collect();
                r.instance_id().is_none()
                    && r.next_token().is_none()
                    && filters
                        == [
                            ("DocumentName".to_string(), DOC.to_string()),
                            (
                                "InvokedAfter".to_string(),
                                "2026-11-22T01:00:00Z".to_string(),
                            ),
                        ]
            })
            .then_output(|| {
                ListCommandsOutput::builder()
                    // Only the exact comment matches: run-10 is another execution.
                    .commands(sdk_command("cmd-other", "makenaide:run-10", T0 + 5_000))
                    // The same comment from before this execution began (same second).
                    .commands(sdk_command("cmd-earlier", "makenaide:run-1", T0 + 500))
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(Client::list_commands)
            .match_requests(|r| r.next_token() == Some("page-2") && r.instance_id().is_none())
            .then_output(|| {
                ListCommandsOutput::builder()
                    .commands(sdk_command("cmd-1", "makenaide:run-1", T0 + 5_000))
                    .build()
            });
        let adapter = ssm(&[&first, &second]);
        let found = adapter
            .find_command(DOC, "makenaide:run-1", since)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            found,
            Command {
                command_id: "cmd-1".into(),
                comment: "makenaide:run-1".into(),
                document_name: DOC.into(),
                instance_ids: ids(&[W1, W2]),
                requested_at: Some(Timestamp::from_millis(T0 + 5_000)),
            }
        );
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
        let none = adapter
            .find_command(DOC, "makenaide:run-9", since)
            .await
            .unwrap();
        assert_eq!(none, None);
    }

    #[tokio::test]
    async fn the_millisecond_time_in_an_answer_is_read() {
        // ListCommands answers RequestedDateTime as epoch seconds with a
        // fraction (awsJson1_1), e.g. 1795309200.75.
        let list = mock!(Client::list_commands).then_http_response(|| {
            let body = r#"{"Commands":[{"CommandId":"cmd-1","Comment":"makenaide:run-1","InstanceIds":["i-0123456789abcdef0"],"RequestedDateTime":1795309200.75}]}"#;
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(200).unwrap(),
                aws_smithy_types::body::SdkBody::from(body),
            )
        });
        let adapter = ssm(&[&list]);
        let at = |millis| Timestamp::from_millis(T0 + millis);
        let found = adapter
            .find_command(DOC, "makenaide:run-1", at(750))
            .await
            .unwrap();
        assert_eq!(found.unwrap().requested_at, Some(at(750)));
        let too_late = adapter
            .find_command(DOC, "makenaide:run-1", at(751))
            .await
            .unwrap();
        assert_eq!(too_late, None);
    }

    #[tokio::test]
    async fn send_command_sends_the_job_document_with_only_its_timeout() {
        let send = mock!(Client::send_command)
            .match_requests(|r| {
                // No command text: the document holds the commands.
                let expected: HashMap<String, Vec<String>> =
                    HashMap::from([("executionTimeout".into(), vec!["3600".into()])]);
                let output = r.cloud_watch_output_config();
                r.document_name() == Some(DOC)
                    && r.document_version() == Some("$LATEST")
                    && r.instance_ids() == [W1, W2]
                    && r.comment() == Some("makenaide:run-1")
                    && r.parameters() == Some(&expected)
                    && output.and_then(|o| o.cloud_watch_log_group_name()) == Some("/makenaide/job")
                    && output.is_some_and(|o| o.cloud_watch_output_enabled())
            })
            .then_output(|| {
                SendCommandOutput::builder()
                    .command(sdk_command("cmd-new", "makenaide:run-1", T0 + 5_000))
                    .build()
            });
        let sent = ssm(&[&send])
            .send_command(&JobCommand {
                document_name: DOC.into(),
                instance_ids: ids(&[W1, W2]),
                execution_timeout_seconds: 3600,
                comment: "makenaide:run-1".into(),
                output_log_group: Some("/makenaide/job".into()),
            })
            .await
            .unwrap();
        assert_eq!(sent.command_id, "cmd-new");
        assert_eq!(sent.requested_at, Some(Timestamp::from_millis(T0 + 5_000)));
        assert_eq!(send.num_calls(), 1);
    }

    fn job() -> JobCommand {
        JobCommand {
            document_name: DOC.into(),
            instance_ids: ids(&[W1]),
            execution_timeout_seconds: 60,
            comment: "makenaide:run-1".into(),
            output_log_group: None,
        }
    }

    #[tokio::test]
    async fn without_a_log_group_no_cloudwatch_output_is_asked_for() {
        let send = mock!(Client::send_command)
            .match_requests(|r| r.cloud_watch_output_config().is_none())
            .then_output(|| {
                SendCommandOutput::builder()
                    .command(sdk_command("cmd-new", "makenaide:run-1", T0))
                    .build()
            });
        ssm(&[&send]).send_command(&job()).await.unwrap();
        assert_eq!(send.num_calls(), 1);
    }

    #[tokio::test]
    async fn send_command_is_never_retried_by_the_sdk() {
        // A retry could run the job twice; the state machine's retry looks
        // the command up first.
        let send = mock!(Client::send_command)
            .sequence()
            .http_response(|| json_error(400, "ThrottlingException", "Rate exceeded"))
            .repeatedly()
            .build();
        let error = ssm(&[&send]).send_command(&job()).await.unwrap_err();
        assert_eq!(error.name, ErrorName::AwsThrottled);
        assert!(
            error.message.contains("ssm:SendCommand"),
            "{}",
            error.message
        );
        assert_eq!(send.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_send_answer_without_a_command_id_is_an_error() {
        let send = mock!(Client::send_command).then_output(|| SendCommandOutput::builder().build());
        let error = ssm(&[&send]).send_command(&job()).await.unwrap_err();
        assert_eq!(error.name, ErrorName::AwsRequestFailed);
        assert!(error.message.contains("no command id"), "{}", error.message);
    }

    #[tokio::test]
    async fn invocation_reads_status_details_and_exit_code() {
        let get = mock!(Client::get_command_invocation)
            .match_requests(|r| r.command_id() == Some("cmd-1") && r.instance_id() == Some(W1))
            .then_output(|| {
                GetCommandInvocationOutput::builder()
                    .status(CommandInvocationStatus::Failed)
                    .status_details("Failed")
                    .response_code(2)
                    .standard_error_content("psql: error: connection refused\n")
                    .standard_output_content("starting\n")
                    .build()
            });
        let invocation = ssm(&[&get]).command_invocation("cmd-1", W1).await.unwrap();
        assert_eq!(
            invocation,
            CommandInvocation {
                status: Some("Failed".into()),
                status_details: Some("Failed".into()),
                exit_code: Some(2),
                stderr: Some("psql: error: connection refused\n".into()),
            }
        );
        // SSM reports -1 while there is no exit code yet.
        let get = mock!(Client::get_command_invocation).then_output(|| {
            GetCommandInvocationOutput::builder()
                .status(CommandInvocationStatus::InProgress)
                .response_code(-1)
                .build()
        });
        let invocation = ssm(&[&get]).command_invocation("cmd-1", W1).await.unwrap();
        assert_eq!(invocation.exit_code, None);
    }

    #[tokio::test]
    async fn an_invocation_not_visible_yet_has_no_status() {
        let get = mock!(Client::get_command_invocation)
            .then_http_response(|| json_error(400, "InvocationDoesNotExist", ""));
        let invocation = ssm(&[&get]).command_invocation("cmd-1", W1).await.unwrap();
        assert_eq!(invocation, CommandInvocation::default());
    }

    /// The generic classes, once for this service's wire format (awsJson1_1).
    #[tokio::test]
    async fn service_errors_map_to_stable_names() {
        let cases = [
            (400, "ThrottlingException", ErrorName::AwsThrottled),
            (500, "InternalServerError", ErrorName::AwsServiceUnavailable),
            (400, "AccessDeniedException", ErrorName::AccessDenied),
            (400, "InvalidInstanceId", ErrorName::AwsRequestFailed),
        ];
        for (status, code, expected) in cases {
            let list = mock!(Client::list_commands)
                .then_http_response(move || json_error(status, code, "message"));
            let error = ssm(&[&list])
                .find_command(DOC, "makenaide:run-1", Timestamp::from_millis(T0))
                .await
                .unwrap_err();
            assert_mapped(&error, expected, "ssm:ListCommands", code);
        }
    }

    #[tokio::test]
    async fn throttling_is_retried_by_the_sdk_then_succeeds() {
        let list = mock!(Client::list_commands)
            .sequence()
            .http_response(|| json_error(400, "ThrottlingException", "Rate exceeded"))
            .times(2)
            .output(|| ListCommandsOutput::builder().build())
            .build();
        let found = ssm(&[&list])
            .find_command(DOC, "makenaide:run-1", Timestamp::from_millis(T0))
            .await
            .unwrap();
        assert_eq!(found, None);
        assert_eq!(list.num_calls(), 3);
    }
}
