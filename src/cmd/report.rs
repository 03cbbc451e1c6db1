//! `trailscope report`: list and read the sources, analyze, render, write.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::analysis::{self, Window};
use crate::cli::ReportArgs;
use crate::decode::Reason;
use crate::error::{FatalError, ObjectError};
use crate::output::{self, RenderOptions};
use crate::report::{Report, Summary, SCHEMA_VERSION};
use crate::scan::{self, Progress, ReadOptions};
use crate::source::layout::Filter;
use crate::source::s3::{S3Client, S3Options};
use crate::source::{self, Source};
use crate::Outcome;

/// Bytes fetched whole but not yet read, at most: enough to keep every worker busy on objects of
/// a few MB while the next ones download.
const DOWNLOAD_BUDGET: u64 = 64 << 20;

pub fn run(args: &ReportArgs) -> Result<Outcome, FatalError> {
    let started = Instant::now();
    let verbose = |message: std::fmt::Arguments<'_>| {
        if args.verbose {
            eprintln!("trailscope: {message} [{:.2?}]", started.elapsed());
        }
    };
    let filter = Filter {
        from: args.from,
        to: args.to,
        accounts: args.accounts.iter().cloned().collect(),
        regions: args.regions.iter().cloned().collect(),
    };
    let runtime = io_runtime()?;
    // Only a run that reads S3 loads AWS configuration.
    let s3 = args.sources.iter().any(|s| matches!(s, Source::S3(_))).then(|| {
        S3Client::connect(
            &S3Options {
                profile: args.profile.clone(),
                region: args.bucket_region.clone(),
                endpoint_url: args.endpoint_url.clone(),
                no_sign_request: args.no_sign_request,
                concurrency: args.s3_concurrency.get(),
                timeout: Duration::from_secs(args.s3_timeout.get()),
            },
            &runtime,
        )
    });
    if let Some(client) = &s3 {
        verbose(format_args!("S3 client: {}", client.description));
    }
    let stores = source::stores(&args.sources, s3.as_ref())?;
    let options = ReadOptions {
        jobs: args.jobs.map_or_else(rayon::current_num_threads, |n| n.get()),
        max_object_size: args.max_object_size,
        concurrency: args.s3_concurrency.get(),
        budget: DOWNLOAD_BUDGET,
        filter: filter.clone(),
    };
    let progress = Bar::new(args.quiet);
    let scan = scan::scan(&stores, &options, &runtime, &progress)?;
    progress.0.finish_and_clear();
    verbose(format_args!(
        "listed {} objects, read {} on {} threads: {} records, {} Instance Connect events, {} skipped, {} unreadable",
        scan.objects_listed,
        scan.objects_read,
        options.jobs,
        scan.records,
        scan.kept.events.len(),
        scan.skipped.total(),
        scan.failures.len()
    ));

    let mut failures = scan.failures;
    if args.redact && (scan.objects_read == 0 || args.strict) {
        crate::redact::redact_failures(&mut failures);
    }
    if scan.objects_read == 0 {
        warn(&failures, args.quiet);
        return Err(FatalError::NothingReadable {
            listed: scan.objects_found as usize,
            failed: failures.len(),
        });
    }
    if args.strict && !failures.is_empty() {
        warn(&failures, args.quiet);
        return Err(FatalError::Strict { failed: failures.len() });
    }

    let activity = analysis::activity(&scan.kept, Window::after_seconds(args.pair_window));
    let analysis = analysis::analyze(&activity).map_err(spool_error)?;
    verbose(format_args!(
        "paired and classified: {} connections through {} endpoints, {} duplicate events dropped",
        analysis.connections,
        analysis.endpoints.len(),
        analysis.duplicate_events + analysis.conflicting_duplicates
    ));
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        summary: Summary {
            objects_listed: scan.objects_listed,
            objects_read: scan.objects_read,
            objects_skipped: scan.skipped.total(),
            skipped: scan.skipped,
            objects_failed: failures.len() as u64,
            records: scan.records,
            instance_connect_events: analysis.instance_connect_events,
            duplicate_events: analysis.duplicate_events,
            conflicting_duplicates: analysis.conflicting_duplicates,
            events_without_time: analysis.events_without_time,
            events_out_of_range: scan.events_out_of_range,
            connections: analysis.connections,
            denied_attempts: analysis.denied_attempts,
            endpoints: analysis.endpoints.len() as u64,
            connections_without_key: analysis.connections_without_key,
            tunnels_without_endpoint: analysis.tunnels_without_endpoint,
            pair_window_seconds: args.pair_window,
        },
        endpoints: analysis.endpoints,
        direct: analysis.direct,
        other_events: analysis.other_events,
        event_names: analysis.event_names,
        fields: analysis.fields,
        conflicts: analysis.conflicts,
        failures,
    };
    if args.redact {
        crate::redact::redact(&mut report);
    }
    let rendered = output::render(&report, args.format, &RenderOptions { all: args.all });
    output::write(args.output.as_deref(), &rendered)?;
    warn(&report.failures, args.quiet);
    Ok(if report.failures.is_empty() { Outcome::Complete } else { Outcome::Incomplete })
}

/// The runtime that carries listings and downloads; workers parse on a pool of their own.
fn io_runtime() -> Result<tokio::runtime::Runtime, FatalError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("trailscope-io")
        .enable_all()
        .build()
        .map_err(|e| FatalError::Pool(format!("I/O runtime: {e}")))
}

/// A record kept during the scan could not be read back: the temporary folder failed under us.
fn spool_error(reason: Reason) -> FatalError {
    match reason {
        Reason::Read(e) => FatalError::Spool(e),
        other => FatalError::Spool(std::io::Error::other(other.to_string())),
    }
}

/// One line per unreadable object on stderr, sorted, after the work is done.
fn warn(failures: &[ObjectError], quiet: bool) {
    if quiet {
        return;
    }
    for failure in failures {
        eprintln!("trailscope: warning: {}: {}", failure.object, failure.error);
    }
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
