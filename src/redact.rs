//! `--redact`: replaces access key ids, SSH public keys, IP addresses, account ids and principal
//! names with stable pseudonyms (the same original gives the same pseudonym everywhere in the
//! output), so every output format is redacted and the analysis still reads.
//!
//! The report is redacted as one value, not section by section: it is serialized, every string
//! in it (object keys included) goes through the same pseudonyms, and it is read back. A section
//! added to the report is therefore redacted without its own code, and a type that cannot make
//! the round trip (no `Deserialize`) does not compile; nor does a new section until [`redact`]
//! names it, which is where one the JSON leaves out (`#[serde(skip)]`, as the timeline is) must
//! be redacted by hand. The rows of
//! `trailscope connections` are redacted by the same rules, row by row, with the pseudonyms of
//! the warnings that follow them.
//!
//! A run has one [`Redactor`], made where the run starts (`lib.rs`) and handed to everything
//! that writes what a person reads: the report or the rows, the warnings, a fatal error's line.
//! One set of pseudonyms for all of it, so an account is `account-2` in the report and in the
//! warning after it. To redact a new value, give it to the redactor: a report section needs
//! nothing but its name in [`Redactor::report`]'s list (the round trip covers it); a string the
//! detectors cannot recognise (a name with nothing around it, as a principal's name in a field
//! whose path says so) needs a [`Kind`] of its own and its own line there, as the endpoints'
//! accounts have; a new column of the rows is decided in [`Redactor::row`]; anything else a
//! warning prints goes through [`Redactor::failures`] (or a method beside it).

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{ArchivedObject, FatalError, ObjectError};
use crate::report::{EndpointTimes, Report};
use crate::report::{Finding, SuppressedFinding};
use crate::row::Row;
use crate::verify::Integrity;

/// Assigns pseudonyms in order of first appearance; the report is traversed in a fixed order,
/// so the same archive gives the same pseudonyms.
#[derive(Default)]
struct Pseudonyms {
    seen: HashMap<(Kind, String), String>,
    counts: HashMap<Kind, usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Account,
    AccessKey,
    UniqueId,
    SshKey,
    Ipv4,
    Ipv6,
    Principal,
    /// An endpoint's `Name` tag: free text with no form to recognise, so redacted by field.
    EndpointName,
}

impl Pseudonyms {
    fn name(&mut self, kind: Kind, original: &str) -> String {
        if let Some(name) = self.seen.get(&(kind, original.to_owned())) {
            return name.clone();
        }
        let n = self.counts.entry(kind).or_default();
        *n += 1;
        // Lower case and hyphens: no pseudonym can be mistaken for an original by the detectors,
        // so redacting a redacted string changes nothing.
        let name = match kind {
            Kind::Account => format!("account-{n}"),
            Kind::AccessKey => format!("{}-key-{n}", &original[..4]),
            Kind::UniqueId => format!("{}-id-{n}", &original[..4]),
            Kind::SshKey => format!("ssh-key-{n}"),
            Kind::Ipv4 => format!("ipv4-{n}"),
            Kind::Ipv6 => format!("ipv6-{n}"),
            Kind::Principal => format!("principal-{n}"),
            Kind::EndpointName => format!("endpoint-name-{n}"),
        };
        self.seen.insert((kind, original.to_owned()), name.clone());
        name
    }
}

/// Everything a run writes, redacted with one set of pseudonyms under `--redact`, and left as it is
/// without it.
#[derive(Default)]
pub(crate) struct Redactor(Option<Pseudonyms>);

impl Redactor {
    /// The redactor of a run: redacting when `on` (`--redact`).
    pub(crate) fn new(on: bool) -> Redactor {
        Redactor(on.then(Pseudonyms::default))
    }

    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The report, every section of it ([`redact`]).
    pub(crate) fn report(&mut self, report: &mut Report) -> Result<(), FatalError> {
        self.0.as_mut().map_or(Ok(()), |names| redact(names, report))
    }

    /// One row of `trailscope connections` ([`redact_row`]).
    pub(crate) fn row(&mut self, row: &mut Row) {
        if let Some(names) = &mut self.0 {
            redact_row(names, row);
        }
    }

    /// The findings of `trailscope findings` (principals, accounts), as the report's are.
    pub(crate) fn findings(
        &mut self,
        findings: &mut Vec<Finding>,
        suppressed: &mut Vec<SuppressedFinding>,
    ) -> Result<(), FatalError> {
        match &mut self.0 {
            Some(names) => {
                names.whole(findings)?;
                names.whole(suppressed)
            }
            None => Ok(()),
        }
    }

    /// The names and reasons of unreadable objects (S3 keys and paths hold account ids).
    pub(crate) fn failures(&mut self, failures: &mut [ObjectError]) {
        if let Some(names) = &mut self.0 {
            redact_failures(names, failures);
        }
    }

    /// A line of its own a warning or an error prints.
    pub(crate) fn line(&mut self, line: &mut String) {
        if let Some(names) = &mut self.0 {
            *line = names.text(line);
        }
    }

    /// The names of archived objects (their keys hold account ids). The restore manifest is not
    /// redacted: S3 Batch Operations needs the real keys.
    pub(crate) fn archived(&mut self, archived: &mut [ArchivedObject]) {
        if let Some(names) = &mut self.0 {
            for object in archived {
                object.object = names.text(&object.object);
            }
        }
    }

    /// An integrity section on its own, for its warnings when the run ends without a report
    /// (`--strict`) or writes rows instead of one (`connections`).
    pub(crate) fn integrity(&mut self, integrity: &mut Integrity) -> Result<(), FatalError> {
        self.0.as_mut().map_or(Ok(()), |names| names.whole(integrity))
    }

    /// A fatal error's line: it can quote an object's name (a partial's failure, a key).
    pub(crate) fn fatal(&mut self, error: FatalError) -> FatalError {
        match (&mut self.0, error) {
            (_, redacted @ FatalError::Redacted(_)) => redacted,
            (Some(names), other) => FatalError::Redacted(names.text(&other.to_string())),
            (None, other) => other,
        }
    }
}

/// Redacts every string of `report`, in every section. The endpoints' accounts and the values of
/// fields come first, so that their pseudonyms are numbered as the analysis lists them; a field
/// whose path says its value is a principal's name has the whole value replaced (a bare name has
/// nothing around it to recognise it by). Then the whole report makes the round trip.
fn redact(names: &mut Pseudonyms, report: &mut Report) -> Result<(), FatalError> {
    for endpoint in &mut report.endpoints {
        endpoint.account = names.text(&endpoint.account);
        if let Some(name) = &mut endpoint.life.name {
            *name = names.name(Kind::EndpointName, name);
        }
    }
    for field in &mut report.fields {
        let whole = names_a_principal(&field.path).then_some(Kind::Principal);
        if let Some(value) = &mut field.value {
            *value = names.raw(value, whole);
        }
        for value in field.values.values_mut() {
            *value = names.raw(value, whole);
        }
    }
    // Every section named, none with `..`: a section added to the report does not compile here
    // until someone has seen that the round trip covers it, which it does unless the section is
    // left out of the JSON (`#[serde(skip)]`), as the timeline is.
    let Report {
        schema_version: _,
        summary: _,
        // Principals and accounts, as everywhere: through the detectors in the round trip.
        findings: _,
        suppressed: _,
        endpoints: _,
        direct: _,
        other_events: _,
        event_names: _,
        fields: _,
        conflicts: _,
        failures: _,
        failure_reasons: _,
        archived: _,
        integrity: _,
        timeline,
        changes,
        state,
    } = report;
    let timeline = std::mem::take(timeline);
    // What only a run with --state has comes last, so that everything else gets the pseudonyms a
    // run without --state gives it.
    let (mut changes, mut state) = (changes.take(), state.take());
    names.whole(report)?;
    report.timeline = timeline.into_iter().map(|times| names.times(times)).collect();
    if let Some(changes) = &mut changes {
        for row in changes.connections.iter_mut().chain(&mut changes.denied_attempts) {
            if let Some(name) = &mut row.endpoint_name {
                *name = names.name(Kind::EndpointName, name);
            }
        }
        names.whole(changes)?;
    }
    if let Some(state) = &mut state {
        names.whole(state)?;
    }
    (report.changes, report.state) = (changes, state);
    Ok(())
}

/// Redacts one row of `trailscope connections`. Rows are redacted in the order they are listed,
/// so the same archive gives the same pseudonyms. A key's fingerprint stands for the key: it
/// gets the key's kind of pseudonym (`ssh-key-1`). Endpoint and instance ids, regions, error
/// codes and OS user names are kept, as the report keeps them.
fn redact_row(names: &mut Pseudonyms, row: &mut Row) {
    // Every field named, none with `..`: a column added to the row does not compile until it is
    // decided here whether it is redacted.
    let Row {
        time,
        outcome: _,
        error_code,
        account,
        region,
        endpoint,
        principal,
        source_ip,
        instance_id,
        os_user,
        private_ip,
        port,
        key_fingerprint,
        key_to_tunnel_seconds: _,
        user_agent,
        endpoint_name,
    } = row;
    // Free text through the detectors: ids, regions, ports and OS user names come out as they
    // went in, as the report keeps them, unless they hold something sensitive.
    for text in [
        account,
        principal,
        source_ip,
        private_ip,
        user_agent,
        time,
        error_code,
        region,
        endpoint,
        instance_id,
        os_user,
        port,
    ]
    .into_iter()
    .flatten()
    {
        *text = names.text(text);
    }
    if let Some(fingerprint) = key_fingerprint {
        *fingerprint = names.name(Kind::SshKey, fingerprint);
    }
    if let Some(name) = endpoint_name {
        *name = names.name(Kind::EndpointName, name);
    }
}

fn redact_failures(names: &mut Pseudonyms, failures: &mut [ObjectError]) {
    for failure in failures {
        failure.object = names.text(&failure.object);
        // Redacted as the line it prints, and read back as a reason: the same line a
        // redacted report gives back (serialized, redacted, read back).
        failure.reason = crate::error::Reason::parse(&names.text(&failure.reason.to_string()));
    }
}

impl Pseudonyms {
    /// Every string of `value`, wherever it is: serialized, redacted, read back.
    fn whole<T: Serialize + DeserializeOwned>(&mut self, value: &mut T) -> Result<(), FatalError> {
        let failed = |e: serde_json::Error| FatalError::Redacted(format!("cannot redact the output: {e}"));
        let mut tree = serde_json::to_value(&*value).map_err(failed)?;
        self.value(&mut tree);
        *value = serde_json::from_value(tree).map_err(failed)?;
        Ok(())
    }

    /// The timeline, which the JSON schema leaves out: endpoint ids and error codes, through the
    /// same detectors so that they stay equal to the endpoints' own.
    fn times(&mut self, times: EndpointTimes) -> EndpointTimes {
        let EndpointTimes { id, connections, denied, created, deleted } = times;
        EndpointTimes {
            id: crate::event::EndpointId(self.text(&id.0)),
            connections,
            denied: denied.into_iter().map(|(at, code)| (at, self.text(&code))).collect(),
            created,
            deleted,
        }
    }

    fn raw(&mut self, value: &RawValue, whole: Option<Kind>) -> Box<RawValue> {
        let Ok(mut parsed) = serde_json::from_str::<Value>(value.get()) else {
            return value.to_owned();
        };
        match (&mut parsed, whole) {
            (Value::String(s), Some(kind)) if !s.is_empty() => *s = self.name(kind, s),
            _ => self.value(&mut parsed),
        }
        serde_json::value::to_raw_value(&parsed).unwrap_or_else(|_| value.to_owned())
    }

    fn value(&mut self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.text(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => {
                // Keys too: maps are keyed by archive strings (endpoint ids, error codes).
                let entries = std::mem::take(map);
                for (key, mut item) in entries {
                    self.value(&mut item);
                    map.insert(self.text(&key), item);
                }
            }
            _ => {}
        }
    }

    /// Redacts every sensitive token inside free text.
    fn text(&mut self, text: &str) -> String {
        let text = self.ssh_keys(text);
        let text = self.principals(&text);
        let mut out = String::with_capacity(text.len());
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let word_start = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
            if word_start {
                if let Some((kind, len)) = token_at(&text[i..]) {
                    out.push_str(&self.name(kind, &text[i..i + len]));
                    i += len;
                    continue;
                }
            }
            let c = text[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
        out
    }

    /// `ssh-ed25519 AAAA… [comment]` and friends: the key material (and comment) goes.
    fn ssh_keys(&mut self, text: &str) -> String {
        const TYPES: [&str; 4] = ["ssh-ed25519 ", "ssh-rsa ", "ssh-dss ", "ecdsa-sha2-"];
        let Some(start) = TYPES.iter().filter_map(|t| text.find(t)).min() else {
            return text.to_owned();
        };
        // The key runs to the end of the string: CloudTrail records hold one key per field.
        let key = &text[start..];
        format!("{}{}", &text[..start], self.name(Kind::SshKey, key))
    }

    /// Names after `:user/`, `:role/`, `:assumed-role/` (role and session), `:federated-user/`
    /// in ARNs, and after the `:` of a role principal id (`AROA…:session`).
    fn principals(&mut self, text: &str) -> String {
        const MARKERS: [&str; 5] = [":user/", ":role/", ":assumed-role/", ":federated-user/", ":group/"];
        let mut out = text.to_owned();
        for marker in MARKERS {
            let mut from = 0;
            while let Some(at) = out[from..].find(marker).map(|p| p + from) {
                let start = at + marker.len();
                let end = out[start..]
                    .find(|c: char| c == '"' || c.is_whitespace())
                    .map_or(out.len(), |e| start + e);
                let names: Vec<String> = out[start..end]
                    .split('/')
                    .map(
                        |part| if part.is_empty() { String::new() } else { self.name(Kind::Principal, part) },
                    )
                    .collect();
                let replaced = names.join("/");
                out.replace_range(start..end, &replaced);
                from = start + replaced.len();
            }
        }
        if let Some((id, session)) = out.split_once(':') {
            if is_unique_id(id) && !session.is_empty() && !session.contains([' ', ':', '/']) {
                return format!("{}:{}", self.name(Kind::UniqueId, id), self.name(Kind::Principal, session));
            }
        }
        out
    }
}

/// Leaf paths whose whole value is a principal's name (`userIdentity.userName`,
/// `sessionContext.sessionIssuer.userName`, `onBehalfOf.userId` and the like).
fn names_a_principal(path: &str) -> bool {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    matches!(leaf, "userName" | "userId" | "identityStoreUserId")
}

/// Access key ids (`AKIA`, `ASIA`) and unique ids of users and roles (`AIDA`, `AROA`, …):
/// four letters and 16 (or 17) upper-case letters or digits.
fn is_unique_id(s: &str) -> bool {
    let prefixes = ["AIDA", "AROA", "AGPA", "ANPA", "ANVA", "APKA", "ASCA", "AIPA"];
    s.len() >= 20
        && s.len() <= 21
        && prefixes.iter().any(|p| s.starts_with(p))
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The sensitive token starting `text`, if any, and its length.
fn token_at(text: &str) -> Option<(Kind, usize)> {
    let bytes = text.as_bytes();
    let run = |pred: fn(&u8) -> bool| bytes.iter().take_while(|b| pred(b)).count();
    let alnum = run(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if (20..=21).contains(&alnum) {
        let word = &text[..alnum];
        if (word.starts_with("AKIA") || word.starts_with("ASIA")) && !next_is_word(bytes, alnum) {
            return Some((Kind::AccessKey, alnum));
        }
        if is_unique_id(word) && !next_is_word(bytes, alnum) {
            return Some((Kind::UniqueId, alnum));
        }
    }
    let digits = run(u8::is_ascii_digit);
    if digits == 12 && !next_is_word(bytes, 12) {
        return Some((Kind::Account, 12));
    }
    if let Some(len) = ipv4_len(text) {
        return Some((Kind::Ipv4, len));
    }
    ipv6_len(text).map(|len| (Kind::Ipv6, len))
}

fn next_is_word(bytes: &[u8], at: usize) -> bool {
    bytes.get(at).is_some_and(|b| b.is_ascii_alphanumeric())
}

fn ipv4_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    for part in 0..4 {
        let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 3 || text[i..i + digits].parse::<u16>().ok()? > 255 {
            return None;
        }
        i += digits;
        if part < 3 {
            if bytes.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
    }
    (!bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'.')).then_some(i)
}

/// An IPv6 address: hex groups and colons, with at least two colons and a hex digit.
fn ipv6_len(text: &str) -> Option<usize> {
    let len = text.bytes().take_while(|b| b.is_ascii_hexdigit() || *b == b':' || *b == b'.').count();
    let candidate = &text[..len];
    let colons = candidate.matches(':').count();
    (colons >= 2 && candidate.parse::<std::net::Ipv6Addr>().is_ok()).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report with a secret in every section a string can be in.
    const REPORT: &str = r#"{
        "schema_version": 2,
        "summary": {"objects_listed": 1, "objects_read": 1, "objects_skipped": 0,
            "skipped": {"digest": 0, "other": 0, "directory_links": 0}, "objects_failed": 1,
            "records": 2, "instance_connect_events": 2, "duplicate_events": 0, "conflicting_duplicates": 1,
            "events_without_time": 0, "events_out_of_range": 0, "connections": 1, "denied_attempts": 0,
            "endpoints": 1, "connections_without_key": 0, "tunnels_without_endpoint": 0, "pair_window_seconds": 60,
            "objects_archived": 1, "archived_by_storage_class": {"GLACIER": 1}, "requests_throttled": 0,
            "requests_retried": 0},
        "findings": [{"id": "0123456789abcdef", "rule": "serial-console-key", "severity": "medium",
            "title": "SSH key pushed for an instance's serial console", "account": "111122223333",
            "region": "us-east-1", "endpoint": null, "principal": "arn:aws:sts::111122223333:assumed-role/EC2Admin/alice",
            "instances": ["i-1"], "first_seen": null, "last_seen": null, "event_count": 1, "event_ids": ["e-2"]}],
        "suppressed": [],
        "endpoints": [{"id": "eice-1", "account": "111122223333", "region": "us-east-1", "connections": 1,
            "denied": 0, "denied_errors": {}, "events": {"OpenTunnel": 1}, "connections_without_key": 0,
            "first_seen": null, "last_seen": null, "name": "payroll-bastion", "subnet_id": "subnet-1",
            "vpc_id": "vpc-1", "availability_zone": "us-east-1a", "security_group_ids": ["sg-1"],
            "preserve_client_ip": true, "ip_address_type": "ipv4",
            "created": {"time": "2024-03-01T00:00:00Z", "principal": "arn:aws:sts::111122223333:assumed-role/EC2Admin/netadmin", "event_id": "c-1"},
            "deleted": null,
            "modifications": [{"time": "2024-03-01T01:00:00Z", "principal": "arn:aws:sts::111122223333:assumed-role/EC2Admin/bob", "event_id": "m-1", "changed": ["name"]}],
            "lifecycle_denied": 0}],
        "direct": {"SendSSHPublicKey": 0, "SendSerialConsoleSSHPublicKey": 0},
        "other_events": {},
        "event_names": [],
        "fields": [
            {"event_name": "OpenTunnel", "path": "responseElements", "class": "constant", "events": 1,
             "distinct": 1, "endpoints_varying": 0, "value": null},
            {"event_name": "OpenTunnel", "path": "userIdentity.userName", "class": "constant", "events": 1,
             "distinct": 1, "endpoints_varying": 0, "value": "alice"}],
        "conflicts": [{"event_id": "e-1",
            "kept": {"object": "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/111122223333_CloudTrail_us-east-1_20240301T0000Z_a.json.gz", "record": 0},
            "conflicting": {"object": "copy/AWSLogs/444455556666/x.json.gz", "record": 3}}],
        "failures": [{"object": "s3://b/AWSLogs/o-abc/777788889999/y.json.gz", "error": "bad"}],
        "failure_reasons": {"bad": 1},
        "archived": [{"object": "s3://b/AWSLogs/777788889999/CloudTrail/us-east-1/2023/01/01/777788889999_CloudTrail_us-east-1_20230101T0000Z_z.json.gz",
            "storage_class": "GLACIER"}],
        "integrity": {"digests_read": 1, "digests_verified": 0, "backfill_digests": 0, "log_files_verified": 0,
            "signatures": {"verified": 0, "failed": 0, "unchecked": 1, "failures": [],
                "unchecked_reasons": {"no key for 111122223333": 1}},
            "streams": [{"account": "111122223333", "region": "us-east-1", "trails": ["t"], "digests": 1,
                "log_files_verified": 0, "from": null, "to": null}],
            "missing": [{"object": "AWSLogs/111122223333/m.json.gz", "account": "111122223333",
                "region": "us-east-1", "listed_by": "AWSLogs/111122223333/CloudTrail-Digest/d.json.gz"}],
            "modified": [], "unlisted": [], "chain_breaks": [], "unreadable_digests": []}
    }"#;

    #[test]
    fn every_section_is_redacted_with_one_set_of_pseudonyms() {
        let mut report: Report = serde_json::from_str(REPORT).expect("a report");
        Redactor::new(true).report(&mut report).expect("redacted");
        let out = serde_json::to_string(&report).expect("JSON");
        for secret in ["111122223333", "444455556666", "777788889999", "alice", "payroll", "netadmin", "bob"]
        {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        let life = &report.endpoints[0].life;
        assert_eq!(life.name.as_deref(), Some("endpoint-name-1"), "a name has no form: redacted by field");
        let principal = life.created.as_ref().and_then(|c| c.principal.as_deref());
        assert_eq!(principal, Some("arn:aws:sts::account-1:assumed-role/principal-2/principal-3"));
        assert_eq!(life.subnet_id.as_deref(), Some("subnet-1"), "ids are kept, as endpoint ids are");
        assert_eq!(report.endpoints[0].account, "account-1", "numbered as the analysis lists them");
        assert_eq!(report.findings[0].account.as_deref(), Some("account-1"));
        assert!(report.findings[0].principal.as_deref().is_some_and(|p| p.contains("principal-")));
        let integrity = report.integrity.as_ref().expect("integrity");
        assert_eq!(integrity.streams[0].account, "account-1", "the same account, the same pseudonym");
        assert_eq!(integrity.missing[0].object, "AWSLogs/account-1/m.json.gz");
        assert_eq!(report.conflicts[0].conflicting.object, "copy/AWSLogs/account-3/x.json.gz");
        assert_eq!(report.failures[0].object, "s3://b/AWSLogs/o-abc/account-2/y.json.gz");
        assert_eq!(
            report.archived[0].object,
            "s3://b/AWSLogs/account-2/CloudTrail/us-east-1/2023/01/01/account-2_CloudTrail_us-east-1_20230101T0000Z_z.json.gz"
        );
        assert!(integrity.signatures.unchecked_reasons.contains_key("no key for account-1"), "map keys too");
    }

    #[test]
    fn the_round_trip_loses_nothing() {
        let mut report: Report = serde_json::from_str(REPORT).expect("a report");
        let before = serde_json::to_value(&report).expect("JSON");
        Pseudonyms::default().whole(&mut report).expect("round trip");
        let mut expected = before.clone();
        Pseudonyms::default().value(&mut expected);
        assert_eq!(serde_json::to_value(&report).expect("JSON"), expected);
        assert_eq!(
            report.fields[0].value.as_ref().map(|v| v.get()),
            Some("null"),
            "a null value stays a value"
        );
    }

    fn redacted(text: &str) -> String {
        Pseudonyms::default().text(text)
    }

    #[test]
    fn account_ids_in_arns_and_paths() {
        assert_eq!(
            redacted("AWSLogs/123456789012/CloudTrail/x_123456789012_y.json.gz"),
            "AWSLogs/account-1/CloudTrail/x_account-1_y.json.gz"
        );
        assert_eq!(redacted("1234567890123"), "1234567890123", "13 digits are not an account id");
    }

    #[test]
    fn keys_principals_and_addresses() {
        let mut names = Pseudonyms::default();
        assert_eq!(names.text("ASIAEXAMPLEKEY000001"), "ASIA-key-1");
        assert_eq!(names.text("ASIAEXAMPLEKEY000001"), "ASIA-key-1", "equal in, equal out");
        assert_eq!(names.text("AKIAIOSFODNN7EXAMPLE"), "AKIA-key-2");
        assert_eq!(
            names.text("arn:aws:sts::123456789012:assumed-role/Admin/alice"),
            "arn:aws:sts::account-1:assumed-role/principal-1/principal-2"
        );
        assert_eq!(names.text("AROAEXAMPLEROLEID0001:alice"), "AROA-id-1:principal-2");
        assert_eq!(names.text("AROAEXAMPLEROLEID0001"), "AROA-id-1");
        assert_eq!(names.text("198.51.100.24 and 203.0.113.10"), "ipv4-1 and ipv4-2");
        assert_eq!(names.text("2001:db8::1"), "ipv6-1");
        assert_eq!(names.text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLE user@host"), "ssh-key-1");
        assert_eq!(names.text("eice-0f94a1b2c3d4e5f60"), "eice-0f94a1b2c3d4e5f60", "endpoint ids stay");
        assert_eq!(names.text("2023-09-21T01:24:44Z"), "2023-09-21T01:24:44Z", "times stay");
    }
}
