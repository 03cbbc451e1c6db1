//! `trailscope report`: list the sources, scan them, analyze, render, write.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::analysis::{self, Window};
use crate::cli::ReportArgs;
use crate::error::{FatalError, ObjectError};
use crate::output::{self, RenderOptions};
use crate::report::{Report, Summary, SCHEMA_VERSION};
use crate::scan::ScanConfig;
use crate::source::layout::Filter;
use crate::source::s3::{S3Options, S3Session};
use crate::source::Source;
use crate::{scan, source, Outcome};

/// Downloaded bytes waiting to be parsed, at most: enough to keep every worker busy on objects of
/// a few MB while the next ones download, small next to the 150 MB memory goal.
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
    // Only a run that reads S3 loads AWS configuration.
    let s3 = if args.sources.iter().any(|s| matches!(s, Source::S3(_))) {
        Some(S3Session::connect(&S3Options {
            profile: args.profile.clone(),
            region: args.bucket_region.clone(),
            endpoint_url: args.endpoint_url.clone(),
            no_sign_request: args.no_sign_request,
            concurrency: args.s3_concurrency.get(),
            timeout: Duration::from_secs(args.s3_timeout.get()),
        })?)
    } else {
        None
    };
    if let Some(session) = &s3 {
        verbose(format_args!("S3 client: {}", session.description));
    }
    let listing = source::list(&args.sources, &filter, s3.as_ref())?;
    verbose(format_args!(
        "listed {} objects: {} to read, {} skipped, {} could not be listed",
        listing.listed,
        listing.objects.len(),
        listing.skipped.total(),
        listing.failures.len()
    ));
    let config = ScanConfig {
        jobs: args.jobs.map_or_else(rayon::current_num_threads, |n| n.get()),
        max_object_size: args.max_object_size,
        download_budget: DOWNLOAD_BUDGET,
    };
    let progress = progress_bar(listing.objects.len() as u64, args.quiet);
    let mut scan = scan::scan(&listing.objects, config, s3.as_ref(), &progress)?;
    progress.finish_and_clear();
    verbose(format_args!(
        "read {} objects on {} threads: {} records, {} Instance Connect events, {} unreadable",
        scan.objects_read,
        config.jobs,
        scan.records,
        scan.events.len(),
        scan.failures.len()
    ));
    let events_read = scan.events.len();
    scan.events.retain(|event| filter.keeps_time(event.time));
    let events_out_of_range = (events_read - scan.events.len()) as u64;

    let mut failures = listing.failures;
    failures.extend(scan.failures);
    failures.sort();
    if args.redact && (scan.objects_read == 0 || args.strict) {
        crate::redact::redact_failures(&mut failures);
    }
    if scan.objects_read == 0 {
        warn(&failures, args.quiet);
        return Err(FatalError::NothingReadable { listed: listing.objects.len(), failed: failures.len() });
    }

    if args.strict && !failures.is_empty() {
        warn(&failures, args.quiet);
        return Err(FatalError::Strict { failed: failures.len() });
    }

    let analysis = analysis::analyze(&scan.events, Window::after_seconds(args.pair_window));
    verbose(format_args!(
        "paired and classified: {} connections through {} endpoints",
        analysis.connections,
        analysis.endpoints.len()
    ));
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        summary: Summary {
            objects_listed: listing.listed,
            objects_read: scan.objects_read,
            objects_skipped: listing.skipped.total(),
            skipped: listing.skipped,
            objects_failed: failures.len() as u64,
            records: scan.records,
            instance_connect_events: analysis.instance_connect_events,
            events_out_of_range,
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

/// One line per unreadable object on stderr, sorted, after the work is done. Names and reasons
/// are escaped: an S3 key or a file name can hold any character, a terminal escape included.
fn warn(failures: &[ObjectError], quiet: bool) {
    if quiet {
        return;
    }
    for failure in failures {
        eprintln!(
            "trailscope: warning: {}: {}",
            output::sanitize::escape(&failure.object),
            output::sanitize::escape(&failure.error)
        );
    }
}

/// A bar on stderr only for a person watching: never under cron, in a pipe, or with `-q`.
fn progress_bar(objects: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(objects), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} reading {pos}/{len} objects [{bar:30}] {elapsed_precise}, eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
