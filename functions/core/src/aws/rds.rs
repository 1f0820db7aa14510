//! RDS: describe, start and stop the DB instance.

use aws_sdk_rds::Client;

use crate::error::{AwsError, ErrorName, StepError};

#[derive(Debug, Clone, PartialEq)]
pub struct DbView {
    pub identifier: String,
    pub status: String,
    pub instance_class: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionResult {
    Accepted,
    /// `InvalidDBInstanceState`: the DB is not in a state that allows it now.
    Refused,
}

#[derive(Clone, Debug)]
pub struct Rds {
    client: Client,
}

impl Rds {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// `None` when there is no such DB instance.
    pub async fn describe(&self, identifier: &str) -> Result<Option<DbView>, StepError> {
        const OP: &str = "rds:DescribeDBInstances";
        let output = match self
            .client
            .describe_db_instances()
            .db_instance_identifier(identifier)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) => {
                let error = AwsError::from_sdk(OP, &e);
                if error.has_code("DBInstanceNotFound") || error.has_code("DBInstanceNotFoundFault")
                {
                    return Ok(None);
                }
                return Err(error.into_step_error());
            }
        };
        Ok(output
            .db_instances()
            .iter()
            .find(|db| db.db_instance_identifier() == Some(identifier))
            .map(|db| DbView {
                identifier: identifier.to_string(),
                status: db.db_instance_status().unwrap_or_default().to_string(),
                instance_class: db.db_instance_class().map(str::to_string),
            }))
    }

    pub async fn start(&self, identifier: &str) -> Result<TransitionResult, StepError> {
        let result = self
            .client
            .start_db_instance()
            .db_instance_identifier(identifier)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("rds:StartDBInstance", &e));
        transition(identifier, result)
    }

    pub async fn stop(&self, identifier: &str) -> Result<TransitionResult, StepError> {
        let result = self
            .client
            .stop_db_instance()
            .db_instance_identifier(identifier)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("rds:StopDBInstance", &e));
        transition(identifier, result)
    }
}

fn transition(
    identifier: &str,
    result: Result<(), AwsError>,
) -> Result<TransitionResult, StepError> {
    match result {
        Ok(()) => Ok(TransitionResult::Accepted),
        Err(error) => match error.code.as_deref() {
            Some("InvalidDBInstanceState" | "InvalidDBInstanceStateFault") => {
                Ok(TransitionResult::Refused)
            }
            Some("DBInstanceNotFound" | "DBInstanceNotFoundFault") => Err(StepError::new(
                ErrorName::RdsInstanceNotFound,
                format!("DB instance {identifier} not found ({})", error.operation),
            )),
            _ => Err(error.into_step_error()),
        },
    }
}
