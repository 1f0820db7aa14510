//! `rds_stop`: stop the DB instance at the end of a run or in cleanup.

mod handler;

use makenaide_core::aws::rds::Rds;
use makenaide_core::config::Env;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    makenaide_core::runtime::init_logging();
    let env = Env::process();
    let rds = makenaide_core::aws::sdk_config(&env).map(|config| Rds::from_config(&config));
    let settings = handler::Settings::from_env(&env);
    makenaide_core::runtime::serve(rds, settings, handler::handle).await
}
