//! The rows of `trailscope connections`, in two steps so that memory does not grow with the
//! text of the rows: [`list`] picks the rows from the paired events and sorts them, each a few
//! pointers into the events kept; a [`RowReader`] then reads each row's records back from the
//! spool, one row at a time, and takes from them only the fields a row shows.

use std::collections::BTreeMap;

use aws_lc_rs::digest;
use base64::engine::general_purpose::{STANDARD_NO_PAD, STANDARD_PAD_INDIFFERENT};
use base64::Engine;
use simd_json::{Buffers, Node, StaticNode, Tape};

use crate::decode::json::{with_tape, Json};
use crate::error::Reason;
use crate::event::tables::Sym;
use crate::event::{unwrap_envelope, Event, Kept, Origin};
use crate::row::{Outcome, Row, Seconds};

use super::Activity;

/// Which rows to list: a row must match each list that is not empty, and any one value of it.
/// Values are compared exactly with the archive's strings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub(crate) endpoints: Vec<String>,
    pub(crate) principals: Vec<String>,
    pub(crate) outcomes: Vec<Outcome>,
    /// `--finding`: only the rows of these events (a row's tunnel or key), when given.
    pub(crate) events: Option<Vec<Origin>>,
}

/// A row before its records are read: the events it is made of.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Listed<'k> {
    pub(crate) outcome: Outcome,
    /// The event the row is about: its tunnel, else its key. Its time and place order the rows.
    pub(crate) event: &'k Event,
    /// The tunnel of a connection or denied attempt.
    pub(crate) tunnel: Option<&'k Event>,
    /// The key paired with the tunnel, or the key a direct or serial-console row is about.
    pub(crate) key: Option<&'k Event>,
}

/// Every row of `activity` that `filter` keeps, sorted by time (rows without a readable time
/// last), ties by where the event was read, so the order does not depend on threads.
pub(crate) fn list<'k>(activity: &Activity<'k>, filter: &Filter) -> Vec<Listed<'k>> {
    let vocabulary = &activity.kept.vocabulary;
    // A value no event has matches no row; an option given only such values keeps nothing.
    let symbols =
        |texts: &[String]| -> Vec<Option<Sym>> { texts.iter().map(|t| vocabulary.find(t)).collect() };
    let (endpoints, principals) = (symbols(&filter.endpoints), symbols(&filter.principals));
    let keep = |row: &Listed<'_>| {
        (filter.outcomes.is_empty() || filter.outcomes.contains(&row.outcome))
            && (endpoints.is_empty()
                || row.tunnel.is_some_and(|t| t.endpoint.is_some() && endpoints.contains(&t.endpoint)))
            && (principals.is_empty() || principals.contains(&Some(row.event.principal)))
            && filter.events.as_ref().is_none_or(|events| {
                [row.tunnel, row.key].into_iter().flatten().any(|e| events.contains(&e.origin))
            })
    };
    let tunnels = activity.tunnels.iter().map(|t| Listed {
        outcome: if t.event.succeeded() { Outcome::Connected } else { Outcome::Denied },
        event: t.event,
        tunnel: Some(t.event),
        key: t.key,
    });
    let direct = activity.direct_keys.iter().map(|&key| Listed {
        outcome: Outcome::Direct,
        event: key,
        tunnel: None,
        key: Some(key),
    });
    let serial = activity.serial_console_keys.iter().map(|&key| Listed {
        outcome: Outcome::SerialConsole,
        event: key,
        tunnel: None,
        key: Some(key),
    });
    let mut rows: Vec<Listed<'k>> = tunnels.chain(direct).chain(serial).filter(keep).collect();
    rows.sort_unstable_by_key(|row| {
        let event = row.event;
        (event.time.is_none(), event.time, event.origin)
    });
    rows
}

/// Reads rows' records back, reusing its buffers from one row to the next.
pub(crate) struct RowReader<'k> {
    kept: &'k Kept,
    /// Endpoints' names, by id.
    names: BTreeMap<String, String>,
    bytes: Vec<u8>,
    buffers: Buffers,
    tape: Tape<'static>,
}

/// What a row takes from one record.
#[derive(Default)]
struct Taken {
    source_ip: Option<String>,
    user_agent: Option<String>,
    /// The key's, or the tunnel's two.
    first: Option<String>,
    second: Option<String>,
    fingerprint: Option<String>,
}

impl<'k> RowReader<'k> {
    pub(crate) fn new(kept: &'k Kept) -> Self {
        RowReader {
            kept,
            names: BTreeMap::new(),
            bytes: Vec::new(),
            buffers: Buffers::default(),
            tape: Tape(Vec::new()),
        }
    }

    /// Rows that name the endpoint `id` name it `name` too (from [`super::lifecycle`]).
    pub(crate) fn with_names(mut self, names: impl IntoIterator<Item = (String, String)>) -> Self {
        self.names.extend(names);
        self
    }

    /// The row of `listed`, with what its records say.
    pub(crate) fn row(&mut self, listed: &Listed<'_>) -> Result<Row, Reason> {
        let kept = self.kept;
        let event = listed.event;
        let text = |sym: Sym| Some(kept.vocabulary.text(sym)).filter(|t| !t.is_empty()).map(str::to_owned);
        let mut key = listed.key.map(|key| self.take(key, true)).transpose()?.unwrap_or_default();
        let mut tunnel =
            listed.tunnel.map(|tunnel| self.take(tunnel, false)).transpose()?.unwrap_or_default();
        let about = if listed.tunnel.is_some() { &mut tunnel } else { &mut key };
        let (source_ip, user_agent) = (about.source_ip.take(), about.user_agent.take());
        let seconds = match (listed.key.and_then(|k| k.time), listed.tunnel.and_then(|t| t.time)) {
            (Some(key), Some(tunnel)) => Some(Seconds(tunnel.millis() - key.millis())),
            _ => None,
        };
        let endpoint = listed.tunnel.and_then(|t| t.endpoint).and_then(text);
        let endpoint_name = endpoint.as_ref().and_then(|id| self.names.get(id)).cloned();
        Ok(Row {
            time: event.time.map(|t| t.to_string()),
            outcome: listed.outcome,
            error_code: listed.tunnel.and_then(|t| t.error).and_then(text),
            account: text(event.account),
            region: text(event.region),
            endpoint,
            principal: text(event.principal),
            source_ip,
            instance_id: key.first,
            os_user: key.second,
            private_ip: tunnel.first,
            port: tunnel.second,
            key_fingerprint: key.fingerprint,
            key_to_tunnel_seconds: seconds,
            user_agent,
            endpoint_name,
        })
    }

    /// Reads `event`'s record and takes what a row shows of a key (`is_key`) or of a tunnel.
    fn take(&mut self, event: &Event, is_key: bool) -> Result<Taken, Reason> {
        self.kept.spool.read(event.record, &mut self.bytes).map_err(Reason::read)?;
        with_tape(&mut self.tape, &mut self.buffers, &mut self.bytes, |nodes| {
            let Some(record) = Json::root(nodes).map(unwrap_envelope) else {
                return Taken::default();
            };
            let string = |value: Option<Json<'_, '_>>| value.and_then(Json::as_str).map(str::to_owned);
            let parameters = record.get("requestParameters");
            let parameter = |name: &str| parameters.and_then(|p| p.get(name));
            let mut taken = Taken {
                source_ip: string(record.get("sourceIPAddress")),
                user_agent: string(record.get("userAgent")),
                ..Taken::default()
            };
            if is_key {
                taken.first = string(parameter("instanceId"));
                taken.second = string(parameter("instanceOSUser"));
                taken.fingerprint = parameter("sSHPublicKey").and_then(Json::as_str).and_then(fingerprint);
            } else {
                taken.first = string(parameter("privateIpAddress"));
                taken.second = parameter("remotePort").and_then(scalar_text);
            }
            taken
        })
        .map_err(|e| Reason::Json { at: None, detail: e.to_string() })
    }
}

/// A string as itself, a number as its JSON text (`22`), anything else as nothing.
fn scalar_text(value: Json<'_, '_>) -> Option<String> {
    match value.node() {
        Node::String(s) => Some(s.to_owned()),
        Node::Static(StaticNode::I64(_) | StaticNode::U64(_) | StaticNode::F64(_)) => {
            let mut text = String::new();
            value.write_text(&mut text);
            Some(text)
        }
        _ => None,
    }
}

/// The fingerprint `ssh-keygen -l` prints for a public key written as in `authorized_keys`
/// (`ssh-ed25519 AAAA… [comment]`): `SHA256:` and the base64, without padding, of the SHA-256
/// of the key blob (the base64 after the key type). `None` when there is no blob to decode.
pub(crate) fn fingerprint(public_key: &str) -> Option<String> {
    let blob = public_key.split_ascii_whitespace().nth(1)?;
    let blob = STANDARD_PAD_INDIFFERENT.decode(blob).ok().filter(|b| !b.is_empty())?;
    let hash = digest::digest(&digest::SHA256, &blob);
    Some(format!("SHA256:{}", STANDARD_NO_PAD.encode(hash.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::Builder;
    use crate::analysis::{activity, Window};

    #[test]
    fn fingerprints_are_what_ssh_keygen_prints() {
        // Each printed by `ssh-keygen -l -f` (OpenSSH 9) for the key beside it.
        let cases = [
            (
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEKEYONEforEndpointOne0000000000000000",
                "SHA256:7L4/Qzub/EmKhSR7Ctk5XXM6xO6d4k+8pT+ftfZO9KM",
            ),
            (
                "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC8StAwCqWUCP8LEmjSvbnz59JNDpZAak5E5LbjK41MipdzTkOWvQ9Wn728Wi4p7ALaXy/7dF+WwX4fq5kbgwqFbDX23MDOmaxGS+Auwq3xiastSbi1HSYGzOaEgNjoC6Al1LOCz952CdQz/hPBiioFWkm7hpEdXcGk4HVmNK0ASQ== alice@laptop",
                "SHA256:sTgwIiwD/Luv66kE3M+PDA3WKlX0Qsr9WiHSqYG6R6Q",
            ),
            (
                "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJk1y6HggGK0f6I9UsvrX3P2eLzBdo3rjCvEDG+3HP0+Vk6UpB+j+5dFagZW9F9PvlgJHcEXc7kzneK4egb00pA=",
                "SHA256:OY6BebMWi0jZxSVKYXj5WJ92e5m0e1WPUBOWpx1q1Js",
            ),
        ];
        for (key, expected) in cases {
            assert_eq!(fingerprint(key).as_deref(), Some(expected), "{key}");
        }
    }

    #[test]
    fn a_key_that_is_not_one_has_no_fingerprint() {
        for key in ["", "ssh-ed25519", "ssh-ed25519 not*base64", "HIDDEN_DUE_TO_SECURITY_REASONS"] {
            assert_eq!(fingerprint(key), None, "{key:?}");
        }
    }

    #[test]
    fn rows_are_in_time_order_with_untimed_rows_last() {
        let mut b = Builder::new();
        b.tunnel(300, "alice", Some("eice-1"), None);
        b.key(100, "bob");
        b.tunnel(101, "bob", Some("eice-2"), Some("AccessDenied"));
        b.key(200, "carol");
        b.serial(50, "dave");
        let untimed = b.tunnel(10, "erin", Some("eice-1"), None);
        b.untimed(untimed);
        let kept = b.kept();
        let activity = activity(&kept, Window::after_seconds(60));
        let rows = list(&activity, &Filter::default());
        let outcomes: Vec<Outcome> = rows.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::SerialConsole,
                Outcome::Denied,
                Outcome::Direct,
                Outcome::Connected,
                Outcome::Connected
            ]
        );
        assert!(rows[1].key.is_some(), "the denied attempt keeps its key");
        assert!(rows[4].event.time.is_none());
    }

    #[test]
    fn filters_combine_with_and_across_options_and_or_within_one() {
        let mut b = Builder::new();
        b.tunnel(100, "alice", Some("eice-1"), None);
        b.tunnel(200, "bob", Some("eice-2"), None);
        b.tunnel(300, "alice", Some("eice-2"), Some("AccessDenied"));
        b.key(400, "alice");
        let kept = b.kept();
        let activity = activity(&kept, Window::after_seconds(60));
        let count = |filter: Filter| list(&activity, &filter).len();
        let strings = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(count(Filter::default()), 4);
        assert_eq!(count(Filter { endpoints: strings(&["eice-2"]), ..Filter::default() }), 2);
        assert_eq!(count(Filter { endpoints: strings(&["eice-1", "eice-2"]), ..Filter::default() }), 3);
        assert_eq!(count(Filter { principals: strings(&["alice"]), ..Filter::default() }), 3);
        let both = Filter {
            endpoints: strings(&["eice-2"]),
            principals: strings(&["alice"]),
            outcomes: vec![Outcome::Connected, Outcome::Denied],
            events: None,
        };
        assert_eq!(count(both), 1);
        assert_eq!(count(Filter { outcomes: vec![Outcome::Direct], ..Filter::default() }), 1);
        assert_eq!(
            count(Filter { endpoints: strings(&["eice-9"]), ..Filter::default() }),
            0,
            "no such endpoint"
        );
    }
}
