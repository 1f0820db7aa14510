//! `makenaide`, the operators' CLI of makenaide-orchestrator: start, follow,
//! stop and explain runs; pause and resume the schedule; history and
//! savings. Pure decisions and rendering (`history`, `render`, `schedule`)
//! are tested on recorded execution histories (`tests/fixtures`); the
//! commands reach AWS only through the ports (`ports`, `aws`).

pub mod aws;
pub mod cli;
pub mod commands;
pub mod error;
pub mod follow;
pub mod history;
pub mod ports;
pub mod render;
pub mod schedule;

use std::time::Duration;

use crate::cli::{Cli, Command};
use crate::error::{CliError, exit};

/// Runs one command; its exit code.
pub async fn main(cli: Cli) -> Result<u8, CliError> {
    let t = &cli.target;
    let config = aws::sdk_config(t.profile.as_deref(), t.region.as_deref()).await?;
    let aws = aws::Aws::new(&config);
    let target = commands::resolve(&aws, &t.stack, t.state_machine_arn.as_deref()).await?;
    let poll = Duration::from_secs_f64(t.poll_interval.clamp(0.05, 60.0));
    let print = |lines: Vec<String>| {
        for line in lines {
            println!("{line}");
        }
    };
    match cli.command {
        Command::Run {
            input,
            name,
            dry_run,
            follow,
        } => {
            let mut view = follow::view();
            commands::run(
                &aws,
                &target,
                &input,
                name.as_deref(),
                dry_run,
                follow,
                poll,
                view.as_mut(),
            )
            .await
        }
        Command::Follow { execution } => {
            let mut view = follow::view();
            commands::follow_execution(&aws, &target, &execution, poll, view.as_mut()).await
        }
        Command::Stop { execution, wait } => {
            let mut view = follow::view();
            commands::stop(
                &aws,
                &target,
                execution.as_deref(),
                wait,
                poll,
                view.as_mut(),
            )
            .await
        }
        Command::Pause => {
            print(commands::pause_resume(&aws, &target, false).await?);
            Ok(exit::OK)
        }
        Command::Resume => {
            print(commands::pause_resume(&aws, &target, true).await?);
            Ok(exit::OK)
        }
        Command::Status => {
            print(commands::status(&aws, &target).await?);
            Ok(exit::OK)
        }
        Command::History { limit, json } => {
            print(commands::history(&aws, &target, limit, json).await?);
            Ok(exit::OK)
        }
        Command::Savings { month, json } => {
            print(commands::savings(&aws, &target, month.as_deref(), json).await?);
            Ok(exit::OK)
        }
        Command::Why { execution } => {
            let (lines, code) = commands::why(&aws, &target, &execution).await?;
            print(lines);
            Ok(code)
        }
    }
}
