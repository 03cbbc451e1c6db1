//! `trailscope findings`: the run driver's steps ([`super::read::run`]), with the rules run over
//! the paired activity as the analysis, and the findings written as a list or as OCSF lines.

use crate::analysis::{self, findings};
use crate::error::FatalError;
use crate::output;
use crate::plan::FindingsPlan;
use crate::redact::Redactor;
use crate::Outcome;

use crate::analysis::changes::Baseline;
use crate::analysis::lifecycle::Lifecycle;
use crate::messages::Log;
use crate::report::{Finding, SuppressedFinding};
use crate::state::State;
use crate::verify::Integrity;

use super::read::{self, spool_error, Command, Read, Warnings, Written};

pub(crate) fn run(plan: &FindingsPlan, redactor: &mut Redactor) -> Result<Outcome, FatalError> {
    read::run(&plan.read, &mut Listing { plan }, redactor)
}

struct Listing<'a> {
    plan: &'a FindingsPlan,
}

/// The findings listed and suppressed, with what `--state` keeps of them and what the outcome
/// needs.
struct Analysed {
    listed: Vec<Finding>,
    suppressed: Vec<SuppressedFinding>,
    baseline: Option<Baseline>,
    failing: bool,
    integrity: Option<Integrity>,
}

impl Command for Listing<'_> {
    type Analysed = Analysed;

    fn analyse(
        &mut self,
        read: &mut Read,
        integrity: Option<Integrity>,
        state: Option<&State>,
    ) -> Result<Analysed, FatalError> {
        let plan = self.plan;
        let activity = analysis::activity(&read.reading.kept, plan.window);
        let lifecycle = Lifecycle::of(&activity);
        let found = findings::find(&activity, &lifecycle, &plan.findings.rules).map_err(spool_error)?;
        let (listed, suppressed) = plan.findings.suppressions.apply(found);
        plan.read.log.stage(format_args!(
            "found: {} findings, {} suppressed",
            listed.len(),
            suppressed.len()
        ));
        // With --state: the findings the last report (or `findings` run) did not have, and this
        // run's kept for the next; a state no report has written yet has no baseline to keep them
        // in, so every finding is new to it.
        let ids: Vec<String> =
            listed.iter().chain(suppressed.iter().map(|s| &s.finding)).map(|f| f.id.clone()).collect();
        let before = state.and_then(|s| s.baseline());
        let new = before.map(|b| b.new_findings(&ids));
        let baseline = before.map(|b| b.with_findings(&ids));
        let failing = plan.fail_on.is_some_and(|at| findings::fails(&listed, new.as_deref(), at));
        Ok(Analysed { listed, suppressed, baseline, failing, integrity })
    }

    fn render(
        &mut self,
        analysed: Analysed,
        read: &mut Read,
        state: Option<&State>,
        redactor: &mut Redactor,
    ) -> Result<Written, FatalError> {
        let plan = self.plan;
        let Analysed { mut listed, mut suppressed, baseline, failing, integrity } = analysed;
        redactor.findings(&mut listed, &mut suppressed)?;
        output::write(plan.output.as_deref(), &output::findings::render(&listed, &suppressed, plan.format))?;
        let (warnings, summary, found) =
            Warnings::of_listing(&mut read.reading, state, integrity, failing, redactor)?;
        Ok(Written { baseline, state_line: summary, warnings, found })
    }

    fn warn(&self, log: &Log) {
        log.warn_expired(&self.plan.findings.suppressions);
    }
}
