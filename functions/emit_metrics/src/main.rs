//! `emit_metrics`: publish the run's outcome, durations and cost.

mod handler;
mod notification;

use makenaide_core::aws::cloudwatch::CloudWatch;
use makenaide_core::config::Env;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    makenaide_core::runtime::init_logging();
    let env = Env::process();
    let cloudwatch =
        makenaide_core::aws::sdk_config(&env).map(|config| CloudWatch::from_config(&config));
    let settings = handler::Settings::from_env(&env);
    makenaide_core::runtime::serve(cloudwatch, settings, handler::handle).await
}
