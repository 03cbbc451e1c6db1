//! What each finding rule must find, injected over the benign background (which no rule may
//! flag): in the last hours of the span, which the regular schedule leaves free, the activities
//! of `key-to-many-instances`, `tunnel-unusual-port`, `denied-burst` and `privileged-os-user`,
//! each beside activity of the same principal that must not be evidence (a key an hour and more
//! from the burst, a denied attempt outside the window, a tunnel to an expected port, a denied
//! tunnel to an unusual one). With the lifecycle scenario, a tunnel through `e2` minutes after
//! its deletion is `tunnel-outside-endpoint-lifetime`'s (the tunnels before it, and the other
//! endpoints' tunnels, all within their lives, are not). The serial-console keys of the regular
//! schedule are `serial-console-key`'s. The truth of each finding is written here, from the plan:
//! the events each rule must name, never read back from the archive.

use serde::Serialize;

use super::lifecycle::{Lives, E2_DELETED_BEFORE_END};
use super::records;
use super::{Activity, Plan, Rng, Written, ACCOUNTS, STREAMS};
use crate::report::Severity;

/// Seconds at the end of the span that the regular schedule leaves to the injected activities.
pub(super) const RESERVED_S: i64 = 5 * 3_600;

const LIFETIME: &str = "tunnel-outside-endpoint-lifetime";

/// The principal that sprays keys across instances.
const FAN_OUT_USER: &str = "deploy-bot";

/// A finding the report must have, as the plan made it.
#[derive(Debug, Clone, Serialize)]
pub struct FindingTruth {
    pub rule: &'static str,
    pub severity: Severity,
    pub account: &'static str,
    pub region: &'static str,
    pub endpoint: Option<String>,
    pub principal: String,
    /// Sorted.
    pub instances: Vec<String>,
    pub port: Option<&'static str>,
    pub first_seen: String,
    pub last_seen: String,
    /// The evidence's `eventID`s, in time order.
    pub event_ids: Vec<String>,
}

/// One injected activity, and what it changes in the records the regular schedule would write.
struct Injected {
    activity: Activity,
    /// Replaces the regular user of the activity.
    user: Option<&'static str>,
    port: Option<&'static str>,
    os_user: Option<&'static str>,
}

impl Injected {
    fn new(activity: Activity) -> Self {
        Injected { activity, user: None, port: None, os_user: None }
    }
}

const MINUTE_S: i64 = 60;

impl Plan<'_> {
    /// Schedules the injected activities after the regular ones, and the truth of what they and
    /// the regular serial-console keys must be found as.
    pub(super) fn inject_findings(&mut self) {
        let (_, end) = self.span_ms();
        let at = end / 1_000 - RESERVED_S;
        // Stream 0: the first account's us-east-1, two endpoints; stream 2: the second account's
        // ap-northeast-1, one endpoint.
        let first = self.endpoints.iter().position(|e| e.stream == 0).unwrap_or(0);
        let third = self.endpoints.iter().position(|e| e.stream == 2).unwrap_or(0);
        // Times in seconds after `at`. The fan-out user: one key, six to six instances 8 minutes
        // apart 80 minutes later, one more 70 minutes after them; carol (k = 2) tunnels to 5432,
        // alice (k = 0) to 3389, each key in its tunnel's second.
        let direct = |minute: i64| {
            (minute * MINUTE_S, Injected { user: Some(FAN_OUT_USER), ..Injected::new(Activity::Direct) })
        };
        let connect = |minute: i64, k, port| {
            let activity = Activity::Connect { endpoint: first, k, keyed: true };
            (minute * MINUTE_S, Injected { port: Some(port), ..Injected::new(activity) })
        };
        let stream0 = vec![
            direct(10),
            connect(20, 2, "5432"),
            connect(40, 0, "3389"),
            direct(90),
            direct(98),
            direct(106),
            direct(114),
            direct(122),
            direct(130),
            direct(200),
        ];
        // The contractor: a denied tunnel, six within 500 s 50 minutes later (one to 5432, which
        // is no unusual-port finding: it was denied), one more an hour after; a key for root and
        // one for ec2-user pushed straight to instances.
        let denied = |second: i64, port| {
            let activity = Activity::Denied { endpoint: third, keyed: false, code: "AccessDenied" };
            (second, Injected { port, ..Injected::new(activity) })
        };
        let key_for = |minute: i64, os_user| {
            (minute * MINUTE_S, Injected { os_user: Some(os_user), ..Injected::new(Activity::Direct) })
        };
        let mut stream2 = vec![denied(10 * MINUTE_S, None), key_for(30, "root"), key_for(45, "ec2-user")];
        stream2.extend((0..6).map(|i| denied(60 * MINUTE_S + i * 100, (i == 3).then_some("5432"))));
        stream2.push(denied(120 * MINUTE_S, None));
        let stream0 = self.write(0, at, stream0);
        let stream2 = self.write(2, at, stream2);
        let truth = |rule, stream, written: &[&Written], endpoint: Option<usize>, port| {
            self.finding_truth(rule, stream, written, endpoint, port)
        };
        let mut found = vec![
            truth("tunnel-unusual-port", 0, &[&stream0[1]], Some(first), Some("5432")),
            truth("key-to-many-instances", 0, &stream0[3..9].iter().collect::<Vec<_>>(), None, None),
            truth("privileged-os-user", 2, &[&stream2[1]], None, None),
            truth("denied-burst", 2, &stream2[3..9].iter().collect::<Vec<_>>(), Some(third), None),
        ];
        if self.has_lifecycle() {
            // Seven minutes after e2's deletion (lifecycle.rs), bob (k = 1) tunnels through it;
            // the deletion joins the evidence once written ([`Plan::lifetime_evidence`]).
            let e2 = 2;
            let stream = self.endpoints[e2].stream;
            let offset = RESERVED_S - (E2_DELETED_BEFORE_END - 7 * MINUTE_S * 1_000) / 1_000;
            let activity = Activity::Connect { endpoint: e2, k: 1, keyed: true };
            // On a random stream of its own, so that the rest of the archive draws what it drew
            // before this was added.
            let drawn =
                std::mem::replace(&mut self.rng, Rng::fork(self.spec.seed, u64::from(u32::MAX) + 311));
            let written = self.write(stream, at, vec![(offset, Injected::new(activity))]);
            self.rng = drawn;
            found.push(self.finding_truth(LIFETIME, stream, &[&written[0]], Some(e2), None));
        }
        let serial: Vec<(usize, Written)> = (0..STREAMS.len())
            .flat_map(|s| {
                self.activities[s]
                    .iter()
                    .filter(|(_, a, _)| matches!(a, Activity::SerialConsole))
                    .map(move |(_, _, w)| (s, w.clone()))
            })
            .collect();
        for (stream, written) in serial {
            found.push(self.finding_truth("serial-console-key", stream, &[&written], None, None));
        }
        self.findings = found;
        self.sort_findings();
    }

    /// Adds to the truth of `tunnel-outside-endpoint-lifetime` the deletion its tunnel came
    /// after, as `lives` wrote it (the lifecycle scenario is written after the schedule).
    pub(super) fn lifetime_evidence(&mut self, lives: &Lives) {
        for finding in self.findings.iter_mut().filter(|f| f.rule == LIFETIME) {
            let endpoint = finding.endpoint.as_deref().unwrap_or_default();
            let deleted = lives.lives.get(endpoint).and_then(|(life, _)| life.deleted.as_ref());
            let deleted = deleted.expect("e2's deletion is in the scenario");
            finding.event_ids.insert(0, deleted.event_id.clone().unwrap_or_default());
            finding.first_seen = deleted.time.clone().unwrap_or_default();
        }
        self.sort_findings();
    }

    /// As the report sorts them, but for ids, which the truth does not know: most severe first,
    /// then the earliest.
    fn sort_findings(&mut self) {
        self.findings
            .sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.first_seen.cmp(&b.first_seen)));
    }

    /// Writes each `(second after at, activity)` of `stream`, as the regular schedule would, with
    /// what the injection changes; returns what was written, in order.
    fn write(&mut self, stream: usize, at: i64, injected: Vec<(i64, Injected)>) -> Vec<Written> {
        let mut all = Vec::new();
        for (offset, injected) in injected {
            let second = at + offset;
            let mut written = self.records_of(stream, injected.activity, second);
            if let Some(user) = injected.user {
                for record in &mut written.records {
                    *record = replaced(
                        record,
                        &format!("EC2Admin/{}\"", written.user),
                        &format!("EC2Admin/{user}\""),
                    );
                }
                written.user = user;
            }
            if let Some(port) = injected.port {
                let last = written.records.len() - 1;
                written.records[last] = replaced(
                    &written.records[last],
                    r#""remotePort":"22""#,
                    &format!(r#""remotePort":"{port}""#),
                );
            }
            if let Some(os_user) = injected.os_user {
                written.records[0] = replaced(
                    &written.records[0],
                    r#""instanceOSUser":"ec2-user""#,
                    &format!(r#""instanceOSUser":"{os_user}""#),
                );
            }
            self.activities[stream].push((second * 1_000, injected.activity, written.clone()));
            all.push(written);
        }
        all
    }

    /// The finding of `rule` in `stream` whose evidence is the last record (the tunnel, else the
    /// key) of each of `written`, in order.
    fn finding_truth(
        &self,
        rule: &'static str,
        stream: usize,
        written: &[&Written],
        endpoint: Option<usize>,
        port: Option<&'static str>,
    ) -> FindingTruth {
        let severity = match rule {
            "key-to-many-instances" | LIFETIME => Severity::High,
            "privileged-os-user" => Severity::Low,
            _ => Severity::Medium,
        };
        let (account, region, _) = STREAMS[stream];
        let account = &ACCOUNTS[account];
        let evidence: Vec<&String> = written.iter().filter_map(|w| w.records.last()).collect();
        let mut instances: Vec<String> =
            written.iter().filter_map(|w| Some(w.key.as_ref()?.instance.clone())).collect();
        instances.sort();
        instances.dedup();
        let time = |record: &str| field(record, "eventTime").unwrap_or_default();
        FindingTruth {
            rule,
            severity,
            account: account.id,
            region,
            endpoint: endpoint.map(|e| self.endpoints[e].spec.id.clone()),
            principal: records::principal_arn(account, written[0].user),
            instances,
            port,
            first_seen: time(evidence[0]),
            last_seen: time(evidence[evidence.len() - 1]),
            event_ids: evidence.iter().map(|r| field(r, "eventID").unwrap_or_default()).collect(),
        }
    }
}

/// `text` with its one `from` replaced by `to`: the templates write each once.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from} once in the template");
    text.replacen(from, to, 1)
}

/// A top-level string field of a record the plan wrote (`"name":"value"`, as the templates
/// write it).
fn field(record: &str, name: &str) -> Option<String> {
    let start = record.find(&format!("\"{name}\":\""))? + name.len() + 4;
    let len = record[start..].find('"')?;
    Some(record[start..start + len].to_owned())
}
