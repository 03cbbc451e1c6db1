//! `trailscope findings`: read the sources, pair keys with tunnels, run the rules, and write the
//! findings as a list or as OCSF lines.

use crate::analysis::lifecycle::Lifecycle;
use crate::analysis::{self, findings};
use crate::error::FatalError;
use crate::output;
use crate::plan::FindingsPlan;
use crate::redact::Redactor;
use crate::Outcome;

use super::read::{listed_read, open_state, spool_error};
use super::verify;

pub(crate) fn run(plan: &FindingsPlan, redactor: &mut Redactor) -> Result<Outcome, FatalError> {
    let state = open_state(&plan.read)?;
    let (read, integrity) = verify::read(&plan.read, state.as_ref(), redactor)?;
    let log = &plan.read.log;
    let scan = read.scan;
    let activity = analysis::activity(&scan.kept, plan.window);
    let lifecycle = Lifecycle::of(&activity).map_err(spool_error)?;
    let found = findings::find(&activity, &lifecycle, &plan.findings.rules).map_err(spool_error)?;
    let (mut listed, mut suppressed) = plan.findings.suppressions.apply(found);
    log.stage(format_args!("found: {} findings, {} suppressed", listed.len(), suppressed.len()));
    // With --state: the findings the last report (or `findings` run) did not have, and this
    // run's kept for the next; a state no report has written yet has no baseline to keep them in,
    // so every finding is new to it.
    let ids: Vec<String> =
        listed.iter().chain(suppressed.iter().map(|s| &s.finding)).map(|f| f.id.clone()).collect();
    let before = state.as_ref().and_then(|s| s.baseline());
    let new = before.map(|b| b.new_findings(&ids));
    let baseline = before.map(|b| b.with_findings(&ids));
    let failing = plan.fail_on.is_some_and(|at| findings::fails(&listed, new.as_deref(), at));
    redactor.findings(&mut listed, &mut suppressed)?;
    output::write(plan.output.as_deref(), &output::findings::render(&listed, &suppressed, plan.format))?;
    let found = listed_read(&plan.read, scan, state, integrity, baseline, redactor)?;
    log.warn_expired(&plan.findings.suppressions);
    Ok(super::outcome(super::Found { findings: failing, ..found }))
}
