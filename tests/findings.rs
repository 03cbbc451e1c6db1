//! Findings (docs/findings.md) on the generated archive, against the ground truth the generator
//! wrote from its plan: for every rule exactly the events injected for it, none missed and no
//! benign event flagged; none on the seed's records; thresholds, suppressions and `--fail-on`
//! as documented; principals redacted.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{report_json, testdata, trailscope};
use serde_json::Value;

fn archive() -> PathBuf {
    testdata("generated/archive")
}

fn truth() -> Value {
    let text = std::fs::read_to_string(testdata("generated/truth.json")).expect("truth.json");
    serde_json::from_str(&text).expect("truth.json is JSON")
}

/// The findings of a report, each without its id and title (which the truth does not know) and
/// with `port` present, as the truth lists them.
fn comparable(findings: &Value) -> Vec<Value> {
    findings
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let mut f = f.clone();
            let object = f.as_object_mut().expect("an object");
            for key in ["id", "title", "event_count"] {
                object.remove(key);
            }
            object.entry("port").or_insert(Value::Null);
            f
        })
        .collect()
}

fn rules(findings: &Value) -> Vec<String> {
    findings
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().expect("rule").to_owned())
        .collect()
}

#[test]
fn every_rule_finds_exactly_the_events_injected_for_it_and_nothing_of_the_background() {
    let (_, report, stderr) = report_json(&[&archive()], &["-q"]);
    let truth = truth();
    let expected = truth["findings"].as_array().expect("the truth lists findings");
    let found = comparable(&report["findings"]);
    assert_eq!(found.len(), expected.len(), "{stderr}\n{:#}", report["findings"]);
    for (found, expected) in found.iter().zip(expected) {
        assert_eq!(found, expected);
    }
    // Every rule is exercised.
    let covered: BTreeSet<String> = rules(&report["findings"]).into_iter().collect();
    assert_eq!(
        covered,
        [
            "denied-burst",
            "key-to-many-instances",
            "privileged-os-user",
            "serial-console-key",
            "tunnel-outside-endpoint-lifetime",
            "tunnel-unusual-port"
        ]
        .map(String::from)
        .into()
    );
    for finding in report["findings"].as_array().expect("findings") {
        assert_eq!(
            finding["event_count"].as_u64(),
            Some(finding["event_ids"].as_array().expect("ids").len() as u64)
        );
        assert_eq!(finding["id"].as_str().expect("id").len(), 16);
    }
    assert!(report["suppressed"].as_array().expect("suppressed").is_empty());
}

#[test]
fn the_seed_records_have_no_finding() {
    for layout in ["records", "lookup", "lookup-lines", "jsonl", "s3"] {
        let (code, report, stderr) = report_json(&[&testdata(&format!("seed/{layout}"))], &[]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(report["findings"], serde_json::json!([]), "{layout}");
    }
}

#[test]
fn thresholds_are_options() {
    let run = |extra: &[&str]| rules(&report_json(&[&archive()], &[&["-q"], extra].concat()).1["findings"]);
    let all = run(&[]);
    let without = |rule: &str| all.iter().filter(|r| *r != rule).cloned().collect::<Vec<_>>();
    assert_eq!(run(&["--expected-ports", "22,3389,5432"]), without("tunnel-unusual-port"));
    assert_eq!(run(&["--fan-out-instances", "7"]), without("key-to-many-instances"));
    assert_eq!(run(&["--denied-burst", "7"]), without("denied-burst"));
    assert_eq!(run(&["--privileged-os-users", "admin"]), without("privileged-os-user"));
    assert_eq!(run(&["--lifetime-margin-minutes", "8"]), without("tunnel-outside-endpoint-lifetime"));
    assert_eq!(run(&["--lifetime-margin-minutes", "6"]), all, "the tunnel is 7 minutes after the deletion");
    // 3389 no longer expected: alice's tunnel to it is a finding too.
    let ports = run(&["--expected-ports", "22"]);
    assert_eq!(ports.iter().filter(|r| *r == "tunnel-unusual-port").count(), 2);
    // A wider window takes in the fan-out user's keys before and after the burst.
    let (_, wide, _) = report_json(&[&archive()], &["-q", "--fan-out-minutes", "120"]);
    let fan_out =
        wide["findings"].as_array().expect("findings").iter().find(|f| f["rule"] == "key-to-many-instances");
    assert_eq!(fan_out.expect("the fan-out")["event_count"], 8);
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn suppressed_findings_are_listed_apart_with_their_reason_and_expired_entries_suppress_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(
        dir.path(),
        "accepted.json",
        r#"{"suppressions": [
            {"rule": "serial-console-key", "account": "444455556666", "reason": "break-glass runbook OPS-7"},
            {"rule": "tunnel-unusual-port", "port": 5432, "principal": "arn:aws:sts::111122223333:assumed-role/EC2Admin/carol", "reason": "DBA access", "expires": "2999-12-31"},
            {"rule": "denied-burst", "reason": "old pen test", "expires": "2000-01-01"}
        ]}"#,
    );
    let (_, plain, _) = report_json(&[&archive()], &["-q"]);
    let (_, report, stderr) = report_json(&[&archive()], &["--suppress", file.to_str().expect("utf-8")]);
    let suppressed = report["suppressed"].as_array().expect("suppressed");
    let reasons: Vec<(&str, &str)> = suppressed
        .iter()
        .map(|s| (s["rule"].as_str().expect("rule"), s["reason"].as_str().expect("reason")))
        .collect();
    assert_eq!(
        reasons,
        [("serial-console-key", "break-glass runbook OPS-7"), ("tunnel-unusual-port", "DBA access")]
    );
    assert_eq!(suppressed[1]["expires"], "2999-12-31");
    // Nothing dropped: the findings and the suppressed are the findings of a run without.
    let mut ids: Vec<&Value> =
        report["findings"].as_array().expect("findings").iter().chain(suppressed).map(|f| &f["id"]).collect();
    let mut all: Vec<&Value> =
        plain["findings"].as_array().expect("findings").iter().map(|f| &f["id"]).collect();
    ids.sort_by_key(|v| v.to_string());
    all.sort_by_key(|v| v.to_string());
    assert_eq!(ids, all);
    assert!(
        rules(&report["findings"]).contains(&"denied-burst".to_owned()),
        "an expired entry suppresses nothing"
    );
    assert!(stderr.contains("denied-burst (old pen test) expired on 2000-01-01"), "{stderr}");
}

#[test]
fn a_suppression_file_that_cannot_be_read_or_understood_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let typo =
        write(dir.path(), "typo.json", r#"{"suppressions": [{"rule": "denied-burst", "reasn": "x"}]}"#);
    for (file, says) in [(typo, "unknown field `reasn`"), (dir.path().join("missing.json"), "missing.json")] {
        let out = trailscope([
            "report",
            "--suppress",
            file.to_str().expect("utf-8"),
            archive().to_str().expect("utf-8"),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn fail_on_exits_5_on_a_finding_at_or_above_the_severity_unless_suppressed_and_3_wins() {
    let seed = testdata("seed/records");
    let code = |sources: &[&Path], extra: &[&str]| report_json(sources, &[&["-q"], extra].concat()).0;
    // The generated archive holds unreadable objects: 3 wins over 5.
    assert_eq!(code(&[&archive()], &["--fail-on", "low"]), 3);
    // A whole archive of the findings alone: the archive's objects without the broken ones.
    let dir = tempfile::tempdir().expect("temp dir");
    let whole = whole_copy(dir.path());
    assert_eq!(code(&[&whole], &[]), 0);
    assert_eq!(code(&[&whole], &["--fail-on", "high"]), 5);
    assert_eq!(code(&[&seed], &["--fail-on", "low"]), 0, "no finding, no failure");
    let only_low = write(
        dir.path(),
        "all-but-low.json",
        r#"{"suppressions": [
            {"rule": "key-to-many-instances", "reason": "r"}, {"rule": "tunnel-unusual-port", "reason": "r"},
            {"rule": "serial-console-key", "reason": "r"}, {"rule": "denied-burst", "reason": "r"},
            {"rule": "tunnel-outside-endpoint-lifetime", "reason": "r"}
        ]}"#,
    );
    let suppress = ["--suppress", only_low.to_str().expect("utf-8")];
    assert_eq!(
        code(&[&whole], &[&suppress[..], &["--fail-on", "medium"]].concat()),
        0,
        "suppressed: no failure"
    );
    assert_eq!(code(&[&whole], &[&suppress[..], &["--fail-on", "low"]].concat()), 5, "the root key is low");
}

#[test]
fn with_state_only_new_findings_fail_and_5_wins_over_4() {
    let dir = tempfile::tempdir().expect("temp dir");
    let whole = whole_copy(dir.path());
    let state = dir.path().join("state");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = ["report", "-q", "-f", "json", "--state"].map(String::from).to_vec();
        args.push(state.to_string_lossy().into_owned());
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(whole.to_string_lossy().into_owned());
        args
    };
    let first = trailscope(args(&["--fail-on", "high", "--expected-ports", "22,3389,5432"]));
    assert_eq!(first.status.code(), Some(5), "the first report's findings are all new");
    let again = trailscope(args(&["--fail-on", "high", "--expected-ports", "22,3389,5432"]));
    assert_eq!(again.status.code(), Some(0), "nothing new since: {}", String::from_utf8_lossy(&again.stderr));
    let report: Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(report["changes"]["new_findings"], serde_json::json!([]));
    assert!(!report["findings"].as_array().expect("findings").is_empty(), "still listed, only not new");
    // With 5432 no longer expected, the tunnel to it is a new finding, of medium severity: a
    // change for --fail-on-change (4), a failure for --fail-on medium (5, which wins), not for
    // --fail-on high.
    let copy = |from: &Path, to: &Path| {
        let _ = std::fs::remove_dir_all(to);
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("state") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    };
    let kept = dir.path().join("kept");
    copy(&state, &kept);
    // Each run against the state as the second run left it.
    let code = |extra: &[&str]| {
        copy(&kept, &state);
        trailscope(args(extra)).status.code()
    };
    assert_eq!(code(&["--fail-on", "medium", "--fail-on-change"]), Some(5));
    assert_eq!(code(&["--fail-on", "high", "--fail-on-change"]), Some(4));
    assert_eq!(code(&["--fail-on", "high"]), Some(0));
}

/// The generated archive without its unreadable objects, so that a run is whole.
fn whole_copy(dir: &Path) -> PathBuf {
    let (_, report, _) = report_json(&[&archive()], &["-q"]);
    let broken: BTreeSet<String> = report["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| f["object"].as_str().expect("object").to_owned())
        .collect();
    let to = dir.join("whole");
    for file in common::files_under(&archive()) {
        if broken.iter().any(|b| Path::new(b) == file) {
            continue;
        }
        let relative = file.strip_prefix(archive()).expect("under the archive");
        let target = to.join(relative);
        std::fs::create_dir_all(target.parent().expect("a folder")).expect("mkdir");
        std::fs::copy(&file, &target).expect("copy");
    }
    to
}

#[test]
fn redact_hides_the_principals_of_findings() {
    let (_, report, _) = report_json(&[&archive()], &["-q", "--redact"]);
    let text = report["findings"].to_string();
    for name in ["deploy-bot", "carol", "contractor", "ops-direct", "111122223333", "444455556666"] {
        assert!(!text.contains(name), "{name} in {text}");
    }
    for finding in report["findings"].as_array().expect("findings") {
        assert!(finding["principal"].as_str().expect("principal").contains("principal-"), "{finding}");
    }
}

/// `trailscope findings ARCHIVE EXTRA...`: exit code and standard output.
fn findings(extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["findings".to_owned(), "-q".to_owned()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(archive().to_string_lossy().into_owned());
    let out = trailscope(args);
    (out.status.code(), String::from_utf8(out.stdout).expect("UTF-8"))
}

#[test]
fn the_findings_listing_has_the_reports_findings_in_every_format() {
    let (_, report, _) = report_json(&[&archive()], &["-q"]);
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["id"].as_str().expect("id"))
        .collect();
    let (code, jsonl) = findings(&["-f", "jsonl"]);
    assert_eq!(code, Some(3), "unreadable objects in the archive");
    let lines: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.iter().map(|l| l["id"].as_str().expect("id")).collect::<Vec<_>>(), ids);
    for (line, finding) in lines.iter().zip(report["findings"].as_array().expect("findings")) {
        let mut line = line.clone();
        let object = line.as_object_mut().expect("object");
        assert_eq!(object.remove("suppressed"), Some(Value::Null));
        assert_eq!(object.remove("expires"), Some(Value::Null));
        assert_eq!(&line, finding, "a line is the report's finding");
    }
    let (_, csv) = findings(&["-f", "csv"]);
    let csv_ids: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().expect("id")).collect();
    assert_eq!(csv_ids, ids);
    assert!(csv.starts_with("id,severity,rule,"));
    let (_, table) = findings(&[]);
    assert_eq!(table.lines().count(), ids.len() + 1);
    for id in &ids {
        assert!(table.contains(id), "{id} in the table");
    }
}

#[test]
fn connections_of_a_finding_are_exactly_its_evidence() {
    let (_, report, _) = report_json(&[&archive()], &["-q"]);
    let all = report["findings"].as_array().expect("findings");
    for rule in ["denied-burst", "key-to-many-instances", "tunnel-unusual-port"] {
        let finding = all.iter().find(|f| f["rule"] == rule).expect("the rule's finding");
        let id = finding["id"].as_str().expect("id");
        let out = trailscope([
            "connections",
            "-q",
            "-f",
            "jsonl",
            "--finding",
            id,
            archive().to_str().expect("utf-8"),
        ]);
        let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("row"))
            .collect();
        // One row per evidence event: a tunnel of its own, or a key pushed with no tunnel.
        assert_eq!(rows.len() as u64, finding["event_count"].as_u64().expect("count"), "{rule}");
        for row in &rows {
            assert_eq!(row["principal"], finding["principal"], "{rule}");
        }
    }
    // The tunnel after its endpoint's deletion: its one row; the deletion is evidence, not a row.
    let lifetime = all.iter().find(|f| f["rule"] == "tunnel-outside-endpoint-lifetime").expect("the finding");
    let id = lifetime["id"].as_str().expect("id");
    let out =
        trailscope(["connections", "-q", "-f", "jsonl", "--finding", id, archive().to_str().expect("utf-8")]);
    let rows: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("row")).collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((&rows[0]["time"], &rows[0]["outcome"]), (&lifetime["last_seen"], &Value::from("connected")));
    let out =
        trailscope(["connections", "--finding", "0000000000000000", archive().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no finding of what was read has this id"));
}

/// Runs `script` with python3, `input` on its standard input; its standard output.
fn python(script: &str, input: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (bash .ci/setup-tests installs what the findings tests need)");
    child.stdin.take().expect("stdin").write_all(input).expect("write");
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "python3 failed (bash .ci/setup-tests installs ocsf-json-schema, jsonschema and duckdb): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Validates each OCSF line of standard input against OCSF's own JSON Schema of its class, with
/// the profiles the line declares (ocsf-json-schema builds it from OCSF's published schema of
/// the line's version), and prints each line's number of errors and the first of them.
const VALIDATE: &str = r#"
import json, sys, jsonschema
from ocsf_json_schema import get_ocsf_schema, OcsfJsonSchemaEmbedded
for line in sys.stdin:
    event = json.loads(line)
    ocsf = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=event["metadata"]["version"]))
    name = ocsf.lookup_class_name_from_uid(event["class_uid"])
    schema = ocsf.get_class_schema(name, profiles=event["metadata"]["profiles"])
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(event))
    print(len(errors), errors[0].message if errors else "")
"#;

#[test]
fn ocsf_lines_are_detection_findings_that_ocsfs_own_schema_accepts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(
        dir.path(),
        "accepted.json",
        r#"{"suppressions": [{"rule": "privileged-os-user", "reason": "break-glass"}]}"#,
    );
    let (_, ocsf) = findings(&["-f", "ocsf", "--suppress", file.to_str().expect("utf-8")]);
    let (_, report, _) = report_json(&[&archive()], &["-q"]);
    let expected = report["findings"].as_array().expect("findings");
    let lines: Vec<Value> = ocsf.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(lines.len(), expected.len());
    for line in &lines {
        assert_eq!((line["class_uid"].as_u64(), line["category_uid"].as_u64()), (Some(2004), Some(2)));
        assert_eq!(line["metadata"]["version"], "1.1.0");
        assert_eq!(line["metadata"]["profiles"], serde_json::json!(["cloud", "host"]));
        assert_eq!(line["metadata"]["product"]["name"], "trailscope");
        let finding = expected.iter().find(|f| f["id"] == line["finding_info"]["uid"]).expect("a finding");
        let severity = match finding["severity"].as_str() {
            Some("low") => 2,
            Some("medium") => 3,
            _ => 4,
        };
        assert_eq!(line["severity_id"], severity);
        assert_eq!(line["finding_info"]["analytic"]["uid"], finding["rule"]);
        assert_eq!(line["actor"]["user"]["uid"], finding["principal"]);
        assert_eq!(line["cloud"]["account"]["uid"], finding["account"]);
        let last = finding["last_seen"].as_str().expect("a time");
        assert_eq!(line["time"], line["end_time"]);
        assert!(last.starts_with("2024-03-0") && line["time"].as_i64().expect("ms") > 1_709_251_200_000);
        let ids: Vec<&Value> =
            line["evidences"].as_array().expect("evidences").iter().map(|e| &e["data"]["eventID"]).collect();
        assert_eq!(ids, finding["event_ids"].as_array().expect("ids").iter().collect::<Vec<_>>());
        let suppressed = finding["rule"] == "privileged-os-user";
        assert_eq!(line["status_id"], if suppressed { 3 } else { 1 });
    }
    // The same archive, the same bytes: nothing of the run's clock.
    assert_eq!(findings(&["-f", "ocsf", "--suppress", file.to_str().expect("utf-8")]).1, ocsf);
    let verdicts = python(VALIDATE, ocsf.as_bytes());
    assert_eq!(verdicts.lines().count(), lines.len());
    for verdict in verdicts.lines() {
        assert!(verdict.starts_with("0 "), "OCSF's schema refuses a line: {verdict}");
    }
    // And the validator does refuse what OCSF does not allow.
    let mut broken = lines[0].clone();
    broken["severity_id"] = serde_json::json!(7);
    broken["not_in_ocsf"] = serde_json::json!(true);
    let verdict = python(VALIDATE, format!("{broken}\n").as_bytes());
    assert!(!verdict.starts_with("0 "), "{verdict}");
}

#[test]
fn the_parquet_recipe_of_the_docs_turns_the_lines_into_parquet() {
    let docs = std::fs::read_to_string(common::root().join("docs/findings.md")).expect("docs/findings.md");
    let (_, after) = docs.split_once("```python\n").expect("docs/findings.md has the Parquet recipe");
    let (recipe, _) = after.split_once("```").expect("the recipe ends");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, ocsf) = findings(&["-f", "ocsf"]);
    std::fs::write(dir.path().join("findings.ocsf.jsonl"), &ocsf).expect("write");
    let script = format!(
        "import os\nos.chdir({:?})\n{recipe}\nimport duckdb\nprint(duckdb.sql(\"SELECT count(*), min(class_uid), max(finding_info.uid) FROM 'findings.parquet'\").fetchall()[0])\n",
        dir.path().to_str().expect("utf-8")
    );
    let out = python(&script, b"");
    let (_, report, _) = report_json(&[&archive()], &["-q"]);
    let count = report["findings"].as_array().expect("findings").len();
    assert!(out.trim_start().starts_with(&format!("({count}, 2004, '")), "{out}");
}
