//! A stand-in for CloudTrail's LookupEvents API on loopback, answering as its API reference says
//! the API answers: AWS JSON 1.1 (`X-Amz-Target: CloudTrail_20131101.LookupEvents`); at most one
//! `LookupAttributes` entry (`InvalidLookupAttributesException`); `MaxResults` from 1 to 50
//! (`InvalidMaxResultsException`; 50 when absent); a `NextToken` valid only with the parameters
//! that made it (`InvalidNextTokenException`); events newest first, management events only, of the
//! last 90 days before its `now`; `ThrottlingException` past two requests a second per region;
//! the region read from the request's SigV4 `Credential=` scope, as AWS reads it. Regions can be
//! set to refuse as AWS refuses (no permission, an opt-in region not enabled, an expired token).
//! It logs every request, so tests check what was asked. It also answers the Account API's
//! `ListRegions` (what `cloudtrail://all` asks). The SDK is real; only the server is not.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The most requests answered per second and region.
pub const RATE: usize = 2;
const KEPT_FOR_MS: i64 = 90 * 86_400_000;

/// How a region refuses every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The credentials lack `cloudtrail:LookupEvents`.
    AccessDenied,
    /// An opt-in region not enabled (or a global STS token in an enabled one).
    Unrecognized,
    /// The session token has expired.
    Expired,
}

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub region: String,
    pub target: String,
    /// Every `LookupAttributes` entry, as `Key=Value`.
    pub attributes: Vec<String>,
    /// `StartTime` and `EndTime`, in milliseconds.
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub token: bool,
    /// The error code answered, if any (`ThrottlingException`, ...).
    pub error: Option<String>,
    /// Events answered.
    pub events: usize,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    requests: Vec<Request>,
    /// When each region last answered, for its rate.
    answered: BTreeMap<String, VecDeque<Instant>>,
    refusals: BTreeMap<String, Refusal>,
    /// Events by region, newest first.
    events: BTreeMap<String, Vec<Event>>,
}

#[derive(Clone)]
struct Event {
    time: i64,
    id: String,
    name: String,
    source: String,
    read_only: bool,
    record: String,
}

/// The stand-in: its endpoint (for `AWS_ENDPOINT_URL_CLOUDTRAIL`) and its log.
pub struct CloudTrailStandIn {
    pub endpoint: String,
    /// What the run takes as now (`TRAILSCOPE_TEST_NOW`), as the stand-in's own.
    pub now: String,
    shared: Arc<Mutex<Shared>>,
}

impl CloudTrailStandIn {
    /// A stand-in holding `records` (CloudTrail records, any account's region by `awsRegion`), as
    /// of `now` (`YYYY-MM-DDTHH:MM:SSZ`).
    pub fn start(records: &[Value], now: &str) -> CloudTrailStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let now_ms = millis(now).expect("now is a time");
        let mut shared = Shared::default();
        let mut seen = BTreeSet::new();
        for record in records {
            let management = record["managementEvent"].as_bool() == Some(true)
                || record["eventCategory"].as_str() == Some("Management");
            let (Some(id), Some(time)) =
                (record["eventID"].as_str(), record["eventTime"].as_str().and_then(millis))
            else {
                continue;
            };
            if !management || time > now_ms || time <= now_ms - KEPT_FOR_MS || !seen.insert(id.to_owned()) {
                continue;
            }
            let region = record["awsRegion"].as_str().unwrap_or("us-east-1").to_owned();
            shared.events.entry(region).or_default().push(Event {
                time,
                id: id.to_owned(),
                name: record["eventName"].as_str().unwrap_or_default().to_owned(),
                source: record["eventSource"].as_str().unwrap_or_default().to_owned(),
                read_only: record["readOnly"].as_bool().unwrap_or(false),
                record: record.to_string(),
            });
        }
        for events in shared.events.values_mut() {
            events.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.id.cmp(&b.id)));
        }
        let shared = Arc::new(Mutex::new(shared));
        let serving = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&serving);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        CloudTrailStandIn { endpoint, now: now.to_owned(), shared }
    }

    /// Every request of `region` is refused so from now on (`ListRegions`: the Account API's).
    pub fn refuse(&self, region: &str, refusal: Refusal) {
        self.shared.lock().expect("lock").refusals.insert(region.to_owned(), refusal);
    }

    /// Adds `records` as if they had just arrived in event history.
    pub fn add(&self, records: &[Value]) {
        let mut shared = self.shared.lock().expect("lock");
        for record in records {
            let region = record["awsRegion"].as_str().unwrap_or("us-east-1").to_owned();
            let events = shared.events.entry(region).or_default();
            events.push(Event {
                time: record["eventTime"].as_str().and_then(millis).expect("a time"),
                id: record["eventID"].as_str().expect("an id").to_owned(),
                name: record["eventName"].as_str().unwrap_or_default().to_owned(),
                source: record["eventSource"].as_str().unwrap_or_default().to_owned(),
                read_only: record["readOnly"].as_bool().unwrap_or(false),
                record: record.to_string(),
            });
            events.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.id.cmp(&b.id)));
        }
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().expect("lock").requests.clone()
    }

    /// Forgets the requests so far.
    pub fn clear(&self) {
        self.shared.lock().expect("lock").requests.clear();
    }

    /// Events held for `region`.
    pub fn events(&self, region: &str) -> usize {
        self.shared.lock().expect("lock").events.get(region).map_or(0, Vec::len)
    }

    /// The environment a run needs to reach the stand-in as AWS, and nothing of the machine's AWS
    /// configuration: fixed test credentials, empty config and credentials files (in `dir`).
    pub fn env(&self, dir: &Path) -> Vec<(&'static str, String)> {
        let empty = dir.join("aws-empty");
        std::fs::write(&empty, "").expect("write");
        let empty = empty.display().to_string();
        vec![
            ("AWS_ENDPOINT_URL_CLOUDTRAIL", self.endpoint.clone()),
            ("AWS_ENDPOINT_URL_ACCOUNT", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "AKIDTRAILSCOPETEST".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "trailscope-test-secret".to_owned()),
            ("AWS_CONFIG_FILE", empty.clone()),
            ("AWS_SHARED_CREDENTIALS_FILE", empty),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("TRAILSCOPE_TEST_NOW", self.now.clone()),
        ]
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` in milliseconds.
pub fn millis(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[10] != b'T' || !text.ends_with('Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, s) = (n(11..13)?, n(14..16)?, n(17..19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3_600 + mi * 60 + s) * 1_000)
}

fn serve(stream: TcpStream, shared: &Mutex<Shared>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    loop {
        let (mut length, mut target, mut authorization) = (0usize, String::new(), String::new());
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((&line, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "x-amz-target" => target = value.trim().to_owned(),
                "authorization" => authorization = value.trim().to_owned(),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, reply) = if path == "/listRegions" {
            list_regions(shared, &authorization, &body)
        } else {
            answer(shared, &target, &authorization, &body)
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\nContent-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// The region of a SigV4 `Authorization`: `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
fn region_of(authorization: &str) -> Option<String> {
    let credential = authorization.split("Credential=").nth(1)?;
    credential.split(['/', ',']).nth(2).map(str::to_owned)
}

/// The Account API's `ListRegions` (REST-JSON, `POST /listRegions`, signed for us-east-1): the
/// regions the stand-in holds events for are enabled, `ap-east-1` is an opt-in region not enabled;
/// `RegionOptStatusContains` filters them as the API does. Logged as a request of target
/// `ListRegions`.
fn list_regions(shared: &Mutex<Shared>, authorization: &str, body: &[u8]) -> (&'static str, String) {
    let mut shared = shared.lock().expect("lock");
    if shared.refusals.contains_key("ListRegions") {
        return error(
            "AccessDeniedException",
            "User: arn:aws:iam::111122223333:user/test is not authorized to perform: account:ListRegions",
        );
    }
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let wanted: Vec<&str> = request["RegionOptStatusContains"]
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut regions: Vec<Value> = shared
        .events
        .keys()
        .map(|region| json!({"RegionName": region, "RegionOptStatus": "ENABLED_BY_DEFAULT"}))
        .collect();
    regions.push(json!({"RegionName": "ap-east-1", "RegionOptStatus": "DISABLED"}));
    regions.retain(|r| wanted.is_empty() || wanted.iter().any(|w| r["RegionOptStatus"] == *w));
    shared.requests.push(Request {
        region: region_of(authorization).unwrap_or_default(),
        target: "ListRegions".to_owned(),
        attributes: Vec::new(),
        start: None,
        end: None,
        token: false,
        error: None,
        events: regions.len(),
        at: Instant::now(),
    });
    ("200 OK", json!({"Regions": regions}).to_string())
}

fn error(code: &str, message: &str) -> (&'static str, String) {
    ("400 Bad Request", json!({"__type": code, "message": message}).to_string())
}

fn answer(shared: &Mutex<Shared>, target: &str, authorization: &str, body: &[u8]) -> (&'static str, String) {
    let mut shared = shared.lock().expect("lock");
    let region = region_of(authorization).unwrap_or_default();
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let attributes: Vec<(String, String)> = request["LookupAttributes"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| {
                    (
                        a["AttributeKey"].as_str().unwrap_or_default().to_owned(),
                        a["AttributeValue"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let time = |name: &str| request[name].as_f64().map(|s| (s * 1000.0).round() as i64);
    let (start, end) = (time("StartTime"), time("EndTime"));
    let token = request["NextToken"].as_str().map(str::to_owned);
    let mut logged = Request {
        region: region.clone(),
        target: target.to_owned(),
        attributes: attributes.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        start,
        end,
        token: token.is_some(),
        error: None,
        events: 0,
        at: Instant::now(),
    };
    let (status, reply) = respond(&mut shared, &region, target, &attributes, (start, end), token, &request);
    if status != "200 OK" {
        logged.error =
            serde_json::from_str::<Value>(&reply).ok().and_then(|v| v["__type"].as_str().map(str::to_owned));
    } else {
        logged.events = serde_json::from_str::<Value>(&reply)
            .ok()
            .and_then(|v| v["Events"].as_array().map(Vec::len))
            .unwrap_or(0);
    }
    shared.requests.push(logged);
    (status, reply)
}

fn respond(
    shared: &mut Shared,
    region: &str,
    target: &str,
    attributes: &[(String, String)],
    (start, end): (Option<i64>, Option<i64>),
    token: Option<String>,
    request: &Value,
) -> (&'static str, String) {
    if target != "CloudTrail_20131101.LookupEvents" {
        return error("UnknownOperationException", target);
    }
    if region.is_empty() {
        return error("MissingAuthenticationTokenException", "Missing Authentication Token");
    }
    // The rate first: a request over it is throttled whatever it asks.
    let now = Instant::now();
    let answered = shared.answered.entry(region.to_owned()).or_default();
    while answered.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
        answered.pop_front();
    }
    if answered.len() >= RATE {
        return error("ThrottlingException", "Rate exceeded");
    }
    answered.push_back(now);
    match shared.refusals.get(region) {
        Some(Refusal::AccessDenied) => {
            return error(
                "AccessDeniedException",
                &format!("User: arn:aws:iam::111122223333:user/test is not authorized to perform: cloudtrail:LookupEvents on resource: arn:aws:cloudtrail:{region}:111122223333:trail/* because no identity-based policy allows the cloudtrail:LookupEvents action"),
            )
        }
        Some(Refusal::Unrecognized) => {
            return error("UnrecognizedClientException", "The security token included in the request is invalid.")
        }
        Some(Refusal::Expired) => {
            return error("ExpiredTokenException", "The security token included in the request is expired")
        }
        None => {}
    }
    if attributes.len() > 1 {
        return error(
            "InvalidLookupAttributesException",
            "You cannot specify more than one lookup attribute.",
        );
    }
    let max = request["MaxResults"].as_i64().unwrap_or(50);
    if !(1..=50).contains(&max) {
        return error("InvalidMaxResultsException", "MaxResults must be between 1 and 50.");
    }
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return error("InvalidTimeRangeException", "StartTime must be before EndTime.");
        }
    }
    // A token names the parameters it was made with, and where the next page starts.
    let parameters = format!("{region}|{attributes:?}|{start:?}|{end:?}");
    let from = match token {
        None => 0,
        Some(token) => match token.rsplit_once('#') {
            Some((made_with, at)) if made_with == hex(&parameters) => match at.parse::<usize>() {
                Ok(at) => at,
                Err(_) => return error("InvalidNextTokenException", "Invalid NextToken"),
            },
            _ => return error("InvalidNextTokenException", "Invalid NextToken"),
        },
    };
    let matches = |event: &&Event| {
        start.is_none_or(|s| event.time >= s)
            && end.is_none_or(|e| event.time <= e)
            && attributes.iter().all(|(key, value)| match key.as_str() {
                "EventSource" => &event.source == value,
                "EventName" => &event.name == value,
                "EventId" => &event.id == value,
                "ReadOnly" => event.read_only.to_string() == *value,
                _ => false,
            })
    };
    let selected: Vec<&Event> =
        shared.events.get(region).map(|e| e.iter().filter(matches).collect()).unwrap_or_default();
    let page: Vec<Value> = selected
        .iter()
        .skip(from)
        .take(max as usize)
        .map(|e| {
            json!({
                "EventId": e.id,
                "EventName": e.name,
                "ReadOnly": e.read_only.to_string(),
                "EventTime": e.time as f64 / 1000.0,
                "EventSource": e.source,
                "Resources": [],
                "CloudTrailEvent": e.record,
            })
        })
        .collect();
    let next = from + page.len();
    let mut reply = json!({"Events": page});
    if next < selected.len() {
        reply["NextToken"] = json!(format!("{}#{next}", hex(&parameters)));
    }
    ("200 OK", reply.to_string())
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The records of `account` in the log files under `archive` (readable ones only), as CloudTrail
/// delivered them: what the account's event history holds, too, for its management events.
pub fn records_of(archive: &Path, account: &str) -> Vec<Value> {
    let mut records = Vec::new();
    for file in crate::common::files_under(archive) {
        let name = file.to_string_lossy().into_owned();
        if !name.contains(&format!("/{account}/CloudTrail/"))
            || !name.ends_with(".json.gz") && !name.ends_with(".json")
        {
            continue;
        }
        let mut text = String::new();
        let bytes = std::fs::read(&file).expect("read");
        // Read by content, as trailscope reads it: a `.json.gz` name may hold plain JSON, and gzip
        // may come in several members.
        let read = if bytes.starts_with(&[0x1f, 0x8b]) {
            flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_string(&mut text).is_ok()
        } else {
            String::from_utf8(bytes).map(|plain| text = plain).is_ok()
        };
        if !read {
            continue;
        }
        let Ok(value) = serde_json::from_str::<Value>(&text) else { continue };
        records.extend(value["Records"].as_array().cloned().unwrap_or_default());
    }
    records
}
