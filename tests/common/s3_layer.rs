//! An S3 behaviour layer in front of Garage: a loopback HTTP proxy that answers what AWS's S3
//! answers and Garage does not, as S3's API reference and error-response pages write it, and
//! passes everything else on untouched (so Garage checks every signature):
//!
//! - buckets live in regions: a request signed for another region than its bucket's (the region is
//!   the third part of the `Credential=` scope in `Authorization`) is answered `301
//!   PermanentRedirect`, with the bucket's region in `x-amz-bucket-region` and, but for HEAD, the
//!   PermanentRedirect XML body (or, for chosen buckets, `400 AuthorizationHeaderMalformed`
//!   naming the expected region); HeadBucket's answers carry `x-amz-bucket-region` too. Each
//!   bucket is kept by a Garage serving its region, which also refuses other regions' signatures.
//! - storage classes: ListObjectsV2's `<StorageClass>` names the class given to each key;
//!   GetObject of a `GLACIER` or `DEEP_ARCHIVE` key, or of an Intelligent-Tiering key in an
//!   archive tier, answers `403 InvalidObjectState` (with `StorageClass` and `AccessTier`).
//! - SSE-KMS without `kms:Decrypt`: GetObject of chosen keys answers `403 AccessDenied` with the
//!   message naming the action and the key's ARN.
//! - throttling: the first GET of chosen keys (or every GET of others) answers `503 SlowDown`.
//! - requester pays: a bucket that requires it refuses (`403 AccessDenied`) a request without
//!   `x-amz-request-payer: requester`.
//! - a network that breaks connections: an answer cut after a number of its bytes (headers or
//!   body), the connection then closed or reset, on a share of requests chosen by a seeded hash
//!   of the request (its key, or a listing's query) and its attempt (how many times the same
//!   request came before), so that the same run cuts the same answers; or the first answers of
//!   chosen keys, or every answer, cut in the middle of the body; or the first answer of chosen
//!   keys stalled there, the connection held open without a byte more.
//! - conditional reads: a GET with `If-Match` that names another ETag than the object's is
//!   answered `412 PreconditionFailed`, and chosen keys are replaced by another version after
//!   their first GET (their later answers carry another ETag).
//!
//! Every request is logged (method, bucket, key, signing region, `Range` and `If-Match`, answer,
//! whether it was cut), for the tests to count GETs per key and check headers.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// What one bucket is, in the layer's S3.
#[derive(Clone, Default)]
pub struct Bucket {
    /// Its region, and the Garage (`host:port`) that keeps it, serving that region.
    pub region: String,
    pub upstream: String,
    /// Storage class by key, as ListObjectsV2 names it (others: `STANDARD`).
    pub classes: BTreeMap<String, String>,
    /// Intelligent-Tiering keys in an archive tier (`ARCHIVE_ACCESS`, `DEEP_ARCHIVE_ACCESS`):
    /// listed as `INTELLIGENT_TIERING`, refused by GetObject.
    pub tiers: BTreeMap<String, String>,
    /// Keys encrypted with a KMS key the caller may not use: the key's ARN.
    pub kms_denied: BTreeMap<String, String>,
    /// Keys whose first GET is answered SlowDown.
    pub slow_once: BTreeSet<String>,
    /// Keys whose every GET is answered SlowDown.
    pub slow_always: BTreeSet<String>,
    pub requester_pays: bool,
    /// Answer a request signed for another region `400 AuthorizationHeaderMalformed` (naming the
    /// expected region) instead of `301 PermanentRedirect`, as S3 does on some endpoints; both
    /// carry `x-amz-bucket-region`.
    pub malformed_for_other_regions: bool,
    /// Answers cut at random (one in `share`, by a hash of `seed`, the request and its attempt).
    pub cuts: Option<Cuts>,
    /// Keys whose first GET is cut in the middle of its body.
    pub cut_first: BTreeSet<String>,
    /// Keys whose every GET is cut in the middle of its body.
    pub cut_always: BTreeSet<String>,
    /// Listing answers cut in the middle of their body, the first this many.
    pub cut_listings: usize,
    /// Keys whose first GET stops sending in the middle of its body, for this long, before the
    /// connection is closed.
    pub stall_first: BTreeMap<String, std::time::Duration>,
    /// Keys replaced by another version after their first GET.
    pub replaced: BTreeSet<String>,
}

/// Answers cut at random, reproducibly: the request (an object's key, or a listing's query) with
/// its attempt number is hashed with `seed`, and one answer in `share` is cut, after as many of
/// its bytes (headers included) as the hash says.
#[derive(Clone, Copy, Debug)]
pub struct Cuts {
    pub seed: u64,
    pub share: u64,
}

impl Cuts {
    /// Where to cut an answer of `length` bytes to attempt `attempt` of `request`, if at all.
    pub fn at(&self, request: &str, attempt: usize, length: usize) -> Option<usize> {
        let hash = fnv(self.seed, request, attempt);
        (hash.is_multiple_of(self.share) && length > 0).then(|| (hash >> 20) as usize % length)
    }
}

/// FNV-1a over the seed, the request and the attempt: the same everywhere, every time.
fn fnv(seed: u64, request: &str, attempt: usize) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in seed.to_le_bytes().iter().chain(request.as_bytes()).chain(&attempt.to_le_bytes()) {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    }
    // FNV's low bits mix poorly: fold the high ones in.
    hash ^ (hash >> 29)
}

/// One request the layer saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub bucket: String,
    /// Empty for bucket requests (HeadBucket, ListObjectsV2).
    pub key: String,
    pub listing: bool,
    /// The region of the request's signature (empty when unsigned).
    pub region: String,
    pub request_payer: Option<String>,
    pub range: Option<String>,
    pub if_match: Option<String>,
    /// The status answered.
    pub status: u16,
    /// The answer was cut after this many bytes (and the connection closed or reset).
    pub cut: Option<usize>,
}

pub struct Layer {
    pub endpoint: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Layer {
    pub fn start(buckets: BTreeMap<String, Bucket>) -> Layer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind S3 layer");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(State {
            buckets,
            seen: seen.clone(),
            first_gets: Mutex::new(BTreeSet::new()),
            attempts: Mutex::new(BTreeMap::new()),
        });
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let state = state.clone();
                thread::spawn(move || serve(client, &state));
            }
        });
        Layer { endpoint, seen }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }

    /// Object GETs of `key` so far (in any bucket).
    pub fn gets_of(&self, key: &str) -> usize {
        self.seen().iter().filter(|s| s.method == "GET" && !s.listing && s.key == key).count()
    }

    /// Object GETs so far.
    pub fn gets(&self) -> usize {
        self.seen().iter().filter(|s| s.method == "GET" && !s.listing && !s.key.is_empty()).count()
    }

    /// Answers cut so far.
    pub fn cut(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.cut.is_some()).collect()
    }
}

struct State {
    buckets: BTreeMap<String, Bucket>,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Keys GET once already (for `slow_once`).
    first_gets: Mutex<BTreeSet<String>>,
    /// Requests seen so far, by bucket and request (key or listing query): the next attempt's
    /// number.
    attempts: Mutex<BTreeMap<String, usize>>,
}

/// A request read whole: head lines, and body.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut start = lines.next()?.split(' ');
    let (method, target) = (start.next()?.to_owned(), start.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { method, target, headers, head, body })
}

/// Bucket, key and whether it is a listing, from a path-style target.
fn parse_target(target: &str) -> (String, String, bool) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = path.trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    (bucket.to_owned(), percent_decode(key), query.contains("list-type="))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The region of a SigV4 `Authorization` header: `Credential=AKID/DATE/REGION/s3/aws4_request`.
fn signing_region(authorization: &str) -> String {
    authorization
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split(',').next())
        .and_then(|scope| scope.split('/').nth(2))
        .unwrap_or_default()
        .to_owned()
}

/// An S3 error answer: the XML body S3's error-response reference shows, and extra headers.
fn error(
    status: &str,
    code: &str,
    message: &str,
    extra_xml: &str,
    headers: &[(&str, &str)],
    head_only: bool,
) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>{extra_xml}<RequestId>4442587FB7D0A2F9</RequestId><HostId>trailscope-test-layer</HostId></Error>"
    );
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nx-amz-request-id: 4442587FB7D0A2F9\r\n"
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if head_only {
        out.push_str("Content-Length: 0\r\n\r\n");
        return out.into_bytes();
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}

fn serve(client: TcpStream, state: &State) {
    let Ok(mut writer) = client.try_clone() else { return };
    let mut reader = BufReader::new(client);
    let mut upstreams: BTreeMap<String, BufReader<TcpStream>> = BTreeMap::new();
    while let Some(request) = read_request(&mut reader) {
        let (bucket_name, key, listing) = parse_target(&request.target);
        let region = request.header("authorization").map(signing_region).unwrap_or_default();
        let mut seen = Seen {
            method: request.method.clone(),
            bucket: bucket_name.clone(),
            key: key.clone(),
            listing,
            region: region.clone(),
            request_payer: request.header("x-amz-request-payer").map(str::to_owned),
            range: request.header("range").map(str::to_owned),
            if_match: request.header("if-match").map(str::to_owned),
            status: 0,
            cut: None,
        };
        let Some(bucket) = state.buckets.get(&bucket_name) else {
            let answer = error(
                "404 Not Found",
                "NoSuchBucket",
                "The specified bucket does not exist",
                &format!("<BucketName>{bucket_name}</BucketName>"),
                &[],
                request.method == "HEAD",
            );
            seen.status = 404;
            state.seen.lock().expect("log").push(seen);
            if writer.write_all(&answer).is_err() {
                return;
            }
            continue;
        };
        let head_only = request.method == "HEAD";
        let identity = match listing {
            true => format!("{bucket_name}?{}", request.target.split_once('?').map_or("", |(_, q)| q)),
            false => format!("{bucket_name}/{key}"),
        };
        let attempt = {
            let mut attempts = state.attempts.lock().expect("attempts");
            let next = attempts.entry(identity.clone()).or_default();
            *next += 1;
            *next - 1
        };
        let answer = decide(state, bucket, &bucket_name, &key, listing, &region, &request, head_only);
        let response = match answer {
            Some(answer) => answer,
            None => match forward(&mut upstreams, bucket, &request, head_only) {
                Some(response) => {
                    let response = rewrite(bucket, &key, listing, response);
                    conditional(bucket, &key, attempt, &request, response)
                }
                None => return,
            },
        };
        seen.status = status_of(&response);
        seen.cut = cut(bucket, &key, listing, &identity, attempt, &request, &response);
        state.seen.lock().expect("log").push(seen.clone());
        match seen.cut {
            None => {
                if writer.write_all(&response).is_err() {
                    return;
                }
            }
            Some(at) => {
                let _ = writer.write_all(&response[..at]).and_then(|()| writer.flush());
                if let Some(stall) = bucket.stall_first.get(&key).filter(|_| attempt == 0 && !listing) {
                    thread::sleep(*stall);
                }
                // Half the cuts end the connection as a reset, half as an early close.
                let socket = socket2::SockRef::from(&writer);
                if fnv(0, &identity, attempt) & 1 == 0 {
                    let _ = socket.set_linger(Some(std::time::Duration::ZERO));
                }
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
    }
}

/// Where the answer to `request` (attempt `attempt`, counting from 0) is cut, if it is.
fn cut(
    bucket: &Bucket,
    key: &str,
    listing: bool,
    identity: &str,
    attempt: usize,
    request: &Request,
    response: &[u8],
) -> Option<usize> {
    if request.method != "GET" {
        return None;
    }
    let body = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |p| p + 4);
    let middle = body + (response.len() - body) / 2;
    let chosen = if listing {
        attempt < bucket.cut_listings
    } else {
        bucket.cut_always.contains(key)
            || (attempt == 0 && (bucket.cut_first.contains(key) || bucket.stall_first.contains_key(key)))
    };
    if chosen && middle < response.len() {
        return Some(middle);
    }
    bucket.cuts.and_then(|cuts| cuts.at(identity, attempt, response.len()))
}

/// The ETag of an object replaced after its first GET, as its later answers give it.
fn replaced_etag(etag: &str) -> String {
    format!("\"{}-replaced\"", etag.trim_matches('"'))
}

/// S3's conditional GET: `If-Match` naming another ETag than the object's is answered 412; a
/// replaced object answers with its new ETag after its first GET.
fn conditional(bucket: &Bucket, key: &str, attempt: usize, request: &Request, response: Vec<u8>) -> Vec<u8> {
    if request.method != "GET" || key.is_empty() || !matches!(status_of(&response), 200 | 206) {
        return response;
    }
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let Some(etag) = head.split("\r\n").find_map(|l| {
        l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("etag")).map(|(_, v)| v.trim().to_owned())
    }) else {
        return response;
    };
    let current =
        if attempt > 0 && bucket.replaced.contains(key) { replaced_etag(&etag) } else { etag.clone() };
    if request.header("if-match").is_some_and(|wanted| wanted != current && wanted != "*") {
        return error(
            "412 Precondition Failed",
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            "<Condition>If-Match</Condition>",
            &[],
            false,
        );
    }
    if current == etag {
        return response;
    }
    let mut out = head.replacen(&etag, &current, 1).into_bytes();
    out.extend_from_slice(&response[split..]);
    out
}

/// What the layer answers itself, as S3 would; `None` passes the request to Garage.
#[allow(clippy::too_many_arguments)]
fn decide(
    state: &State,
    bucket: &Bucket,
    name: &str,
    key: &str,
    listing: bool,
    region: &str,
    request: &Request,
    head_only: bool,
) -> Option<Vec<u8>> {
    if !region.is_empty() && region != bucket.region && bucket.malformed_for_other_regions {
        return Some(error(
            "400 Bad Request",
            "AuthorizationHeaderMalformed",
            &format!(
                "The authorization header is malformed; the region '{region}' is wrong; expecting '{}'",
                bucket.region
            ),
            &format!("<Region>{}</Region>", bucket.region),
            &[("x-amz-bucket-region", &bucket.region)],
            head_only,
        ));
    }
    if !region.is_empty() && region != bucket.region {
        return Some(error(
            "301 Moved Permanently",
            "PermanentRedirect",
            "The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.",
            &format!("<Endpoint>{name}.s3.{}.amazonaws.com</Endpoint><Bucket>{name}</Bucket>", bucket.region),
            &[("x-amz-bucket-region", &bucket.region)],
            head_only,
        ));
    }
    if bucket.requester_pays && request.header("x-amz-request-payer") != Some("requester") {
        return Some(error("403 Forbidden", "AccessDenied", "Access Denied", "", &[], head_only));
    }
    if request.method != "GET" || listing || key.is_empty() {
        return None;
    }
    if let Some(class) = bucket.classes.get(key).filter(|c| matches!(c.as_str(), "GLACIER" | "DEEP_ARCHIVE"))
    {
        return Some(error(
            "403 Forbidden",
            "InvalidObjectState",
            "The operation is not valid for the object's storage class",
            &format!("<StorageClass>{class}</StorageClass>"),
            &[],
            false,
        ));
    }
    if let Some(tier) = bucket.tiers.get(key) {
        return Some(error(
            "403 Forbidden",
            "InvalidObjectState",
            "The operation is not valid for the object's access tier",
            &format!("<StorageClass>INTELLIGENT_TIERING</StorageClass><AccessTier>{tier}</AccessTier>"),
            &[],
            false,
        ));
    }
    if let Some(arn) = bucket.kms_denied.get(key) {
        let account = arn.split(':').nth(4).unwrap_or("111122223333");
        return Some(error(
            "403 Forbidden",
            "AccessDenied",
            &format!("User: arn:aws:sts::{account}:assumed-role/Auditor/trailscope is not authorized to perform: kms:Decrypt on resource: {arn} because no identity-based policy allows the kms:Decrypt action"),
            "",
            &[],
            false,
        ));
    }
    let first = state.first_gets.lock().expect("first gets").insert(format!("{name}/{key}"));
    if bucket.slow_always.contains(key) || (first && bucket.slow_once.contains(key)) {
        return Some(error("503 Slow Down", "SlowDown", "Please reduce your request rate.", "", &[], false));
    }
    None
}

fn status_of(response: &[u8]) -> u16 {
    String::from_utf8_lossy(&response[..response.len().min(16)])
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Sends `request` to the bucket's Garage (one connection per upstream, reused) and reads the
/// whole answer.
fn forward(
    upstreams: &mut BTreeMap<String, BufReader<TcpStream>>,
    bucket: &Bucket,
    request: &Request,
    head_only: bool,
) -> Option<Vec<u8>> {
    for _attempt in 0..2 {
        if !upstreams.contains_key(&bucket.upstream) {
            let stream = TcpStream::connect(&bucket.upstream).ok()?;
            upstreams.insert(bucket.upstream.clone(), BufReader::new(stream));
        }
        let upstream = upstreams.get_mut(&bucket.upstream)?;
        let sent = upstream
            .get_mut()
            .write_all(&request.head)
            .and_then(|()| upstream.get_mut().write_all(&request.body));
        if sent.is_ok() {
            if let Some(response) = read_response(upstream, head_only) {
                return Some(response);
            }
        }
        // A connection Garage closed meanwhile: once more on a new one.
        upstreams.remove(&bucket.upstream);
    }
    None
}

fn read_response(upstream: &mut BufReader<TcpStream>, head_only: bool) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if upstream.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = status_of(&head);
    let length = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = text.lines().any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    let mut body = Vec::new();
    if head_only || status == 204 || status == 304 {
    } else if let Some(length) = length {
        body.resize(length, 0);
        upstream.read_exact(&mut body).ok()?;
    } else if chunked {
        // De-chunked here; the head is rewritten with a length below.
        loop {
            let mut size = String::new();
            upstream.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            upstream.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk[..n]);
            if n == 0 {
                break;
            }
        }
        let head_text = String::from_utf8_lossy(&head).into_owned();
        let kept: Vec<&str> = head_text
            .split("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("transfer-encoding:") && !l.is_empty())
            .collect();
        head = format!("{}\r\nContent-Length: {}\r\n\r\n", kept.join("\r\n"), body.len()).into_bytes();
    }
    let mut response = head;
    response.extend_from_slice(&body);
    Some(response)
}

/// Garage's answer as S3 would give it: storage classes in listings, the bucket's region on
/// HeadBucket.
fn rewrite(bucket: &Bucket, key: &str, listing: bool, response: Vec<u8>) -> Vec<u8> {
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |p| p + 4);
    let (head, body) = response.split_at(split);
    let mut head = String::from_utf8_lossy(head).into_owned();
    if key.is_empty() && !listing {
        // HeadBucket (and other bucket requests): S3 names the region.
        head = head.replacen("\r\n", &format!("\r\nx-amz-bucket-region: {}\r\n", bucket.region), 1);
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        return out;
    }
    if !listing || status_of(&response) != 200 {
        return response;
    }
    let mut xml = String::from_utf8_lossy(body).into_owned();
    let mut out = String::with_capacity(xml.len() + 1024);
    while let Some(start) = xml.find("<Contents>") {
        let Some(end) = xml[start..].find("</Contents>").map(|e| start + e + "</Contents>".len()) else {
            break;
        };
        out.push_str(&xml[..start]);
        let mut contents = xml[start..end].to_owned();
        let listed_key = contents
            .split("<Key>")
            .nth(1)
            .and_then(|k| k.split("</Key>").next())
            .map(|k| k.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
            .unwrap_or_default();
        let class = match (bucket.classes.get(&listed_key), bucket.tiers.contains_key(&listed_key)) {
            (Some(class), _) => class.clone(),
            (None, true) => "INTELLIGENT_TIERING".to_owned(),
            (None, false) => "STANDARD".to_owned(),
        };
        if let Some(at) = contents.find("<StorageClass>") {
            let close = contents[at..]
                .find("</StorageClass>")
                .map_or(contents.len(), |c| at + c + "</StorageClass>".len());
            contents.replace_range(at..close, &format!("<StorageClass>{class}</StorageClass>"));
        } else {
            let at = contents.len() - "</Contents>".len();
            contents.insert_str(at, &format!("<StorageClass>{class}</StorageClass>"));
        }
        out.push_str(&contents);
        xml = xml[end..].to_owned();
    }
    out.push_str(&xml);
    let head: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:") && !l.is_empty())
        .collect();
    let mut response = format!("{}\r\nContent-Length: {}\r\n\r\n", head.join("\r\n"), out.len()).into_bytes();
    response.extend_from_slice(out.as_bytes());
    response
}
