//! `tunnel-outside-endpoint-lifetime`: a tunnel through an endpoint well before the archive says
//! it was created, or well after it says it was deleted. EC2 opens no tunnel through an endpoint
//! that does not exist, so the archive is inconsistent: records are missing (another trail, a
//! gap), or forged, or the endpoint id was reused in a way AWS does not do. Either way the record
//! of who reached what cannot be trusted as it stands.

use crate::event::Event;
use crate::report::Severity;
use crate::time::{Timestamp, MINUTE};

use super::{Context, Found, Rule};

pub(super) const RULE: Rule = Rule { id: "tunnel-outside-endpoint-lifetime", severity: Severity::High };

/// One finding per successful `OpenTunnel` more than the margin before its endpoint's
/// `CreateInstanceConnectEndpoint` or after its `DeleteInstanceConnectEndpoint`, both as the
/// archive records them: an endpoint created before the archive, or not deleted in it, has no
/// bound on that side. A failed deletion deleted nothing ([`crate::analysis::lifecycle`] keeps
/// successful calls only); a denied tunnel opened nothing. The evidence is the tunnel and the
/// call it contradicts; the finding is about the tunnel (its id, principal, account, region).
pub(super) fn find<'k>(cx: &mut Context<'_, 'k>) -> Vec<Found<'k>> {
    let kept = cx.activity.kept;
    let margin = i64::from(cx.rules.lifetime_margin_minutes) * MINUTE;
    let call_of = |origin| cx.activity.lifecycle.iter().copied().find(|e: &&Event| e.origin == origin);
    let mut found = Vec::new();
    for tunnel in cx.activity.tunnels.iter().map(|t| t.event).filter(|e| e.succeeded()) {
        let (Some(time), Some(endpoint)) = (tunnel.time, tunnel.endpoint) else {
            continue;
        };
        let endpoint = kept.vocabulary.text(endpoint);
        let Some(life) = cx.lifecycle.endpoints.get(endpoint) else {
            continue;
        };
        let created = life.created.as_ref().and_then(|m| Some((m.time?, m.origin)));
        let deleted = life.deleted.as_ref().and_then(|m| Some((m.time?, m.origin)));
        let (title, call) = match (created, deleted) {
            (Some((at, call)), _) if time.millis() < at.millis() - margin => {
                (format!("Tunnel through {endpoint} {} before its creation", apart(time, at)), call)
            }
            (_, Some((at, call))) if time.millis() > at.millis() + margin => {
                (format!("Tunnel through {endpoint} {} after its deletion", apart(at, time)), call)
            }
            _ => continue,
        };
        let mut evidence = vec![tunnel];
        evidence.extend(call_of(call));
        found.push(Found { about: Some(tunnel), ..Found::new(RULE, title, evidence) });
    }
    found
}

/// How long from `from` to `to` (later), for a person: minutes below two hours, hours below two
/// days, then days, each rounded down.
fn apart(from: Timestamp, to: Timestamp) -> String {
    let minutes = (to.millis() - from.millis()) / MINUTE;
    match minutes {
        m if m < 120 => format!("{m} minutes"),
        m if m < 48 * 60 => format!("{} hours", m / 60),
        m => format!("{} days", m / (24 * 60)),
    }
}
