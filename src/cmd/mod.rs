//! Subcommands, one file each, wiring the pipeline stages together; [`read`] is what every
//! command that reads an archive shares.

pub mod completions;
pub mod connections;
mod read;
pub mod report;
pub mod scan;
mod verify;
