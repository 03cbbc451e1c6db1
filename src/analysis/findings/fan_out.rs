//! `key-to-many-instances`: one principal pushes keys to many distinct instances within a short
//! time. People connect to a few machines; a key sprayed across a fleet is a script moving
//! laterally, or someone looking for where their access works.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use crate::error::Reason;
use crate::report::Severity;

use super::values::Held;
use super::{by_principal, millis, window, Context, Found, Rule, INSTANCE_ID};

pub(super) const RULE: Rule = Rule { id: "key-to-many-instances", severity: Severity::High };

/// One finding per run of overlapping windows in which one principal's successful
/// `SendSSHPublicKey` calls reach the threshold of distinct instances; its evidence is those keys.
pub(super) fn find<'k>(cx: &mut Context<'_, 'k>) -> Result<Vec<Found<'k>>, Reason> {
    let threshold = cx.rules.fan_out;
    let keys: Vec<_> = cx.keys.iter().copied().filter(|k| k.succeeded()).collect();
    let mut found = Vec::new();
    for group in by_principal(keys.into_iter()) {
        // A key that names no instance reaches none.
        let mut named = Vec::with_capacity(group.len());
        let mut instances = Vec::with_capacity(group.len());
        for key in group {
            let instance = match cx.values.held(key, INSTANCE_ID) {
                Held::Absent => continue,
                Held::Hash(hash) => hash,
                Held::Unknown => match cx.values.text(key, INSTANCE_ID)? {
                    Some(text) => BuildHasher::hash_one(&FixedState::default(), &text),
                    None => continue,
                },
            };
            named.push(key);
            instances.push(instance);
        }
        let times = millis(&named);
        for range in
            window::over_threshold(&times, &instances, threshold.count as usize, threshold.within_ms())
        {
            let mut reached = instances[range.clone()].to_vec();
            reached.sort_unstable();
            reached.dedup();
            let title = format!(
                "SSH keys pushed to {} instances within {} minutes",
                reached.len(),
                threshold.minutes
            );
            found.push(Found::new(RULE, title, named[range].to_vec()));
        }
    }
    Ok(found)
}
