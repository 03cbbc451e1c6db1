//! Subcommands, one file each, wiring the pipeline stages together; [`read`] is what every
//! command that reads an archive shares.

pub(crate) mod completions;
pub(crate) mod connections;
mod read;
pub(crate) mod report;
pub(crate) mod scan;
mod verify;
