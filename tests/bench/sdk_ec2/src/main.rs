//! Cold-start baseline for `make bench`: the usual Rust Lambda that calls
//! EC2. It loads aws-config's default chain, builds an `aws-sdk-ec2` client
//! and calls `DescribeInstances` once per event, answering with the number
//! of reservations.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let ec2 = &ec2;
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| async move {
        let out = ec2.describe_instances().send().await?;
        Ok::<Value, Error>(json!({ "reservations": out.reservations().len() }))
    }))
    .await
}
