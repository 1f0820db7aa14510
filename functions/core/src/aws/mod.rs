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

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;

use crate::config::Env;
use crate::error::StepError;
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

/// Builds the SDK configuration once per Lambda instance from what Lambda
/// puts in every function's environment, read directly rather than through
/// `aws-config`'s default chains (docs/performance.md):
///
/// - the role's credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
///   `AWS_SESSION_TOKEN`;
/// - the region: `AWS_REGION`;
/// - `AWS_ENDPOINT_URL` when set (Lambda does not set it; the local sandbox
///   points the same binaries at loopback with it).
///
/// Nothing else is read: no shared config or credentials files, no instance
/// or container metadata. A missing variable is a `ConfigError` naming it,
/// which [`crate::runtime::serve`] returns on every invocation.
///
/// Every call is bounded by [`CALL_BUDGET`], so a step's calls fit its
/// Lambda timeout (a step that runs out of it dies as `Sandbox.Timedout`,
/// with no stable name); the SDK retries a throttle quickly and the state
/// machine owns longer backoff.
///
/// HTTPS is rustls with the *ring* crypto provider (smaller than aws-lc),
/// trusting the platform's root certificates: unless `SSL_CERT_FILE` or
/// `SSL_CERT_DIR` chooses, only the one bundle file the platform search finds
/// first is read, not again every file of the certificate directories.
pub fn sdk_config(env: &Env) -> Result<SdkConfig, StepError> {
    let lambda = LambdaEnvironment::from_env(env)?;
    if let Some(bundle) = &lambda.trust_bundle {
        // SAFETY: nothing else runs yet: every `main` calls this on its
        // current-thread runtime before the SDK or the Lambda loop start, so
        // no other thread can read the environment meanwhile.
        unsafe { std::env::set_var("SSL_CERT_FILE", bundle) };
    }
    Ok(lambda.sdk_config(https_client()))
}

/// The SDK's HTTPS client (what its `default-https-client` feature builds)
/// with the ring provider in place of aws-lc.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// What [`sdk_config`] takes from the environment.
#[derive(Debug, PartialEq)]
struct LambdaEnvironment {
    region: String,
    /// Its `Debug` hides the secret key and the token.
    credentials: Credentials,
    endpoint_url: Option<String>,
    trust_bundle: Option<std::path::PathBuf>,
}

impl LambdaEnvironment {
    fn from_env(env: &Env) -> Result<Self, StepError> {
        let set = |name: &str| env.get(name);
        let required = |name: &str| {
            set(name).ok_or_else(|| {
                StepError::config(
                    name,
                    "is not set: the functions take the region and the role's credentials \
                     from the variables Lambda sets",
                )
            })
        };
        let chosen_roots = set("SSL_CERT_FILE").is_some() || set("SSL_CERT_DIR").is_some();
        Ok(Self {
            region: required("AWS_REGION")?,
            credentials: Credentials::new(
                required("AWS_ACCESS_KEY_ID")?,
                required("AWS_SECRET_ACCESS_KEY")?,
                set("AWS_SESSION_TOKEN"),
                None,
                "LambdaEnvironment",
            ),
            endpoint_url: set("AWS_ENDPOINT_URL"),
            trust_bundle: if chosen_roots {
                None
            } else {
                openssl_probe::probe().cert_file
            },
        })
    }

    fn sdk_config(self, http_client: SharedHttpClient) -> SdkConfig {
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region))
            .credentials_provider(SharedCredentialsProvider::new(self.credentials))
            .http_client(http_client)
            .retry_config(RetryConfig::standard().with_max_attempts(CALL_BUDGET.max_attempts))
            .timeout_config(timeouts(&CALL_BUDGET));
        if let Some(url) = self.endpoint_url {
            builder = builder.endpoint_url(url);
        }
        builder.build()
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
mod lambda_environment_tests {
    use super::*;

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_LAMBDA_FUNCTION_NAME", "rds_check"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
        ("AWS_REGION", "ap-northeast-2"),
        ("SSL_CERT_FILE", "/etc/pki/tls/certs/ca-bundle.crt"),
    ];

    /// LAMBDA with `changes` applied; an empty value removes the variable.
    fn read(changes: &[(&'static str, &'static str)]) -> Result<LambdaEnvironment, StepError> {
        let mut vars = LAMBDA.to_vec();
        vars.retain(|(k, _)| !changes.iter().any(|(c, _)| c == k));
        vars.extend(changes.iter().filter(|(_, v)| !v.is_empty()));
        LambdaEnvironment::from_env(&Env::from_pairs(&vars))
    }

    #[test]
    fn region_credentials_and_endpoint_come_from_the_environment() {
        let got = read(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")]).unwrap();
        assert_eq!(got.region, "ap-northeast-2");
        assert_eq!(got.credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(got.credentials.secret_access_key(), "secret");
        assert_eq!(got.credentials.session_token(), Some("token"));
        assert_eq!(got.endpoint_url.as_deref(), Some("http://127.0.0.1:4566"));
        assert_eq!(
            got.trust_bundle, None,
            "SSL_CERT_FILE already chooses the roots"
        );

        let config = got.sdk_config(https_client());
        assert_eq!(config.region().map(|r| r.as_ref()), Some("ap-northeast-2"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert!(config.credentials_provider().is_some());
    }

    #[test]
    fn without_a_session_token_or_an_endpoint_the_defaults_stay() {
        let got = read(&[("AWS_SESSION_TOKEN", "")]).unwrap();
        assert_eq!(got.credentials.session_token(), None);
        assert_eq!(got.endpoint_url, None);
        assert_eq!(got.sdk_config(https_client()).endpoint_url(), None);
    }

    #[test]
    fn a_missing_region_or_key_is_a_config_error_naming_it() {
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let error = read(&[(missing, "")]).unwrap_err();
            assert_eq!(
                error.name,
                crate::error::ErrorName::ConfigError,
                "{missing}"
            );
            assert!(
                error.message.contains(missing),
                "{missing}: {}",
                error.message
            );
        }
    }

    #[test]
    fn the_debug_form_hides_the_secret_and_the_token() {
        let shown = format!("{:?}", read(&[]).unwrap());
        assert!(shown.contains("AKIDEXAMPLE"), "{shown}");
        assert!(!shown.contains("secret\""), "{shown}");
        assert!(!shown.contains("token\""), "{shown}");
    }

    #[test]
    fn without_chosen_roots_the_bundle_the_platform_search_finds_first_is_used() {
        let got = read(&[("SSL_CERT_FILE", "")]).unwrap();
        assert_eq!(got.trust_bundle, openssl_probe::probe().cert_file);
        let dir_chosen =
            read(&[("SSL_CERT_FILE", ""), ("SSL_CERT_DIR", "/etc/ssl/certs")]).unwrap();
        assert_eq!(dir_chosen.trust_bundle, None);
    }

    #[test]
    fn the_sdk_config_applies_the_call_budget() {
        let config = read(&[]).unwrap().sdk_config(https_client());
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
