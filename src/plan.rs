//! The command line turned into what a run does, once (as ripgrep's `HiArgs` and fd's `Config`):
//! each subcommand's options become its plan here, with the checks clap cannot express, and
//! nothing below sees a flag. [`ReadPlan`] is what every command that reads an archive shares:
//! what to read and how, and whether to verify it (`--verify`) or keep what it read (`--state`).

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;

use crate::analysis::findings::Threshold;
use crate::analysis::rows::Filter as RowFilter;
use crate::analysis::{FindingPlan, Rules, Suppressions, Window};
use crate::cli::{
    Cli, Command, ConnectionsArgs, FindingArgs, FindingsArgs, InputArgs, MessageArgs, NarrowingArgs,
    ReadingArgs, ReportArgs, RuleArgs, S3Args, ScanArgs, StateArgs, VerifyArgs,
};
use crate::messages::Log;
use crate::output::{FindingsFormat, Format, ListFormat};
use crate::partial;
use crate::reading::ReadOptions;
use crate::report::Severity;
use crate::source::filter::Filter;
use crate::source::history::HistoryOptions;
use crate::source::s3::S3Options;
use crate::source::shard::Shard;
use crate::source::Source;
use crate::time::Day;

/// Bytes fetched whole but not yet read, at most: enough to keep every worker busy on objects of
/// a few MB while the next ones download.
const DOWNLOAD_BUDGET: u64 = 64 << 20;

/// What a run does: the command line's subcommand with every option decided.
pub struct Plan(pub(crate) Run);

/// The subcommands, planned.
pub(crate) enum Run {
    Report(ReportPlan),
    Connections(ConnectionsPlan),
    Findings(FindingsPlan),
    Scan(ScanPlan),
    Completions(clap_complete::Shell),
}

impl Plan {
    /// The plan of `cli`. An error is a usage error (exit status 2): options that contradict
    /// each other, or a `--shard env/N` whose index the environment does not give.
    pub fn new(cli: Cli) -> Result<Plan, clap::Error> {
        Ok(Plan(match cli.command {
            Command::Report(args) => Run::Report(ReportPlan::new(args)?),
            Command::Connections(args) => Run::Connections(ConnectionsPlan::new(args)?),
            Command::Findings(args) => Run::Findings(FindingsPlan::new(args)?),
            Command::Scan(args) => Run::Scan(ScanPlan::new(args)?),
            Command::Completions(args) => Run::Completions(args.shell),
        }))
    }
}

/// Sets how much of what verification checks is held at once (docs/integrity.md): lower on a
/// machine short of memory; the tests set it to split small archives as long ones are split.
const PART_BYTES_VAR: &str = "TRAILSCOPE_VERIFY_PART_BYTES";

/// The part size `TRAILSCOPE_VERIFY_PART_BYTES` gives (`value`, as the environment has it), or why
/// it gives none.
fn part_bytes(value: Result<String, std::env::VarError>) -> Result<u64, String> {
    let given = match value {
        Err(std::env::VarError::NotPresent) => return Ok(crate::verify::PART_BYTES),
        Err(std::env::VarError::NotUnicode(text)) => format!("{text:?}"),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(bytes) if bytes > 0 => return Ok(bytes),
            _ => format!("{text:?}"),
        },
    };
    Err(format!("{PART_BYTES_VAR}={given} is not a positive number of bytes"))
}

/// A usage error of `kind` saying `message`, as clap words its own, with the usage line of
/// `subcommand` (the one given), as clap shows it for its own errors.
fn usage(subcommand: &'static str, kind: ErrorKind) -> impl Fn(String) -> clap::Error {
    move |message: String| {
        use clap::CommandFactory;
        let mut cli = Cli::command();
        // Built, the subcommands know their full name (`trailscope report`) for the usage line.
        cli.build();
        match cli.find_subcommand_mut(subcommand) {
            Some(command) => command.error(kind, message),
            None => cli.error(kind, message),
        }
    }
}

/// What to read and how.
pub(crate) struct ReadPlan {
    pub(crate) sources: Vec<Source>,
    /// How the reading stage reads; what `--state` holds is added once it is open.
    pub(crate) options: ReadOptions,
    pub(crate) s3: S3Options,
    pub(crate) strict: bool,
    /// `--restore-manifest`: where the archived objects are listed for S3 Batch Operations.
    pub(crate) restore_manifest: Option<PathBuf>,
    pub(crate) log: Log,
    /// Connect to S3 even when no source is there (a partial written to S3).
    pub(crate) s3_needed: bool,
    /// `--verify`: the digests are read too (`options.filter.digests`), and checked.
    pub(crate) verify: Option<VerifyPlan>,
    /// About how many bytes of what verification checks are held at once, verifying (a run's, or
    /// partials' at their merge) or writing a shard's residue: `TRAILSCOPE_VERIFY_PART_BYTES`,
    /// else [`PART_BYTES`](crate::verify::PART_BYTES) (docs/integrity.md).
    pub(crate) part_bytes: u64,
    /// `--state DIR`.
    pub(crate) state: Option<StatePlan>,
    /// How event history (`cloudtrail://REGION` sources) is asked, and when the run began.
    pub(crate) history: HistoryOptions,
}

/// The time a run takes as now, for the tests only: what event history's window ends at and its
/// hours settle by, so that a test's stand-in for CloudTrail and the run agree on the last 90
/// days. Not a user option.
const NOW_VAR: &str = "TRAILSCOPE_TEST_NOW";

/// Now, or the time `TRAILSCOPE_TEST_NOW` gives (`2024-03-10T00:00:00Z`).
fn now() -> crate::time::Timestamp {
    if let Some(now) = std::env::var(NOW_VAR).ok().and_then(|t| crate::time::Timestamp::parse(&t)) {
        return now;
    }
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    crate::time::Timestamp(since.as_millis() as i64)
}

/// Options that mean nothing beside a `cloudtrail://` source: what each would have done.
fn refuse_beside_history(
    subcommand: &'static str,
    sources: &[Source],
    given: [(bool, &str, &str); 3],
) -> Result<(), clap::Error> {
    let Some(Source::History(url)) = sources.iter().find(|s| matches!(s, Source::History(_))) else {
        return Ok(());
    };
    match given.iter().find(|(set, _, _)| *set) {
        Some((_, option, why)) => Err(usage(subcommand, ErrorKind::ArgumentConflict)(format!(
            "{option} cannot be used with {url}: {why}"
        ))),
        None => Ok(()),
    }
}

/// How to verify the archive.
pub(crate) struct VerifyPlan {
    /// `--public-keys`: the keys that check digest signatures, instead of the CloudTrail API.
    pub(crate) public_keys: Option<PathBuf>,
}

/// Where earlier runs' reading is kept, and which of its day folders are listed again.
pub(crate) struct StatePlan {
    pub(crate) dir: PathBuf,
    /// The days re-listed before the newest (`None`: everything is listed).
    pub(crate) relist_days: Option<u32>,
}

/// The option groups a reading is planned from.
struct ReadArgs<'a> {
    /// The subcommand given, for the usage line of an error.
    subcommand: &'static str,
    input: InputArgs,
    narrowing: NarrowingArgs,
    s3: S3Args,
    messages: &'a MessageArgs,
    verify: VerifyArgs,
    state: Option<StateArgs>,
}

impl<'a> ReadArgs<'a> {
    /// A listing's (`connections`, `findings`): the sources read as `report` reads them,
    /// `--state` included.
    fn listing(
        subcommand: &'static str,
        input: InputArgs,
        reading: ReadingArgs,
        messages: &'a MessageArgs,
    ) -> Self {
        let ReadingArgs { narrowing, verify, state, s3 } = reading;
        ReadArgs { subcommand, input, narrowing, s3, messages, verify, state: Some(state) }
    }
}

impl ReadPlan {
    fn new(args: ReadArgs<'_>) -> Result<ReadPlan, clap::Error> {
        let ReadArgs { subcommand, input, narrowing, s3, messages, verify, state } = args;
        if let (Some(from), Some(to)) = (narrowing.from, narrowing.to) {
            if from > to {
                let message = format!("--from {from} is after --to {to}");
                return Err(usage(subcommand, ErrorKind::ArgumentConflict)(message));
            }
        }
        let part_bytes =
            part_bytes(std::env::var(PART_BYTES_VAR)).map_err(usage(subcommand, ErrorKind::InvalidValue))?;
        refuse_beside_history(
            subcommand,
            &input.sources,
            [
                (s3.no_sign_request, "--no-sign-request", "LookupEvents takes signed requests only"),
                (verify.verify, "--verify", "event history has no digests to verify"),
                (
                    !narrowing.regions.is_empty(),
                    "--region",
                    "the region is the source's (cloudtrail://REGION)",
                ),
            ],
        )?;
        let filter = Filter {
            from: narrowing.from,
            to: narrowing.to,
            accounts: narrowing.accounts.into_iter().collect(),
            regions: narrowing.regions.into_iter().collect(),
            digests: verify.verify,
            shard: None,
            include: input.include,
        };
        let history = HistoryOptions { profile: s3.profile.clone(), now: now() };
        Ok(ReadPlan {
            history,
            sources: input.sources,
            options: ReadOptions {
                jobs: input.jobs.map_or_else(rayon::current_num_threads, |n| n.get()),
                max_object_size: input.max_object_size,
                concurrency: s3.s3_concurrency.get(),
                budget: DOWNLOAD_BUDGET,
                filter,
            },
            s3: S3Options {
                profile: s3.profile,
                region: s3.bucket_region,
                endpoint_url: s3.endpoint_url,
                no_sign_request: s3.no_sign_request,
                request_payer: s3.request_payer.is_some(),
                concurrency: s3.s3_concurrency.get(),
                timeout: Duration::from_secs(s3.s3_timeout.get()),
            },
            strict: input.strict,
            restore_manifest: s3.restore_manifest,
            log: Log::new(messages.quiet, messages.verbose),
            s3_needed: false,
            verify: verify.verify.then_some(VerifyPlan { public_keys: verify.public_keys }),
            part_bytes,
            state: state.and_then(|state| {
                let relist_days = if state.relist { None } else { state.relist_days.0 };
                state.state.map(|dir| StatePlan { dir, relist_days })
            }),
        })
    }
}

/// `trailscope report`.
pub(crate) struct ReportPlan {
    pub(crate) read: ReadPlan,
    pub(crate) format: Format,
    pub(crate) output: Option<PathBuf>,
    /// `--pair-window`, as the pairing takes it (the report says it in seconds).
    pub(crate) window: Window,
    pub(crate) all: bool,
    pub(crate) redact: bool,
    pub(crate) fail_on_change: bool,
    pub(crate) findings: FindingPlan,
    /// `--fail-on`.
    pub(crate) fail_on: Option<Severity>,
}

impl ReportPlan {
    fn new(args: ReportArgs) -> Result<ReportPlan, clap::Error> {
        let read = ReadPlan::new(ReadArgs {
            subcommand: "report",
            input: args.input,
            narrowing: args.narrowing,
            s3: args.s3,
            messages: &args.messages,
            verify: args.verify,
            state: Some(args.state),
        })?;
        Ok(ReportPlan {
            read,
            format: args.format,
            output: args.output,
            window: Window::after_seconds(args.pairing.pair_window),
            all: args.all,
            redact: args.redact,
            fail_on_change: args.fail_on_change,
            fail_on: args.findings.fail_on,
            findings: finding_plan("report", args.findings)?,
        })
    }
}

/// The findings' rules and suppressions. A `--suppress` file that cannot be read or says
/// something unmeant is a usage error: a run must not suppress what it was not told to.
fn finding_plan(subcommand: &'static str, args: FindingArgs) -> Result<FindingPlan, clap::Error> {
    let suppressions = match &args.suppress {
        None => Suppressions::default(),
        Some(path) => {
            let error = |e: String| {
                usage(subcommand, ErrorKind::InvalidValue)(format!("--suppress {}: {e}", path.display()))
            };
            let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
            Suppressions::parse(&text, today()).map_err(error)?
        }
    };
    Ok(FindingPlan { rules: rules(args.rules), suppressions })
}

/// Today (UTC), the day suppressions' expiry dates are judged on.
fn today() -> Day {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Day((since.as_secs() / 86_400) as i64)
}

/// The rules' thresholds.
fn rules(args: RuleArgs) -> Rules {
    let mut expected_ports = args.expected_ports;
    expected_ports.sort_unstable();
    expected_ports.dedup();
    Rules {
        expected_ports,
        fan_out: Threshold { count: args.fan_out_instances.get(), minutes: args.fan_out_minutes },
        denied_burst: Threshold { count: args.denied_burst.get(), minutes: args.denied_burst_minutes },
        lifetime_margin_minutes: args.lifetime_margin_minutes,
        privileged_users: args.privileged_os_users,
    }
}

/// `trailscope connections`: what to list and how.
pub(crate) struct ConnectionsPlan {
    pub(crate) read: ReadPlan,
    pub(crate) window: Window,
    pub(crate) filter: RowFilter,
    /// `--finding`: only the rows of this finding's evidence, found under `rules`.
    pub(crate) finding: Option<String>,
    pub(crate) rules: Rules,
    pub(crate) format: ListFormat,
    pub(crate) output: Option<PathBuf>,
    pub(crate) redact: bool,
}

impl ConnectionsPlan {
    fn new(args: ConnectionsArgs) -> Result<ConnectionsPlan, clap::Error> {
        let read = ReadPlan::new(ReadArgs::listing("connections", args.input, args.reading, &args.messages))?;
        Ok(ConnectionsPlan {
            read,
            window: Window::after_seconds(args.pairing.pair_window),
            filter: RowFilter {
                endpoints: args.filters.endpoints,
                principals: args.filters.principals,
                outcomes: args.filters.outcomes,
                events: None,
            },
            finding: args.filters.finding,
            rules: rules(args.rules),
            format: args.format,
            output: args.output,
            redact: args.redact,
        })
    }
}

/// `trailscope findings`: what to list and how.
pub(crate) struct FindingsPlan {
    pub(crate) read: ReadPlan,
    pub(crate) window: Window,
    pub(crate) findings: FindingPlan,
    pub(crate) fail_on: Option<Severity>,
    pub(crate) format: FindingsFormat,
    pub(crate) output: Option<PathBuf>,
    pub(crate) redact: bool,
}

impl FindingsPlan {
    fn new(args: FindingsArgs) -> Result<FindingsPlan, clap::Error> {
        let read = ReadPlan::new(ReadArgs::listing("findings", args.input, args.reading, &args.messages))?;
        Ok(FindingsPlan {
            read,
            window: Window::after_seconds(args.pairing.pair_window),
            fail_on: args.findings.fail_on,
            findings: finding_plan("findings", args.findings)?,
            format: args.format,
            output: args.output,
            redact: args.redact,
        })
    }
}

/// `trailscope scan`: one shard of the sources, read into a partial.
pub(crate) struct ScanPlan {
    /// The reading, of this shard only.
    pub(crate) read: ReadPlan,
    pub(crate) shard: Shard,
    pub(crate) output: partial::Target,
}

impl ScanPlan {
    fn new(args: ScanArgs) -> Result<ScanPlan, clap::Error> {
        let mut read = ReadPlan::new(ReadArgs {
            subcommand: "scan",
            input: args.input,
            narrowing: args.narrowing,
            s3: args.s3,
            messages: &args.messages,
            verify: args.verify,
            state: None,
        })?;
        // `--shard env/N` with an index the environment does not give.
        let shard = args
            .shard
            .resolve(|name| std::env::var(name).ok())
            .map_err(usage("scan", ErrorKind::ValueValidation))?;
        read.options.filter.shard = Some(shard);
        read.s3_needed = matches!(args.output, partial::Target::S3(_));
        Ok(ScanPlan { read, shard, output: args.output })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn checks_across_options_are_usage_errors_of_their_kind() {
        let kind = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).expect("parses");
            Plan::new(cli).err().expect("a usage error").kind()
        };
        assert_eq!(
            kind(&["trailscope", "report", "--from", "2024-02-02", "--to", "2024-02-01", "a"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&["trailscope", "scan", "--shard", "env/2", "-o", "p.jsonl.gz", "a"]),
            ErrorKind::ValueValidation
        );
        for option in [&["--no-sign-request"][..], &["--verify"], &["--region", "us-east-1"]] {
            let mut args = vec!["trailscope", "report"];
            args.extend(option);
            args.push("cloudtrail://us-east-1");
            assert_eq!(kind(&args), ErrorKind::ArgumentConflict, "{option:?}");
        }
    }

    #[test]
    fn a_shard_reads_its_part_and_the_options_decide_the_reading() {
        let cli = Cli::try_parse_from([
            "trailscope",
            "scan",
            "--shard",
            "1/3",
            "--verify",
            "--include",
            "*.log",
            "-o",
            "s3://b/p.jsonl.gz",
            "a",
        ])
        .expect("parses");
        let Ok(Plan(Run::Scan(plan))) = Plan::new(cli) else { panic!("a scan") };
        assert_eq!(plan.read.options.filter.shard, Some(Shard { index: 1, count: 3 }));
        assert!(plan.read.s3_needed, "the partial goes to S3");
        assert!(plan.read.options.filter.digests && plan.read.verify.is_some());
        assert_eq!(plan.read.options.filter.include.len(), 1);
    }

    #[test]
    fn relist_says_every_folder_is_listed() {
        let plan = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).expect("parses");
            let Ok(Plan(Run::Report(plan))) = Plan::new(cli) else { panic!("a report") };
            plan.read.state.map(|s| s.relist_days)
        };
        assert_eq!(plan(&["trailscope", "report", "a"]), None);
        assert_eq!(plan(&["trailscope", "report", "--state", "d", "a"]), Some(Some(7)));
        assert_eq!(plan(&["trailscope", "report", "--state", "d", "--relist", "a"]), Some(None));
        assert_eq!(plan(&["trailscope", "report", "--state", "d", "--relist-days", "all", "a"]), Some(None));
    }
}
