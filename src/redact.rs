//! `--redact`: replaces access key ids, SSH public keys, IP addresses, account ids and principal
//! names in a finished report with stable pseudonyms (the same original gives the same pseudonym
//! everywhere in the report), so every output format is redacted and the analysis still reads.
//! The rows of `trailscope connections` are redacted by the same rules, row by row.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::Value;

use crate::connections::Row;
use crate::error::ObjectError;
use crate::report::Report;

/// Assigns pseudonyms in order of first appearance; the report is traversed in a fixed order,
/// so the same archive gives the same pseudonyms.
#[derive(Default)]
pub(crate) struct Pseudonyms {
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
}

impl Pseudonyms {
    fn name(&mut self, kind: Kind, original: &str) -> String {
        if let Some(name) = self.seen.get(&(kind, original.to_owned())) {
            return name.clone();
        }
        let n = self.counts.entry(kind).or_default();
        *n += 1;
        // Lower case and hyphens: no pseudonym can be mistaken for an original by the detectors.
        let name = match kind {
            Kind::Account => format!("account-{n}"),
            Kind::AccessKey => format!("{}-key-{n}", &original[..4]),
            Kind::UniqueId => format!("{}-id-{n}", &original[..4]),
            Kind::SshKey => format!("ssh-key-{n}"),
            Kind::Ipv4 => format!("ipv4-{n}"),
            Kind::Ipv6 => format!("ipv6-{n}"),
            Kind::Principal => format!("principal-{n}"),
        };
        self.seen.insert((kind, original.to_owned()), name.clone());
        name
    }
}

/// Redacts every string of `report` that can carry one of the sensitive kinds.
pub(crate) fn redact(report: &mut Report) {
    let mut names = Pseudonyms::default();
    for endpoint in &mut report.endpoints {
        endpoint.account = names.text(&endpoint.account);
    }
    for field in &mut report.fields {
        // A bare name has nothing around it to recognise it by; the path says what it is.
        let whole = names_a_principal(&field.path).then_some(Kind::Principal);
        if let Some(value) = &mut field.value {
            *value = names.raw(value, whole);
        }
        for value in field.values.values_mut() {
            *value = names.raw(value, whole);
        }
    }
    redact_failures_with(&mut names, &mut report.failures);
    // Last, so that everything above gets the pseudonyms a run without --state gives it.
    if let Some(changes) = &mut report.changes {
        for text in changes.new_principals.iter_mut().chain(&mut changes.new_instances) {
            *text = names.text(text);
        }
    }
    if let Some(state) = &mut report.state {
        for object in &mut state.objects_changed {
            *object = names.text(object);
        }
    }
}

/// Redacts the names and reasons of unreadable objects (S3 keys and paths hold account ids),
/// for runs that end before a report exists.
pub(crate) fn redact_failures(failures: &mut [ObjectError]) {
    redact_failures_with(&mut Pseudonyms::default(), failures);
}

/// Redacts one row of `trailscope connections`. Rows are redacted in the order they are listed,
/// so the same archive gives the same pseudonyms. A key's fingerprint stands for the key: it
/// gets the key's kind of pseudonym (`ssh-key-1`). Endpoint and instance ids, regions, error
/// codes and OS user names are kept, as the report keeps them.
pub(crate) fn redact_row(names: &mut Pseudonyms, row: &mut Row) {
    for text in
        [&mut row.account, &mut row.principal, &mut row.source_ip, &mut row.private_ip, &mut row.user_agent]
            .into_iter()
            .flatten()
    {
        *text = names.text(text);
    }
    if let Some(fingerprint) = &mut row.key_fingerprint {
        *fingerprint = names.name(Kind::SshKey, fingerprint);
    }
}

pub(crate) fn redact_failures_with(names: &mut Pseudonyms, failures: &mut [ObjectError]) {
    for failure in failures {
        failure.object = names.text(&failure.object);
        failure.error = names.text(&failure.error);
    }
}

impl Pseudonyms {
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
            Value::Object(map) => map.values_mut().for_each(|v| self.value(v)),
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
