//! `--suppress FILE`: findings known and accepted. Each entry names a rule, what it matches
//! (principal, endpoint, instance, port, account: every one given must match), a reason, and
//! optionally the last day it holds. A suppressed finding is moved to the report's `suppressed`
//! list with the entry's reason: never dropped, never a cause of `--fail-on`.

use serde::Deserialize;

use crate::report::{Finding, SuppressedFinding};
use crate::time::Day;

use super::RULES;

/// The file: `{"suppressions": [ENTRY, …]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    suppressions: Vec<Entry>,
}

/// One entry, as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    pub(crate) rule: String,
    #[serde(default)]
    principal: Option<String>,
    #[serde(default)]
    endpoint: Option<String>,
    /// Matches a finding one of whose instances it is.
    #[serde(default)]
    instance: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    account: Option<String>,
    pub(crate) reason: String,
    /// The last day the entry holds (YYYY-MM-DD, UTC).
    #[serde(default)]
    pub(crate) expires: Option<String>,
}

/// The entries of a file, and the day they are judged on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Suppressions {
    entries: Vec<(Entry, Option<Day>)>,
    today: Option<Day>,
}

impl Suppressions {
    /// The entries of `text` (the file's content), judged on `today`. An error says what is
    /// wrong and where: a file that says something else than was meant must not suppress.
    pub(crate) fn parse(text: &str, today: Day) -> Result<Suppressions, String> {
        let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut entries = Vec::with_capacity(file.suppressions.len());
        for (i, entry) in file.suppressions.into_iter().enumerate() {
            let at = format!("entry {} ({})", i + 1, entry.rule);
            if !RULES.iter().any(|r| r.id == entry.rule) {
                let known: Vec<&str> = RULES.iter().map(|r| r.id).collect();
                return Err(format!("{at}: no such rule (the rules: {})", known.join(", ")));
            }
            if entry.reason.trim().is_empty() {
                return Err(format!("{at}: a reason is required"));
            }
            let expires = match &entry.expires {
                Some(text) => Some(
                    Day::parse(text)
                        .ok_or_else(|| format!("{at}: expires {text:?} is not a YYYY-MM-DD date"))?,
                ),
                None => None,
            };
            entries.push((entry, expires));
        }
        Ok(Suppressions { entries, today: Some(today) })
    }

    /// The entries that no longer hold (their last day is before today), for a warning.
    pub(crate) fn expired(&self) -> Vec<&Entry> {
        self.entries.iter().filter(|(_, expires)| self.is_expired(*expires)).map(|(e, _)| e).collect()
    }

    fn is_expired(&self, expires: Option<Day>) -> bool {
        matches!((expires, self.today), (Some(last), Some(today)) if last < today)
    }

    /// `findings` split into those no entry holding today matches and those one does (the
    /// first in the file), both in their order.
    pub(crate) fn apply(&self, findings: Vec<Finding>) -> (Vec<Finding>, Vec<SuppressedFinding>) {
        let mut kept = Vec::new();
        let mut suppressed = Vec::new();
        for finding in findings {
            let entry = self
                .entries
                .iter()
                .find(|(entry, expires)| !self.is_expired(*expires) && matches(entry, &finding));
            match entry {
                Some((entry, _)) => suppressed.push(SuppressedFinding {
                    finding,
                    reason: entry.reason.clone(),
                    expires: entry.expires.clone(),
                }),
                None => kept.push(finding),
            }
        }
        (kept, suppressed)
    }
}

/// Whether `entry` matches `finding`: its rule, and every matcher it gives.
fn matches(entry: &Entry, finding: &Finding) -> bool {
    let same = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
    entry.rule == finding.rule
        && same(&entry.principal, &finding.principal)
        && same(&entry.endpoint, &finding.endpoint)
        && same(&entry.account, &finding.account)
        && entry.instance.as_ref().is_none_or(|i| finding.instances.contains(i))
        && entry.port.is_none_or(|p| finding.port.as_deref().and_then(|f| f.trim().parse().ok()) == Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Severity;

    fn finding(rule: &str, principal: &str, port: Option<&str>) -> Finding {
        Finding {
            id: format!("{rule}-{principal}"),
            rule: rule.into(),
            severity: Severity::Medium,
            title: String::new(),
            account: Some("111122223333".into()),
            region: Some("us-east-1".into()),
            endpoint: Some("eice-1".into()),
            principal: Some(principal.into()),
            instances: vec!["i-1".into(), "i-2".into()],
            port: port.map(Into::into),
            first_seen: None,
            last_seen: None,
            event_count: 1,
            event_ids: vec!["e".into()],
        }
    }

    fn day(text: &str) -> Day {
        Day::parse(text).expect("a day")
    }

    #[test]
    fn an_entry_matches_on_everything_it_gives_and_until_its_last_day() {
        let text = r#"{"suppressions": [
            {"rule": "tunnel-unusual-port", "principal": "arn:dba", "port": 5432, "reason": "the DBA's tunnel", "expires": "2030-06-30"},
            {"rule": "serial-console-key", "instance": "i-2", "account": "111122223333", "reason": "break-glass box"},
            {"rule": "privileged-os-user", "reason": "expired", "expires": "2020-01-01"}
        ]}"#;
        let on = |today: &str| Suppressions::parse(text, day(today)).expect("parses");
        let findings = vec![
            finding("tunnel-unusual-port", "arn:dba", Some("5432")),
            finding("tunnel-unusual-port", "arn:dba", Some("8080")),
            finding("tunnel-unusual-port", "arn:dev", Some("5432")),
            finding("serial-console-key", "arn:ops", None),
            finding("privileged-os-user", "arn:ops", None),
        ];
        let (kept, suppressed) = on("2030-06-30").apply(findings.clone());
        let ids = |f: &[Finding]| f.iter().map(|f| f.id.clone()).collect::<Vec<_>>();
        assert_eq!(
            ids(&kept),
            ["tunnel-unusual-port-arn:dba", "tunnel-unusual-port-arn:dev", "privileged-os-user-arn:ops"]
        );
        assert_eq!(kept[0].port.as_deref(), Some("8080"));
        let reasons: Vec<&str> = suppressed.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons, ["the DBA's tunnel", "break-glass box"]);
        assert_eq!(suppressed[0].expires.as_deref(), Some("2030-06-30"));
        // The day after its last, the first entry no longer holds.
        let (kept, suppressed) = on("2030-07-01").apply(findings);
        assert_eq!((kept.len(), suppressed.len()), (4, 1));
        assert_eq!(on("2030-07-01").expired().len(), 2);
    }

    #[test]
    fn a_file_that_says_something_unmeant_is_refused() {
        let today = day("2025-01-01");
        let refused = |text: &str| Suppressions::parse(text, today).expect_err("refused");
        assert!(refused(r#"{"suppressions": [{"rule": "no-such-rule", "reason": "x"}]}"#)
            .contains("no such rule"));
        assert!(refused(r#"{"suppressions": [{"rule": "denied-burst", "reason": " "}]}"#).contains("reason"));
        assert!(refused(r#"{"suppressions": [{"rule": "denied-burst", "reason": "x", "princpal": "a"}]}"#)
            .contains("unknown field"));
        assert!(refused(r#"{"suppressions": [{"rule": "denied-burst", "reason": "x", "expires": "soon"}]}"#)
            .contains("YYYY-MM-DD"));
        assert!(refused("[").contains("line 1"));
    }
}
