//! `makenaide`: parse the command line, run the command, exit with its code
//! (`makenaide --help` lists them). A user error is one line on stderr.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = makenaide_cli::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(makenaide_cli::error::exit::CLI_FAILED);
        }
    };
    match runtime.block_on(makenaide_cli::main(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", e.one_line());
            ExitCode::from(e.exit_code())
        }
    }
}
