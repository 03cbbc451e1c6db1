//! `trailscope completions SHELL`: a completion script generated from the clap definition, so it
//! offers exactly the subcommands, options and values of the binary that printed it.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::FatalError;
use crate::{output, Outcome};

pub(crate) fn run(shell: clap_complete::Shell) -> Result<Outcome, FatalError> {
    // Generated into memory first: clap_complete panics on a write error, and `output::write`
    // treats a closed pipe as the reader's choice.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "trailscope", &mut script);
    output::write(None, &script)?;
    Ok(Outcome::Complete)
}
