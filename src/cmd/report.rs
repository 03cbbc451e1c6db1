//! `trailscope report`: read the sources, analyze, render, write.

use crate::analysis::{self, Objects};
use crate::error::FatalError;
use crate::output::{self, RenderOptions};
use crate::plan::ReportPlan;
use crate::redact::Redactor;
use crate::Outcome;

use super::read::{changed_objects, open_state, spool_error};
use super::verify;

pub(crate) fn run(args: &ReportPlan, redactor: &mut Redactor) -> Result<Outcome, FatalError> {
    let plan = &args.read;
    let state = open_state(plan)?;
    let (read, integrity) = verify::read(plan, state.as_ref(), redactor)?;
    let problems = integrity.as_ref().map_or(0, |i| i.problems());
    let scan = read.scan;
    let activity = analysis::activity(&scan.kept, args.window);
    let objects =
        Objects { counts: scan.counts, failures: scan.failures, archived: scan.archived, integrity };
    let mut report = analysis::report(&activity, objects, &args.findings).map_err(spool_error)?;
    let summary = &report.summary;
    plan.log.stage(format_args!(
        "paired and classified: {} connections through {} endpoints, {} duplicate events dropped",
        summary.connections,
        summary.endpoints,
        summary.duplicate_events + summary.conflicting_duplicates
    ));
    // With --state: this report's facts, compared with the last report's; kept (unredacted) once
    // the report is written, so that a report that could not be written is compared again.
    let baseline = match &state {
        Some(state) => {
            let (now, changes) =
                analysis::changes::baseline(&report, &activity, state.baseline()).map_err(spool_error)?;
            report.changes = changes;
            report.state = Some(state.summary(&scan.counts));
            Some(now)
        }
        None => None,
    };
    let changed = report.changes.as_ref().is_some_and(|c| !c.is_empty());
    // With --state, only findings new since the last report fail (the first report with a state
    // has no `changes`: every finding is new to it).
    let new = report.changes.as_ref().map(|c| &c.new_findings[..]);
    let failing = args.fail_on.is_some_and(|at| analysis::findings::fails(&report.findings, new, at));
    redactor.report(&mut report)?;
    report.failure_reasons = output::failures::counts(&report.failures);
    let rendered = output::render(&report, args.format, &RenderOptions { all: args.all });
    output::write(args.output.as_deref(), &rendered)?;
    if let Some(state) = state {
        state.commit(&scan.kept, baseline)?;
    }
    plan.log.warn(&changed_objects(report.state.as_ref().map_or(&[][..], |s| &s.objects_changed)));
    plan.log.warn(&report.failures);
    plan.log.warn_archived(&report.archived, plan.restore_manifest.as_deref());
    plan.log.warn_integrity(report.integrity.as_ref());
    plan.log.warn_expired(&args.findings.suppressions);
    Ok(super::outcome(super::Found {
        unreadable: report.failures.len(),
        archived: report.archived.len(),
        problems,
        findings: failing,
        changed: changed && args.fail_on_change,
    }))
}
