//! What the CLI can fail with, each with its exit code and one line for the
//! operator. Never a panic or a backtrace for a user error: `main` prints
//! `error: <message>` and exits with [`CliError::exit_code`].

/// Exit codes (also in `makenaide --help` and docs/operating.md).
pub mod exit {
    /// The job ran and succeeded (a dry run: the dry run succeeded), or the
    /// command did what was asked.
    pub const OK: u8 = 0;
    /// The run failed, timed out or was aborted.
    pub const RUN_FAILED: u8 = 1;
    /// Usage error (clap's own code).
    pub const USAGE: u8 = 2;
    /// The run was skipped: another run holds the lease.
    pub const SKIPPED: u8 = 3;
    /// The CLI could not do it: no credentials, unknown stack or execution,
    /// an AWS error.
    pub const CLI_FAILED: u8 = 4;
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(
        "no AWS credentials found: set AWS_PROFILE (or --profile), run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY ({0})"
    )]
    NoCredentials(String),
    #[error("no AWS region: set AWS_REGION, --region, or a region in the profile")]
    NoRegion,
    #[error(
        "stack {0} not found in this account and region: give --stack (or MAKENAIDE_STACK), --region, or --state-machine-arn"
    )]
    UnknownStack(String),
    #[error("stack {stack} has no output {output}: {why}")]
    MissingOutput {
        stack: String,
        output: &'static str,
        why: &'static str,
    },
    #[error("no execution {0} of this state machine")]
    UnknownExecution(String),
    /// The endpoint did not answer (refused, timed out, no route, TLS).
    #[error("could not reach {endpoint}: {why}")]
    Unreachable { endpoint: String, why: String },
    #[error("AWS {operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Invalid(_) => exit::USAGE,
            _ => exit::CLI_FAILED,
        }
    }

    /// The message as `main` prints it: one line, whatever a service sent.
    pub fn one_line(&self) -> String {
        one_line(&self.to_string(), 400)
    }
}

/// `text` on one line (runs of whitespace, newlines included, become one
/// space), at most `max` characters (`...` when cut).
pub fn one_line(text: &str, max: usize) -> String {
    crate::render::cut(&text.split_whitespace().collect::<Vec<_>>().join(" "), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_one_line() {
        let error = CliError::Aws {
            operation: "DescribeStacks",
            message: "Throttling:\n  Rate exceeded\n".to_string(),
        };
        assert_eq!(
            error.one_line(),
            "AWS DescribeStacks failed: Throttling: Rate exceeded"
        );
        let long = CliError::Invalid("x ".repeat(500));
        assert_eq!(long.one_line().chars().count(), 400);
        assert!(long.one_line().ends_with("..."));
    }
}
