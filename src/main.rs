//! The `trailscope` binary: parse arguments, run, map the outcome to an exit status.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = trailscope::cli::Cli::parse();
    if let Err(message) = cli.validate() {
        use clap::CommandFactory;
        trailscope::cli::Cli::command().error(clap::error::ErrorKind::ArgumentConflict, message).exit();
    }
    match trailscope::run(&cli) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(error) => {
            // The line can quote a SOURCE, a bucket or S3's own message: escaped like warnings.
            eprintln!("trailscope: {}", trailscope::output::sanitize::escape(&error.to_string()));
            ExitCode::from(1)
        }
    }
}
