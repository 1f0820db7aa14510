//! `ssm_launch`: send the batch job to the workers once per execution.

mod handler;

use makenaide_core::aws::ssm::Ssm;
use makenaide_core::config::Env;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    makenaide_core::runtime::init_logging();
    let env = Env::process();
    let ssm = makenaide_core::aws::sdk_config(&env).map(|config| Ssm::from_config(&config));
    let settings = handler::Settings::from_env(&env);
    makenaide_core::runtime::serve(ssm, settings, handler::handle).await
}
