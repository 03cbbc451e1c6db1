//! Findings: what a reader of the report should look at first. Each rule is a pass of its own over
//! the analysis' [`Activity`] (a file per rule), with its thresholds from [`Rules`], which the
//! plan builds from the command line; a rule never sees a flag. A rule says which events prove
//! what it found ([`Found`]); [`find`] turns that into the report's [`Finding`]s, read back from
//! the spool for their `eventID`s and instances only, and sorts them. docs/findings.md says why
//! each rule exists, what it compares with, and how to tune it.

mod denied;
mod fan_out;
mod lifetime;
mod port;
mod privileged;
mod serial;
pub(crate) mod suppress;
mod values;
mod window;

use crate::error::Reason;
use crate::event::tables::{FastMap, FastSet};
use crate::event::{Event, Origin, SEND_SERIAL_CONSOLE_SSH_PUBLIC_KEY, SEND_SSH_PUBLIC_KEY};
use crate::hash::Sha256;
use crate::report::{Finding, Severity};
use crate::time::MINUTE;

use super::lifecycle::Lifecycle;
use super::Activity;
use values::{Held, Values};

const INSTANCE_ID: &str = "requestParameters.instanceId";

/// A rule's id and severity, as every format shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) id: &'static str,
    pub(crate) severity: Severity,
}

/// Every rule, in the order docs/findings.md describes them.
pub(crate) const RULES: [Rule; 6] =
    [port::RULE, fan_out::RULE, serial::RULE, denied::RULE, lifetime::RULE, privileged::RULE];

/// The rules' thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rules {
    /// `tunnel-unusual-port`: the ports a tunnel may ask for without a finding.
    pub(crate) expected_ports: Vec<u16>,
    /// `key-to-many-instances`: distinct instances one principal pushes keys to.
    pub(crate) fan_out: Threshold,
    /// `denied-burst`: denied calls of one principal.
    pub(crate) denied_burst: Threshold,
    /// `tunnel-outside-endpoint-lifetime`: how far, in minutes, a tunnel may be from its
    /// endpoint's creation or deletion (clocks and delivery are not exact) without a finding.
    pub(crate) lifetime_margin_minutes: u32,
    /// `privileged-os-user`: the OS users a pushed key must not be for.
    pub(crate) privileged_users: Vec<String>,
}

/// So many within so long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Threshold {
    pub(crate) count: u32,
    pub(crate) minutes: u32,
}

impl Threshold {
    fn within_ms(self) -> i64 {
        i64::from(self.minutes) * MINUTE
    }
}

impl Default for Rules {
    /// The documented defaults (docs/findings.md, and `--help`).
    fn default() -> Self {
        Rules {
            expected_ports: vec![22, 3389],
            fan_out: Threshold { count: 5, minutes: 60 },
            denied_burst: Threshold { count: 5, minutes: 10 },
            lifetime_margin_minutes: 5,
            privileged_users: vec!["root".to_owned()],
        }
    }
}

/// What a rule found: its evidence, and a title for a person.
pub(super) struct Found<'k> {
    rule: Rule,
    title: String,
    evidence: Vec<&'k Event>,
    port: Option<String>,
    /// The event the finding is about, when it is not the first evidence event: the finding's
    /// id, principal, account and region are its.
    about: Option<&'k Event>,
}

impl<'k> Found<'k> {
    fn new(rule: Rule, title: String, evidence: Vec<&'k Event>) -> Self {
        Found { rule, title, evidence, port: None, about: None }
    }
}

/// What every rule is given.
pub(super) struct Context<'a, 'k> {
    activity: &'a Activity<'k>,
    rules: &'a Rules,
    /// The endpoints' lives, as the report shows them.
    lifecycle: &'a Lifecycle,
    values: Values<'k>,
    /// Every `SendSSHPublicKey`, paired with a tunnel or not, in origin order.
    keys: Vec<&'k Event>,
}

/// Every finding of `activity` (whose endpoints lived as `lifecycle` says) under `rules`: most
/// severe first, then the earliest, then by id.
pub(crate) fn find(
    activity: &Activity<'_>,
    lifecycle: &Lifecycle,
    rules: &Rules,
) -> Result<Vec<Finding>, Reason> {
    Ok(find_with_evidence(activity, lifecycle, rules)?.into_iter().map(|(finding, _)| finding).collect())
}

/// Every finding, as [`find`] gives them, each with its evidence events in time order.
pub(crate) fn find_with_evidence<'k>(
    activity: &Activity<'k>,
    lifecycle: &Lifecycle,
    rules: &Rules,
) -> Result<Vec<(Finding, Vec<&'k Event>)>, Reason> {
    let mut keys: Vec<&Event> =
        activity.tunnels.iter().filter_map(|t| t.key).chain(activity.direct_keys.iter().copied()).collect();
    keys.sort_unstable_by_key(|e| e.origin);
    let mut cx = Context { activity, rules, lifecycle, values: Values::new(activity.kept), keys };
    let mut found = port::find(&mut cx)?;
    found.extend(fan_out::find(&mut cx)?);
    found.extend(serial::find(&mut cx)?);
    found.extend(denied::find(&mut cx)?);
    found.extend(lifetime::find(&mut cx));
    found.extend(privileged::find(&mut cx)?);
    let key_of_tunnel: FastMap<Origin, &Event> =
        activity.tunnels.iter().filter_map(|t| Some((t.event.origin, t.key?))).collect();
    let mut findings = found
        .into_iter()
        .map(|found| finding(&mut cx, &key_of_tunnel, found))
        .collect::<Result<Vec<(Finding, Vec<&Event>)>, Reason>>()?;
    findings.sort_by(|(a, _), (b, _)| {
        fn when(f: &Finding) -> (bool, Option<&str>) {
            (f.first_seen.is_none(), f.first_seen.as_deref())
        }
        b.severity.cmp(&a.severity).then_with(|| when(a).cmp(&when(b))).then_with(|| a.id.cmp(&b.id))
    });
    Ok(findings)
}

/// The finding of `found`: its evidence in time order, read back for `eventID`s and instances.
fn finding<'k>(
    cx: &mut Context<'_, 'k>,
    key_of_tunnel: &FastMap<Origin, &'k Event>,
    mut found: Found<'k>,
) -> Result<(Finding, Vec<&'k Event>), Reason> {
    let kept = cx.activity.kept;
    let vocabulary = &kept.vocabulary;
    found.evidence.sort_by_key(|e| (e.time.is_none(), e.time, e.origin));
    let key_names = [SEND_SSH_PUBLIC_KEY, SEND_SERIAL_CONSOLE_SSH_PUBLIC_KEY].map(|n| vocabulary.find(n));
    let mut event_ids = Vec::with_capacity(found.evidence.len());
    let mut instances = Vec::new();
    let mut reached = FastSet::default();
    for &event in &found.evidence {
        event_ids.push(kept.event_id(event)?);
        let key = if key_names.contains(&Some(event.name)) {
            Some(event)
        } else {
            key_of_tunnel.get(&event.origin).copied()
        };
        let Some(key) = key else { continue };
        // A fan-out's evidence is dozens of keys to a handful of instances: each text once.
        let new = match cx.values.held(key, INSTANCE_ID) {
            Held::Absent => false,
            Held::Hash(hash) => reached.insert(hash),
            Held::Unknown => true,
        };
        if new {
            instances.extend(cx.values.text(key, INSTANCE_ID)?);
        }
    }
    instances.sort();
    instances.dedup();
    let first = found.about.unwrap_or(found.evidence[0]);
    let text = |sym| Some(vocabulary.text(sym)).filter(|t| !t.is_empty()).map(str::to_owned);
    let mut endpoints = found.evidence.iter().filter_map(|e| e.endpoint);
    let endpoint = endpoints.next().filter(|&one| endpoints.all(|e| e == one)).and_then(text);
    let time = |e: Option<&&Event>| e.and_then(|e| e.time).map(|t| t.to_string());
    let first_id = match found.about {
        Some(about) => &event_ids[found.evidence.iter().position(|e| e.origin == about.origin).unwrap_or(0)],
        None => &event_ids[0],
    };
    let finding = Finding {
        id: finding_id(found.rule.id, first_id),
        rule: found.rule.id.to_owned(),
        severity: found.rule.severity,
        title: found.title,
        account: text(first.account),
        region: text(first.region),
        endpoint,
        principal: text(first.principal),
        instances,
        port: found.port,
        first_seen: time(found.evidence.iter().find(|e| e.time.is_some())),
        last_seen: time(found.evidence.iter().rev().find(|e| e.time.is_some())),
        event_count: found.evidence.len() as u64,
        event_ids,
    };
    Ok((finding, found.evidence))
}

/// Whether `--fail-on at` fails on `findings` (those no entry suppresses): one of `at` or higher,
/// and, with `--state` (`new` given), new since the last report.
pub(crate) fn fails(findings: &[Finding], new: Option<&[String]>, at: Severity) -> bool {
    findings.iter().any(|f| f.severity >= at && new.is_none_or(|new| new.contains(&f.id)))
}

/// A finding's id: the first 16 hex digits of the SHA-256 of its rule and the `eventID` of the
/// event it is about (its first evidence's, but a tunnel's where a deletion before it is evidence
/// too, since one deletion may precede many), so the same finding has the same id in every run,
/// shard and format.
pub(crate) fn finding_id(rule: &str, first_event_id: &str) -> String {
    let mut id = Sha256::of(format!("{rule}\n{first_event_id}").as_bytes()).to_string();
    id.truncate(16);
    id
}

/// Groups `events` by principal, each group in time order; events without a readable time are
/// left out (a window cannot place them).
fn by_principal<'k>(events: impl Iterator<Item = &'k Event>) -> Vec<Vec<&'k Event>> {
    let mut groups: FastMap<crate::event::tables::Sym, Vec<&'k Event>> = FastMap::default();
    for event in events.filter(|e| e.time.is_some()) {
        groups.entry(event.principal).or_default().push(event);
    }
    let mut groups: Vec<Vec<&Event>> = groups.into_values().collect();
    for group in &mut groups {
        group.sort_by_key(|e| (e.time, e.origin));
    }
    groups
}

/// The times of `events`, which all have one.
fn millis(events: &[&Event]) -> Vec<i64> {
    events.iter().map(|e| e.time.map_or(0, |t| t.millis())).collect()
}

#[cfg(test)]
mod tests;
