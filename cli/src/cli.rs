//! The command line (clap, derive).

use clap::{Args, Parser, Subcommand};

/// The stack name the CDK app deploys by default (cdk/config.json `stackName`).
pub const DEFAULT_STACK: &str = "MakenaideOrchestrator";

const EXIT_CODES: &str = "\
Exit codes:
  0  the job ran and succeeded (with --dry-run: the dry run succeeded), or the command did what
     was asked
  1  the run failed, timed out or was aborted
  2  usage error (also: an --input the workflow would refuse; `stop` with several runs running)
  3  the run was skipped, or not started: another run holds the lease
  4  the CLI could not do it: no credentials or region, unreachable endpoint, unknown stack or
     execution, an AWS error (one line on stderr)

AWS settings: the standard ones (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, SSO and
credential_process profiles, ...), or --profile and --region.";

/// Start, follow, stop and explain makenaide-orchestrator runs; pause and
/// resume the schedule.
#[derive(Debug, Parser)]
#[command(name = "makenaide", version, after_help = EXIT_CODES, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Target {
    /// The CloudFormation stack whose outputs name the state machine, the
    /// schedule and the lease table.
    #[arg(long, global = true, env = "MAKENAIDE_STACK", default_value = DEFAULT_STACK)]
    pub stack: String,
    /// Use this state machine (or alias) ARN without reading the stack: give the alias
    /// (`...:live`), a plain state machine ARN bypasses the rollout. Without the stack, `run`
    /// checks no lease and no deployed bound before it starts.
    #[arg(long, global = true, env = "MAKENAIDE_STATE_MACHINE_ARN")]
    pub state_machine_arn: Option<String>,
    /// The AWS profile (default: AWS_PROFILE, else the default profile).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// The AWS region (default: AWS_REGION, else the profile's).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Seconds between two reads of a followed execution's history.
    #[arg(
        long,
        global = true,
        env = "MAKENAIDE_POLL_SECONDS",
        default_value_t = 1.0,
        hide = true
    )]
    pub poll_interval: f64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a run (on the live alias when the stack has one).
    ///
    /// The input is checked first as the workflow checks it (fields dryRun and
    /// jobTimeoutSeconds, the deployed bound from the stack): a refused input
    /// starts nothing (exit 2). Nor does a run while another holds the run
    /// lease (exit 3). Without --follow it waits for the run to take the lease
    /// (a few seconds) and exits 3 when the run was skipped.
    Run {
        /// Execution input (JSON): dryRun (true or false) and jobTimeoutSeconds
        /// (60 to the stack's JobTimeoutMaxSeconds), e.g. '{"jobTimeoutSeconds": 5400}'.
        #[arg(long, default_value = "{}")]
        input: String,
        /// The execution's name (default: one Step Functions makes).
        #[arg(long)]
        name: Option<String>,
        /// The workflow's dry run: looks at everything, starts nothing ("dryRun": true).
        #[arg(long)]
        dry_run: bool,
        /// Show each step as it happens and end with the outcome; the exit code is the run's.
        #[arg(long)]
        follow: bool,
    },
    /// Follow a run already going (or show how one went); the exit code is the run's.
    Follow {
        /// The execution's name or ARN.
        execution: String,
    },
    /// Stop a run (the kill switch) and follow its cleanup until every stop is accepted.
    ///
    /// Without a name it stops the one run running (never a cleanup run or a
    /// sweep); none: says so (exit 0); several: lists them (exit 2).
    Stop {
        /// The execution's name or ARN (default: the one run running).
        execution: Option<String>,
        /// Seconds to wait for the cleanup run the stop starts.
        #[arg(long, default_value_t = 180)]
        wait: u64,
    },
    /// Disable the schedule: no scheduled run starts until `resume`.
    Pause,
    /// Enable the schedule again and show its next run time.
    Resume,
    /// Any running execution, the latest ended one and the latest run (each with its kind), the
    /// lease, and what runs now (DB and workers).
    Status,
    /// Recent executions: start, duration, kind, outcome or error, job seconds, cost, whole name.
    History {
        /// How many executions (newest first), 1 to 10000.
        #[arg(long, default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
        limit: usize,
        /// JSON instead of the table (an array of runs; docs/operating.md).
        #[arg(long)]
        json: bool,
    },
    /// What a month saved against running the DB and workers all the time.
    ///
    /// Counted from the month's start, or from the first priced run when there
    /// was none before the month, to now or the month's end: the always-on
    /// rate the runs published times the hours, minus what the runs cost.
    Savings {
        /// The month, YYYY-MM (UTC; default: this month, up to now).
        #[arg(long)]
        month: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Why a run failed: the error, its meaning, the cause, what the cleanup did and what runs.
    Why {
        /// The execution's name or ARN.
        execution: String,
    },
}
