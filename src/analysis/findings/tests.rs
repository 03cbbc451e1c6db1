use super::*;
use crate::analysis::lifecycle::Lifecycle;
use crate::analysis::tests::Builder;
use crate::analysis::{activity, Activity, Window};
use crate::event::{Kept, CREATE_ENDPOINT, DELETE_ENDPOINT, OPEN_TUNNEL};
use serde_json::json;

const MIN: i64 = 60;

fn tunnel(b: &mut Builder, second: i64, who: &str, port: &str, error: Option<&str>) -> usize {
    b.push_with(OPEN_TUNNEL, second, who, Some("eice-1"), error, &[("remotePort", port)])
}

fn key(b: &mut Builder, second: i64, who: &str, instance: &str, user: &str, error: Option<&str>) -> usize {
    let parameters = [("instanceId", instance), ("instanceOSUser", user)];
    b.push_with(SEND_SSH_PUBLIC_KEY, second, who, None, error, &parameters)
}

/// The findings of `kept` under `rules`, each as (rule, the record numbers of its evidence).
fn found(kept: &Kept, rules: &Rules) -> Vec<(String, Vec<String>)> {
    findings_of(kept, rules).into_iter().map(|f| (f.rule, f.event_ids)).collect()
}

/// The findings of `activity` under `rules`, with its endpoints' lives.
fn of(activity: &Activity<'_>, rules: &Rules) -> Vec<Finding> {
    let lifecycle = Lifecycle::of(activity);
    find(activity, &lifecycle, rules).expect("findings")
}

fn findings_of(kept: &Kept, rules: &Rules) -> Vec<Finding> {
    of(&activity(kept, Window::after_seconds(60)), rules)
}

fn ids(records: &[usize]) -> Vec<String> {
    records.iter().map(|r| r.to_string()).collect()
}

#[test]
fn a_tunnel_to_a_port_not_expected_is_a_finding_and_an_expected_or_denied_one_is_not() {
    let mut b = Builder::new();
    tunnel(&mut b, 100, "alice", "22", None);
    tunnel(&mut b, 300, "alice", "3389", None);
    let postgres = tunnel(&mut b, 500, "alice", "5432", None);
    tunnel(&mut b, 700, "bob", "5432", Some("AccessDenied"));
    let odd = tunnel(&mut b, 900, "bob", "ssh", None);
    let kept = b.kept();
    let all = found(&kept, &Rules::default());
    assert_eq!(
        all,
        [("tunnel-unusual-port".into(), ids(&[postgres])), ("tunnel-unusual-port".into(), ids(&[odd]))]
    );
    let rules = Rules { expected_ports: vec![22, 5432], ..Rules::default() };
    let now: Vec<_> = found(&kept, &rules).into_iter().map(|(_, ids)| ids).collect();
    assert_eq!(now, [ids(&[1]), ids(&[odd])], "3389 is no longer expected, 5432 is");
}

#[test]
fn a_serial_console_key_is_a_finding_each() {
    let mut b = Builder::new();
    let one = b.serial(100, "alice");
    let two = b.serial(5_000, "bob");
    b.key(200, "alice");
    let kept = b.kept();
    let all = found(&kept, &Rules::default());
    assert_eq!(all, [("serial-console-key".into(), ids(&[one])), ("serial-console-key".into(), ids(&[two]))]);
}

#[test]
fn a_key_for_a_privileged_user_is_a_finding_and_the_list_is_the_rules() {
    let mut b = Builder::new();
    key(&mut b, 100, "alice", "i-1", "ec2-user", None);
    let root = key(&mut b, 1_000, "alice", "i-2", "root", None);
    key(&mut b, 2_000, "alice", "i-3", "root", Some("AccessDenied"));
    let admin = key(&mut b, 3_000, "bob", "i-3", "admin", None);
    let kept = b.kept();
    assert_eq!(found(&kept, &Rules::default()), [("privileged-os-user".into(), ids(&[root]))]);
    let rules = Rules { privileged_users: vec!["admin".into()], ..Rules::default() };
    assert_eq!(found(&kept, &rules), [("privileged-os-user".into(), ids(&[admin]))]);
}

#[test]
fn keys_to_many_instances_within_the_window_are_one_finding_of_exactly_those_keys() {
    let mut b = Builder::new();
    let early = key(&mut b, 0, "mallory", "i-0", "ec2-user", None);
    // Six keys to five instances in 50 minutes, two hours later.
    let burst: Vec<usize> = [("i-1", 0), ("i-2", 10), ("i-1", 20), ("i-3", 30), ("i-4", 40), ("i-5", 50)]
        .iter()
        .map(|&(instance, m)| key(&mut b, 120 * MIN + m * MIN, "mallory", instance, "ec2-user", None))
        .collect();
    let late = key(&mut b, 300 * MIN, "mallory", "i-6", "ec2-user", None);
    // Someone else: many keys, two instances.
    for m in 0..8 {
        key(&mut b, 120 * MIN + m * MIN, "alice", if m % 2 == 0 { "i-1" } else { "i-2" }, "ec2-user", None);
    }
    let kept = b.kept();
    let all = found(&kept, &Rules::default());
    assert_eq!(all, [("key-to-many-instances".into(), ids(&burst))]);
    assert!(!all[0].1.contains(&early.to_string()) && !all[0].1.contains(&late.to_string()));
    let finding = &findings_of(&kept, &Rules::default())[0];
    assert_eq!(finding.instances, ["i-1", "i-2", "i-3", "i-4", "i-5"]);
    assert_eq!(finding.title, "SSH keys pushed to 5 instances within 60 minutes");
    assert_eq!(finding.principal.as_deref(), Some("mallory"));
    let six = Rules { fan_out: Threshold { count: 6, minutes: 60 }, ..Rules::default() };
    assert!(found(&kept, &six).is_empty(), "five instances are not six");
    let wider = Rules { fan_out: Threshold { count: 6, minutes: 180 }, ..Rules::default() };
    let with_late = found(&kept, &wider);
    assert_eq!(with_late.len(), 1);
    assert!(with_late[0].1.contains(&early.to_string()) && with_late[0].1.contains(&late.to_string()));
}

#[test]
fn a_burst_of_denied_calls_is_one_finding_of_the_denied_calls_only() {
    let mut b = Builder::new();
    let before = tunnel(&mut b, 0, "contractor", "22", Some("AccessDenied"));
    let mut burst = Vec::new();
    for m in 0..3 {
        burst.push(tunnel(&mut b, 30 * MIN + m * 2 * MIN, "contractor", "22", Some("AccessDenied")));
    }
    // Successful calls in the middle are not evidence.
    tunnel(&mut b, 30 * MIN + 5 * MIN, "contractor", "22", None);
    burst.push(key(&mut b, 30 * MIN + 7 * MIN, "contractor", "i-1", "ec2-user", Some("AccessDenied")));
    burst.push(tunnel(&mut b, 30 * MIN + 9 * MIN, "contractor", "5432", Some("AccessDenied")));
    // Four denied calls of another principal in the same minutes: under the threshold.
    for m in 0..4 {
        tunnel(&mut b, 30 * MIN + m * MIN, "bob", "22", Some("AccessDenied"));
    }
    let kept = b.kept();
    let all = found(&kept, &Rules::default());
    assert_eq!(all, [("denied-burst".into(), ids(&burst))]);
    assert!(!all[0].1.contains(&before.to_string()));
    let wider = Rules { denied_burst: Threshold { count: 5, minutes: 40 }, ..Rules::default() };
    assert_eq!(found(&kept, &wider)[0].1.len(), 6, "the first attempt joins a 40-minute window");
}

#[test]
fn findings_are_sorted_by_severity_then_time_and_ids_name_rule_and_first_event() {
    let mut b = Builder::new();
    let root = key(&mut b, 0, "alice", "i-1", "root", None);
    let serial = b.serial(10, "alice");
    let port = tunnel(&mut b, 5, "alice", "8080", None);
    for (i, m) in (0..5).enumerate() {
        key(&mut b, 100 * MIN + m * MIN, "mallory", &format!("i-{}", 10 + i), "ec2-user", None);
    }
    let kept = b.kept();
    let findings = findings_of(&kept, &Rules::default());
    let rules: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(
        rules,
        ["key-to-many-instances", "tunnel-unusual-port", "serial-console-key", "privileged-os-user"]
    );
    assert_eq!(findings[1].event_ids, ids(&[port]));
    assert_eq!(findings[2].event_ids, ids(&[serial]));
    assert_eq!(findings[3].id, finding_id("privileged-os-user", &root.to_string()));
    assert_ne!(finding_id("a", "1"), finding_id("b", "1"));
    assert_eq!(findings[3].id.len(), 16);
    assert_eq!(findings[1].port.as_deref(), Some("8080"));
    assert_eq!(findings[1].endpoint.as_deref(), Some("eice-1"));
    assert_eq!(findings[1].first_seen.as_deref(), Some("1970-01-01T00:00:05Z"));
}

/// A successful or failed `CreateInstanceConnectEndpoint` of `endpoint`, as CloudTrail writes it.
fn create(b: &mut Builder, second: i64, endpoint: &str) -> usize {
    let members = json!({
        "requestParameters": {"CreateInstanceConnectEndpointRequest": {"SubnetId": "subnet-1"}},
        "responseElements": {"CreateInstanceConnectEndpointResponse":
            {"instanceConnectEndpoint": {"instanceConnectEndpointId": endpoint}}}
    });
    b.lifecycle_call(CREATE_ENDPOINT, second, None, members)
}

fn delete(b: &mut Builder, second: i64, endpoint: &str, error: Option<&str>) -> usize {
    let members = json!({
        "requestParameters": {"DeleteInstanceConnectEndpointRequest": {"InstanceConnectEndpointId": endpoint}},
        "responseElements": if error.is_some() { json!(null) } else {
            json!({"DeleteInstanceConnectEndpointResponse":
                {"instanceConnectEndpoint": {"instanceConnectEndpointId": endpoint}}})
        }
    });
    b.lifecycle_call(DELETE_ENDPOINT, second, error, members)
}

fn tunnel_through(b: &mut Builder, second: i64, endpoint: &str, error: Option<&str>) -> usize {
    b.push_with(OPEN_TUNNEL, second, "mallory", Some(endpoint), error, &[("remotePort", "22")])
}

#[test]
fn a_tunnel_well_before_its_endpoints_creation_or_after_its_deletion_is_a_finding_of_both_events() {
    let mut b = Builder::new();
    // eice-1: created at 1,000 s, deleted at 10,000 s.
    let created = create(&mut b, 1_000, "eice-1");
    let deleted = delete(&mut b, 10_000, "eice-1", None);
    let early = tunnel_through(&mut b, 1_000 - 6 * MIN, "eice-1", None);
    tunnel_through(&mut b, 1_000 - 4 * MIN, "eice-1", None); // within the margin: clocks
    tunnel_through(&mut b, 5_000, "eice-1", None); // in its life
    tunnel_through(&mut b, 10_000 + 5 * MIN, "eice-1", None); // the margin is "more than"
    let late = tunnel_through(&mut b, 10_000 + 3 * 3_600, "eice-1", None);
    tunnel_through(&mut b, 10_000 + 4 * 3_600, "eice-1", Some("AccessDenied")); // opened nothing
    let later = tunnel_through(&mut b, 10_000 + 5 * 3_600, "eice-1", None);
    let kept = b.kept();
    let findings = findings_of(&kept, &Rules::default());
    let rule = "tunnel-outside-endpoint-lifetime";
    let mut seen: Vec<(&str, Vec<String>)> =
        findings.iter().map(|f| (f.rule.as_str(), f.event_ids.clone())).collect();
    // The two after the deletion share their first time: their ids order them.
    seen[1..].sort();
    assert_eq!(
        seen,
        [(rule, ids(&[early, created])), (rule, ids(&[deleted, late])), (rule, ids(&[deleted, later]))],
        "evidence in time order: the tunnel and the call it contradicts"
    );
    assert_eq!(findings[0].title, "Tunnel through eice-1 6 minutes before its creation");
    assert_eq!(findings[0].severity, Severity::High);
    // About the tunnel, not the deletion: its principal and id, one id per tunnel.
    let late = findings.iter().find(|f| f.event_ids[1] == late.to_string()).expect("the late tunnel");
    assert_eq!(late.title, "Tunnel through eice-1 3 hours after its deletion");
    assert_eq!(late.principal.as_deref(), Some("mallory"));
    assert_eq!(late.endpoint.as_deref(), Some("eice-1"));
    assert_eq!(late.id, finding_id(rule, &late.event_ids[1]));
    assert_ne!(findings[1].id, findings[2].id);
    assert_eq!(late.first_seen.as_deref(), Some("1970-01-01T02:46:40Z"), "the deletion's time");
    assert_eq!(late.last_seen.as_deref(), Some("1970-01-01T05:46:40Z"), "the tunnel's");
    let wide = Rules { lifetime_margin_minutes: 6 * 60, ..Rules::default() };
    assert!(findings_of(&kept, &wide).is_empty(), "six hours of margin cover every tunnel");
}

#[test]
fn a_tunnel_through_an_endpoint_whose_creation_or_deletion_the_archive_lacks_or_that_was_refused_is_none() {
    let mut b = Builder::new();
    // eice-old: created before the archive, deleted in it; tunnels long before the deletion.
    delete(&mut b, 100_000, "eice-old", None);
    tunnel_through(&mut b, 10, "eice-old", None);
    // eice-kept: created in the archive, never deleted; a deletion refused.
    create(&mut b, 1_000, "eice-kept");
    delete(&mut b, 2_000, "eice-kept", Some("Client.UnauthorizedOperation"));
    tunnel_through(&mut b, 50_000, "eice-kept", None);
    // eice-none: no lifecycle call read at all.
    tunnel_through(&mut b, 60_000, "eice-none", None);
    // A tunnel naming no endpoint.
    b.tunnel(70_000, "mallory", None, None);
    let kept = b.kept();
    assert_eq!(found(&kept, &Rules::default()), []);
}

#[test]
fn a_value_is_judged_once_however_many_events_hold_it_and_each_holder_is_told() {
    let mut b = Builder::new();
    let mut postgres = Vec::new();
    for i in 0..6 {
        tunnel(&mut b, 100 + i, "alice", "22", None);
        postgres.push(tunnel(&mut b, 200 + i, "alice", "5432", None));
    }
    let kept = b.kept();
    let activity = activity(&kept, Window::after_seconds(60));
    let mut values = Values::new(&kept);
    let mut verdicts = FastMap::default();
    let asked = std::cell::Cell::new(0);
    let unusual = |port: &str| {
        asked.set(asked.get() + 1);
        port != "22"
    };
    let mut flagged = Vec::new();
    for tunnel in &activity.tunnels {
        flagged.push(
            values
                .flagged(tunnel.event, "requestParameters.remotePort", &mut verdicts, unusual)
                .expect("read"),
        );
    }
    assert_eq!(asked.get(), 2, "once for 22, once for 5432");
    assert_eq!(flagged.iter().filter(|f| f.as_deref() == Some("5432")).count(), 6);
    assert_eq!(flagged.iter().filter(|f| f.is_none()).count(), 6);
    assert_eq!(found(&kept, &Rules::default()).len(), postgres.len(), "a finding per tunnel still");
}
