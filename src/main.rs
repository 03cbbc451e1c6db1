//! The `trailscope` binary: parse arguments, run, map the outcome to an exit status.

use std::process::ExitCode;

use clap::Parser;
use trailscope::ExitStatus;

fn main() -> ExitCode {
    let plan = match trailscope::cli::Cli::try_parse().and_then(trailscope::Plan::new) {
        Ok(plan) => plan,
        Err(error) => {
            // `--help` and `--version` are "errors" too, written to stdout, and a success.
            let _ = error.print();
            return ExitStatus::from_clap(&error).into();
        }
    };
    match trailscope::run(&plan) {
        Ok(outcome) => ExitStatus::from(outcome).into(),
        Err(error) => {
            // The line can quote a SOURCE, a bucket or S3's own message: escaped like warnings.
            eprintln!("trailscope: {}", trailscope::output::sanitize::escape(&error.to_string()));
            ExitStatus::Error.into()
        }
    }
}
