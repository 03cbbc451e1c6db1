//! `tunnel-unusual-port`: a successful tunnel to a port other than the expected ones (SSH and RDP
//! by default). An endpoint reaches any TCP port its security groups allow: a tunnel to a database
//! or an internal web port is Instance Connect used as a general-purpose way into the VPC.

use crate::error::Reason;
use crate::event::tables::FastMap;
use crate::report::Severity;

use super::{Context, Found, Rule};

pub(super) const RULE: Rule = Rule { id: "tunnel-unusual-port", severity: Severity::Medium };

const REMOTE_PORT: &str = "requestParameters.remotePort";

/// One finding per successful `OpenTunnel` whose `remotePort` is not expected. A port that is not
/// a number is not expected either; a tunnel that names no port is not a finding.
pub(super) fn find<'k>(cx: &mut Context<'_, 'k>) -> Result<Vec<Found<'k>>, Reason> {
    let mut found = Vec::new();
    let expected =
        |port: &str| port.trim().parse::<u16>().is_ok_and(|p| cx.rules.expected_ports.contains(&p));
    let mut verdicts = FastMap::default();
    for tunnel in cx.activity.tunnels.iter().filter(|t| t.event.succeeded()) {
        let Some(port) =
            cx.values.flagged(tunnel.event, REMOTE_PORT, &mut verdicts, |port| !expected(port))?
        else {
            continue;
        };
        let title = format!("Tunnel to port {port}, not an expected port");
        found.push(Found { port: Some(port), ..Found::new(RULE, title, vec![tunnel.event]) });
    }
    Ok(found)
}
