//! The run driver of every command that reads an archive: [`run`] is its steps, a function each,
//! in order: open the state → read → merge partials → verify → analyse → render → commit → warn →
//! outcome. A command brings the analysis and the rendering ([`Command`]); everything else is
//! here: the runtime and the clients, the stores (wrapped with what `--state` knows), the
//! reading stage, the `-v` lines, the restore manifest, the partial merge, the strict and
//! nothing-readable checks, `--verify`, the state's commit, the warnings and the outcome. `scan`
//! shares the reading and the merge only ([`read_and_merge`]): it writes what it read as a partial,
//! whose verification is the merge's.

use std::path::Path;

use crate::analysis::changes::Baseline;
use crate::error::{ArchivedObject, FatalError, ObjectError, Reason};
use crate::keys::PublicKeys;
use crate::messages::{Bar, Log};
use crate::partial;
use crate::plan::{ReadPlan, VerifyPlan};
use crate::reading::{self, ReadOptions, Reading};
use crate::redact::Redactor;
use crate::report::StateSummary;
use crate::source::history::{self, HistoryClient};
use crate::source::s3::S3Client;
use crate::source::{self, Source};
use crate::state::State;
use crate::time::{Day, Timestamp};
use crate::verify::{Integrity, Scope};
use crate::Outcome;

use super::Found;

/// What a command does with an archive, between the driver's steps.
pub(crate) trait Command {
    /// What the analysis gives the rendering.
    type Analysed;

    /// Analyses what was read (and verified: `integrity`); `state`, when `--state` was given, says
    /// what changed since the last run.
    fn analyse(
        &mut self,
        read: &mut Read,
        integrity: Option<Integrity>,
        state: Option<&State>,
    ) -> Result<Self::Analysed, FatalError>;

    /// Writes the output, redacted by the run's `redactor`, and says what the later steps need.
    fn render(
        &mut self,
        analysed: Self::Analysed,
        read: &mut Read,
        state: Option<&State>,
        redactor: &mut Redactor,
    ) -> Result<Written, FatalError>;

    /// Warnings of the command's own, after the run's.
    fn warn(&self, _log: &Log) {}
}

/// What a command wrote, for the steps after it.
pub(crate) struct Written {
    /// What `--state` keeps for the next report's `changes`; `None` keeps the last one.
    pub(crate) baseline: Option<Baseline>,
    /// The state's part of the run, said on standard error when the output has no place for it.
    pub(crate) state_line: Option<StateSummary>,
    /// What to warn about, redacted as the output is.
    pub(crate) warnings: Warnings,
    /// What the outcome is decided by.
    pub(crate) found: Found,
}

/// What a run warns about on standard error, in this order.
#[derive(Default)]
pub(crate) struct Warnings {
    /// Objects read before that changed since (`--state`).
    pub(crate) changed: Vec<ObjectError>,
    pub(crate) failures: Vec<ObjectError>,
    pub(crate) archived: Vec<ArchivedObject>,
    pub(crate) integrity: Option<Integrity>,
}

impl Warnings {
    /// Every name and message in them as `--redact` hides it.
    pub(crate) fn redact(&mut self, redactor: &mut Redactor) -> Result<(), FatalError> {
        redactor.failures(&mut self.changed);
        redactor.failures(&mut self.failures);
        if let Some(integrity) = &mut self.integrity {
            redactor.integrity(integrity)?;
        }
        redactor.archived(&mut self.archived);
        Ok(())
    }

    /// What a listing writes beside its rows, which have no place for it: the warnings of what it
    /// read (taken from `reading`), redacted, and with `--state` the line on what the state did;
    /// `findings` is whether a finding fails the run, and decides its outcome with the rest (a
    /// listing has no `--fail-on-change`).
    pub(crate) fn of_listing(
        reading: &mut Reading,
        state: Option<&State>,
        integrity: Option<Integrity>,
        findings: bool,
        redactor: &mut Redactor,
    ) -> Result<(Warnings, Option<StateSummary>, Found), FatalError> {
        let summary = state.map(|state| state.summary(&reading.counts));
        let mut warnings = Warnings {
            changed: summary.as_ref().map_or_else(Vec::new, |s| changed_objects(&s.objects_changed)),
            failures: std::mem::take(&mut reading.failures),
            archived: std::mem::take(&mut reading.archived),
            integrity,
        };
        warnings.redact(redactor)?;
        let found = Found {
            unreadable: warnings.failures.len(),
            archived: warnings.archived.len(),
            problems: warnings.integrity.as_ref().map_or(0, Integrity::problems),
            findings,
            changed: false,
        };
        Ok((warnings, summary, found))
    }
}

/// Runs `command` over the archive `plan` says: the steps, in order.
pub(crate) fn run<C: Command>(
    plan: &ReadPlan,
    command: &mut C,
    redactor: &mut Redactor,
) -> Result<Outcome, FatalError> {
    let state = open_state(plan)?;
    let mut read = read(plan, state.as_ref(), redactor)?;
    merge(plan, &mut read, state.as_ref(), redactor)?;
    let integrity = verify(plan, &mut read, redactor)?;
    let analysed = command.analyse(&mut read, integrity, state.as_ref())?;
    let mut written = command.render(analysed, &mut read, state.as_ref(), redactor)?;
    commit(plan, state, &read, &mut written)?;
    warn(plan, &written.warnings);
    command.warn(&plan.log);
    Ok(super::outcome(written.found))
}

/// An archive, read.
pub(crate) struct Read {
    pub(crate) reading: Reading,
    /// The S3 client, when sources were on S3, for what a command asks of AWS afterwards. Its
    /// requests run on `_runtime`, which lives as long as it does.
    pub(crate) s3: Option<S3Client>,
    /// Partials made with `--verify` were merged: the options their shards read with, and the
    /// public keys the shards had. Their digests and log files are in `reading`.
    pub(crate) residue: Option<(crate::partial::Options, Option<crate::keys::PublicKeys>)>,
    _runtime: tokio::runtime::Runtime,
}

/// Reads and merges what `plan` says, without a state (`scan`).
pub(crate) fn read_and_merge(plan: &ReadPlan, redactor: &mut Redactor) -> Result<Read, FatalError> {
    let mut read = read(plan, None, redactor)?;
    merge(plan, &mut read, None, redactor)?;
    Ok(read)
}

/// The step "read": what `plan` says, through stores wrapped with what `state` (`--state`,
/// opened) knows. A stop on access errors is said redacted with the run's `redactor`.
fn read(plan: &ReadPlan, state: Option<&State>, redactor: &mut Redactor) -> Result<Read, FatalError> {
    let options = &plan.options;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("trailscope-io")
        .enable_all()
        .build()
        .map_err(|e| FatalError::pool(Some("I/O runtime"), e))?;
    // Only a run that reads S3 loads AWS configuration.
    let s3 = (plan.s3_needed || plan.sources.iter().any(|s| matches!(s, Source::S3(_))))
        .then(|| S3Client::connect(&plan.s3, &runtime));
    if let Some(client) = &s3 {
        plan.log.stage(format_args!("S3 client: {}", client.description));
    }
    let progress = std::sync::Arc::new(plan.log.bar());
    let history = connect_history(plan, options, &runtime, &progress);
    let mut regions = Vec::new();
    let mut stores =
        source::stores(&plan.sources, s3.as_ref(), history.as_ref(), &mut |found| regions.push(found))?;
    for found in &regions {
        plan.log.stage(format_args!("{found}"));
    }
    // With --state, every store asks the state what it already knows.
    if let Some(state) = state {
        stores = state.wrap(stores);
    }
    let scanned = reading::read(&stores, options, &runtime, &*progress);
    progress.finish();
    let mut reading = match scanned {
        Err(FatalError::AccessStopped { objects, mut example, mut cause }) if redactor.is_on() => {
            // The line names principals, accounts and keys: as redacted as a report would be.
            redactor.failures(std::slice::from_mut(&mut example));
            redactor.line(&mut cause);
            return Err(FatalError::AccessStopped { objects, example, cause });
        }
        other => other?,
    };
    if let Some(client) = &s3 {
        reading.counts.requests_throttled += client.throttled();
        reading.counts.requests_retried += client.retried();
    }
    if let Some(client) = &history {
        say_what_was_asked(client, &mut reading, plan);
    }
    say_what_was_read(&reading, options, plan, s3.is_some())?;
    if let Some(state) = state {
        let (listed, not_listed) = state.folders();
        plan.log.stage(format_args!(
            "state: {listed} day folders listed, {not_listed} taken from the state without listing"
        ));
    }
    Ok(Read { reading, s3, residue: None, _runtime: runtime })
}

/// The step "merge partials": partials read (`report PARTIAL...`) merged; then whether there is
/// anything to report at all.
fn merge(
    plan: &ReadPlan,
    read: &mut Read,
    state: Option<&State>,
    redactor: &mut Redactor,
) -> Result<(), FatalError> {
    if !read.reading.partials.is_empty() {
        read.residue = merge_partials(&mut read.reading, &plan.options, plan, state)?;
    }
    judge(&mut read.reading, &plan.options, plan, redactor)
}

/// The client of event history, when a source is `cloudtrail://`. A `--from` older than event
/// history reaches is said once.
fn connect_history(
    plan: &ReadPlan,
    options: &ReadOptions,
    runtime: &tokio::runtime::Runtime,
    progress: &std::sync::Arc<Bar>,
) -> Option<HistoryClient> {
    if !plan.sources.iter().any(|s| matches!(s, Source::History(_))) {
        return None;
    }
    if let Some(first) = history::too_old(&options.filter, plan.history.now) {
        plan.log.warn_line(&format!(
            "--from: event history (cloudtrail://) reaches back 90 days: its events are read from {first} on"
        ));
    }
    let client = HistoryClient::connect(&plan.history, &options.filter, runtime, progress.clone());
    plan.log.stage(format_args!("{}", client.description()));
    Some(client)
}

/// What event history's requests were, in the counts and, per region, in `--verbose` lines.
fn say_what_was_asked(client: &HistoryClient, scan: &mut Reading, plan: &ReadPlan) {
    use std::sync::atomic::Ordering::Relaxed;
    for (region, tally) in client.tallies() {
        let (requests, throttled) =
            (tally.requests.requests.load(Relaxed), tally.requests.throttled.load(Relaxed));
        scan.counts.lookup_requests += requests;
        scan.counts.lookup_requests_throttled += throttled;
        plan.log.stage(format_args!(
            "event history {region}: {requests} LookupEvents requests, {throttled} throttled and asked again, {} events kept, in {:.1} s",
            tally.events.load(Relaxed),
            tally.millis.load(Relaxed) as f64 / 1000.0
        ));
    }
}

/// The `--verbose` lines of what the reading did (throttling on S3, the counts, the state's
/// folders), and the restore manifest, when asked for.
fn say_what_was_read(
    scan: &Reading,
    options: &ReadOptions,
    plan: &ReadPlan,
    on_s3: bool,
) -> Result<(), FatalError> {
    if on_s3 && scan.counts.requests_throttled > 0 {
        let lowered = match scan.fewest_in_flight {
            Some(fewest) => {
                format!("GETs in flight lowered from {} to {fewest} at the least", options.concurrency)
            }
            None => "the GETs in flight were not lowered".to_owned(),
        };
        plan.log.stage(format_args!(
            "{} S3 requests were throttled (503 SlowDown) and retried, {lowered}",
            scan.counts.requests_throttled
        ));
    }
    if on_s3 && scan.counts.requests_retried > 0 {
        plan.log.stage(format_args!(
            "{} S3 requests were retried after breaking off, stalling or failing (503s apart)",
            scan.counts.requests_retried
        ));
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
        options.jobs,
        scan.counts.records,
        scan.kept.events.len(),
        scan.counts.skipped.total(),
        scan.failures.len(),
        scan.archived.len()
    ));
    Ok(())
}

/// Whether there is anything to report: nothing readable, or `--strict` with anything
/// unreadable, is fatal once the failures are warned about (through `redactor`).
fn judge(
    scan: &mut Reading,
    options: &ReadOptions,
    plan: &ReadPlan,
    redactor: &mut Redactor,
) -> Result<(), FatalError> {
    if scan.counts.objects_read == 0 || plan.strict {
        redactor.failures(&mut scan.failures);
    }
    // A shard may own nothing of a small archive: it still writes its (empty) partial.
    // Archived objects are not a reason to write nothing: the report says how to restore them.
    if scan.counts.objects_read == 0 && scan.archived.is_empty() && options.filter.shard.is_none() {
        plan.log.warn(&scan.failures);
        return Err(FatalError::NothingReadable {
            listed: scan.counts.objects_found as usize,
            failed: scan.failures.len(),
            skipped_by_name: scan.counts.skipped.other,
        });
    }
    if plan.strict {
        redactor.archived(&mut scan.archived);
    }
    if plan.strict && !(scan.failures.is_empty() && scan.archived.is_empty()) {
        plan.log.warn(&scan.failures);
        plan.log.warn_archived(&scan.archived, plan.restore_manifest.as_deref());
        return Err(FatalError::Strict { failed: scan.failures.len() + scan.archived.len() });
    }
    Ok(())
}

/// Partials were read (`report PARTIAL...`): merged as [`partial::merge_run`] rules, their
/// counts and failures are the run's; of partials made with `--verify`, the options and keys
/// their residues are verified with.
fn merge_partials(
    scan: &mut Reading,
    options: &ReadOptions,
    plan: &ReadPlan,
    state: Option<&State>,
) -> Result<Option<(crate::partial::Options, Option<crate::keys::PublicKeys>)>, FatalError> {
    let beside = partial::Beside {
        filter: &options.filter,
        state: state.is_some(),
        failures: &scan.failures,
        objects_read: scan.counts.objects_read,
    };
    let merged = partial::merge_run(&scan.partials, &beside)?;
    plan.log.stage(format_args!(
        "merged {} partials: {} objects read, {} Instance Connect records, {} digests and {} log files to verify",
        scan.partials.len(),
        merged.counts.objects_read,
        scan.kept.events.len(),
        scan.facts.digests(),
        scan.facts.logs()
    ));
    scan.counts = merged.counts;
    scan.failures = merged.failures;
    scan.archived = merged.archived;
    Ok(merged.verify.map(|options| (options, merged.keys)))
}

/// The step "open the state": `--state DIR`, when the plan has one, opened and locked.
fn open_state(plan: &ReadPlan) -> Result<Option<State>, FatalError> {
    let Some(state) = &plan.state else { return Ok(None) };
    let options = partial::Options::of(&plan.options.filter, plan.options.max_object_size);
    State::open(&state.dir, partial::source_names(&plan.sources), options, state.relist_days).map(Some)
}

/// The step "commit": the state written for the next run, once the output is (and its line said
/// when the output has no place for it).
fn commit(
    plan: &ReadPlan,
    state: Option<State>,
    read: &Read,
    written: &mut Written,
) -> Result<(), FatalError> {
    let Some(state) = state else { return Ok(()) };
    state.commit(&read.reading.kept, written.baseline.take())?;
    if let Some(summary) = &written.state_line {
        if !plan.log.quiet {
            eprintln!("trailscope: {}", crate::state::line(summary));
        }
    }
    Ok(())
}

/// The step "warn": what the run could not read or verify, and what changed, on standard error.
fn warn(plan: &ReadPlan, warnings: &Warnings) {
    plan.log.warn(&warnings.changed);
    plan.log.warn(&warnings.failures);
    plan.log.warn_archived(&warnings.archived, plan.restore_manifest.as_deref());
    plan.log.warn_integrity(warnings.integrity.as_ref());
}

/// Objects read before that changed since (`--state`), as warnings: a delivered CloudTrail log
/// file never changes.
pub(crate) fn changed_objects(names: &[String]) -> Vec<ObjectError> {
    crate::output::failures::changed(names)
}

/// A record kept during the scan could not be read back: the temporary folder failed under us.
pub(crate) fn spool_error(reason: Reason) -> FatalError {
    match reason {
        Reason::Read(e) => FatalError::Spool(e.to_error()),
        // The reason itself, as the I/O error's inner error: its message is the same.
        other => FatalError::Spool(other.into_io()),
    }
}

/// The step "verify" (`--verify`, or partials made with it): the digests and log hashes the
/// reading gathered, checked against each other and against CloudTrail's public keys (from
/// `--public-keys`, or the CloudTrail API for S3 sources); `None` without. Of partials made with
/// `scan --verify`, every shard's residue, verified together as one run verifies them. With
/// `--strict`, a problem found is fatal (after the problems are warned about).
fn verify(
    plan: &ReadPlan,
    read: &mut Read,
    redactor: &mut Redactor,
) -> Result<Option<Integrity>, FatalError> {
    // What the reading counted of the S3 client's retries; ListPublicKeys' come after.
    let retried = read.s3.as_ref().map_or(0, S3Client::retried);
    // Partials made with `--verify` are verified at their merge, with or without it.
    let integrity = match (&read.residue, &plan.verify) {
        (Some((options, keys)), verify) => {
            let public_keys = verify.as_ref().and_then(|v| v.public_keys.as_deref());
            Some(merged(public_keys, &read.reading, options, keys.clone(), plan)?)
        }
        (None, Some(verify)) => Some(integrity(verify, &read.reading, read.s3.as_ref(), plan)?),
        (None, None) => None,
    };
    if let Some(client) = &read.s3 {
        read.reading.counts.requests_retried += client.retried() - retried;
    }
    let problems = integrity.as_ref().map_or(0, Integrity::problems);
    if plan.strict && problems > 0 {
        let mut integrity = integrity;
        if let Some(integrity) = &mut integrity {
            redactor.integrity(integrity)?;
        }
        plan.log.warn_integrity(integrity.as_ref());
        return Err(FatalError::Unverified { problems });
    }
    Ok(integrity)
}

/// Verifies what `scan` read.
fn integrity(
    verify_plan: &VerifyPlan,
    scan: &Reading,
    s3: Option<&S3Client>,
    plan: &ReadPlan,
) -> Result<Integrity, FatalError> {
    let keys = keys(verify_plan, scan, s3, &plan.log)?;
    let filter = &plan.options.filter;
    check(scan, keys.as_ref(), scope(filter.from, filter.to), plan)
}

/// Verifies the residues of partials made with `--verify`, read with `options`, with the keys
/// their shards had (and those of `--public-keys`, when given to the merge).
fn merged(
    public_keys: Option<&Path>,
    scan: &Reading,
    options: &crate::partial::Options,
    mut keys: Option<PublicKeys>,
    plan: &ReadPlan,
) -> Result<Integrity, FatalError> {
    if let Some(path) = public_keys {
        let known = keys.get_or_insert_with(PublicKeys::default);
        for key in read_keys(path)?.iter() {
            known.insert(key.clone());
        }
    }
    let day = |text: &Option<String>| match text {
        None => Ok(None),
        Some(text) => Day::parse(text)
            .map(Some)
            .ok_or_else(|| FatalError::Partial(format!("a partial's range holds {text:?}, not a day"))),
    };
    check(scan, keys.as_ref(), scope(day(&options.from)?, day(&options.to)?), plan)
}

/// The public keys of `--public-keys`, or of the CloudTrail API for S3 sources; `None` for a local
/// copy without `--public-keys`.
pub(crate) fn keys(
    plan: &VerifyPlan,
    scan: &Reading,
    s3: Option<&S3Client>,
    log: &Log,
) -> Result<Option<PublicKeys>, FatalError> {
    Ok(match (&plan.public_keys, s3) {
        (Some(path), _) => Some(read_keys(path)?),
        (None, Some(client)) => Some(fetch_keys(scan, client, log)?),
        (None, None) => None,
    })
}

/// The day folders read: logs from --from to the day after --to (see `Filter`).
fn scope(from: Option<Day>, to: Option<Day>) -> Scope {
    Scope {
        days: match (from, to) {
            (None, None) => None,
            (from, to) => Some((from.unwrap_or(Day(i64::MIN / 4)), to.map_or(Day(i64::MAX / 4), Day::next))),
        },
    }
}

/// Verifies what was gathered, with `keys`, over `scope`.
fn check(
    scan: &Reading,
    keys: Option<&PublicKeys>,
    scope: Scope,
    plan: &ReadPlan,
) -> Result<Integrity, FatalError> {
    let integrity = scan.facts.verify(plan.part_bytes, keys, &scope).map_err(FatalError::Facts)?;
    plan.log.stage(format_args!(
        "verified {} log files against {} digests: {} problems",
        scan.facts.logs(),
        integrity.digests_read,
        integrity.problems()
    ));
    Ok(integrity)
}

fn read_keys(path: &Path) -> Result<PublicKeys, FatalError> {
    let bytes =
        std::fs::read(path).map_err(|cause| FatalError::Source { path: path.to_path_buf(), cause })?;
    PublicKeys::parse(&bytes).map_err(|problem| FatalError::PublicKeys { path: path.to_path_buf(), problem })
}

/// The keys of every home region the digests name, valid over the span their end times cover.
fn fetch_keys(scan: &Reading, client: &S3Client, log: &Log) -> Result<PublicKeys, FatalError> {
    let spans = scan.facts.home_regions();
    let mut keys = PublicKeys::default();
    for (region, (from, to)) in spans {
        // A key's window is inclusive; an hour on each side covers a digest signed at the edge.
        let fetched = client
            .public_keys(&region, Timestamp(from.millis() - 3_600_000), Timestamp(to.millis() + 3_600_000))
            .map_err(FatalError::S3)?;
        log.stage(format_args!("fetched {} CloudTrail public keys for {region}", fetched.len()));
        for key in fetched {
            keys.insert(key);
        }
    }
    Ok(keys)
}
