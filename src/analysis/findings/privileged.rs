//! `privileged-os-user`: a key pushed for a privileged OS user (`root` by default). Instance
//! Connect lets a caller choose the OS user; a key for `root` skips the sudo log a named user
//! leaves on the instance.

use crate::error::Reason;
use crate::event::tables::FastMap;
use crate::report::Severity;

use super::{Context, Found, Rule};

pub(super) const RULE: Rule = Rule { id: "privileged-os-user", severity: Severity::Low };

const OS_USER: &str = "requestParameters.instanceOSUser";

/// One finding per successful `SendSSHPublicKey` whose `instanceOSUser` is in the list.
pub(super) fn find<'k>(cx: &mut Context<'_, 'k>) -> Result<Vec<Found<'k>>, Reason> {
    let mut found = Vec::new();
    let mut verdicts = FastMap::default();
    for i in 0..cx.keys.len() {
        let key = cx.keys[i];
        if !key.succeeded() {
            continue;
        }
        let privileged = |user: &str| cx.rules.privileged_users.iter().any(|p| p == user);
        if let Some(user) = cx.values.flagged(key, OS_USER, &mut verdicts, privileged)? {
            found.push(Found::new(RULE, format!("SSH key pushed for OS user {user}"), vec![key]));
        }
    }
    Ok(found)
}
