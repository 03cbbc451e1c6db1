//! `trailscope findings --format ocsf`: each finding as one OCSF 1.1 Detection Finding (class
//! 2004), one JSON object a line, for a SIEM or Amazon Security Lake. Everything in a line comes
//! from the finding, `time` included (its last evidence, never the clock), so the same archive
//! gives the same bytes. The tests check every line against OCSF's own schema of the class with
//! the profiles declared here (docs/findings.md).

use serde_json::{json, Value};

use crate::report::{Finding, Severity, SuppressedFinding};
use crate::time::Timestamp;

/// The OCSF version the lines follow.
pub(crate) const OCSF_VERSION: &str = "1.1.0";

/// The profiles the lines use: `cloud` brings `cloud` (and `api`), `host` brings the top-level
/// `actor` (in OCSF 1.1 a Detection Finding has `actor` only through it).
pub(crate) const PROFILES: [&str; 2] = ["cloud", "host"];

/// One line per finding, then per suppressed finding (status Suppressed, with the reason).
pub(crate) fn lines(findings: &[Finding], suppressed: &[SuppressedFinding]) -> Vec<u8> {
    let mut out = Vec::new();
    let all = findings.iter().map(|f| (f, None)).chain(suppressed.iter().map(|s| (&s.finding, Some(s))));
    for (finding, suppressed) in all {
        let line = serde_json::to_string(&detection_finding(finding, suppressed)).unwrap_or_default();
        out.extend_from_slice(super::sanitize::json(&line).as_bytes());
        out.push(b'\n');
    }
    out
}

/// Milliseconds since the epoch of a time the report wrote; 0 when there is none (an evidence
/// without a readable `eventTime`: OCSF requires a `time`).
fn millis(time: Option<&str>) -> i64 {
    time.and_then(Timestamp::parse).map_or(0, |t| t.millis())
}

fn detection_finding(f: &Finding, suppressed: Option<&SuppressedFinding>) -> Value {
    let (severity_id, severity) = match f.severity {
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
    };
    let (first, last) = (millis(f.first_seen.as_deref()), millis(f.last_seen.as_deref()));
    let mut resources = Vec::new();
    if let Some(endpoint) = &f.endpoint {
        resources
            .push(json!({"uid": endpoint, "type": "AWS::EC2::InstanceConnectEndpoint", "region": f.region}));
    }
    for instance in &f.instances {
        resources.push(json!({"uid": instance, "type": "AWS::EC2::Instance", "region": f.region}));
    }
    let mut line = json!({
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "status_id": 1,
        "status": "New",
        "time": last,
        "start_time": first,
        "end_time": last,
        "count": f.event_count,
        "message": f.title,
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": PROFILES,
            "product": {
                "name": "trailscope",
                "vendor_name": "trailscope",
                "version": env!("CARGO_PKG_VERSION"),
            },
        },
        "finding_info": {
            "uid": f.id,
            "title": f.title,
            "analytic": {"uid": f.rule, "name": f.rule, "type_id": 1, "type": "Rule"},
            "first_seen_time": first,
            "last_seen_time": last,
        },
        "cloud": {
            "provider": "AWS",
            "region": f.region,
            "account": {"uid": f.account, "type_id": 10, "type": "AWS Account"},
        },
        "resources": resources,
        "evidences": f.event_ids.iter().map(|id| json!({"data": {"eventID": id}})).collect::<Vec<_>>(),
    });
    if let Some(principal) = &f.principal {
        line["actor"] = json!({"user": {"uid": principal}});
    }
    if let Some(s) = suppressed {
        line["status_id"] = json!(3);
        line["status"] = json!("Suppressed");
        line["status_detail"] = json!(s.reason);
    }
    strip_nulls(&mut line);
    line
}

/// Leaves out what the finding does not know (a region, an account): OCSF attributes are
/// absent, not null, when unknown.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}
