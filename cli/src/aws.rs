//! The SDK adapters of the ports: the only code that knows the AWS SDK.

use std::collections::HashMap;
use std::error::Error as StdError;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_scheduler::types::ScheduleState;
use aws_sdk_sfn::error::SdkError;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use makenaide_core::Timestamp;

use crate::error::{CliError, one_line};
use crate::history::{Event, Status, What};
use crate::ports::{
    Execution, HistoryPage, Lease, Leases, Listed, Resources, Schedule, Schedules, Stacks,
    StepFunctions,
};

/// The SDK configuration: aws-config's whole default chain (environment,
/// profiles, SSO, `credential_process`, container and instance roles),
/// `AWS_ENDPOINT_URL*`, and `--profile` / `--region` when given; HTTPS on
/// the functions' rustls-on-ring client.
pub async fn sdk_config(
    profile: Option<&str>,
    region: Option<&str>,
) -> Result<SdkConfig, CliError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(makenaide_core::aws::https_client());
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_string()));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(CliError::NoRegion);
    }
    Ok(config)
}

/// Every client the CLI uses, built once from one configuration.
pub struct Aws {
    endpoint: Endpoint,
    sfn: aws_sdk_sfn::Client,
    cloudformation: aws_sdk_cloudformation::Client,
    scheduler: aws_sdk_scheduler::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    ec2: aws_sdk_ec2::Client,
    rds: aws_sdk_rds::Client,
}

impl Aws {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            endpoint: Endpoint::of(config),
            sfn: aws_sdk_sfn::Client::new(config),
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            scheduler: aws_sdk_scheduler::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            rds: aws_sdk_rds::Client::new(config),
        }
    }
}

/// Where one service's calls go, as a message names it: `AWS_ENDPOINT_URL`
/// (or the profile's endpoint) when set, else the service's AWS endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub url: Option<String>,
    pub region: String,
}

impl Endpoint {
    pub fn of(config: &SdkConfig) -> Self {
        Self {
            url: config.endpoint_url().map(str::to_string),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    /// `host`: the service's endpoint prefix (`states`, `dynamodb`, ...).
    pub fn name(&self, host: &str) -> String {
        match &self.url {
            Some(url) => url.clone(),
            None => format!("https://{host}.{}.amazonaws.com", self.region),
        }
    }
}

/// Each error of `error`'s source chain, outermost first.
fn chain<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut all = vec![error];
    let mut current = error;
    while let Some(next) = current.source() {
        all.push(next);
        current = next;
    }
    all
}

/// The innermost cause, as an operator reads it: `connection refused`, not
/// `Connection refused (os error 111)`.
fn root_cause(error: &(dyn StdError + 'static)) -> String {
    let all = chain(error);
    if let Some(io) = all.iter().find_map(|e| e.downcast_ref::<std::io::Error>()) {
        use std::io::ErrorKind::*;
        match io.kind() {
            ConnectionRefused => return "connection refused".to_string(),
            ConnectionReset => return "connection reset".to_string(),
            TimedOut => return "timed out".to_string(),
            _ => {}
        }
    }
    let text = all.last().map(|e| e.to_string()).unwrap_or_default();
    let text = match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    // `Connection refused` -> `connection refused`, but `IMDS ...` stays.
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => {
            first.to_lowercase().chain(text.chars().skip(1)).collect()
        }
        _ => text,
    }
}

/// Why the credentials chain gave none, in a few words.
fn credentials_problem(error: &CredentialsError) -> String {
    match error {
        CredentialsError::CredentialsNotLoaded(_) => {
            "none in the environment, the AWS config files or the instance metadata".to_string()
        }
        CredentialsError::ProviderTimedOut(_) => "the credentials provider timed out".to_string(),
        other => format!("loading them failed: {}", root_cause(other)),
    }
}

/// An SDK error as the CLI reports it, on one line: missing credentials by
/// name, an endpoint that does not answer by its URL, the service's code and
/// message otherwise. `host`: the service's endpoint prefix.
pub fn failed<E, R>(
    operation: &'static str,
    endpoint: &Endpoint,
    host: &str,
    error: SdkError<E, R>,
) -> CliError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service) = &error {
        let e = service.err();
        let code = e.code().unwrap_or("error");
        let message = e.message().unwrap_or("");
        return CliError::Aws {
            operation,
            message: one_line(&format!("{code}: {message}"), 300),
        };
    }
    let outer: &(dyn StdError + 'static) = &error;
    if let Some(credentials) = chain(outer)
        .iter()
        .find_map(|e| e.downcast_ref::<CredentialsError>())
    {
        return CliError::NoCredentials(one_line(&credentials_problem(credentials), 200));
    }
    let reach = |why: String| CliError::Unreachable {
        endpoint: endpoint.name(host),
        why: one_line(&why, 200),
    };
    match &error {
        SdkError::TimeoutError(_) => reach("no answer in time".to_string()),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            reach("no answer in time".to_string())
        }
        SdkError::DispatchFailure(_) => reach(root_cause(outer)),
        SdkError::ResponseError(_) => CliError::Aws {
            operation,
            message: one_line(
                &format!(
                    "the answer of {} is not an AWS answer: {}",
                    endpoint.name(host),
                    root_cause(outer)
                ),
                300,
            ),
        },
        _ => CliError::Aws {
            operation,
            message: one_line(&root_cause(outer), 300),
        },
    }
}

fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

fn time(value: &aws_smithy_types::DateTime) -> Timestamp {
    Timestamp::from(*value)
}

fn status(value: &ExecutionStatus) -> Status {
    Status::parse(value.as_str())
}

/// One SDK history event in the CLI's terms (as [`crate::history::WireEvent`] does for JSON).
fn event(e: &HistoryEvent) -> Event {
    // Each failure event type has its own details type, all with `error()`
    // and `cause()`.
    macro_rules! error_and_cause {
        ($details:expr) => {{
            let details = $details;
            (
                details.and_then(|d| d.error()),
                details.and_then(|d| d.cause()),
            )
        }};
    }
    let failed = |(error, cause): (Option<&str>, Option<&str>)| What::TaskFailed {
        error: error.map(str::to_string),
        cause: cause.map(str::to_string),
    };
    let ended =
        |status: Status, (error, cause): (Option<&str>, Option<&str>)| What::ExecutionEnded {
            status,
            error: error.map(str::to_string),
            cause: cause.map(str::to_string),
        };
    let kind = e.r#type().as_str();
    let what = if kind.ends_with("StateEntered") {
        What::StateEntered {
            name: e
                .state_entered_event_details()
                .map(|d| d.name().to_string())
                .unwrap_or_default(),
        }
    } else if kind.ends_with("StateExited") {
        let d = e.state_exited_event_details();
        What::StateExited {
            name: d.map(|d| d.name().to_string()).unwrap_or_default(),
            output: d.and_then(|d| d.output()).map(str::to_string),
        }
    } else {
        match e.r#type() {
            HistoryEventType::LambdaFunctionSucceeded => What::TaskSucceeded {
                output: e
                    .lambda_function_succeeded_event_details()
                    .and_then(|d| d.output())
                    .map(str::to_string),
            },
            HistoryEventType::TaskSucceeded => What::TaskSucceeded {
                output: e
                    .task_succeeded_event_details()
                    .and_then(|d| d.output())
                    .map(str::to_string),
            },
            HistoryEventType::LambdaFunctionFailed => {
                failed(error_and_cause!(e.lambda_function_failed_event_details()))
            }
            HistoryEventType::LambdaFunctionTimedOut => failed(error_and_cause!(
                e.lambda_function_timed_out_event_details()
            )),
            HistoryEventType::LambdaFunctionScheduleFailed => failed(error_and_cause!(
                e.lambda_function_schedule_failed_event_details()
            )),
            HistoryEventType::LambdaFunctionStartFailed => failed(error_and_cause!(
                e.lambda_function_start_failed_event_details()
            )),
            HistoryEventType::TaskFailed => failed(error_and_cause!(e.task_failed_event_details())),
            HistoryEventType::TaskTimedOut => {
                failed(error_and_cause!(e.task_timed_out_event_details()))
            }
            HistoryEventType::ExecutionSucceeded => ended(Status::Succeeded, (None, None)),
            HistoryEventType::ExecutionFailed => ended(
                Status::Failed,
                error_and_cause!(e.execution_failed_event_details()),
            ),
            HistoryEventType::ExecutionAborted => ended(
                Status::Aborted,
                error_and_cause!(e.execution_aborted_event_details()),
            ),
            HistoryEventType::ExecutionTimedOut => ended(
                Status::TimedOut,
                error_and_cause!(e.execution_timed_out_event_details()),
            ),
            _ => What::Other,
        }
    };
    Event {
        id: e.id(),
        at: time(e.timestamp()),
        what,
    }
}

impl StepFunctions for Aws {
    async fn start(
        &self,
        target: &str,
        name: Option<&str>,
        input: &str,
    ) -> Result<String, CliError> {
        let answer = self
            .sfn
            .start_execution()
            .state_machine_arn(target)
            .set_name(name.map(str::to_string))
            .input(input)
            .send()
            .await
            .map_err(|e| failed("StartExecution", &self.endpoint, "states", e))?;
        Ok(answer.execution_arn().to_string())
    }

    async fn describe(&self, execution_arn: &str) -> Result<Execution, CliError> {
        let d = match self
            .sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
        {
            Ok(d) => d,
            Err(e) if matches!(code(&e), Some("ExecutionDoesNotExist" | "InvalidArn")) => {
                return Err(CliError::UnknownExecution(execution_arn.to_string()));
            }
            Err(e) => return Err(failed("DescribeExecution", &self.endpoint, "states", e)),
        };
        Ok(Execution {
            arn: d.execution_arn().to_string(),
            name: d.name().unwrap_or_default().to_string(),
            status: status(d.status()),
            start: time(d.start_date()),
            stop: d.stop_date().map(time),
            input: d.input().map(str::to_string),
            output: d.output().map(str::to_string),
            error: d.error().map(str::to_string),
            cause: d.cause().map(str::to_string),
            alias_arn: d.state_machine_alias_arn().map(str::to_string),
            version_arn: d.state_machine_version_arn().map(str::to_string),
        })
    }

    async fn history(
        &self,
        execution_arn: &str,
        next_token: Option<String>,
        newest_first: bool,
        max: i32,
    ) -> Result<HistoryPage, CliError> {
        let page = self
            .sfn
            .get_execution_history()
            .execution_arn(execution_arn)
            .set_next_token(next_token)
            .reverse_order(newest_first)
            .max_results(max)
            .send()
            .await
            .map_err(|e| failed("GetExecutionHistory", &self.endpoint, "states", e))?;
        Ok(HistoryPage {
            events: page.events().iter().map(event).collect(),
            next_token: page.next_token().map(str::to_string),
        })
    }

    async fn list(
        &self,
        state_machine_arn: &str,
        running_only: bool,
        limit: usize,
    ) -> Result<Vec<Listed>, CliError> {
        let mut listed = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sfn
                .list_executions()
                .state_machine_arn(state_machine_arn)
                .set_status_filter(running_only.then_some(ExecutionStatus::Running))
                .max_results(limit.clamp(1, 1000) as i32)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| failed("ListExecutions", &self.endpoint, "states", e))?;
            listed.extend(page.executions().iter().map(|e| Listed {
                arn: e.execution_arn().to_string(),
                name: e.name().to_string(),
                status: status(e.status()),
                start: time(e.start_date()),
                stop: e.stop_date().map(time),
            }));
            token = page.next_token().map(str::to_string);
            if token.is_none() || listed.len() >= limit {
                break;
            }
        }
        // Newest first, whatever order the service used.
        listed.sort_by_key(|l| std::cmp::Reverse(l.start));
        listed.truncate(limit);
        Ok(listed)
    }

    async fn stop(&self, execution_arn: &str, cause: &str) -> Result<(), CliError> {
        match self
            .sfn
            .stop_execution()
            .execution_arn(execution_arn)
            .error("OperatorStop")
            .cause(cause)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("ExecutionDoesNotExist") => {
                Err(CliError::UnknownExecution(execution_arn.to_string()))
            }
            Err(e) => Err(failed("StopExecution", &self.endpoint, "states", e)),
        }
    }

    async fn definition(&self, state_machine_arn: &str) -> Result<String, CliError> {
        let answer = self
            .sfn
            .describe_state_machine()
            .state_machine_arn(state_machine_arn)
            .send()
            .await
            .map_err(|e| failed("DescribeStateMachine", &self.endpoint, "states", e))?;
        Ok(answer.definition().to_string())
    }
}

impl Stacks for Aws {
    async fn outputs(&self, stack: &str) -> Result<HashMap<String, String>, CliError> {
        let answer = match self
            .cloudformation
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
        {
            Ok(answer) => answer,
            Err(e)
                if code(&e) == Some("ValidationError")
                    && e.as_service_error()
                        .and_then(|s| s.message())
                        .is_some_and(|m| m.contains("does not exist")) =>
            {
                return Err(CliError::UnknownStack(stack.to_string()));
            }
            Err(e) => {
                return Err(failed(
                    "DescribeStacks",
                    &self.endpoint,
                    "cloudformation",
                    e,
                ));
            }
        };
        let found = answer
            .stacks()
            .first()
            .ok_or_else(|| CliError::UnknownStack(stack.to_string()))?;
        Ok(found
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect())
    }
}

impl Schedules for Aws {
    async fn get(&self, name: &str) -> Result<Schedule, CliError> {
        let s = self
            .scheduler
            .get_schedule()
            .name(name)
            .send()
            .await
            .map_err(|e| failed("GetSchedule", &self.endpoint, "scheduler", e))?;
        Ok(Schedule {
            name: s.name().unwrap_or(name).to_string(),
            enabled: s.state() != Some(&ScheduleState::Disabled),
            expression: s.schedule_expression().unwrap_or_default().to_string(),
            time_zone: s.schedule_expression_timezone().map(str::to_string),
        })
    }

    async fn set_enabled(&self, name: &str, enabled: bool) -> Result<Schedule, CliError> {
        // UpdateSchedule replaces the whole schedule: send back what it has.
        let s = self
            .scheduler
            .get_schedule()
            .name(name)
            .send()
            .await
            .map_err(|e| failed("GetSchedule", &self.endpoint, "scheduler", e))?;
        let state = if enabled {
            ScheduleState::Enabled
        } else {
            ScheduleState::Disabled
        };
        self.scheduler
            .update_schedule()
            .name(name)
            .set_group_name(s.group_name().map(str::to_string))
            .set_schedule_expression(s.schedule_expression().map(str::to_string))
            .set_schedule_expression_timezone(s.schedule_expression_timezone().map(str::to_string))
            .set_flexible_time_window(s.flexible_time_window().cloned())
            .set_target(s.target().cloned())
            .set_start_date(s.start_date().cloned())
            .set_end_date(s.end_date().cloned())
            .set_description(s.description().map(str::to_string))
            .set_kms_key_arn(s.kms_key_arn().map(str::to_string))
            .set_action_after_completion(s.action_after_completion().cloned())
            .state(state)
            .send()
            .await
            .map_err(|e| failed("UpdateSchedule", &self.endpoint, "scheduler", e))?;
        self.get(name).await
    }
}

impl Leases for Aws {
    async fn lease(&self, table: &str) -> Result<Option<Lease>, CliError> {
        let answer = self
            .dynamodb
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S("run-lease".to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed("GetItem", &self.endpoint, "dynamodb", e))?;
        let Some(item) = answer.item() else {
            return Ok(None);
        };
        let text = |key: &str| item.get(key).and_then(|v| v.as_s().ok()).cloned();
        Ok(Some(Lease {
            held_by: text("heldBy").unwrap_or_default(),
            execution_arn: text("executionArn").unwrap_or_default(),
            start_time: text("startTime"),
            mode: text("mode"),
        }))
    }
}

impl Resources for Aws {
    async fn db_status(&self, identifier: &str) -> Result<Option<String>, CliError> {
        match self
            .rds
            .describe_db_instances()
            .db_instance_identifier(identifier)
            .send()
            .await
        {
            Ok(answer) => Ok(answer
                .db_instances()
                .first()
                .and_then(|db| db.db_instance_status())
                .map(str::to_string)),
            Err(e) if code(&e) == Some("DBInstanceNotFound") => Ok(None),
            Err(e) => Err(failed("DescribeDBInstances", &self.endpoint, "rds", e)),
        }
    }

    async fn worker_states(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, Option<String>)>, CliError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // A filter, not InstanceIds: an unknown id is then absent, not an error.
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("instance-id")
            .set_values(Some(ids.to_vec()))
            .build();
        let answer = self
            .ec2
            .describe_instances()
            .filters(filter)
            .send()
            .await
            .map_err(|e| failed("DescribeInstances", &self.endpoint, "ec2", e))?;
        let found: HashMap<String, String> = answer
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(|i| {
                Some((
                    i.instance_id()?.to_string(),
                    i.state()?.name()?.as_str().to_string(),
                ))
            })
            .collect();
        Ok(ids
            .iter()
            .map(|id| (id.clone(), found.get(id).cloned()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::ConnectorError;

    type Failure = SdkError<DescribeExecutionError, HttpResponse>;

    fn local() -> Endpoint {
        Endpoint {
            url: Some("http://127.0.0.1:9".into()),
            region: "us-east-1".into(),
        }
    }

    fn message(endpoint: &Endpoint, error: Failure) -> (String, u8) {
        let error = failed("DescribeExecution", endpoint, "states", error);
        (error.one_line(), error.exit_code())
    }

    #[test]
    fn an_endpoint_that_does_not_answer_is_named_on_one_line() {
        let refused = || {
            let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
            Failure::dispatch_failure(ConnectorError::io(Box::new(io)))
        };
        assert_eq!(
            message(&local(), refused()),
            (
                "could not reach http://127.0.0.1:9: connection refused".into(),
                4
            )
        );
        let aws = Endpoint {
            url: None,
            region: "eu-west-1".into(),
        };
        assert_eq!(
            message(&aws, refused()).0,
            "could not reach https://states.eu-west-1.amazonaws.com: connection refused"
        );
        let dns = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        let (text, _) = message(
            &local(),
            Failure::dispatch_failure(ConnectorError::io(Box::new(dns))),
        );
        assert_eq!(
            text,
            "could not reach http://127.0.0.1:9: failed to lookup address information: Name or service not known"
        );
        let (text, _) = message(&local(), Failure::timeout_error("slow"));
        assert_eq!(
            text,
            "could not reach http://127.0.0.1:9: no answer in time"
        );
    }

    #[test]
    fn missing_credentials_are_one_line_whatever_the_chain_tried() {
        let none = CredentialsError::not_loaded("no providers in chain provided credentials");
        let (text, code) = message(
            &local(),
            Failure::dispatch_failure(ConnectorError::other(Box::new(none), None)),
        );
        assert!(
            text.starts_with("no AWS credentials found: set AWS_PROFILE"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "(none in the environment, the AWS config files or the instance metadata)"
            ),
            "{text}"
        );
        assert_eq!(code, 4);
        // The instance metadata refusing (a proxy, a container): its reason, not a dump.
        let imds = CredentialsError::provider_error(std::io::Error::other(
            "request forbidden: IMDS is disabled or the caller has insufficient permissions.",
        ));
        let (text, _) = message(
            &local(),
            Failure::dispatch_failure(ConnectorError::other(Box::new(imds), None)),
        );
        assert!(
            text.ends_with("(loading them failed: request forbidden: IMDS is disabled or the caller has insufficient permissions.)"),
            "{text}"
        );
        assert!(text.chars().count() < 250, "{text}");
    }
}
