//! `serial-console-key`: a key pushed for an instance's serial console. The serial console works
//! below the network, whatever the security groups say, and is meant for repairs: each use is worth
//! a look.

use crate::error::Reason;
use crate::report::Severity;

use super::{Context, Found, Rule};

pub(super) const RULE: Rule = Rule { id: "serial-console-key", severity: Severity::Medium };

/// One finding per successful `SendSerialConsoleSSHPublicKey`.
pub(super) fn find<'k>(cx: &mut Context<'_, 'k>) -> Result<Vec<Found<'k>>, Reason> {
    Ok(cx
        .activity
        .serial_console_keys
        .iter()
        .filter(|e| e.succeeded())
        .map(|&event| {
            Found::new(RULE, "SSH key pushed for an instance's serial console".to_owned(), vec![event])
        })
        .collect())
}
