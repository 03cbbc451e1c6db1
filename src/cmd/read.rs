//! What every command that reads an archive shares: the options turned into one typed plan, and
//! the reading itself (S3 client, stores, the reading stage), with the checks that decide whether
//! there is anything to report at all.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{InputArgs, MessageArgs, NarrowingArgs, S3Args, StateArgs};
use crate::error::{ArchivedObject, FatalError, ObjectError, Reason};
use crate::output::sanitize;
use crate::scan::{self, Progress, ReadOptions, Scan};
use crate::source::filter::Filter;
use crate::source::s3::{S3Client, S3Options};
use crate::source::{self, Source};
use crate::state::{self, State};

/// Bytes fetched whole but not yet read, at most: enough to keep every worker busy on objects of
/// a few MB while the next ones download.
const DOWNLOAD_BUDGET: u64 = 64 << 20;

/// What to read and how, decided once from the arguments.
pub(crate) struct ReadPlan {
    pub(crate) sources: Vec<Source>,
    pub(crate) options: ReadOptions,
    pub(crate) s3: S3Options,
    pub(crate) strict: bool,
    /// `--restore-manifest`: where the archived objects are listed for S3 Batch Operations.
    pub(crate) restore_manifest: Option<std::path::PathBuf>,
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
                    include: input.include.clone(),
                    settled: None,
                    settled_on_s3: false,
                },
                known: None,
            },
            s3: S3Options {
                profile: s3.profile.clone(),
                region: s3.bucket_region.clone(),
                endpoint_url: s3.endpoint_url.clone(),
                no_sign_request: s3.no_sign_request,
                request_payer: s3.request_payer.is_some(),
                concurrency: s3.s3_concurrency.get(),
                timeout: Duration::from_secs(s3.s3_timeout.get()),
            },
            strict: input.strict,
            restore_manifest: s3.restore_manifest.clone(),
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

    /// The unreadable objects, after the work is done, grouped by reason: a reason with few
    /// objects gets a line per object (with its whole error), one with many a single line with
    /// the count and a few names, so a storm of thousands of failures stays a few lines. Names
    /// and reasons are escaped: an S3 key or a file name can hold any character, a terminal
    /// escape included.
    pub(crate) fn warn(&self, failures: &[ObjectError]) {
        if self.quiet {
            return;
        }
        for line in failure_lines(failures) {
            eprintln!("trailscope: warning: {}", sanitize::escape(&line));
        }
    }

    /// One line about the archived objects: how many, and how to get them back.
    pub(crate) fn warn_archived(&self, archived: &[ArchivedObject], manifest: Option<&std::path::Path>) {
        if self.quiet || archived.is_empty() {
            return;
        }
        let names: Vec<&str> = archived.iter().map(|a| a.object.as_str()).collect();
        let next = match manifest {
            Some(path) => format!("restore them with the manifest {}", path.display()),
            None => "--restore-manifest FILE lists them for S3 Batch Operations".to_owned(),
        };
        let line = format!(
            "{} objects in archive storage classes, not read ({}): {}; {next}, then run again",
            crate::error::thousands(archived.len()),
            archive_classes(archived),
            crate::error::some_names(&names),
        );
        eprintln!("trailscope: warning: {}", sanitize::escape(&line));
    }

    /// One line per problem verification found.
    pub(crate) fn warn_integrity(&self, integrity: Option<&crate::verify::Integrity>) {
        if self.quiet {
            return;
        }
        for line in integrity.map(|i| i.problem_lines()).unwrap_or_default() {
            eprintln!("trailscope: warning: {}", sanitize::escape(&line));
        }
    }
}

/// The lines that say what could not be read: per object for reasons with few objects, one per
/// reason for the rest.
pub(crate) fn failure_lines(failures: &[ObjectError]) -> Vec<String> {
    let (few, many) = crate::error::split_failures(failures);
    let mut lines: Vec<String> = few.iter().map(|f| format!("{}: {}", f.object, f.error)).collect();
    for group in many {
        let names: Vec<&str> = group.failures.iter().map(|f| f.object.as_str()).collect();
        lines.push(format!(
            "{} objects: {}: {}",
            crate::error::thousands(names.len()),
            group.reason,
            crate::error::some_names(&names)
        ));
    }
    lines
}

/// `2 GLACIER, 1 DEEP_ARCHIVE`: the archived objects counted by storage class.
pub(crate) fn archive_classes(archived: &[ArchivedObject]) -> String {
    let mut classes = std::collections::BTreeMap::<&str, usize>::new();
    for object in archived {
        *classes.entry(&object.storage_class).or_default() += 1;
    }
    classes
        .iter()
        .map(|(class, n)| format!("{} {class}", crate::error::thousands(*n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An archive, read.
pub(crate) struct Read {
    pub(crate) scan: Scan,
    /// The S3 client, when sources were on S3, for what a command asks of AWS afterwards. Its
    /// requests run on `_runtime`, which lives as long as it does.
    pub(crate) s3: Option<S3Client>,
    /// Partials made with `--verify` were merged: the options their shards read with, and the
    /// public keys the shards had. Their digests and log files are in `scan`.
    pub(crate) residue: Option<(crate::partial::Options, Option<crate::keys::PublicKeys>)>,
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
    let mut regions = Vec::new();
    let stores = source::stores(&plan.sources, s3.as_ref(), &mut |found| regions.push(found))?;
    for found in &regions {
        plan.log.stage(format_args!("{found}"));
    }
    let progress = Bar::new(plan.log.quiet);
    let scanned = scan::scan(&stores, &plan.options, &runtime, &progress);
    progress.0.finish_and_clear();
    let mut scan = match scanned {
        Err(FatalError::AccessStopped { objects, mut example, mut cause }) if redact => {
            // The line names principals, accounts and keys: as redacted as a report would be.
            let mut both = [example, ObjectError { object: cause, error: String::new() }];
            crate::redact::redact_failures(&mut both);
            [example, ObjectError { object: cause, .. }] = both;
            return Err(FatalError::AccessStopped { objects, example, cause });
        }
        other => other?,
    };
    if let Some(client) = &s3 {
        scan.counts.requests_throttled += client.throttled();
        if scan.counts.requests_throttled > 0 {
            let lowered = match scan.fewest_in_flight {
                Some(fewest) => format!(
                    "GETs in flight lowered from {} to {fewest} at the least",
                    plan.options.concurrency
                ),
                None => "the GETs in flight were not lowered".to_owned(),
            };
            plan.log.stage(format_args!(
                "{} S3 requests were throttled (503 SlowDown) and retried, {lowered}",
                scan.counts.requests_throttled
            ));
        }
    }
    if let Some(path) = &plan.restore_manifest {
        crate::output::write(Some(path), &crate::output::restore_manifest(&scan.archived))?;
        plan.log.stage(format_args!(
            "wrote {} archived objects to the restore manifest {}",
            scan.archived.len(),
            path.display()
        ));
    }
    plan.log.stage(format_args!(
        "listed {} objects, read {} on {} threads: {} records, {} Instance Connect events, {} skipped, {} unreadable, {} archived",
        scan.counts.objects_listed,
        scan.counts.objects_read,
        plan.options.jobs,
        scan.counts.records,
        scan.kept.events.len(),
        scan.counts.skipped.total(),
        scan.failures.len(),
        scan.archived.len()
    ));
    if let Some(state) = &scan.state {
        plan.log.stage(format_args!(
            "state: {} day folders listed, {} taken from the state without listing",
            state.folders.len() as u64 - state.folders_not_listed,
            state.folders_not_listed
        ));
    }
    let residue = if scan.partials.is_empty() { None } else { merge(&mut scan, plan)? };
    if let Some(records) = scan.state.as_ref().and_then(|s| s.records.as_ref()) {
        state::check_read(records)?;
    }
    if redact && (scan.counts.objects_read == 0 || plan.strict) {
        crate::redact::redact_failures(&mut scan.failures);
    }
    // A shard may own nothing of a small archive: it still writes its (empty) partial.
    // Archived objects are not a reason to write nothing: the report says how to restore them.
    if scan.counts.objects_read == 0 && scan.archived.is_empty() && plan.options.filter.shard.is_none() {
        plan.log.warn(&scan.failures);
        return Err(FatalError::NothingReadable {
            listed: scan.counts.objects_found as usize,
            failed: scan.failures.len(),
            skipped_by_name: scan.counts.skipped.other,
        });
    }
    if redact && plan.strict {
        crate::redact::redact_archived_with(&mut Default::default(), &mut scan.archived);
    }
    if plan.strict && !(scan.failures.is_empty() && scan.archived.is_empty()) {
        plan.log.warn(&scan.failures);
        plan.log.warn_archived(&scan.archived, plan.restore_manifest.as_deref());
        return Err(FatalError::Strict { failed: scan.failures.len() + scan.archived.len() });
    }
    Ok(Read { scan, s3, residue, _runtime: runtime })
}

/// Partials were read (`report PARTIAL...`): they must be every shard of one run and nothing
/// else, and then their counts and failures are the run's; of partials made with `--verify`, the
/// options and keys their residues are verified with.
fn merge(
    scan: &mut Scan,
    plan: &ReadPlan,
) -> Result<Option<(crate::partial::Options, Option<crate::keys::PublicKeys>)>, FatalError> {
    let refuse = |message: String| Err(FatalError::Partial(message));
    let filter = &plan.options.filter;
    if filter.shard.is_some() {
        return refuse("`scan` reads an archive, not partials".into());
    }
    if plan.options.known.is_some() {
        return refuse("--state keeps what an archive's objects gave: give the archive, not partials".into());
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
    scan.archived = merged.archived;
    // The keys every shard had, together; none when no shard had any (signatures are then
    // unchecked for that reason, as in one run without keys).
    let mut keys: Option<crate::keys::PublicKeys> = None;
    for key in scan.partials.iter_mut().filter_map(|p| p.keys.take()) {
        let known = keys.get_or_insert_with(Default::default);
        key.into_iter().for_each(|k| known.insert(k));
    }
    Ok(merged.verify.map(|options| (options, keys)))
}

/// Opens `--state DIR`, when given, for a run of `plan`, and hands what it holds to the reading.
pub(crate) fn open_state(plan: &mut ReadPlan, args: &StateArgs) -> Result<Option<State>, FatalError> {
    let Some(dir) = args.state.as_deref() else { return Ok(None) };
    let options = state::options(&plan.options.filter, plan.options.max_object_size);
    let state = State::open(dir, state::source_names(&plan.sources), options, args.relist_days())?;
    plan.options.known = Some(state.known());
    plan.options.filter.settled = Some(state.settled());
    plan.options.filter.settled_on_s3 = state.walk_pays();
    Ok(Some(state))
}

/// Objects read before that changed since (`--state`), as warnings: a delivered CloudTrail log
/// file never changes.
pub(crate) fn changed_objects(names: &[String]) -> Vec<ObjectError> {
    names
        .iter()
        .map(|name| ObjectError {
            object: name.clone(),
            error: "changed since an earlier run read it (size or ETag or modification time): read again; \
                    a delivered log file should never change"
                .into(),
        })
        .collect()
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
        // The reason itself, as the I/O error's inner error: its message is the same.
        other => FatalError::Spool(other.into_io()),
    }
}
