//! `trailscope report`: the run driver's steps ([`super::read::run`]), with the report as the
//! analysis and its rendering in the asked format as the output.

use crate::analysis::{self, Objects};
use crate::error::FatalError;
use crate::messages::Log;
use crate::output::{self, RenderOptions};
use crate::plan::ReportPlan;
use crate::redact::Redactor;
use crate::report::Report;
use crate::state::State;
use crate::verify::Integrity;
use crate::Outcome;

use super::read::{self, changed_objects, spool_error, Command, Read, Warnings, Written};

pub(crate) fn run(args: &ReportPlan, redactor: &mut Redactor) -> Result<Outcome, FatalError> {
    read::run(&args.read, &mut Reporting { args }, redactor)
}

struct Reporting<'a> {
    args: &'a ReportPlan,
}

/// The report, with what `--state` keeps of it and what the outcome needs.
struct Analysed {
    report: Report,
    baseline: Option<crate::analysis::changes::Baseline>,
    problems: usize,
    changed: bool,
    failing: bool,
}

impl Command for Reporting<'_> {
    type Analysed = Analysed;

    fn analyse(
        &mut self,
        read: &mut Read,
        integrity: Option<Integrity>,
        state: Option<&State>,
    ) -> Result<Analysed, FatalError> {
        let (args, plan) = (self.args, &self.args.read);
        let problems = integrity.as_ref().map_or(0, |i| i.problems());
        let scan = &mut read.reading;
        let activity = analysis::activity(&scan.kept, args.window);
        let objects = Objects {
            counts: scan.counts,
            failures: std::mem::take(&mut scan.failures),
            archived: std::mem::take(&mut scan.archived),
            integrity,
        };
        let mut report = analysis::report(&activity, objects, &args.findings).map_err(spool_error)?;
        let summary = &report.summary;
        plan.log.stage(format_args!(
            "paired and classified: {} connections through {} endpoints, {} duplicate events dropped",
            summary.connections,
            summary.endpoints,
            summary.duplicate_events + summary.conflicting_duplicates
        ));
        // With --state: this report's facts, compared with the last report's; kept (unredacted)
        // once the report is written, so that a report that could not be written is compared again.
        let baseline = match state {
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
        // With --state, only findings new since the last report fail (the first report with a
        // state has no `changes`: every finding is new to it).
        let new = report.changes.as_ref().map(|c| &c.new_findings[..]);
        let failing = args.fail_on.is_some_and(|at| analysis::findings::fails(&report.findings, new, at));
        Ok(Analysed { report, baseline, problems, changed, failing })
    }

    fn render(
        &mut self,
        analysed: Analysed,
        _read: &mut Read,
        _state: Option<&State>,
        redactor: &mut Redactor,
    ) -> Result<Written, FatalError> {
        let args = self.args;
        let Analysed { mut report, baseline, problems, changed, failing } = analysed;
        redactor.report(&mut report)?;
        report.failure_reasons = output::failures::counts(&report.failures);
        output::write_report(args.output.as_deref(), &report, args.format, &RenderOptions { all: args.all })?;
        let found = super::Found {
            unreadable: report.failures.len(),
            archived: report.archived.len(),
            problems,
            findings: failing,
            changed: changed && args.fail_on_change,
        };
        // The report says what the state did: no line of its own.
        let warnings = Warnings {
            changed: changed_objects(report.state.as_ref().map_or(&[][..], |s| &s.objects_changed)),
            failures: report.failures,
            archived: report.archived,
            integrity: report.integrity,
        };
        Ok(Written { baseline, state_line: None, warnings, found })
    }

    fn warn(&self, log: &Log) {
        log.warn_expired(&self.args.findings.suppressions);
    }
}
