//! What every command that reads an archive shares: the reading a [`ReadPlan`] says (S3 client,
//! stores, `--state`, the reading stage), with the checks that decide whether there is anything to
//! report at all.

use crate::analysis::changes::Baseline;
use crate::error::{FatalError, ObjectError, Reason};
use crate::messages::Bar;
use crate::partial;
use crate::plan::ReadPlan;
use crate::redact::Redactor;
use crate::scan::{self, ReadOptions, Scan};
use crate::source::history::{self, HistoryClient};
use crate::source::s3::S3Client;
use crate::source::{self, Source};
use crate::state::State;
use crate::verify::Integrity;

use super::Found;

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

/// Reads what `plan` says, taking from `state` (`--state`, opened) what earlier runs read. Nothing
/// readable, or `--strict` with anything unreadable, is fatal (after the failures are warned
/// about, through the run's `redactor`).
pub(crate) fn read(
    plan: &ReadPlan,
    state: Option<&State>,
    redactor: &mut Redactor,
) -> Result<Read, FatalError> {
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
    let scanned = scan::scan(&stores, options, &runtime, &*progress);
    progress.finish();
    let mut scan = match scanned {
        Err(FatalError::AccessStopped { objects, mut example, mut cause }) if redactor.is_on() => {
            // The line names principals, accounts and keys: as redacted as a report would be.
            redactor.failures(std::slice::from_mut(&mut example));
            redactor.line(&mut cause);
            return Err(FatalError::AccessStopped { objects, example, cause });
        }
        other => other?,
    };
    if let Some(client) = &s3 {
        scan.counts.requests_throttled += client.throttled();
        scan.counts.requests_retried += client.retried();
    }
    if let Some(client) = &history {
        say_what_was_asked(client, &mut scan, plan);
    }
    say_what_was_read(&scan, options, plan, s3.is_some())?;
    if let Some(state) = state {
        let (listed, not_listed) = state.folders();
        plan.log.stage(format_args!(
            "state: {listed} day folders listed, {not_listed} taken from the state without listing"
        ));
    }
    let residue = if scan.partials.is_empty() { None } else { merge(&mut scan, options, plan, state)? };
    judge(&mut scan, options, plan, redactor)?;
    Ok(Read { scan, s3, residue, _runtime: runtime })
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
fn say_what_was_asked(client: &HistoryClient, scan: &mut Scan, plan: &ReadPlan) {
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
    scan: &Scan,
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
    scan: &mut Scan,
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
fn merge(
    scan: &mut Scan,
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

/// Opens `--state DIR`, when the plan has one, for its reading.
pub(crate) fn open_state(plan: &ReadPlan) -> Result<Option<State>, FatalError> {
    let Some(state) = &plan.state else { return Ok(None) };
    let options = partial::Options::of(&plan.options.filter, plan.options.max_object_size);
    State::open(&state.dir, partial::source_names(&plan.sources), options, state.relist_days).map(Some)
}

/// Objects read before that changed since (`--state`), as warnings: a delivered CloudTrail log
/// file never changes.
pub(crate) fn changed_objects(names: &[String]) -> Vec<ObjectError> {
    crate::output::failures::changed(names)
}

/// The end of a listing (`connections`, `findings`), once its list is written: with `--state`,
/// what this run read is kept (with `baseline`, the findings' ids, when given) and said on
/// standard error, since the list has no place for it; then the objects changed, unreadable or
/// archived and `--verify`'s problems are warned about, redacted; what was found, for
/// [`super::outcome`].
pub(crate) fn listed_read(
    plan: &ReadPlan,
    scan: Scan,
    state: Option<State>,
    mut integrity: Option<Integrity>,
    baseline: Option<Baseline>,
    redactor: &mut Redactor,
) -> Result<Found, FatalError> {
    let log = &plan.log;
    let problems = integrity.as_ref().map_or(0, |i| i.problems());
    let mut failures = scan.failures;
    let mut changed = Vec::new();
    if let Some(state) = state {
        let summary = state.summary(&scan.counts);
        state.commit(&scan.kept, baseline)?;
        if !log.quiet {
            eprintln!("trailscope: {}", crate::state::line(&summary));
        }
        changed = changed_objects(&summary.objects_changed);
    }
    redactor.failures(&mut changed);
    redactor.failures(&mut failures);
    if let Some(integrity) = &mut integrity {
        redactor.integrity(integrity)?;
    }
    let mut archived = scan.archived;
    redactor.archived(&mut archived);
    log.warn(&changed);
    log.warn(&failures);
    log.warn_archived(&archived, plan.restore_manifest.as_deref());
    log.warn_integrity(integrity.as_ref());
    Ok(Found { unreadable: failures.len(), archived: archived.len(), problems, ..Found::default() })
}

/// A record kept during the scan could not be read back: the temporary folder failed under us.
pub(crate) fn spool_error(reason: Reason) -> FatalError {
    match reason {
        Reason::Read(e) => FatalError::Spool(e.to_error()),
        // The reason itself, as the I/O error's inner error: its message is the same.
        other => FatalError::Spool(other.into_io()),
    }
}
