//! Subcommands, one file each, wiring the pipeline stages together.

pub mod completions;
pub mod report;
