//! The command line, defined once: every option is documented here, and `--help` is the manual.

use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::{FindingsFormat, Format, ListFormat};
use crate::partial::Target as PartialTarget;
use crate::report::Severity;
use crate::row::Outcome;
use crate::source::glob::Glob;
use crate::source::shard::ShardArg;
use crate::source::Source;
use crate::time::Day;

/// Audit EC2 Instance Connect Endpoint connections across a whole CloudTrail archive.
///
/// trailscope reads CloudTrail log files (gzipped or not), LookupEvents exports and JSON Lines,
/// finds the EC2 Instance Connect events, pairs each pushed SSH key with the tunnel it opened,
/// groups connections by endpoint, and reports which record fields change with the endpoint and
/// which change with every connection (`report`), or lists every connection: who connected to
/// what, when, through which endpoint, with which key (`connections`).
#[derive(Debug, Parser)]
#[command(name = "trailscope", version, long_version = LONG_VERSION, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// `trailscope --version`: the version and the inflate backend this build got. The features
/// choose it, and when both are on flate2 takes the C library, so zlib-ng wins.
const LONG_VERSION: &str = if cfg!(feature = "zlib-ng") {
    concat!(env!("CARGO_PKG_VERSION"), " (inflate: zlib-ng)")
} else {
    concat!(env!("CARGO_PKG_VERSION"), " (inflate: zlib-rs)")
};

#[cfg(not(any(feature = "zlib-ng", feature = "zlib-rs")))]
compile_error!(
    "no inflate backend: build with `--features zlib-rs` (pure Rust) or `--features zlib-ng` (needs cmake)"
);

#[derive(Debug, Subcommand)]
// `allow`, not `expect`: whether the lint fires depends on how the two largest variants compare,
// which changes as commands gain options.
#[allow(clippy::large_enum_variant, reason = "parsed once per run, so its size costs nothing")]
pub enum Command {
    /// Read an archive and report findings, endpoints, connections and how fields change.
    ///
    /// The report opens with the findings: what the rules say to look at first (docs/findings.md).
    /// Exit status: 0 when every object was read, 3 when the report was written but some objects
    /// were unreadable (they are listed in the report and as warnings), 5 with --fail-on when a
    /// finding of that severity was found, 4 with --fail-on-change when something changed since
    /// the last report, 2 on a usage error, 1 on a fatal error (no such source, nothing readable,
    /// report not writable, --state DIR refused).
    Report(ReportArgs),

    /// List every connection, denied attempt and direct key push, one row each, sorted by time.
    ///
    /// A row per successful tunnel (`connected`), refused tunnel (`denied`, with its error code),
    /// key pushed with no tunnel (`direct`) and serial-console key (`serial-console`): who, from
    /// where, through which endpoint, to which instance and address, with which key. Exit status
    /// as for `report`: 0 when every object was read, 3 when the list was written but some objects
    /// were unreadable, 2 on a usage error, 1 on a fatal error.
    Connections(ConnectionsArgs),

    /// List the findings: what the rules say to look at (docs/findings.md), one a row.
    ///
    /// Findings most severe first, then the suppressed ones (`--suppress`) with their reason. The
    /// formats of `connections`, and `ocsf`: one OCSF 1.1 Detection Finding a line, for a SIEM or
    /// Amazon Security Lake. Exit status: 0 when every object was read, 3 when the list was
    /// written but some objects were unreadable, 5 with --fail-on when a finding of that severity
    /// was found, 2 on a usage error, 1 on a fatal error.
    Findings(FindingsArgs),

    /// Read one shard of the sources and write what it found to a partial, for `report` to merge.
    ///
    /// For an archive too large for one machine: N machines each run `scan --shard I/N` over the
    /// same sources (every object belongs to exactly one shard, and no shard lists more than its
    /// own part of a bucket), then `trailscope report PARTIAL...` merges the N partials into the
    /// report one run over the sources would give, byte for byte. Exit status: 0 when every
    /// object of the shard was read, 3 when some were unreadable (they are in the partial, and
    /// in the merged report), 2 on a usage error, 1 on a fatal error.
    Scan(ScanArgs),

    /// Print a completion script for SHELL, generated from this version's options.
    ///
    /// bash: `trailscope completions bash > ~/.local/share/bash-completion/completions/trailscope`;
    /// zsh: `trailscope completions zsh > ~/.zfunc/_trailscope` (with `~/.zfunc` in `fpath`);
    /// fish: `trailscope completions fish > ~/.config/fish/completions/trailscope.fish`.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Report format: `text` for a terminal, `json` for programs (versioned schema), `markdown`
    /// for tickets and wikis, `html` for a browser or an e-mail (one file, with a timeline per
    /// endpoint).
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write the report to FILE instead of standard output. The file is replaced atomically: a
    /// failed run leaves any previous report as it was.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub pairing: PairingArgs,

    #[command(flatten)]
    pub findings: FindingArgs,

    /// Also list the fields that never change, with their value.
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub messages: MessageArgs,

    /// Replace access key ids, SSH public keys, IP addresses, account ids and principal names
    /// with stable pseudonyms everywhere the report and its warnings show them: every format and
    /// every section (fields, endpoints, conflicting copies, unreadable objects, --verify), object
    /// names included (the account in `AWSLogs/ACCOUNT/` and in the file name). Equal values get
    /// equal pseudonyms, so the field analysis still reads.
    #[arg(long)]
    pub redact: bool,

    #[command(flatten)]
    pub narrowing: NarrowingArgs,

    #[command(flatten)]
    pub verify: VerifyArgs,

    #[command(flatten)]
    pub state: StateArgs,

    /// With --state: exit with status 4 when something changed since the last report (`changes`
    /// not empty), for alerting from cron and CI. Status 3 (unreadable objects) wins.
    #[arg(long, requires = "state", help_heading = "Incremental runs")]
    pub fail_on_change: bool,

    #[command(flatten)]
    pub s3: S3Args,
}

/// What earlier runs read, kept between runs.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// Keep what this run reads in DIR (created 0700), and take from there what earlier runs
    /// over the same SOURCEs and options read: objects listed with the size and ETag (or
    /// modification time) they had are not fetched again. The output is the same as without
    /// --state, plus a `state` line (and, for `report`, what changed since the last report). One
    /// run at a time per DIR.
    #[arg(long, value_name = "DIR", conflicts_with = "verify", help_heading = "Incremental runs")]
    pub state: Option<PathBuf>,

    /// With --state: a CloudTrail day folder more than N days older than the newest day folder
    /// the state has seen, and fully listed by an earlier run, is not listed again: its objects
    /// are taken from DIR as they were. A log file delivered late into such a folder is not
    /// seen until a run with --relist. `all`: list every folder.
    #[arg(
        long,
        value_name = "N",
        default_value = "7",
        value_parser = relist_days,
        requires = "state",
        help_heading = "Incremental runs"
    )]
    pub relist_days: RelistDays,

    /// With --state: list every folder again (as --relist-days all), to see late deliveries
    /// into old day folders.
    #[arg(long, requires = "state", conflicts_with = "relist_days", help_heading = "Incremental runs")]
    pub relist: bool,
}

/// `--relist-days`: a number of days, or `None` for `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelistDays(pub Option<u32>);

fn relist_days(value: &str) -> Result<RelistDays, String> {
    if value == "all" {
        return Ok(RelistDays(None));
    }
    value
        .parse()
        .map(|days| RelistDays(Some(days)))
        .map_err(|_| format!("`{value}` is not a number of days or `all`"))
}

/// Whether the archive is whole and unmodified.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify the archive against CloudTrail's digests (read with the logs from
    /// `CloudTrail-Digest/`, pruned as they are): log files missing, modified or listed by no
    /// digest, breaks in the chain of digests, digest signatures. Problems are listed and make the
    /// exit status 3 (1 with --strict). `scan --verify` writes what its shard found into the
    /// partial, and `report` of the partials verifies them together. What is checked is kept in
    /// TMPDIR and matched a part at a time (TRAILSCOPE_VERIFY_PART_BYTES: a part's size, 1 MiB by
    /// default).
    #[arg(long, help_heading = "Integrity")]
    pub verify: bool,

    /// The public keys that check digest signatures: the JSON `aws cloudtrail list-public-keys`
    /// prints. Without it, S3 sources fetch them with the CloudTrail API (ListPublicKeys, in each
    /// trail's home region, with the same credentials); for a local copy, signatures are then
    /// checked as far as the digests themselves allow.
    #[arg(long, value_name = "FILE", requires = "verify", help_heading = "Integrity")]
    pub public_keys: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Which part of the sources to read: `I/N`, the I-th of N parts counting from 0, or `env/N`
    /// to take I from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or AWS_BATCH_JOB_ARRAY_INDEX
    /// (an AWS Batch array job).
    #[arg(long, value_name = "I/N")]
    pub shard: ShardArg,

    /// Where to write the partial: a file (replaced atomically), or `s3://BUCKET/KEY` (one
    /// PutObject: readers see the whole partial or none of it). The name must end in `.jsonl.gz`,
    /// so that `report DIR` or `report s3://BUCKET/PREFIX/` finds it.
    #[arg(short, long, value_name = "PARTIAL")]
    pub output: PartialTarget,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub messages: MessageArgs,

    #[command(flatten)]
    pub narrowing: NarrowingArgs,

    #[command(flatten)]
    pub verify: VerifyArgs,

    #[command(flatten)]
    pub s3: S3Args,
}

#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    /// `table` for a terminal (aligned, every string escaped), `csv` for spreadsheets (RFC 4180,
    /// cells that would start a formula neutralised), `jsonl` for programs (one JSON object per
    /// row, exact strings).
    #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,

    /// Write the list to FILE instead of standard output. The file is replaced atomically: a
    /// failed run leaves any previous list as it was.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub pairing: PairingArgs,

    #[command(flatten)]
    pub filters: RowFilterArgs,

    #[command(flatten)]
    pub rules: RuleArgs,

    #[command(flatten)]
    pub messages: MessageArgs,

    /// Replace account ids, principal names, IP addresses, access key ids and key fingerprints in
    /// the rows and in the warnings (object names, --verify problems) with stable pseudonyms:
    /// equal values get equal pseudonyms.
    #[arg(long)]
    pub redact: bool,

    #[command(flatten)]
    pub reading: ReadingArgs,
}

#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// `table` for a terminal, `csv` for spreadsheets, `jsonl` for programs (the report's
    /// findings, one a line, with `suppressed` and `expires`), `ocsf` for a SIEM (OCSF 1.1
    /// Detection Findings, one a line; docs/findings.md).
    #[arg(short, long, value_enum, default_value_t = FindingsFormat::Table)]
    pub format: FindingsFormat,

    /// Write the list to FILE instead of standard output. The file is replaced atomically: a
    /// failed run leaves any previous list as it was.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub pairing: PairingArgs,

    #[command(flatten)]
    pub findings: FindingArgs,

    #[command(flatten)]
    pub messages: MessageArgs,

    /// Replace account ids, principal names and IP addresses in the findings and in the warnings
    /// with stable pseudonyms: equal values get equal pseudonyms.
    #[arg(long)]
    pub redact: bool,

    #[command(flatten)]
    pub reading: ReadingArgs,
}

/// What of the sources to read, checked against what, kept between runs, and how S3 is asked:
/// shared by the listings (`connections`, `findings`), which read as `report` does. (`report`
/// lists the same groups, with its own `--fail-on-change` among them.)
#[derive(Debug, Args)]
pub struct ReadingArgs {
    #[command(flatten)]
    pub narrowing: NarrowingArgs,

    #[command(flatten)]
    pub verify: VerifyArgs,

    #[command(flatten)]
    pub state: StateArgs,

    #[command(flatten)]
    pub s3: S3Args,
}

/// Which rows to list: each option is repeatable; a row must match every option given, and any
/// one value of each.
#[derive(Debug, Args)]
pub struct RowFilterArgs {
    /// Only rows of this endpoint (`eice-…`); repeat for several.
    #[arg(long = "endpoint", value_name = "ID", help_heading = "Filters")]
    pub endpoints: Vec<String>,

    /// Only rows of this caller (`userIdentity.arn`, exactly); repeat for several.
    #[arg(long = "principal", value_name = "ARN", help_heading = "Filters")]
    pub principals: Vec<String>,

    /// Only rows with this outcome; repeat for several.
    #[arg(long = "outcome", value_name = "OUTCOME", value_enum, help_heading = "Filters")]
    pub outcomes: Vec<Outcome>,

    /// Only the rows behind this finding (its id, as `report` and `findings` show it): its
    /// evidence's tunnels and keys. The rule thresholds must be those the id was found with.
    #[arg(long, value_name = "ID", help_heading = "Filters")]
    pub finding: Option<String>,
}

/// What to read and how: shared by every command that reads an archive.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Files, directories, `s3://BUCKET[/PREFIX]` or `cloudtrail://REGION` to read. Directories and
    /// prefixes are read recursively (directory links are not followed); in them `*.json`,
    /// `*.json.gz`, `*.jsonl` and `*.jsonl.gz` are read (and names --include matches), files under
    /// `CloudTrail-Digest/` and files with other names are skipped and counted. A file named here
    /// is always read. `cloudtrail://REGION` asks the region's CloudTrail event history (the last
    /// 90 days of management events, LookupEvents) for its Instance Connect events;
    /// `cloudtrail://all` asks every region the account has enabled.
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<Source>,

    /// Threads that read and parse objects [default: all cores].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<NonZeroUsize>,

    /// Largest object accepted, in bytes after decompression (suffixes K, M, G: KiB, MiB, GiB).
    /// Objects are read as a stream, so this is not what bounds memory: it stops an endless or
    /// bomb-like object, which is reported unreadable.
    #[arg(long, value_name = "BYTES", default_value = "1G", value_parser = parse_size)]
    pub max_object_size: u64,

    /// All or nothing: if any object is unreadable, write nothing and exit with status 1.
    #[arg(long)]
    pub strict: bool,

    /// Also read files in directories, and keys under prefixes, whose name matches GLOB, e.g.
    /// `--include '*.log'` (quoted, so the shell leaves it alone); repeat for several. GLOB
    /// matches the file name only, case-sensitively: `*` any characters, `?` any one, `[abc]` one
    /// of these, `[a-z]` one in the range, `[!a-z]` one not in it, `\` quotes the next one.
    /// What is read is still recognised by its content: gzip or not, and its JSON shape.
    #[arg(long = "include", value_name = "GLOB")]
    pub include: Vec<Glob>,
}

/// How keys are paired with tunnels.
#[derive(Debug, Args)]
pub struct PairingArgs {
    /// Seconds after a SendSSHPublicKey within which its OpenTunnel may follow (the pushed key
    /// is valid for 60 s). A tunnel up to 5 s before the key also pairs.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub pair_window: u32,
}

/// What makes a finding, which are accepted, and which fail the run: shared by `report` and
/// `findings`.
#[derive(Debug, Args)]
pub struct FindingArgs {
    #[command(flatten)]
    pub rules: RuleArgs,

    /// Findings known and accepted: a JSON file `{"suppressions": [{"rule": RULE, "reason":
    /// TEXT, ...}]}` whose entries may also give `principal`, `endpoint`, `instance`, `port`,
    /// `account` (each must match) and `expires` (YYYY-MM-DD, the last day the entry holds). A
    /// suppressed finding is listed apart with its reason, and never fails the run.
    #[arg(long, value_name = "FILE", help_heading = "Findings")]
    pub suppress: Option<PathBuf>,

    /// Exit with status 5 when a finding (not suppressed) of SEVERITY or higher is found; with
    /// --state, only findings new since the last report count. Status 3 (unreadable objects)
    /// wins over 5, and 5 over 4 (--fail-on-change).
    #[arg(long, value_name = "SEVERITY", value_enum, help_heading = "Findings")]
    pub fail_on: Option<Severity>,
}

/// The findings' rules and their thresholds (docs/findings.md).
#[derive(Debug, Args)]
pub struct RuleArgs {
    /// tunnel-unusual-port: the ports a successful tunnel may ask for without a finding, comma
    /// separated.
    #[arg(
        long,
        value_name = "PORTS",
        value_delimiter = ',',
        default_value = "22,3389",
        help_heading = "Findings"
    )]
    pub expected_ports: Vec<u16>,

    /// key-to-many-instances: a finding when one principal pushes keys to N or more distinct
    /// instances within --fan-out-minutes.
    #[arg(long, value_name = "N", default_value_t = NonZeroU32::new(5).expect("5 is not zero"), help_heading = "Findings")]
    pub fan_out_instances: NonZeroU32,

    /// key-to-many-instances: the window, in minutes.
    #[arg(long, value_name = "MINUTES", default_value_t = 60, help_heading = "Findings")]
    pub fan_out_minutes: u32,

    /// denied-burst: a finding when one principal has N or more denied OpenTunnel or
    /// SendSSHPublicKey calls within --denied-burst-minutes.
    #[arg(long, value_name = "N", default_value_t = NonZeroU32::new(5).expect("5 is not zero"), help_heading = "Findings")]
    pub denied_burst: NonZeroU32,

    /// denied-burst: the window, in minutes.
    #[arg(long, value_name = "MINUTES", default_value_t = 10, help_heading = "Findings")]
    pub denied_burst_minutes: u32,

    /// tunnel-outside-endpoint-lifetime: a finding when a successful tunnel goes through an
    /// endpoint more than MINUTES before its creation or after its deletion, as the archive
    /// records them.
    #[arg(long, value_name = "MINUTES", default_value_t = 5, help_heading = "Findings")]
    pub lifetime_margin_minutes: u32,

    /// privileged-os-user: the OS users (instanceOSUser) a pushed key makes a finding for, comma
    /// separated.
    #[arg(
        long,
        value_name = "USERS",
        value_delimiter = ',',
        default_value = "root",
        help_heading = "Findings"
    )]
    pub privileged_os_users: Vec<String>,
}

/// What goes to stderr besides the output.
#[derive(Debug, Args)]
pub struct MessageArgs {
    /// Print no warnings (unreadable objects still make the exit status 3, and a report still
    /// lists them).
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Also say on stderr what each stage did and how long it took: the S3 client's region and
    /// endpoint, objects listed, read and skipped, records parsed. Credentials are never printed.
    #[arg(short, long)]
    pub verbose: bool,
}

/// Which part of the archive to read.
#[derive(Debug, Args)]
pub struct NarrowingArgs {
    /// Only events from this UTC day on (YYYY-MM-DD). Prunes the `YYYY/MM/DD/` folders of the
    /// CloudTrail layout before listing them, then drops events outside the range.
    #[arg(long, value_name = "DATE", value_parser = parse_day, help_heading = "Narrowing")]
    pub from: Option<Day>,

    /// Only events up to and including this UTC day (YYYY-MM-DD). The folder of the day after is
    /// read too: a log file can hold events from minutes before its folder's day.
    #[arg(long, value_name = "DATE", value_parser = parse_day, help_heading = "Narrowing")]
    pub to: Option<Day>,

    /// Only this account's folders (`AWSLogs/[o-id/]ACCOUNT/`); repeat for several.
    #[arg(long = "account", value_name = "ID", value_parser = parse_account, help_heading = "Narrowing")]
    pub accounts: Vec<String>,

    /// Only this region's folders (`.../CloudTrail/REGION/`); repeat for several. Not the
    /// bucket's region: that is found by itself (or --bucket-region).
    #[arg(long = "region", value_name = "NAME", help_heading = "Narrowing")]
    pub regions: Vec<String>,
}

/// How to reach S3.
#[derive(Debug, Args)]
pub struct S3Args {
    /// AWS profile for S3 sources (default: AWS_PROFILE, then `default`).
    #[arg(long, value_name = "NAME", help_heading = "S3")]
    pub profile: Option<String>,

    /// Region of the buckets, for every S3 source. Without it, each bucket's region is looked
    /// up once (HeadBucket, asked in AWS_REGION or the profile's region, else us-east-1) and the
    /// bucket is read in its own region; with --endpoint-url nothing is looked up.
    #[arg(long, value_name = "REGION", help_heading = "S3")]
    pub bucket_region: Option<String>,

    /// S3-compatible endpoint, e.g. http://127.0.0.1:3900 (also AWS_ENDPOINT_URL_S3 or
    /// AWS_ENDPOINT_URL). Buckets are then addressed path-style.
    #[arg(long, value_name = "URL", help_heading = "S3")]
    pub endpoint_url: Option<String>,

    /// Send unsigned requests (public buckets); no credentials are looked up.
    #[arg(long, help_heading = "S3")]
    pub no_sign_request: bool,

    /// Seconds without data from S3 before a request is abandoned and retried (5 attempts in
    /// all, with backoff that slows the whole run down when S3 answers SlowDown); connecting
    /// has 5 s.
    #[arg(long, value_name = "SECONDS", default_value_t = NonZeroU64::new(20).expect("20 is not zero"), help_heading = "S3")]
    pub s3_timeout: NonZeroU64,

    /// S3 requests in flight at once (listings and downloads). CloudTrail objects are small and
    /// each GET waits tens of milliseconds for its first byte, so many in flight keep the
    /// parsers fed; downloaded bytes waiting to be parsed stay capped at 64 MiB whatever N is.
    #[arg(long, value_name = "N", default_value_t = NonZeroUsize::new(128).expect("128 is not zero"), help_heading = "S3")]
    pub s3_concurrency: NonZeroUsize,

    /// Buckets where the requester pays (`requester`): every request says so
    /// (x-amz-request-payer), and the transfer is billed to the caller's account.
    #[arg(long, value_name = "PAYER", value_enum, help_heading = "S3")]
    pub request_payer: Option<RequestPayer>,

    /// Write the objects left unread because they are archived (GLACIER, DEEP_ARCHIVE, an
    /// Intelligent-Tiering archive tier) to FILE, as the CSV manifest S3 Batch Operations takes
    /// (`bucket,key`, keys URL-encoded): restore them with it, then run again.
    #[arg(long, value_name = "FILE", help_heading = "S3")]
    pub restore_manifest: Option<PathBuf>,
}

/// Who pays for requests to a requester-pays bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RequestPayer {
    /// The caller (the only value S3 takes).
    Requester,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

fn parse_day(text: &str) -> Result<Day, String> {
    Day::parse(text).ok_or_else(|| format!("not a date: {text:?} (expected YYYY-MM-DD)"))
}

fn parse_account(text: &str) -> Result<String, String> {
    if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(format!("not an AWS account id: {text:?} (expected 12 digits)"))
    }
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
