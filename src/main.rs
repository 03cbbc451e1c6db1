//! The `trailscope` binary: parse arguments, run, map the outcome to an exit status.

use std::process::ExitCode;

use clap::Parser;
use trailscope::ExitStatus;

fn main() -> ExitCode {
    let cli = match trailscope::cli::Cli::try_parse().and_then(|cli| cli.validate().map(|()| cli)) {
        Ok(cli) => cli,
        Err(error) => {
            // `--help` and `--version` are "errors" too, written to stdout, and a success.
            let _ = error.print();
            return ExitStatus::from_clap(&error).into();
        }
    };
    match trailscope::run(&cli) {
        Ok(outcome) => ExitStatus::from(outcome).into(),
        Err(error) => {
            // The line can quote a SOURCE, a bucket or S3's own message: escaped like warnings.
            eprintln!("trailscope: {}", trailscope::output::sanitize::escape(&error.to_string()));
            ExitStatus::Error.into()
        }
    }
}
