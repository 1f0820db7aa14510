//! `ec2_start`: make sure every worker is running with its SSM agent online.

mod handler;

use makenaide_core::config::Env;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    makenaide_core::runtime::init_logging();
    let env = Env::process();
    let aws = makenaide_core::aws::sdk_config(&env).map(|config| handler::Aws::new(&config));
    let settings = handler::Settings::from_env(&env);
    makenaide_core::runtime::serve(aws, settings, handler::handle).await
}
