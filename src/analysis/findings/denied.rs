//! `denied-burst`: one principal refused again and again within minutes. A burst of denied tunnels
//! or keys is someone probing what their credentials reach, or a stolen credential being tried.

use crate::error::Reason;
use crate::report::Severity;

use super::{by_principal, millis, window, Context, Found, Rule};

pub(super) const RULE: Rule = Rule { id: "denied-burst", severity: Severity::Medium };

/// One finding per run of overlapping windows in which one principal's denied `OpenTunnel` and
/// `SendSSHPublicKey` calls reach the threshold; its evidence is those denied calls.
pub(super) fn find<'k>(cx: &mut Context<'_, 'k>) -> Result<Vec<Found<'k>>, Reason> {
    let threshold = cx.rules.denied_burst;
    let tunnels = cx.activity.tunnels.iter().map(|t| t.event);
    let denied = tunnels.chain(cx.keys.iter().copied()).filter(|e| !e.succeeded());
    let mut found = Vec::new();
    for group in by_principal(denied) {
        let times = millis(&group);
        // Every denied call counts, so each is its own key.
        let each: Vec<u64> = (0..group.len() as u64).collect();
        for range in window::over_threshold(&times, &each, threshold.count as usize, threshold.within_ms()) {
            let title = format!("{} denied calls within {} minutes", range.len(), threshold.minutes);
            found.push(Found::new(RULE, title, group[range].to_vec()));
        }
    }
    Ok(found)
}
