//! AWS adapters: one shared SDK configuration and one adapter per service,
//! each implementing its port from [`crate::ports`]. Adapters alone know
//! the SDK: they return the project's types and [`StepError`]s with stable
//! names, keeping the service error code in the message.
//!
//! [`StepError`]: crate::error::StepError

#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;
#[cfg(feature = "ec2")]
pub mod ec2;
#[cfg(feature = "rds")]
pub mod rds;
#[cfg(feature = "ssm")]
pub mod ssm;
#[cfg(test)]
pub(crate) mod wire;

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::settings::{CALL_BUDGET, CallBudget};

/// The AWS services the worker steps (`ec2_start`, `poll_ec2_state`) call.
#[cfg(all(feature = "ec2", feature = "ssm"))]
pub struct WorkerAws {
    pub ec2: ec2::Ec2,
    pub ssm: ssm::Ssm,
}

#[cfg(all(feature = "ec2", feature = "ssm"))]
impl WorkerAws {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            ec2: ec2::Ec2::from_config(config),
            ssm: ssm::Ssm::from_config(config),
        }
    }
}

#[cfg(all(feature = "ec2", feature = "ssm"))]
mod worker_ports {
    use std::collections::HashMap;

    use super::WorkerAws;
    use crate::error::StepError;
    use crate::ports::{
        Command, CommandInvocation, Ec2Instance, Ec2Port, JobCommand, SsmPort, StartResult,
        Transition,
    };
    use crate::timestamp::Timestamp;

    impl Ec2Port for WorkerAws {
        async fn describe_instances(&self, ids: &[String]) -> Result<Vec<Ec2Instance>, StepError> {
            self.ec2.describe_instances(ids).await
        }

        async fn start_instances(
            &self,
            ids: &[String],
            dry_run: bool,
        ) -> Result<StartResult, StepError> {
            self.ec2.start_instances(ids, dry_run).await
        }

        async fn stop_instance(&self, id: &str) -> Result<Transition, StepError> {
            self.ec2.stop_instance(id).await
        }
    }

    impl SsmPort for WorkerAws {
        async fn ping_statuses(
            &self,
            ids: &[String],
        ) -> Result<HashMap<String, String>, StepError> {
            self.ssm.ping_statuses(ids).await
        }

        async fn find_command(
            &self,
            document_name: &str,
            comment: &str,
            invoked_after: Timestamp,
        ) -> Result<Option<Command>, StepError> {
            self.ssm
                .find_command(document_name, comment, invoked_after)
                .await
        }

        async fn send_command(&self, command: &JobCommand) -> Result<Command, StepError> {
            self.ssm.send_command(command).await
        }

        async fn command_invocation(
            &self,
            command_id: &str,
            instance_id: &str,
        ) -> Result<CommandInvocation, StepError> {
            self.ssm.command_invocation(command_id, instance_id).await
        }
    }
}

/// Builds the SDK configuration once per Lambda instance. It honours the
/// standard variables (`AWS_REGION`, `AWS_ENDPOINT_URL`, ...), which is how
/// the local sandbox points the same binaries at loopback. Every call is
/// bounded by [`CALL_BUDGET`], so a step's calls fit its Lambda timeout
/// (a step that runs out of it dies as `Sandbox.Timedout`, with no stable
/// name); the SDK retries a throttle quickly and the state machine owns
/// longer backoff.
///
/// HTTPS is rustls with the *ring* crypto provider (smaller than aws-lc,
/// see README "Cold start and size"), trusting the platform's root
/// certificates. In a Lambda execution environment the start takes what
/// Lambda hands the function instead of searching for it
/// ([`LambdaStart`]); anywhere else the default chains apply unchanged.
pub async fn sdk_config() -> SdkConfig {
    let start = LambdaStart::from_env(&|name| std::env::var(name).ok());
    if let Some(bundle) = &start.trust_bundle {
        // SAFETY: nothing else runs yet: every `main` calls this on its
        // current-thread runtime before the SDK or the Lambda loop start, so
        // no other thread can read the environment meanwhile.
        unsafe { std::env::set_var("SSL_CERT_FILE", bundle) };
    }
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(RetryConfig::standard().with_max_attempts(CALL_BUDGET.max_attempts))
        .timeout_config(timeouts(&CALL_BUDGET));
    start.apply(loader).load().await
}

/// The SDK's HTTPS client (what its `default-https-client` feature builds)
/// with the ring provider in place of aws-lc.
fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// What a Lambda execution environment (`AWS_LAMBDA_FUNCTION_NAME` is set)
/// already provides, taken directly instead of through the default chains:
///
/// - the role's credentials are in `AWS_ACCESS_KEY_ID`,
///   `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, the first place the
///   default chain looks: the rest of the chain (profiles, web identity,
///   container and instance metadata providers) is not built;
/// - the region is `AWS_REGION`;
/// - there are no shared config files (`HOME` is not set): none is read
///   unless `AWS_PROFILE`, `AWS_CONFIG_FILE` or `AWS_SHARED_CREDENTIALS_FILE`
///   names one;
/// - the root certificates are read from the one system bundle file that
///   would be read first anyway, not again from each file of the
///   certificate directories (unless `SSL_CERT_FILE` or `SSL_CERT_DIR`
///   chooses).
///
/// Anything missing keeps the default behaviour for that part.
#[derive(Debug, Default, PartialEq, Eq)]
struct LambdaStart {
    env_credentials: bool,
    region: Option<String>,
    no_profile_files: bool,
    trust_bundle: Option<std::path::PathBuf>,
}

impl LambdaStart {
    fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| var(name).is_some_and(|value| !value.is_empty());
        if !set("AWS_LAMBDA_FUNCTION_NAME") {
            return Self::default();
        }
        let chosen_roots = set("SSL_CERT_FILE") || set("SSL_CERT_DIR");
        Self {
            env_credentials: set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY"),
            region: var("AWS_REGION").filter(|region| !region.is_empty()),
            no_profile_files: ![
                "AWS_PROFILE",
                "AWS_CONFIG_FILE",
                "AWS_SHARED_CREDENTIALS_FILE",
            ]
            .into_iter()
            .any(set),
            trust_bundle: if chosen_roots {
                None
            } else {
                openssl_probe::probe().cert_file
            },
        }
    }

    fn apply(&self, mut loader: ConfigLoader) -> ConfigLoader {
        if self.env_credentials {
            loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if self.no_profile_files {
            loader = loader.profile_files(
                EnvConfigFiles::builder()
                    .include_default_config_file(false)
                    .include_default_credentials_file(false)
                    .with_contents(EnvConfigFileKind::Config, "")
                    .build(),
            );
        }
        loader
    }
}

fn timeouts(budget: &CallBudget) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(budget.connect_seconds))
        .operation_attempt_timeout(Duration::from_secs(budget.attempt_seconds))
        .operation_timeout(Duration::from_secs(budget.operation_seconds))
        .build()
}

#[cfg(test)]
mod lambda_start_tests {
    use std::collections::HashMap;

    use super::LambdaStart;

    fn start(vars: &[(&str, &str)]) -> LambdaStart {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LambdaStart::from_env(&|name| vars.get(name).cloned())
    }

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_LAMBDA_FUNCTION_NAME", "rds_check"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
        ("AWS_REGION", "ap-northeast-2"),
        ("SSL_CERT_FILE", "/etc/pki/tls/certs/ca-bundle.crt"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars = LAMBDA.to_vec();
        vars.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        vars.extend(extra.iter().filter(|(_, v)| !v.is_empty()));
        vars
    }

    #[test]
    fn outside_lambda_every_default_chain_stays() {
        assert_eq!(
            start(&with(&[("AWS_LAMBDA_FUNCTION_NAME", "")])),
            LambdaStart::default()
        );
    }

    #[test]
    fn in_lambda_credentials_region_and_no_profile_files_come_from_the_environment() {
        let got = start(LAMBDA);
        assert!(got.env_credentials);
        assert_eq!(got.region.as_deref(), Some("ap-northeast-2"));
        assert!(got.no_profile_files);
        assert_eq!(
            got.trust_bundle, None,
            "SSL_CERT_FILE already chooses the roots"
        );
    }

    #[test]
    fn in_lambda_what_is_missing_or_named_keeps_its_default() {
        assert!(!start(&with(&[("AWS_SECRET_ACCESS_KEY", "")])).env_credentials);
        assert_eq!(start(&with(&[("AWS_REGION", "")])).region, None);
        for named in [
            "AWS_PROFILE",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
        ] {
            assert!(
                !start(&with(&[(named, "/var/task/aws-config")])).no_profile_files,
                "{named}"
            );
        }
        let dir_chosen = start(&with(&[
            ("SSL_CERT_FILE", ""),
            ("SSL_CERT_DIR", "/etc/ssl/certs"),
        ]));
        assert_eq!(dir_chosen.trust_bundle, None);
    }

    #[test]
    fn in_lambda_the_roots_come_from_the_bundle_the_platform_search_finds_first() {
        let got = start(&with(&[("SSL_CERT_FILE", "")]));
        assert_eq!(got.trust_bundle, openssl_probe::probe().cert_file);
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[tokio::test]
    async fn the_sdk_config_applies_the_call_budget() {
        let config = sdk_config().await;
        let timeouts = config.timeout_config().expect("timeouts are set");
        assert_eq!(
            timeouts.connect_timeout(),
            Some(Duration::from_secs(CALL_BUDGET.connect_seconds))
        );
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_secs(CALL_BUDGET.attempt_seconds))
        );
        assert_eq!(
            timeouts.operation_timeout(),
            Some(Duration::from_secs(CALL_BUDGET.operation_seconds))
        );
        let retries = config.retry_config().expect("retries are set");
        assert_eq!(retries.max_attempts(), CALL_BUDGET.max_attempts);
    }
}
