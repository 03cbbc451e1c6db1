//! Loopback TCP proxies in front of a test server, for faults that must happen at a known point
//! instead of by timing luck: a server that goes down after a number of downloads, one that
//! accepts connections and never answers, and one that throttles its first requests; and, for the
//! S3 benchmark, one that puts a fixed latency on every request, as a distant server has.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub struct Proxy {
    pub endpoint: String,
    down: Arc<AtomicBool>,
}

struct Shared {
    downloads: AtomicUsize,
    down: Arc<AtomicBool>,
    streams: Mutex<Vec<TcpStream>>,
    allowed: usize,
}

impl Shared {
    fn go_down(&self) {
        self.down.store(true, Ordering::SeqCst);
        for stream in self.streams.lock().expect("streams lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Proxy {
    /// Forwards to `upstream` (host:port) until `allowed` object GETs have been sent through.
    pub fn start(upstream: &str, allowed: usize) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        listener.set_nonblocking(true).expect("nonblocking accept");
        let down = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            downloads: AtomicUsize::new(0),
            down: down.clone(),
            streams: Mutex::new(Vec::new()),
            allowed,
        });
        let upstream = upstream.to_owned();
        thread::spawn(move || loop {
            if shared.down.load(Ordering::SeqCst) {
                return; // dropping the listener refuses new connections
            }
            match listener.accept() {
                Ok((client, _)) => {
                    let Ok(server) = TcpStream::connect(&upstream) else { continue };
                    let _ = client.set_nonblocking(false);
                    let mut streams = shared.streams.lock().expect("streams lock");
                    for stream in [&client, &server] {
                        if let Ok(clone) = stream.try_clone() {
                            streams.push(clone);
                        }
                    }
                    drop(streams);
                    pipe(
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                        Forward { shared: Some(shared.clone()), ..Forward::default() },
                    );
                    pipe(server, client, Forward::default());
                }
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        });
        Proxy { endpoint, down }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }
}

/// Accepts connections and never answers, until dropped with the test.
pub fn stalled() -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let handle = thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64).flatten() {
            held.push(stream); // kept open, never written to
        }
    });
    (endpoint, handle)
}

/// Answers the first `throttled` requests with `503 SlowDown`, as S3 does under load, and
/// forwards everything after to `upstream`. Returns the endpoint and the count of 503s sent.
pub fn throttling(upstream: &str, throttled: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let upstream = upstream.to_owned();
    thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            // The whole request head; requests here have no body.
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match client.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            if counter.load(Ordering::SeqCst) < throttled {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
                let response = format!(
                    "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = client.write_all(response.as_bytes());
                let _ = client.shutdown(Shutdown::Both);
                continue;
            }
            let Ok(mut server) = TcpStream::connect(&upstream) else { continue };
            if server.write_all(&head).is_err() {
                continue;
            }
            pipe(client.try_clone().expect("clone"), server.try_clone().expect("clone"), Forward::default());
            pipe(server, client, Forward::default());
        }
    });
    (endpoint, sent)
}

/// The requests a [`delayed`] proxy passed on: listings and object GETs apart, and when the first
/// and last of each went through (since the counts were last [`Requests::reset`]).
#[derive(Default)]
pub struct Requests {
    inner: Mutex<RequestLog>,
    /// Each listing request, in the order seen.
    prefixes: Mutex<Vec<Listed>>,
}

/// One listing request: its `prefix`, whether it had a delimiter, its `start-after` (decoded).
#[derive(Clone, Debug)]
pub struct Listed {
    pub prefix: String,
    pub delimited: bool,
    pub start_after: Option<String>,
}

#[derive(Default, Clone, Copy, Debug)]
pub struct RequestLog {
    pub listings: usize,
    pub gets: usize,
    pub first_listing: Option<Instant>,
    pub last_listing: Option<Instant>,
    pub first_get: Option<Instant>,
    pub last_get: Option<Instant>,
}

impl Requests {
    /// The counts so far, and zero again.
    pub fn reset(&self) -> RequestLog {
        std::mem::take(&mut *self.inner.lock().expect("requests lock"))
    }

    /// The listing requests so far, and none again.
    pub fn take_prefixes(&self) -> Vec<Listed> {
        std::mem::take(&mut *self.prefixes.lock().expect("prefixes lock"))
    }

    fn seen(&self, head: &[u8]) {
        let text = String::from_utf8_lossy(head);
        let now = Instant::now();
        let mut log = self.inner.lock().expect("requests lock");
        for line in text.lines().filter(|l| l.starts_with("GET /")) {
            if line.contains("list-type=") {
                let target = line.split(' ').nth(1).unwrap_or("");
                let query = target.split_once('?').map_or("", |(_, q)| q);
                let param =
                    |name: &str| query.split('&').find_map(|p| p.strip_prefix(name)).map(percent_decoded);
                let listed = Listed {
                    prefix: param("prefix=").unwrap_or_default(),
                    delimited: param("delimiter=").is_some(),
                    start_after: param("start-after="),
                };
                self.prefixes.lock().expect("prefixes lock").push(listed);
                log.listings += 1;
                log.first_listing.get_or_insert(now);
                log.last_listing = Some(now);
            } else {
                log.gets += 1;
                log.first_get.get_or_insert(now);
                log.last_get = Some(now);
            }
        }
    }
}

/// A query value as sent, `%XX` escapes decoded.
fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Forwards everything to `upstream` (host:port), holding every piece of a request `delay`
/// before passing it on: each request (a GET carries no body, so it is one piece) then takes
/// `delay` longer, as it would from a server that far away. Each connection gets threads of its
/// own, so requests on different connections wait at the same time, not in turn. Returns the
/// endpoint and the log of requests passed on.
pub fn delayed(upstream: &str, delay: Duration) -> (String, Arc<Requests>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let requests = Arc::new(Requests::default());
    let log = requests.clone();
    let upstream = upstream.to_owned();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else { continue };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let forward = Forward { delay, requests: Some(log.clone()), ..Forward::default() };
            pipe(client.try_clone().expect("clone"), server.try_clone().expect("clone"), forward);
            pipe(server, client, Forward::default());
        }
    });
    (endpoint, requests)
}

/// What [`pipe`] does besides copying.
#[derive(Default)]
struct Forward {
    /// Counts object GETs and takes the proxy down past its allowance ([`Proxy::start`]).
    shared: Option<Arc<Shared>>,
    /// Held before each piece is passed on.
    delay: Duration,
    /// Logs the requests passed on.
    requests: Option<Arc<Requests>>,
}

/// Copies `from` to `to`; on the request direction, does what `forward` says: counts object GETs
/// (not listings) and takes the proxy down once more than the allowed number have started, or
/// holds each piece for a delay, logging the requests.
fn pipe(mut from: TcpStream, mut to: TcpStream, forward: Forward) {
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !forward.delay.is_zero() {
                thread::sleep(forward.delay);
            }
            if let Some(requests) = &forward.requests {
                requests.seen(&buf[..n]);
            }
            if let Some(shared) = &forward.shared {
                let text = String::from_utf8_lossy(&buf[..n]);
                let gets =
                    text.lines().filter(|l| l.starts_with("GET /") && !l.contains("list-type=")).count();
                if gets > 0 && shared.downloads.fetch_add(gets, Ordering::SeqCst) + gets > shared.allowed {
                    shared.go_down();
                    break;
                }
                if shared.down.load(Ordering::SeqCst) {
                    break;
                }
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
