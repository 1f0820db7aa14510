//! RDS adapter: describe, start and stop the DB instance.

use aws_sdk_rds::Client;

use crate::error::{AwsError, ErrorName, StepError};
use crate::ports::{Operation, RdsInstance, RdsPort, Transition};

const NOT_FOUND: &[&str] = &["DBInstanceNotFound", "DBInstanceNotFoundFault"];
const INVALID_STATE: &[&str] = &["InvalidDBInstanceState", "InvalidDBInstanceStateFault"];

#[derive(Clone, Debug)]
pub struct Rds {
    client: Client,
}

impl Rds {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The adapter a function's `main` builds once.
    pub fn from_config(config: &aws_types::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }
}

impl RdsPort for Rds {
    async fn describe_db(&self, identifier: &str) -> Result<Option<RdsInstance>, StepError> {
        let op = Operation::DescribeDbInstances.action();
        let output = match self
            .client
            .describe_db_instances()
            .db_instance_identifier(identifier)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) => {
                let error = AwsError::from_sdk(op, &e);
                if error.has_any_code(NOT_FOUND) {
                    return Ok(None);
                }
                return Err(error.into_step_error());
            }
        };
        Ok(output
            .db_instances()
            .iter()
            .find(|db| db.db_instance_identifier() == Some(identifier))
            .map(|db| RdsInstance {
                identifier: identifier.to_string(),
                status: db.db_instance_status().unwrap_or_default().to_string(),
                class: db.db_instance_class().map(str::to_string),
                multi_az: db.multi_az().unwrap_or(false),
            }))
    }

    async fn start_db(&self, identifier: &str) -> Result<Transition, StepError> {
        let result = self
            .client
            .start_db_instance()
            .db_instance_identifier(identifier)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk(Operation::StartDbInstance.action(), &e));
        transition(identifier, result)
    }

    async fn stop_db(&self, identifier: &str) -> Result<Transition, StepError> {
        let result = self
            .client
            .stop_db_instance()
            .db_instance_identifier(identifier)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk(Operation::StopDbInstance.action(), &e));
        transition(identifier, result)
    }
}

fn transition(identifier: &str, result: Result<(), AwsError>) -> Result<Transition, StepError> {
    match result {
        Ok(()) => Ok(Transition::Accepted),
        Err(error) if error.has_any_code(INVALID_STATE) => Ok(Transition::Refused),
        Err(error) if error.has_any_code(NOT_FOUND) => Err(StepError::new(
            ErrorName::RdsInstanceNotFound,
            format!("DB instance {identifier} not found ({})", error.operation),
        )),
        Err(error) => Err(error.into_step_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::wire::{assert_mapped, query_error};
    use crate::mock_sdk_client;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::operation::start_db_instance::StartDbInstanceOutput;
    use aws_sdk_rds::operation::stop_db_instance::StopDbInstanceOutput;
    use aws_sdk_rds::types::DbInstance;
    use aws_smithy_mocks::{Rule, mock};

    const DB: &str = "makenaide-db";

    fn rds(rules: &[&Rule]) -> Rds {
        Rds::new(mock_sdk_client!(aws_sdk_rds, rules))
    }

    fn db_output(status: &str) -> DescribeDbInstancesOutput {
        DescribeDbInstancesOutput::builder()
            .db_instances(
                DbInstance::builder()
                    .db_instance_identifier(DB)
                    .db_instance_status(status)
                    .db_instance_class("db.t3.micro")
                    .multi_az(true)
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn describe_reads_status_class_and_multi_az_of_the_asked_db() {
        let describe = mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some(DB))
            .then_output(|| db_output("backing-up"));
        let db = rds(&[&describe]).describe_db(DB).await.unwrap().unwrap();
        assert_eq!(
            db,
            RdsInstance {
                identifier: DB.into(),
                status: "backing-up".into(),
                class: Some("db.t3.micro".into()),
                multi_az: true,
            }
        );
        assert_eq!(describe.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_missing_db_is_none_on_describe_and_not_found_on_start_and_stop() {
        let missing = || {
            query_error(
                404,
                "DBInstanceNotFound",
                "DBInstance makenaide-db not found.",
            )
        };
        let describe = mock!(Client::describe_db_instances).then_http_response(missing);
        let start = mock!(Client::start_db_instance).then_http_response(missing);
        let stop = mock!(Client::stop_db_instance).then_http_response(missing);
        let adapter = rds(&[&describe, &start, &stop]);
        assert_eq!(adapter.describe_db(DB).await.unwrap(), None);
        for error in [
            adapter.start_db(DB).await.unwrap_err(),
            adapter.stop_db(DB).await.unwrap_err(),
        ] {
            assert_eq!(error.name, ErrorName::RdsInstanceNotFound);
            assert!(error.message.contains(DB), "{}", error.message);
        }
    }

    #[tokio::test]
    async fn start_and_stop_send_the_identifier_and_map_invalid_state_to_refused() {
        let start = mock!(Client::start_db_instance)
            .match_requests(|r| r.db_instance_identifier() == Some(DB))
            .then_output(|| StartDbInstanceOutput::builder().build());
        let stop = mock!(Client::stop_db_instance)
            .match_requests(|r| r.db_instance_identifier() == Some(DB))
            .then_http_response(|| {
                query_error(400, "InvalidDBInstanceState", "Instance is backing-up")
            });
        let adapter = rds(&[&start, &stop]);
        assert_eq!(adapter.start_db(DB).await.unwrap(), Transition::Accepted);
        assert_eq!(adapter.stop_db(DB).await.unwrap(), Transition::Refused);
        let stop =
            mock!(Client::stop_db_instance).then_output(|| StopDbInstanceOutput::builder().build());
        assert_eq!(
            rds(&[&stop]).stop_db(DB).await.unwrap(),
            Transition::Accepted
        );
    }

    /// The generic classes, once for this service's wire format (awsQuery).
    #[tokio::test]
    async fn service_errors_map_to_stable_names() {
        let cases = [
            (400, "Throttling", ErrorName::AwsThrottled),
            (500, "InternalFailure", ErrorName::AwsServiceUnavailable),
            (403, "AccessDenied", ErrorName::AccessDenied),
            (400, "InvalidParameterValue", ErrorName::AwsRequestFailed),
            (400, "SomethingNew", ErrorName::AwsRequestFailed),
        ];
        for (status, code, expected) in cases {
            let describe = mock!(Client::describe_db_instances)
                .then_http_response(move || query_error(status, code, "message"));
            let error = rds(&[&describe]).describe_db(DB).await.unwrap_err();
            assert_mapped(&error, expected, "rds:DescribeDBInstances", code);
        }
    }

    #[tokio::test]
    async fn throttling_is_retried_by_the_sdk_then_succeeds() {
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .http_response(|| query_error(400, "Throttling", "Rate exceeded"))
            .times(2)
            .output(|| db_output("available"))
            .build();
        let db = rds(&[&describe]).describe_db(DB).await.unwrap().unwrap();
        assert_eq!(db.status, "available");
        assert_eq!(describe.num_calls(), 3);
    }

    #[tokio::test]
    async fn persistent_throttling_gives_up_after_three_attempts() {
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .http_response(|| query_error(400, "Throttling", "Rate exceeded"))
            .repeatedly()
            .build();
        let error = rds(&[&describe]).describe_db(DB).await.unwrap_err();
        assert_eq!(error.name, ErrorName::AwsThrottled);
        assert_eq!(describe.num_calls(), 3);
    }
}
