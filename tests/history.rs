//! Event history (`cloudtrail://REGION`) against the LookupEvents stand-in (`common::cloudtrail`),
//! whose events are the generated archive's records of one account: the same events read from
//! event history and from the account's log files give the same report and rows; what was asked,
//! how often it was throttled, and what `--state` asks the next day; the refusals, each with its
//! exit status.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::cloudtrail::{millis, records_of, CloudTrailStandIn, Refusal, Request};
use crate::common::testdata;

const ACCOUNT: &str = "111122223333";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
/// After the archive's last event (2024-03-02T23:17Z), within 90 days of its first.
const NOW: &str = "2024-03-10T00:00:00Z";
/// What a region is asked: the Instance Connect API, three lifecycle events, two tag changes.
const LOOKUPS: usize = 6;
const HOUR: i64 = 3_600_000;

fn account_logs() -> PathBuf {
    testdata("generated/archive/AWSLogs").join(ACCOUNT)
}

fn sources() -> Vec<String> {
    REGIONS.iter().map(|r| format!("cloudtrail://{r}")).collect()
}

/// `trailscope ARGS` reaching `stand_in` as AWS (`now` overriding its time when given): exit
/// status, stdout, stderr.
fn run(
    stand_in: &CloudTrailStandIn,
    dir: &Path,
    args: &[String],
    now: Option<&str>,
) -> (i32, Vec<u8>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailscope"));
    command.args(args).env_remove("AWS_PROFILE").env_remove("AWS_DEFAULT_REGION");
    for (key, value) in stand_in.env(dir) {
        command.env(key, value);
    }
    if let Some(now) = now {
        command.env("TRAILSCOPE_TEST_NOW", now);
    }
    let out = command.output().expect("trailscope runs");
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn args(words: &[&str], sources: &[String]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).chain(sources.iter().cloned()).collect()
}

fn json(stdout: &[u8], stderr: &str) -> Value {
    serde_json::from_slice(stdout).unwrap_or_else(|e| panic!("a JSON report ({e}): {stderr}"))
}

/// The report of the account's log files, with `extra` options.
fn from_logs(extra: &[&str]) -> Value {
    let mut args = vec!["report", "-q", "--format", "json"];
    args.extend(extra);
    let logs = account_logs();
    let out =
        crate::common::trailscope(args.iter().map(|a| a.to_string()).chain([logs.display().to_string()]));
    json(&out.stdout, &String::from_utf8_lossy(&out.stderr))
}

/// What must be equal between event history and log files: everything but the object counts.
fn assert_same_events(history: &Value, logs: &Value, what: &str) {
    for section in ["endpoints", "direct", "other_events", "event_names", "fields", "findings", "suppressed"]
    {
        assert_eq!(history[section], logs[section], "{what}: {section}");
    }
    for count in
        ["instance_connect_events", "connections", "denied_attempts", "endpoints", "connections_without_key"]
    {
        assert_eq!(history["summary"][count], logs["summary"][count], "{what}: summary.{count}");
    }
    assert!(logs["summary"]["connections"].as_u64() > Some(0), "{what}: something to compare");
    assert!(logs["findings"].as_array().is_some_and(|f| !f.is_empty()), "{what}: findings to compare");
}

fn stand_in() -> CloudTrailStandIn {
    CloudTrailStandIn::start(&records_of(&account_logs(), ACCOUNT), NOW)
}

#[test]
fn event_history_reports_what_the_accounts_log_files_report_in_a_few_paced_requests() {
    let stand_in = stand_in();
    let dir = tempfile::tempdir().expect("temp");
    let (code, stdout, stderr) =
        run(&stand_in, dir.path(), &args(&["report", "-v", "--format", "json"], &sources()), None);
    assert_eq!(code, 0, "{stderr}");
    let report = json(&stdout, &stderr);
    assert_same_events(&report, &from_logs(&[]), "whole window");

    let requests = stand_in.requests();
    assert!(requests.iter().all(|r| r.attributes.len() <= 1), "one lookup attribute a request at most");
    assert!(requests.iter().all(|r| r.target == "CloudTrail_20131101.LookupEvents"));
    // Each lookup asked once over the window, paged 50 at a time: LOOKUPS + events / 50.
    for region in REGIONS {
        let asked: Vec<&Request> =
            requests.iter().filter(|r| r.region == region && r.error.is_none()).collect();
        let events: usize = asked.iter().map(|r| r.events).sum();
        let first_pages = asked.iter().filter(|r| !r.token).count();
        assert_eq!(first_pages, LOOKUPS, "{region}: each lookup asked once");
        assert!(
            asked.len() <= LOOKUPS + events.div_ceil(50),
            "{region}: {} requests for {events} events",
            asked.len()
        );
        let start = millis(NOW).expect("now") - 90 * 86_400_000;
        assert!(
            asked.iter().all(|r| r.start == Some(start) && r.end == millis(NOW)),
            "{region}: the last 90 days"
        );
        assert!(stderr.contains(&format!("event history {region}: ")), "-v says each region: {stderr}");
    }
    // Regions in parallel: each region's requests began before the other's ended.
    let span = |region: &str| {
        let times: Vec<_> = requests.iter().filter(|r| r.region == region).map(|r| r.at).collect();
        (*times.iter().min().expect("asked"), *times.iter().max().expect("asked"))
    };
    let ((east_first, east_last), (west_first, west_last)) = (span("us-east-1"), span("eu-west-1"));
    assert!(east_first < west_last && west_first < east_last, "the regions were asked at once");
    // Paced: nothing lost, and at most 10% throttled.
    let throttled = requests.iter().filter(|r| r.error.as_deref() == Some("ThrottlingException")).count();
    assert!(throttled * 10 <= requests.len(), "{throttled} of {} requests throttled", requests.len());
    assert_eq!(report["summary"]["lookup_requests_throttled"], throttled as u64, "the summary counts them");

    // The rows of `connections` too.
    let rows = |args: Vec<String>| -> Vec<u8> {
        let (code, stdout, stderr) = run(&stand_in, dir.path(), &args, None);
        assert!(code == 0 || code == 3, "{stderr}");
        stdout
    };
    let history_rows = rows(args(&["connections", "-q", "--format", "jsonl"], &sources()));
    let log_rows =
        rows(args(&["connections", "-q", "--format", "jsonl"], &[account_logs().display().to_string()]));
    assert!(!history_rows.is_empty());
    assert_eq!(String::from_utf8_lossy(&history_rows), String::from_utf8_lossy(&log_rows), "connection rows");
}

#[test]
fn a_naive_paginator_is_throttled_far_more_often_than_the_paced_reading() {
    // The SDK's own paginator with its standard retries, asking page after page as fast as the
    // answers come, as boto3's paginator does: the same lookups, against the same limit.
    let stand_in = stand_in();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let config = aws_sdk_cloudtrail::Config::builder()
        .behavior_version(aws_sdk_cloudtrail::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudtrail::config::Region::new("us-east-1"))
        .endpoint_url(&stand_in.endpoint)
        .credentials_provider(aws_sdk_cloudtrail::config::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .retry_config(aws_sdk_cloudtrail::config::retry::RetryConfig::standard().with_max_attempts(10))
        .build();
    let client = aws_sdk_cloudtrail::Client::from_conf(config);
    runtime.block_on(async {
        for name in [
            "OpenTunnel",
            "SendSSHPublicKey",
            "CreateInstanceConnectEndpoint",
            "DescribeInstances",
            "AssumeRole",
        ] {
            let attribute = aws_sdk_cloudtrail::types::LookupAttribute::builder()
                .attribute_key(aws_sdk_cloudtrail::types::LookupAttributeKey::EventName)
                .attribute_value(name)
                .build()
                .expect("attribute");
            let mut pages =
                client.lookup_events().lookup_attributes(attribute).max_results(50).into_paginator().send();
            while let Some(page) = pages.next().await {
                page.expect("a page");
            }
        }
    });
    let requests = stand_in.requests();
    let throttled = requests.iter().filter(|r| r.error.as_deref() == Some("ThrottlingException")).count();
    eprintln!("naive paginator: {throttled} of {} requests throttled", requests.len());
    // Measured: 7 of 17 (41%); the paced reading of the same lookups: none of 15.
    assert!(throttled * 4 >= requests.len(), "{throttled} of {} requests throttled", requests.len());
}

#[test]
fn from_and_to_ask_only_for_their_window_and_an_older_from_is_said_once() {
    let stand_in = stand_in();
    let dir = tempfile::tempdir().expect("temp");
    let window = ["--from", "2024-03-02", "--to", "2024-03-02"];
    let mut words = vec!["report", "-q", "--format", "json"];
    words.extend(window);
    let (code, stdout, stderr) = run(&stand_in, dir.path(), &args(&words, &sources()), None);
    assert_eq!(code, 0, "{stderr}");
    assert_same_events(&json(&stdout, &stderr), &from_logs(&window), "one day");
    let (start, end) = (millis("2024-03-02T00:00:00Z"), millis("2024-03-03T00:00:00Z").map(|t| t - 1));
    let requests = stand_in.requests();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| r.start == start && r.end == end), "{:?}", requests.first());

    // More than 90 days back: said once, naming the first day asked for; still exit 0.
    let (code, _, stderr) = run(
        &stand_in,
        dir.path(),
        &args(&["report", "--format", "json", "--from", "2023-01-01"], &sources()),
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.matches("90 days").count(), 1, "{stderr}");
    assert!(stderr.contains("2023-12-12"), "names the first day: {stderr}");
}

#[test]
fn a_state_asks_only_from_its_oldest_unsettled_hour_and_adds_exactly_the_new_events() {
    // The account's history as of the first day's end; the second day arrives before the next run.
    let all = records_of(&account_logs(), ACCOUNT);
    let first_day_end = "2024-03-02T00:00:00Z";
    let cut = millis(first_day_end).expect("time");
    let time = |r: &Value| r["eventTime"].as_str().and_then(millis).unwrap_or(0);
    let (early, late): (Vec<Value>, Vec<Value>) = all.into_iter().partition(|r| time(r) < cut);
    let stand_in = CloudTrailStandIn::start(&early, first_day_end);
    let dir = tempfile::tempdir().expect("temp");
    let state = dir.path().join("state");
    let words = ["report", "-q", "--format", "json", "--state", state.to_str().expect("utf-8")];
    let (code, stdout, stderr) = run(&stand_in, dir.path(), &args(&words, &sources()), None);
    assert_eq!(code, 0, "{stderr}");
    let first = json(&stdout, &stderr);

    stand_in.add(&late);
    stand_in.clear();
    let (code, stdout, stderr) = run(&stand_in, dir.path(), &args(&words, &sources()), Some(NOW));
    assert_eq!(code, 0, "{stderr}");
    let second = json(&stdout, &stderr);
    // Hours up to two before the first run's end were settled (an hour, then an hour's margin
    // for late delivery): the second run asks from the hour after them.
    let oldest_unsettled = cut - HOUR;
    let requests = stand_in.requests();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| r.start == Some(oldest_unsettled)), "{:?}", requests.first());
    assert!(requests.len() <= 2 * (LOOKUPS + 4) * 11 / 10, "a few requests: {}", requests.len());
    assert_same_events(&second, &from_logs(&[]), "first day kept, second day added");
    let added = second["summary"]["instance_connect_events"].as_u64().expect("count")
        - first["summary"]["instance_connect_events"].as_u64().expect("count");
    let new_events =
        late.iter().filter(|r| r["eventSource"] == "ec2-instance-connect.amazonaws.com").count() as u64;
    assert_eq!(added, new_events, "exactly the events that arrived were added");
}

#[test]
fn refusals_name_their_cause_with_their_exit_status() {
    let stand_in = stand_in();
    let dir = tempfile::tempdir().expect("temp");
    let report = |sources: &[String]| {
        run(&stand_in, dir.path(), &args(&["report", "--format", "json"], sources), None)
    };

    // One region refused while the other is read: a failure entry, exit 3.
    stand_in.refuse("eu-west-1", Refusal::AccessDenied);
    let (code, stdout, stderr) = report(&sources());
    assert_eq!(code, 3, "{stderr}");
    let failures = json(&stdout, &stderr)["failures"].to_string();
    assert!(
        failures.contains("cloudtrail://eu-west-1") && failures.contains("cloudtrail:LookupEvents"),
        "{failures}"
    );

    // Every region refused: exit 1, naming the permission.
    stand_in.refuse("us-east-1", Refusal::AccessDenied);
    let (code, _, stderr) = report(&sources());
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cloudtrail:LookupEvents"), "{stderr}");

    // An opt-in region not enabled, or a global STS token: both causes named.
    stand_in.refuse("ap-east-1", Refusal::Unrecognized);
    let (code, _, stderr) = report(&["cloudtrail://ap-east-1".to_owned()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("opt-in region") && stderr.contains("STS"), "{stderr}");

    stand_in.refuse("ap-south-1", Refusal::Expired);
    let (code, _, stderr) = report(&["cloudtrail://ap-south-1".to_owned()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("expired"), "{stderr}");

    // Options that mean nothing beside event history: usage errors.
    for option in [&["--no-sign-request"][..], &["--verify"], &["--region", "us-east-1"]] {
        let mut words = vec!["report"];
        words.extend(option);
        let (code, _, stderr) = run(&stand_in, dir.path(), &args(&words, &sources()), None);
        assert_eq!(code, 2, "{option:?}: {stderr}");
    }
}

#[test]
fn shards_split_by_region_and_their_partials_give_the_same_report() {
    let stand_in = stand_in();
    let dir = tempfile::tempdir().expect("temp");
    let mut partials = Vec::new();
    for i in 0..2 {
        let out = dir.path().join(format!("shard-{i}.jsonl.gz")).display().to_string();
        let shard = format!("{i}/2");
        let (code, _, stderr) = run(
            &stand_in,
            dir.path(),
            &args(&["scan", "-q", "--shard", &shard, "-o", &out], &sources()),
            None,
        );
        assert_eq!(code, 0, "{stderr}");
        let regions: std::collections::BTreeSet<String> =
            stand_in.requests().iter().map(|r| r.region.clone()).collect();
        assert_eq!(regions.len(), 1, "shard {i} asks one region: {regions:?}");
        stand_in.clear();
        partials.push(out);
    }
    let (code, stdout, stderr) =
        run(&stand_in, dir.path(), &args(&["report", "-q", "--format", "json"], &partials), None);
    assert_eq!(code, 0, "{stderr}");
    assert!(stand_in.requests().is_empty(), "the merge asks nothing");
    assert_same_events(&json(&stdout, &stderr), &from_logs(&[]), "merged shards");
}

#[test]
fn tag_changes_cost_a_request_per_50_and_only_those_naming_an_endpoint_are_kept() {
    let stand_in = stand_in();
    // 480 tag changes in a day, one in 24 on an endpoint: event history pages through them all.
    let tags: Vec<Value> = (0..480)
        .map(|i| {
            let resource = if i % 24 == 0 { format!("eice-{i:017x}") } else { format!("i-{i:017x}") };
            serde_json::json!({
                "eventVersion": "1.09", "eventTime": format!("2024-03-05T{:02}:{:02}:00Z", i / 60 % 24, i % 60),
                "eventSource": "ec2.amazonaws.com", "eventName": "CreateTags", "awsRegion": "us-east-1",
                "eventID": format!("00000000-0000-4000-8000-{i:012}"), "recipientAccountId": ACCOUNT,
                "managementEvent": true, "eventCategory": "Management", "readOnly": false,
                "requestParameters": {"resourcesSet": {"items": [{"resourceId": resource}]},
                                      "tagSet": {"items": [{"key": "Name", "value": "bastion"}]}},
            })
        })
        .collect();
    let dir = tempfile::tempdir().expect("temp");
    let before = run(&stand_in, dir.path(), &args(&["report", "-q", "--format", "json"], &sources()), None);
    stand_in.add(&tags);
    stand_in.clear();
    let (code, stdout, stderr) =
        run(&stand_in, dir.path(), &args(&["report", "-q", "--format", "json"], &sources()), None);
    assert_eq!(code, 0, "{stderr}");
    let tag_requests = stand_in
        .requests()
        .iter()
        .filter(|r| r.error.is_none() && r.region == "us-east-1" && r.attributes == ["EventName=CreateTags"])
        .count();
    assert_eq!(tag_requests, 480 / 50 + 1, "a request per 50 tag changes");
    let records = |report: &Value| report["summary"]["records"].as_u64().expect("records");
    let mut after = json(&stdout, &stderr);
    assert_eq!(
        records(&after),
        records(&json(&before.1, &before.2)) + 20,
        "the 20 on an endpoint kept, no other"
    );
    // They name endpoints no log file names: each is listed, unused, with the name it was given.
    let listed = after["endpoints"].as_array_mut().expect("endpoints");
    let (tagged, others): (Vec<Value>, Vec<Value>) =
        listed.drain(..).partition(|e| e["id"].as_str().is_some_and(|id| id.starts_with("eice-0000000")));
    assert_eq!(tagged.len(), 20);
    assert!(tagged.iter().all(|e| e["name"] == "bastion" && e["connections"] == 0 && e["created"].is_null()));
    *listed = others;
    after["summary"]["endpoints"] = (after["summary"]["endpoints"].as_u64().expect("endpoints") - 20).into();
    assert_same_events(&after, &from_logs(&[]), "tag changes beside");
}

#[test]
fn redacted_reports_of_event_history_and_log_files_agree() {
    let stand_in = stand_in();
    let dir = tempfile::tempdir().expect("temp");
    let (code, stdout, stderr) = run(
        &stand_in,
        dir.path(),
        &args(&["report", "-q", "--redact", "--format", "json"], &sources()),
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let history = json(&stdout, &stderr);
    let logs = from_logs(&["--redact"]);
    assert_same_events(&history, &logs, "redacted");
    assert!(!stdout.windows(ACCOUNT.len()).any(|w| w == ACCOUNT.as_bytes()), "the account is redacted");
}

#[test]
fn all_reads_every_region_the_account_has_enabled() {
    let stand_in = stand_in();
    let dir = tempfile::tempdir().expect("temp");
    let all = ["cloudtrail://all".to_owned()];
    let (code, stdout, stderr) =
        run(&stand_in, dir.path(), &args(&["report", "-v", "--format", "json"], &all), None);
    assert_eq!(code, 0, "{stderr}");
    assert_same_events(&json(&stdout, &stderr), &from_logs(&[]), "cloudtrail://all");
    let requests = stand_in.requests();
    let listed: Vec<&Request> = requests.iter().filter(|r| r.target == "ListRegions").collect();
    assert_eq!(listed.len(), 1, "the regions asked once");
    assert_eq!(listed[0].region, "us-east-1", "signed for the Account API's region");
    let mut asked: Vec<&str> =
        requests.iter().filter(|r| r.target != "ListRegions").map(|r| r.region.as_str()).collect();
    asked.sort_unstable();
    asked.dedup();
    assert_eq!(asked, ["eu-west-1", "us-east-1"], "the enabled regions, not the disabled opt-in one");
    assert!(stderr.contains("the account has 2 regions enabled: eu-west-1 us-east-1"), "{stderr}");

    // Without account:ListRegions: stopped, naming it.
    stand_in.refuse("ListRegions", Refusal::AccessDenied);
    let (code, _, stderr) = run(&stand_in, dir.path(), &args(&["report", "--format", "json"], &all), None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("account:ListRegions"), "{stderr}");
}
