//! `privileged-os-user`: a key pushed for a privileged OS user (`root` by default). Instance
//! Connect lets a caller choose the OS user; a key for `root` skips the sudo log a named user
//! leaves on the instance.

use crate::error::Reason;
use crate::report::Severity;

use super::{Context, Found, Rule};

pub(super) const RULE: Rule = Rule { id: "privileged-os-user", severity: Severity::Low };

const OS_USER: &str = "requestParameters.instanceOSUser";

/// One finding per successful `SendSSHPublicKey` whose `instanceOSUser` is in the list.
pub(super) fn find<'k>(cx: &mut Context<'_, 'k>) -> Result<Vec<Found<'k>>, Reason> {
    let mut found = Vec::new();
    for i in 0..cx.keys.len() {
        let key = cx.keys[i];
        if !key.succeeded() {
            continue;
        }
        let Some(user) = cx.values.text(key, OS_USER)? else {
            continue;
        };
        if cx.rules.privileged_users.contains(&user) {
            found.push(Found::new(RULE, format!("SSH key pushed for OS user {user}"), vec![key]));
        }
    }
    Ok(found)
}
