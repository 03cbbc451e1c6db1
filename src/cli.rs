//! The command line, defined once: every option is documented here, and `--help` is the manual.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

/// Audit EC2 Instance Connect Endpoint connections across a whole CloudTrail archive.
///
/// trailscope reads CloudTrail log files (gzipped or not), LookupEvents exports and JSON Lines,
/// finds the EC2 Instance Connect events, pairs each pushed SSH key with the tunnel it opened,
/// groups connections by endpoint, and reports which record fields change with the endpoint and
/// which change with every connection.
#[derive(Debug, Parser)]
#[command(name = "trailscope", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read an archive and report endpoints, connections and how fields change between them.
    ///
    /// Exit status: 0 when every object was read, 3 when the report was written but some objects
    /// were unreadable (they are listed in the report and as warnings), 2 on a usage error, 1 on
    /// a fatal error (no such source, nothing readable, report not writable).
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Files or directories to read. Directories are walked recursively (directory links are not
    /// followed); inside them `*.json`, `*.json.gz`, `*.jsonl` and `*.jsonl.gz` are read, files
    /// under `CloudTrail-Digest/` and files with other names are skipped and counted. A file
    /// named here is always read.
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<PathBuf>,

    /// Report format: `text` for a terminal, `json` for programs (versioned schema), `markdown`
    /// for tickets and wikis.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write the report to FILE instead of standard output. The file is replaced atomically: a
    /// failed run leaves any previous report as it was.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Threads that read and parse objects [default: all cores].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<NonZeroUsize>,

    /// Seconds after a SendSSHPublicKey within which its OpenTunnel may follow (the pushed key
    /// is valid for 60 s). A tunnel up to 5 s before the key also pairs.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub pair_window: u32,

    /// Also list the fields that never change, with their value.
    #[arg(long)]
    pub all: bool,

    /// Largest object accepted, in bytes after decompression (suffixes K, M, G: KiB, MiB, GiB).
    /// A larger one is reported unreadable instead of exhausting memory.
    #[arg(long, value_name = "BYTES", default_value = "1G", value_parser = parse_size)]
    pub max_object_size: u64,

    /// Print no warnings (unreadable objects are still in the report and the exit status).
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, multiplier) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&text[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&text[..i], 1 << 30),
        _ => (text, 1),
    };
    let value: u64 = digits.parse().map_err(|_| format!("not a size: {text:?} (try 512M or 1G)"))?;
    match value.checked_mul(multiplier) {
        Some(0) | None => Err(format!("size out of range: {text:?}")),
        Some(bytes) => Ok(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
