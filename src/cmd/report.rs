//! `trailscope report`: read the sources, analyze, render, write.

use crate::analysis;
use crate::error::FatalError;
use crate::output::{self, RenderOptions};
use crate::plan::ReportPlan;
use crate::report::{Report, Summary, SCHEMA_VERSION};
use crate::Outcome;

use super::read::{changed_objects, open_state, spool_error};
use super::verify;

pub(crate) fn run(args: &ReportPlan) -> Result<Outcome, FatalError> {
    let plan = &args.read;
    let state = open_state(plan)?;
    let (read, integrity) = verify::read(plan, state.as_ref(), args.redact)?;
    let problems = integrity.as_ref().map_or(0, |i| i.problems());
    let scan = read.scan;
    let activity = analysis::activity(&scan.kept, args.window);
    let analysis = analysis::analyze(&activity).map_err(spool_error)?;
    plan.log.stage(format_args!(
        "paired and classified: {} connections through {} endpoints, {} duplicate events dropped",
        analysis.connections,
        analysis.endpoints.len(),
        analysis.duplicate_events + analysis.conflicting_duplicates
    ));
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        summary: Summary {
            objects_listed: scan.counts.objects_listed,
            objects_read: scan.counts.objects_read,
            objects_skipped: scan.counts.skipped.total(),
            skipped: scan.counts.skipped,
            objects_failed: scan.failures.len() as u64,
            objects_archived: scan.archived.len() as u64,
            archived_by_storage_class: by_storage_class(&scan.archived),
            requests_throttled: scan.counts.requests_throttled,
            records: scan.counts.records,
            instance_connect_events: analysis.instance_connect_events,
            duplicate_events: analysis.duplicate_events,
            conflicting_duplicates: analysis.conflicting_duplicates,
            events_without_time: analysis.events_without_time,
            events_out_of_range: scan.counts.events_out_of_range,
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
        failures: scan.failures,
        // Counted once the failures are final (redacted, below).
        failure_reasons: Default::default(),
        archived: scan.archived,
        integrity,
        timeline: analysis.timeline,
        changes: None,
        state: None,
    };
    // With --state: this report's facts, compared with the last report's; kept (unredacted) once
    // the report is written, so that a report that could not be written is compared again.
    let baseline = match &state {
        Some(state) => {
            let now = crate::state::baseline(&report, &activity).map_err(spool_error)?;
            report.changes = state
                .baseline()
                .map(|before| crate::state::changes(before, &now, &activity))
                .transpose()
                .map_err(spool_error)?;
            report.state = Some(crate::state::State::summary(&scan.counts, scan.state.as_ref()));
            Some(now)
        }
        None => None,
    };
    let changed = report.changes.as_ref().is_some_and(|c| !c.is_empty());
    if args.redact {
        crate::redact::redact(&mut report)?;
    }
    report.failure_reasons = crate::error::failure_reasons(&report.failures);
    let rendered = output::render(&report, args.format, &RenderOptions { all: args.all });
    output::write(args.output.as_deref(), &rendered)?;
    if let Some(state) = state {
        state.commit(scan.state.as_ref(), &scan.kept, baseline)?;
    }
    plan.log.warn(&changed_objects(report.state.as_ref().map_or(&[][..], |s| &s.objects_changed)));
    plan.log.warn(&report.failures);
    plan.log.warn_archived(&report.archived, plan.restore_manifest.as_deref());
    plan.log.warn_integrity(report.integrity.as_ref());
    let whole = report.failures.is_empty() && report.archived.is_empty() && problems == 0;
    Ok(if !whole {
        Outcome::Incomplete
    } else if changed && args.fail_on_change {
        Outcome::Changed
    } else {
        Outcome::Complete
    })
}

/// Archived objects counted by storage class.
fn by_storage_class(archived: &[crate::error::ArchivedObject]) -> std::collections::BTreeMap<String, u64> {
    let mut classes = std::collections::BTreeMap::new();
    for object in archived {
        *classes.entry(object.storage_class.clone()).or_insert(0) += 1;
    }
    classes
}
