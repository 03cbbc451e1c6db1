//! A loopback TCP proxy in front of a test server that "goes down" after a given number of
//! object downloads: it closes every connection and stops accepting, as a stopped server would.
//! This makes "the server stopped mid-run" happen at a known point instead of by timing luck.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

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
                        Some(shared.clone()),
                    );
                    pipe(server, client, None);
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

/// Copies `from` to `to`; on the request direction, counts object GETs (not listings) and takes
/// the proxy down once more than the allowed number have started.
fn pipe(mut from: TcpStream, mut to: TcpStream, requests: Option<Arc<Shared>>) {
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some(shared) = &requests {
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
