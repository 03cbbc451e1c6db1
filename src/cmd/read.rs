//! What every command that reads an archive shares: the options turned into one typed plan, and
//! the reading itself (S3 client, stores, the reading stage), with the checks that decide whether
//! there is anything to report at all.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{InputArgs, MessageArgs, NarrowingArgs, S3Args};
use crate::error::{FatalError, ObjectError, Reason};
use crate::output::sanitize;
use crate::scan::{self, Progress, ReadOptions, Scan};
use crate::source::layout::Filter;
use crate::source::s3::{S3Client, S3Options};
use crate::source::{self, Source};

/// Bytes fetched whole but not yet read, at most: enough to keep every worker busy on objects of
/// a few MB while the next ones download.
const DOWNLOAD_BUDGET: u64 = 64 << 20;

/// What to read and how, decided once from the arguments.
pub(crate) struct ReadPlan {
    pub(crate) sources: Vec<Source>,
    pub(crate) options: ReadOptions,
    pub(crate) s3: S3Options,
    pub(crate) strict: bool,
    pub(crate) log: Log,
    /// Connect to S3 even when no source is there (a partial written to S3).
    pub(crate) s3_needed: bool,
}

impl ReadPlan {
    pub(crate) fn new(
        input: &InputArgs,
        narrowing: &NarrowingArgs,
        s3: &S3Args,
        messages: &MessageArgs,
        digests: bool,
    ) -> Self {
        ReadPlan {
            sources: input.sources.clone(),
            options: ReadOptions {
                jobs: input.jobs.map_or_else(rayon::current_num_threads, |n| n.get()),
                max_object_size: input.max_object_size,
                concurrency: s3.s3_concurrency.get(),
                budget: DOWNLOAD_BUDGET,
                filter: Filter {
                    from: narrowing.from,
                    to: narrowing.to,
                    accounts: narrowing.accounts.iter().cloned().collect(),
                    regions: narrowing.regions.iter().cloned().collect(),
                    digests,
                    shard: None,
                },
            },
            s3: S3Options {
                profile: s3.profile.clone(),
                region: s3.bucket_region.clone(),
                endpoint_url: s3.endpoint_url.clone(),
                no_sign_request: s3.no_sign_request,
                concurrency: s3.s3_concurrency.get(),
                timeout: Duration::from_secs(s3.s3_timeout.get()),
            },
            strict: input.strict,
            log: Log { started: Instant::now(), quiet: messages.quiet, verbose: messages.verbose },
            s3_needed: false,
        }
    }
}

/// Messages on stderr: warnings unless `--quiet`, stage lines with `--verbose`.
pub(crate) struct Log {
    started: Instant,
    pub(crate) quiet: bool,
    verbose: bool,
}

impl Log {
    /// A `--verbose` line, with the time since the run started.
    pub(crate) fn stage(&self, message: std::fmt::Arguments<'_>) {
        if self.verbose {
            eprintln!("trailscope: {message} [{:.2?}]", self.started.elapsed());
        }
    }

    /// One line per unreadable object, sorted, after the work is done. Names and reasons are
    /// escaped: an S3 key or a file name can hold any character, a terminal escape included.
    pub(crate) fn warn(&self, failures: &[ObjectError]) {
        if self.quiet {
            return;
        }
        for failure in failures {
            eprintln!(
                "trailscope: warning: {}: {}",
                sanitize::escape(&failure.object),
                sanitize::escape(&failure.error)
            );
        }
    }

    /// One line per problem verification found.
    pub(crate) fn warn_integrity(&self, integrity: Option<&crate::digest::Integrity>) {
        if self.quiet {
            return;
        }
        for line in integrity.map(|i| i.problem_lines()).unwrap_or_default() {
            eprintln!("trailscope: warning: {}", sanitize::escape(&line));
        }
    }
}

/// An archive, read.
pub(crate) struct Read {
    pub(crate) scan: Scan,
    /// The S3 client, when sources were on S3, for what a command asks of AWS afterwards. Its
    /// requests run on `_runtime`, which lives as long as it does.
    pub(crate) s3: Option<S3Client>,
    /// Partials made with `--verify` were merged: the options their shards read with, and the
    /// public keys the shards had. Their digests and log files are in `scan`.
    pub(crate) residue: Option<(crate::partial::Options, Option<crate::digest::PublicKeys>)>,
    _runtime: tokio::runtime::Runtime,
}

/// Reads what `plan` says. Nothing readable, or `--strict` with anything unreadable, is fatal
/// (after the failures are warned about); `redact` redacts those warnings.
pub(crate) fn read(plan: &ReadPlan, redact: bool) -> Result<Read, FatalError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("trailscope-io")
        .enable_all()
        .build()
        .map_err(|e| FatalError::Pool(format!("I/O runtime: {e}")))?;
    // Only a run that reads S3 loads AWS configuration.
    let s3 = (plan.s3_needed || plan.sources.iter().any(|s| matches!(s, Source::S3(_))))
        .then(|| S3Client::connect(&plan.s3, &runtime));
    if let Some(client) = &s3 {
        plan.log.stage(format_args!("S3 client: {}", client.description));
    }
    let stores = source::stores(&plan.sources, s3.as_ref())?;
    let progress = Bar::new(plan.log.quiet);
    let mut scan = scan::scan(&stores, &plan.options, &runtime, &progress)?;
    progress.0.finish_and_clear();
    plan.log.stage(format_args!(
        "listed {} objects, read {} on {} threads: {} records, {} Instance Connect events, {} skipped, {} unreadable",
        scan.counts.objects_listed,
        scan.counts.objects_read,
        plan.options.jobs,
        scan.counts.records,
        scan.kept.events.len(),
        scan.counts.skipped.total(),
        scan.failures.len()
    ));
    let residue = if scan.partials.is_empty() { None } else { merge(&mut scan, plan)? };
    if redact && (scan.counts.objects_read == 0 || plan.strict) {
        crate::redact::redact_failures(&mut scan.failures);
    }
    // A shard may own nothing of a small archive: it still writes its (empty) partial.
    if scan.counts.objects_read == 0 && plan.options.filter.shard.is_none() {
        plan.log.warn(&scan.failures);
        return Err(FatalError::NothingReadable {
            listed: scan.counts.objects_found as usize,
            failed: scan.failures.len(),
        });
    }
    if plan.strict && !scan.failures.is_empty() {
        plan.log.warn(&scan.failures);
        return Err(FatalError::Strict { failed: scan.failures.len() });
    }
    Ok(Read { scan, s3, residue, _runtime: runtime })
}

/// Partials were read (`report PARTIAL...`): they must be every shard of one run and nothing
/// else, and then their counts and failures are the run's; of partials made with `--verify`, the
/// options and keys their residues are verified with.
fn merge(
    scan: &mut Scan,
    plan: &ReadPlan,
) -> Result<Option<(crate::partial::Options, Option<crate::digest::PublicKeys>)>, FatalError> {
    let refuse = |message: String| Err(FatalError::Partial(message));
    let filter = &plan.options.filter;
    if filter.shard.is_some() {
        return refuse("`scan` reads an archive, not partials".into());
    }
    if filter.from.is_some()
        || filter.to.is_some()
        || !filter.accounts.is_empty()
        || !filter.regions.is_empty()
    {
        return refuse("narrowing options belong to `scan`: the partials were read with theirs".into());
    }
    if let Some(failure) = scan.failures.first() {
        return refuse(format!("{}: {} (a shard may be lost)", failure.object, failure.error));
    }
    if scan.counts.objects_read > 0 {
        return refuse(format!(
            "{} log objects were given beside {} partials: give partials only",
            scan.counts.objects_read,
            scan.partials.len()
        ));
    }
    let merged = crate::partial::merge(&scan.partials).map_err(FatalError::Partial)?;
    if filter.digests && merged.verify.is_none() {
        return refuse(
            "--verify: these partials were made without it (`scan --verify` makes partials that verify)"
                .into(),
        );
    }
    plan.log.stage(format_args!(
        "merged {} partials: {} objects read, {} Instance Connect records, {} digests and {} log files to verify",
        scan.partials.len(),
        merged.counts.objects_read,
        scan.kept.events.len(),
        scan.digests.len(),
        scan.logs.len()
    ));
    scan.counts = merged.counts;
    scan.failures = merged.failures;
    // The keys every shard had, together; none when no shard had any (signatures are then
    // unchecked for that reason, as in one run without keys).
    let mut keys: Option<crate::digest::PublicKeys> = None;
    for key in scan.partials.iter_mut().filter_map(|p| p.keys.take()) {
        let known = keys.get_or_insert_with(Default::default);
        key.into_iter().for_each(|k| known.insert(k));
    }
    Ok(merged.verify.map(|options| (options, keys)))
}

/// A bar on stderr only for a person watching: never under cron, in a pipe, or with `-q`. Its
/// length grows as the listing finds objects.
struct Bar(ProgressBar);

impl Bar {
    fn new(quiet: bool) -> Bar {
        if quiet || !std::io::stderr().is_terminal() {
            return Bar(ProgressBar::hidden());
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} reading {pos}/{len} objects [{bar:30}] {elapsed_precise}, eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar(bar)
    }
}

impl Progress for Bar {
    fn read(&self, listed: u64) {
        self.0.set_length(listed);
        self.0.inc(1);
    }
}

/// A record kept during the scan could not be read back: the temporary folder failed under us.
pub(crate) fn spool_error(reason: Reason) -> FatalError {
    match reason {
        Reason::Read(e) => FatalError::Spool(e),
        other => FatalError::Spool(std::io::Error::other(other.to_string())),
    }
}
