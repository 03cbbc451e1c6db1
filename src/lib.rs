//! trailscope: audit EC2 Instance Connect Endpoint connections across a CloudTrail archive.
//!
//! The modules follow the pipeline: [`source`] lists objects, [`decode`] turns one object into
//! records, [`event`] picks out Instance Connect events, [`scan`] runs that in parallel,
//! [`analysis`] pairs, attributes and classifies, [`report`] is the result, and [`output`]
//! renders it ([`connections`] is the row of the connections listing). [`cmd`] wires one
//! subcommand through them. [`verify`] checks an archive against CloudTrail's signed digests.
//! [`exit`] lists the statuses a run ends with. At the bottom, what every stage may use:
//! [`layout`] reads CloudTrail's key layout and names, [`hash`] hashes as CloudTrail does,
//! [`keys`] holds CloudTrail's public keys, [`time`] its times.

#![warn(unreachable_pub)]

pub(crate) mod analysis;
pub mod cli;
pub(crate) mod cmd;
pub(crate) mod connections;
pub(crate) mod decode;
pub(crate) mod error;
pub(crate) mod event;
pub mod exit;
pub(crate) mod hash;
pub(crate) mod keys;
pub(crate) mod layout;
pub mod output;
pub(crate) mod partial;
pub(crate) mod redact;
pub(crate) mod report;
pub(crate) mod scan;
pub(crate) mod source;
#[doc(hidden)]
pub mod stages;
pub(crate) mod state;
#[cfg(feature = "synth")]
pub mod synth;
pub(crate) mod time;
pub(crate) mod verify;

pub use error::FatalError;
pub use exit::ExitStatus;

use cli::{Cli, Command};

/// How a run that produced a report ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every object was read.
    Complete,
    /// The report was written, but some objects were unreadable.
    Incomplete,
    /// `--fail-on-change`: every object was read, and something changed since the last report.
    Changed,
}

impl From<Outcome> for ExitStatus {
    fn from(outcome: Outcome) -> ExitStatus {
        match outcome {
            Outcome::Complete => ExitStatus::Success,
            Outcome::Incomplete => ExitStatus::Incomplete,
            Outcome::Changed => ExitStatus::Changed,
        }
    }
}

/// Runs the command line's subcommand.
pub fn run(cli: &Cli) -> Result<Outcome, FatalError> {
    match &cli.command {
        // A fatal error's line can quote an object's name: under --redact it is redacted too.
        Command::Report(args) if args.redact => cmd::report::run(args).map_err(redact::redact_fatal),
        Command::Report(args) => cmd::report::run(args),
        Command::Connections(args) if args.redact => {
            cmd::connections::run(args).map_err(redact::redact_fatal)
        }
        Command::Connections(args) => cmd::connections::run(args),
        Command::Scan(args) => cmd::scan::run(args),
        Command::Completions(args) => cmd::completions::run(args),
    }
}
