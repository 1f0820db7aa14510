//! `poll_ec2_state`: report whether the batch job is over.

mod handler;

use makenaide_core::aws::ec2::Ec2;
use makenaide_core::aws::ssm::Ssm;
use makenaide_core::config::Env;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    makenaide_core::runtime::init_logging();
    let config = makenaide_core::aws::sdk_config().await;
    let aws = handler::Aws {
        ec2: Ec2::new(aws_sdk_ec2::Client::new(&config)),
        ssm: Ssm::new(aws_sdk_ssm::Client::new(&config)),
    };
    let settings = handler::Settings::from_env(&Env::process());
    makenaide_core::runtime::serve(aws, settings, handler::handle).await
}
