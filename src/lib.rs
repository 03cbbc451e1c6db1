//! trailscope: audit EC2 Instance Connect Endpoint connections across a CloudTrail archive.
//!
//! The modules follow the pipeline: [`source`] lists objects, [`decode`] turns one object into
//! records, [`event`] picks out Instance Connect events, [`reading`] runs that in parallel,
//! [`analysis`] pairs, attributes, classifies and builds the [`report`] (the report's schema) or
//! the rows of the connections listing (a [`row`] is their schema), and [`output`] renders
//! either. [`cli`] is the command line, [`plan`] what it asks for, decided once; [`cmd`] wires
//! one planned subcommand through the stages. [`verify`] checks an archive against CloudTrail's
//! signed digests. [`exit`] lists the statuses a run ends with. At the bottom, what every stage
//! may use: [`layout`] reads CloudTrail's key layout and names, [`hash`] hashes as CloudTrail
//! does, [`keys`] holds CloudTrail's public keys, [`time`] its times.

#![warn(unreachable_pub)]
// Every unsafe operation in its own block, each with the reason it is sound (`// SAFETY:`).
#![warn(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub(crate) mod analysis;
pub(crate) mod atomic;
pub mod cli;
pub(crate) mod cmd;
pub(crate) mod counts;
pub(crate) mod decode;
pub(crate) mod error;
pub(crate) mod event;
pub mod exit;
pub(crate) mod hash;
pub(crate) mod keys;
pub(crate) mod layout;
pub(crate) mod messages;
pub mod output;
pub(crate) mod partial;
pub(crate) mod plan;
pub(crate) mod reading;
pub(crate) mod redact;
pub(crate) mod report;
pub(crate) mod row;
pub(crate) mod source;
pub(crate) mod spill;
#[doc(hidden)]
pub mod stages;
pub(crate) mod state;
#[cfg(feature = "synth")]
pub mod synth;
pub(crate) mod time;
pub(crate) mod verify;

pub use error::FatalError;
pub use exit::ExitStatus;
pub use plan::Plan;

use plan::Run;
use redact::Redactor;

/// How a run that produced a report ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every object was read.
    Complete,
    /// The report was written, but some objects were unreadable.
    Incomplete,
    /// `--fail-on-change`: every object was read, and something changed since the last report.
    Changed,
    /// `--fail-on`: every object was read, and a finding of that severity or higher was found.
    Findings,
}

impl From<Outcome> for ExitStatus {
    fn from(outcome: Outcome) -> ExitStatus {
        match outcome {
            Outcome::Complete => ExitStatus::Success,
            Outcome::Incomplete => ExitStatus::Incomplete,
            Outcome::Changed => ExitStatus::Changed,
            Outcome::Findings => ExitStatus::Findings,
        }
    }
}

/// Runs the planned subcommand.
pub fn run(plan: &Plan) -> Result<Outcome, FatalError> {
    match &plan.0 {
        // One redactor for everything the run writes; a fatal error's line can quote an object's
        // name, so under --redact it is redacted too.
        Run::Report(plan) => {
            let mut redactor = Redactor::new(plan.redact);
            cmd::report::run(plan, &mut redactor).map_err(|e| redactor.fatal(e))
        }
        Run::Connections(plan) => {
            let mut redactor = Redactor::new(plan.redact);
            cmd::connections::run(plan, &mut redactor).map_err(|e| redactor.fatal(e))
        }
        Run::Findings(plan) => {
            let mut redactor = Redactor::new(plan.redact);
            cmd::findings::run(plan, &mut redactor).map_err(|e| redactor.fatal(e))
        }
        Run::Scan(plan) => cmd::scan::run(plan),
        Run::Completions(shell) => cmd::completions::run(*shell),
    }
}
