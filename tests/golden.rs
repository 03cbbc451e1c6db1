//! Whole outputs against committed golden files: the text, Markdown, HTML and JSON reports of the
//! test archives, the reports and warnings of an archive of hostile strings, the connections
//! tables, CSV and JSON Lines of the seed and of the archives, the integrity section of a tampered
//! archive, and the man pages.
//! `TRAILSCOPE_BLESS=1 cargo test --test integration golden::` rewrites them all when a change is intended.

use crate::common;

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::golden::assert_golden;
use common::root;

/// Runs trailscope in `dir`, so the object names it prints are the relative ones it was given
/// and the golden files do not depend on where the repository is checked out.
fn trailscope_in<I, S>(dir: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_trailscope"))
        .current_dir(dir)
        .args(args)
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the trailscope binary runs")
}

fn golden(name: &str) -> std::path::PathBuf {
    root().join("tests/golden").join(name)
}

/// The report of `source` (relative to the repository) in text, Markdown and HTML, with `extra`
/// options, against `NAME.txt`, `NAME.md` and `NAME.html`; the warnings against `STDERR.stderr`.
fn assert_reports(name: &str, stderr: &str, source: &str, extra: &[&str], exit_code: i32) {
    for (format, extension) in [("text", "txt"), ("markdown", "md"), ("html", "html")] {
        let mut args = vec!["report", "--format", format];
        args.extend(extra);
        args.push(source);
        let out = trailscope_in(&root(), &args);
        assert_eq!(out.status.code(), Some(exit_code), "{}", String::from_utf8_lossy(&out.stderr));
        assert_golden(&golden(&format!("{name}.{extension}")), &out.stdout);
        assert_golden(&golden(&format!("{stderr}.stderr")), &out.stderr);
    }
}

#[test]
fn generated_archive_reports_match_the_golden_files() {
    assert_reports("generated", "generated", "testdata/generated/archive", &[], 3);
}

#[test]
fn generated_archive_reports_with_all_match_the_golden_files() {
    assert_reports("generated-all", "generated", "testdata/generated/archive", &["--all"], 3);
}

#[test]
fn seed_reports_match_the_golden_files() {
    assert_reports("seed", "seed", "testdata/seed/s3", &[], 0);
}

#[test]
fn seed_connections_table_matches_the_golden_file() {
    let out = trailscope_in(&root(), ["connections", "testdata/seed/s3"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_golden(&golden("seed-connections.txt"), &out.stdout);
    assert!(out.stderr.is_empty());
}

/// The JSON report: the schema programs read, so every field and its order is pinned.
#[test]
fn json_reports_match_the_golden_files() {
    for (name, source, exit_code) in
        [("seed", "testdata/seed/s3", 0), ("generated", "testdata/generated/archive", 3)]
    {
        let out = trailscope_in(&root(), ["report", "--format", "json", source]);
        assert_eq!(out.status.code(), Some(exit_code), "{}", String::from_utf8_lossy(&out.stderr));
        assert_golden(&golden(&format!("{name}.json")), &out.stdout);
        assert_golden(&golden(&format!("{name}.stderr")), &out.stderr);
    }
}

#[test]
fn connections_csv_and_json_lines_match_the_golden_files() {
    for (name, source, exit_code) in
        [("seed", "testdata/seed/s3", 0), ("generated", "testdata/generated/archive", 3)]
    {
        for format in ["csv", "jsonl"] {
            let out = trailscope_in(&root(), ["connections", "--format", format, source]);
            assert_eq!(out.status.code(), Some(exit_code), "{}", String::from_utf8_lossy(&out.stderr));
            assert_golden(&golden(&format!("{name}-connections.{format}")), &out.stdout);
            assert_golden(&golden(&format!("{name}.stderr")), &out.stderr);
        }
    }
}

/// The integrity section of an archive tampered with in every way `--verify` reports (the one
/// `verify::tamper` builds), in JSON and text, with the warnings. The archive is generated from a
/// fixed seed and signed with the test keys, so the bytes are the same on every run.
#[test]
fn verify_sections_of_a_tampered_archive_match_the_golden_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = crate::verify::generate(dir.path());
    crate::verify::tamper(&archive);
    let keys = root().join(trailscope::synth::digest::TEST_PUBLIC_KEYS_PATH);
    let keys = keys.to_str().expect("utf-8");
    for (format, extension) in [("json", "json"), ("text", "txt")] {
        let out = trailscope_in(
            dir.path(),
            ["report", "--format", format, "--verify", "--public-keys", keys, "archive"],
        );
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
        assert_golden(&golden(&format!("verify-tampered.{extension}")), &out.stdout);
        assert_golden(&golden("verify-tampered.stderr"), &out.stderr);
    }
}

/// One string per thing an archive could do to its reader, each in a field the report prints.
mod hostile {
    /// Colour (CSI), a window title (OSC 0), a link (OSC 8), the clipboard (OSC 52).
    pub const CSI: &str = "\u{1b}[31mRED\u{1b}[0m";
    pub const TITLE: &str = "\u{1b}]0;pwned\u{7}";
    pub const LINK: &str = "\u{1b}]8;;http://evil.example\u{7}click\u{1b}]8;;\u{7}";
    pub const CLIPBOARD: &str = "\u{1b}]52;c;ZXZpbA==\u{7}";
    /// A line, a column or an overwrite of its own; NUL and backspace; DEL.
    pub const LINES: &str = "a\nFAKE: 0 unreadable\tcol\rOVER\0\u{8}\u{7f}";
    /// C1: CSI, OSC with its string terminator, next line.
    pub const C1: &str = "\u{9b}2J\u{9d}0;t\u{9c}\u{85}";
    /// Bidi overrides, embeddings, isolates and marks (Trojan Source).
    pub const BIDI: &str =
        "\u{202e}exe.\u{202a}\u{202b}\u{202c}\u{202d}\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}\u{61c}";
    /// Invisible: zero-width space, non-joiner, joiner, word joiner, BOM, soft hyphen, a tag.
    pub const INVISIBLE: &str = "\u{200b}\u{200c}\u{200d}\u{2060}\u{feff}\u{ad}\u{e0041}";
    /// Line and paragraph separators.
    pub const SEPARATORS: &str = "\u{2028}\u{2029}";
    /// Markdown: a cell break, code spans, HTML, a link, emphasis, an entity, block starters.
    pub const MARKUP: &str = "|`` ` <b>[x](http://e)*b*_i_~~s~~&lt;";
    pub const STARTERS: &str = "# - + = >";
    /// An escape written out in the archive, and a backslash before a cell break.
    pub const FORGED: &str = "\\u{1b}\\|";

    /// The `Name` tag a `CreateInstanceConnectEndpoint` gives the first endpoint (in its
    /// request's `TagSpecification` and its answer's `tagSet`).
    pub fn created_name() -> String {
        format!("{CSI}{BIDI}{MARKUP}{TITLE}")
    }

    /// The `Name` tag a `CreateTags` gives the second endpoint: a formula to a spreadsheet too.
    pub fn tagged_name() -> String {
        format!("=HYPERLINK(\"http://evil.example\")\",{LINES}{C1}{INVISIBLE}{SEPARATORS}{STARTERS}{FORGED}{LINK}")
    }
}

/// A record of `ec2.amazonaws.com` (an endpoint's lifecycle call) at `time`, with `rest`.
fn ec2_record(
    name: &str,
    time: &str,
    account: &str,
    region: &str,
    rest: serde_json::Value,
) -> serde_json::Value {
    let mut record = serde_json::json!({
        "eventVersion": "1.09",
        "eventSource": "ec2.amazonaws.com",
        "eventName": name,
        "eventTime": time,
        "recipientAccountId": account,
        "awsRegion": region,
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/netadmin"},
    });
    record.as_object_mut().expect("an object").extend(rest.as_object().expect("an object").clone());
    record
}

/// A CloudTrail log of Instance Connect events whose every printed string is hostile: two
/// endpoints (one with two connections, so fields that change with each connection are listed),
/// each named by a lifecycle call (a create's `TagSpecification`, a `CreateTags`), a denied
/// attempt on each, other event names, hostile JSON keys and values and principals.
fn hostile_log() -> Vec<u8> {
    use hostile::*;
    use serde_json::json;
    let endpoint_a = format!("eice-1{CSI}{MARKUP}");
    let endpoint_b = format!("eice-2{BIDI}{FORGED}");
    let record = |name: &str, endpoint: &str, account: &str, region: &str, arn: &str, n: u32| {
        let mut parameters = serde_json::Map::new();
        parameters.insert("instanceConnectEndpointId".into(), json!(endpoint));
        // Keys are field paths in the report: every class in a key of its own, and values that
        // differ with the endpoint and with each connection.
        for (i, key) in [CSI, TITLE, LINES, C1, BIDI, INVISIBLE, SEPARATORS, MARKUP, STARTERS, FORGED, "a.b"]
            .into_iter()
            .enumerate()
        {
            parameters.insert(format!("k{i}{key}"), json!(format!("{endpoint}{key}")));
        }
        parameters.insert("perConnection".into(), json!(format!("{LINK}{CLIPBOARD}{n}")));
        json!({
            "eventVersion": "1.09",
            "eventSource": "ec2-instance-connect.amazonaws.com",
            "eventName": name,
            "eventTime": format!("2024-03-01T00:0{n}:00Z"),
            "recipientAccountId": account,
            "awsRegion": region,
            "userIdentity": {"type": "IAMUser", "arn": arn},
            "requestParameters": parameters,
            "eventID": format!("id-{n}{SEPARATORS}"),
        })
    };
    let (account_a, region_a, arn_a) = (
        format!("111122223333{TITLE}"),
        format!("us-east-1{LINES}"),
        format!("arn:aws:iam::111122223333:user/{BIDI}nimda"),
    );
    let (account_b, region_b, arn_b) = (
        format!("{INVISIBLE}444455556666"),
        format!("eu-west-1{C1}{SEPARATORS}{MARKUP}"),
        format!("arn:aws:iam::444455556666:role/{CSI}{FORGED}"),
    );
    let mut records = vec![
        record("OpenTunnel", &endpoint_a, &account_a, &region_a, &arn_a, 1),
        record("OpenTunnel", &endpoint_a, &account_a, &region_a, &arn_a, 2),
        record("OpenTunnel", &endpoint_b, &account_b, &region_b, &arn_b, 3),
    ];
    for (n, (endpoint, account, region, arn, error)) in [
        (&endpoint_a, &account_a, &region_a, &arn_a, format!("AccessDenied{LINK}{STARTERS}")),
        (
            &endpoint_b,
            &account_b,
            &region_b,
            &arn_b,
            format!("{STARTERS}Throttling{INVISIBLE}{MARKUP}{FORGED}"),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut denied = record("OpenTunnel", endpoint, account, region, arn, 4 + n as u32);
        denied["errorCode"] = json!(error);
        records.push(denied);
    }
    // The endpoints' names: the first created with its Name tag, the second renamed by CreateTags.
    let name = created_name();
    records.push(ec2_record(
        "CreateInstanceConnectEndpoint",
        "2024-03-01T00:00:30Z",
        &account_a,
        &region_a,
        json!({
            "requestParameters": {"CreateInstanceConnectEndpointRequest": {"SubnetId": "subnet-1",
                "TagSpecification": {"ResourceType": "instance-connect-endpoint", "tag": 1,
                    "Tag": {"Key": "Name", "tag": 1, "Value": name}}}},
            "responseElements": {"CreateInstanceConnectEndpointResponse": {"instanceConnectEndpoint": {
                "instanceConnectEndpointId": endpoint_a, "subnetId": "subnet-1",
                "tagSet": {"item": {"key": "Name", "value": name}}, "state": "create-in-progress"}}},
            "eventID": format!("create-{SEPARATORS}"),
        }),
    ));
    records.push(ec2_record(
        "CreateTags",
        "2024-03-01T00:08:00Z",
        &account_b,
        &region_b,
        json!({
            "requestParameters": {"resourcesSet": {"items": [{"resourceId": endpoint_b}]},
                "tagSet": {"items": [{"key": "Name", "value": tagged_name()}]}},
            "responseElements": {"_return": true},
            "eventID": format!("tags-{BIDI}"),
        }),
    ));
    // Other event names are counted by name: one that looks like SendSSHPublicKey, and worse.
    records.push(record(&format!("Send{INVISIBLE}SSHPublicKey"), "", &account_a, &region_a, &arn_a, 6));
    records.push(record(
        &format!("{STARTERS}{CSI}{C1}{LINES}{MARKUP}"),
        "",
        &account_a,
        &region_a,
        &arn_a,
        7,
    ));
    serde_json::to_vec_pretty(&json!({ "Records": records })).expect("serializable")
}

/// Writes the hostile archive under `dir/archive`: the log, and unreadable objects whose names
/// hold every class (a Linux file name can hold any byte but `/` and NUL).
fn hostile_archive(dir: &Path) {
    use hostile::*;
    let archive = dir.join("archive");
    fs::create_dir_all(&archive).expect("mkdir");
    fs::write(archive.join("log.json"), hostile_log()).expect("write log");
    for (i, name) in
        [CSI, TITLE, LINES, C1, BIDI, INVISIBLE, SEPARATORS, MARKUP, STARTERS, FORGED].into_iter().enumerate()
    {
        // A file name holds any byte but NUL and `/`.
        let name = format!("broken-{i}{}.json", name.replace(['\0', '/'], ""));
        fs::write(archive.join(name), b"not JSON").expect("write broken object");
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        fs::write(archive.join(OsStr::from_bytes(b"broken-not-utf8-\xff\x1b.json")), b"").expect("write");
    }
}

#[test]
fn hostile_strings_reach_text_and_markdown_escaped() {
    let dir = tempfile::tempdir().expect("temp dir");
    hostile_archive(dir.path());
    for (format, extension) in [("text", "txt"), ("markdown", "md")] {
        let out = trailscope_in(dir.path(), ["report", "--all", "--format", format, "archive"]);
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let text = std::str::from_utf8(bytes).expect("UTF-8");
            // Each character alone: one the sanitizer would change is one that got through.
            let leaked = text.lines().flat_map(str::chars).find(|c| {
                let c = c.to_string();
                trailscope::output::sanitize::escape(&c) != c
            });
            assert_eq!(leaked, None, "{format} {stream}: a character that needs escaping got through");
        }
        if format == "text" {
            // The endpoints' names, from their lifecycle calls, as the text escapes them.
            let text = String::from_utf8_lossy(&out.stdout);
            for name in [hostile::created_name(), hostile::tagged_name()] {
                let escaped = trailscope::output::sanitize::escape(&name);
                assert_eq!(
                    text.matches(escaped.as_ref()).count(),
                    4,
                    "endpoints, denied, lifecycle twice: {escaped}"
                );
            }
        }
        assert_golden(&golden(&format!("hostile.{extension}")), &out.stdout);
        assert_golden(&golden("hostile.stderr"), &out.stderr);
    }
}

/// Strings written to break out of HTML wherever a report could put them: element text, a quoted
/// attribute, an SVG tooltip, a style sheet, a comment; and entities that must stay text.
mod html_hostile {
    pub const SCRIPT: &str = "<script>alert(1)</script>";
    pub const ATTRIBUTE: &str = "\"'><img src=x onerror=alert(2)>";
    pub const TOOLTIP: &str = "</title></g></svg><script>alert(3)</script>";
    pub const STYLE: &str = "</style><style>*{background:url(http://evil.example/)}</style>";
    pub const COMMENT: &str = "<!-- --><![CDATA[ ]]>";
    pub const ENTITIES: &str = "&amp;&lt;&#x3c;&";
}

/// A log with an endpoint, an account, a region, a principal, field names and values and an
/// error code (shown in a timeline tooltip) made of [`html_hostile`] strings.
fn html_hostile_log() -> Vec<u8> {
    use html_hostile::*;
    use serde_json::json;
    let endpoint = format!("eice-3{SCRIPT}{ATTRIBUTE}");
    let record = |n: u32, error: Option<String>| {
        let mut record = json!({
            "eventVersion": "1.09",
            "eventSource": "ec2-instance-connect.amazonaws.com",
            "eventName": "OpenTunnel",
            "eventTime": format!("2024-03-01T0{n}:30:00Z"),
            "recipientAccountId": format!("{STYLE}777788889999"),
            "awsRegion": format!("ap-south-1{COMMENT}{ENTITIES}"),
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::777788889999:user/{TOOLTIP}")},
            "requestParameters": {
                "instanceConnectEndpointId": endpoint,
                format!("k{SCRIPT}"): format!("{ATTRIBUTE}{n}"),
                format!("k{STYLE}"): format!("{COMMENT}{ENTITIES}"),
            },
            "eventID": format!("html-{n}{TOOLTIP}"),
        });
        if let Some(error) = error {
            record["errorCode"] = json!(error);
        }
        record
    };
    // The endpoint's Name tag, from its creation: in every table and the timeline's heading.
    let name = format!("{SCRIPT}{TOOLTIP}{STYLE}{ENTITIES}");
    let created = ec2_record(
        "CreateInstanceConnectEndpoint",
        "2024-03-01T00:30:00Z",
        &format!("{STYLE}777788889999"),
        &format!("ap-south-1{COMMENT}{ENTITIES}"),
        json!({
            "requestParameters": {"CreateInstanceConnectEndpointRequest": {"SubnetId": ATTRIBUTE,
                "TagSpecification": [{"ResourceType": "instance-connect-endpoint", "tag": 1,
                    "Tag": [{"Key": "team", "Value": COMMENT}, {"Key": "Name", "Value": name}]}]}},
            "responseElements": {"CreateInstanceConnectEndpointResponse": {"instanceConnectEndpoint": {
                "instanceConnectEndpointId": endpoint, "state": "create-in-progress"}}},
            "eventID": format!("html-create{TOOLTIP}"),
        }),
    );
    let records = vec![
        created,
        record(1, None),
        record(2, None),
        record(3, Some(format!("{TOOLTIP}{ATTRIBUTE}"))),
        record(3, Some(format!("Denied{SCRIPT}"))),
    ];
    serde_json::to_vec_pretty(&json!({ "Records": records })).expect("serializable")
}

/// Tags the HTML renderer writes. Any other `<name` in a page came from the archive unescaped.
const HTML_TAGS: &[&str] = &[
    "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "main", "nav", "ol", "li", "a", "section",
    "h1", "h2", "h3", "p", "strong", "code", "wbr", "div", "table", "thead", "tbody", "tr", "th", "td",
    "span", "b", "br", "svg", "g", "path", "rect", "text",
];

#[test]
fn hostile_strings_reach_html_as_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    hostile_archive(dir.path());
    fs::write(dir.path().join("archive/html.json"), html_hostile_log()).expect("write log");
    for name in ["broken-<script>alert(4)<\\script>.json", "broken-\"'><img src=x onerror=alert(5)>.json"] {
        fs::write(dir.path().join("archive").join(name), b"not JSON").expect("write broken object");
    }
    let out = trailscope_in(dir.path(), ["report", "--all", "--format", "html", "archive"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let page = std::str::from_utf8(&out.stdout).expect("UTF-8");

    // Every `<` opens a tag the renderer writes, and no tag holds anything from the archive.
    for (at, _) in page.match_indices('<') {
        let tag = &page[at + 1..];
        let end = tag.find('>').unwrap_or_else(|| panic!("an unclosed `<` at byte {at}"));
        let tag = &tag[..end];
        let name = tag.trim_start_matches('/').split([' ', '/']).next().unwrap_or_default();
        assert!(HTML_TAGS.contains(&name), "a tag the renderer does not write: <{tag}>");
        for data in ["alert", "onerror", "evil.example", "eice-"] {
            assert!(!tag.contains(data), "archive data inside a tag: <{tag}>");
        }
    }
    assert!(!page.to_ascii_lowercase().contains("<script"), "no script element");
    // Every `&` starts a reference the escaper writes: the archive's own stay text.
    for (at, _) in page.match_indices('&') {
        let rest = &page[at..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().any(|r| rest.starts_with(r)),
            "a bare `&` at byte {at}: {}",
            &rest[..rest.len().min(20)]
        );
    }
    // One style sheet, the renderer's own, and a policy that forbids script and fetches.
    assert_eq!(page.matches("<style>").count(), 1);
    let style = page.split("<style>").nth(1).and_then(|s| s.split("</style>").next()).expect("a style sheet");
    assert!(!style.contains("evil") && !style.contains("url("), "archive data in the style sheet");
    assert!(page.contains("content=\"default-src 'none'; style-src 'unsafe-inline';"), "the page's CSP");
    // The strings are there, as text: escaped for HTML after the text report's escaping.
    assert!(page.contains(
        "eice-3&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img src=x onerror=alert(2)&gt;"
    ));
    assert!(
        page.contains("&lt;/title&gt;&lt;/g&gt;&lt;/svg&gt;&lt;script&gt;alert(3)&lt;/script&gt;"),
        "tooltip"
    );
    assert!(page.contains("&amp;amp;&amp;lt;&amp;#x3c;&amp;"), "entities from the archive stay text");
    let name = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;/title&gt;&lt;/g&gt;&lt;/svg&gt;&lt;script&gt;alert(3)&lt;/script&gt;\
                &lt;/style&gt;&lt;style&gt;*{background:url(http://evil.example/)}&lt;/style&gt;&amp;amp;&amp;lt;&amp;#x3c;&amp;";
    assert!(page.matches(name).count() >= 3, "the endpoint's name, as text, in its tables");
    // The terminal-hostile name too: escaped as in the text report, then for HTML.
    let escaped = trailscope::output::sanitize::escape(&hostile::created_name()).into_owned();
    let html = escaped.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    assert!(page.contains(&html.replace('\'', "&#39;")), "the terminal-hostile name, as text: {html}");
    let leaked = page.lines().flat_map(str::chars).find(|c| {
        let c = c.to_string();
        trailscope::output::sanitize::escape(&c) != c
    });
    assert_eq!(leaked, None, "a character that needs escaping got through");
    assert_golden(&golden("hostile.html"), &out.stdout);
}

#[test]
fn hostile_strings_reach_the_connections_table_escaped() {
    let dir = tempfile::tempdir().expect("temp dir");
    hostile_archive(dir.path());
    let out = trailscope_in(dir.path(), ["connections", "archive"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::str::from_utf8(&out.stdout).expect("UTF-8");
    let leaked = text.lines().flat_map(str::chars).find(|c| {
        let c = c.to_string();
        trailscope::output::sanitize::escape(&c) != c
    });
    assert_eq!(leaked, None, "a character that needs escaping got through");
    assert_golden(&golden("hostile-connections.txt"), &out.stdout);
    assert_golden(&golden("hostile.stderr"), &out.stderr);
    for name in [hostile::created_name(), hostile::tagged_name()] {
        let escaped = trailscope::output::sanitize::escape(&name);
        assert!(text.contains(escaped.as_ref()), "the endpoint's name in the NAME column: {escaped}");
    }
    // CSV carries the names exactly, quoted, and a name that would be a formula starts with `'`;
    // JSON Lines carries them exactly.
    let out = trailscope_in(dir.path(), ["connections", "-q", "-f", "csv", "archive"]);
    let records = crate::connections::parse_csv(std::str::from_utf8(&out.stdout).expect("UTF-8"));
    let column = records[0].iter().position(|h| h == "endpoint_name").expect("an endpoint_name column");
    let names: Vec<&str> = records[1..].iter().map(|r| r[column].as_str()).collect();
    let (created, tagged) = (hostile::created_name(), format!("'{}", hostile::tagged_name()));
    assert_eq!(names, [&created, &created, &tagged, &created, &tagged]);
    let out = trailscope_in(dir.path(), ["connections", "-q", "-f", "jsonl", "archive"]);
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a row"))
        .collect();
    assert_eq!(rows[2]["endpoint_name"], hostile::tagged_name().as_str(), "exact in JSON Lines");
    assert_eq!(rows[0]["endpoint_name"], created.as_str());
}

#[test]
fn hostile_strings_stay_exact_in_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    hostile_archive(dir.path());
    let out = trailscope_in(dir.path(), ["report", "--format", "json", "-q", "archive"]);
    assert_eq!(out.status.code(), Some(3));
    // serde_json escapes C0 controls; everything else is UTF-8 inside strings, which is exact.
    assert!(!out.stdout.iter().any(|&b| b < 0x20 && b != b'\n'), "no raw C0 control in JSON");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let ids: Vec<&str> = report["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            format!("eice-1{}{}", hostile::CSI, hostile::MARKUP),
            format!("eice-2{}{}", hostile::BIDI, hostile::FORGED)
        ]
    );
    let region = report["endpoints"][0]["region"].as_str().expect("region");
    assert_eq!(region, format!("us-east-1{}", hostile::LINES));
    // The names, from a create's TagSpecification and a CreateTags, exactly.
    assert_eq!(report["endpoints"][0]["name"], hostile::created_name().as_str());
    assert_eq!(report["endpoints"][1]["name"], hostile::tagged_name().as_str());
    assert_eq!(
        report["endpoints"][0]["created"]["event_id"],
        format!("create-{}", hostile::SEPARATORS).as_str()
    );
}

#[test]
fn man_pages_match_the_cli_definition() {
    use clap::CommandFactory;
    let generated = tempfile::tempdir().expect("temp dir");
    // The pages describe the source, not one build: `--version` names the build's inflate
    // backend, which the features choose, so the pages show the plain version.
    let cli = trailscope::cli::Cli::command().long_version(None::<&str>);
    clap_mangen::generate_to(cli, generated.path()).expect("man pages render");
    let docs = root().join("docs");
    let pages = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|entries| {
                entries.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect()
            })
            .unwrap_or_default();
        names.retain(|n| n.ends_with(".1"));
        names.sort();
        names
    };
    let names = pages(generated.path());
    assert!(names.contains(&"trailscope-report.1".to_owned()), "{names:?}");
    for name in &names {
        let page = fs::read(generated.path().join(name)).expect("generated page");
        assert_golden(&docs.join(name), &page);
    }
    if !common::golden::blessing() {
        assert_eq!(
            pages(&docs),
            names,
            "docs/ holds a man page the CLI no longer has: `{}`",
            common::golden::BLESS
        );
    }
}
