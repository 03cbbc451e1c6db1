//! The HTML report in a real browser: Debian's headless Chromium loads the generated archive's
//! report, logs no console message (the page has no script, so any message is a problem: a
//! blocked fetch, a Content-Security-Policy violation), parses into the page we wrote, and is
//! captured as a screenshot at 1280 pixels and as a printed PDF.
//!
//! `.ci/setup-tests` installs `chromium`; `CHROMIUM_BIN` names another binary, and
//! `TRAILSCOPE_SKIP_BROWSER=1` skips these tests where no browser can be installed. The page,
//! the screenshot and the PDF are left under the build's `tmp/browser-report/` to look at
//! (`docs/report.png` is that screenshot, optimized).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{root, trailscope};

/// A browser that has not finished in this long is stuck (a run takes about a second).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

fn skipped() -> bool {
    if std::env::var_os("TRAILSCOPE_SKIP_BROWSER").is_some_and(|v| !v.is_empty() && v != "0") {
        eprintln!("TRAILSCOPE_SKIP_BROWSER is set: browser test skipped");
        return true;
    }
    false
}

fn chromium() -> PathBuf {
    let binary = std::env::var_os("CHROMIUM_BIN").map_or_else(|| PathBuf::from("chromium"), PathBuf::from);
    let found = Command::new(&binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "the browser test needs Debian's chromium ({} not found): run `bash .ci/setup-tests`, set \
         CHROMIUM_BIN to another Chromium, or set TRAILSCOPE_SKIP_BROWSER=1 to skip it",
        binary.display()
    );
    binary
}

/// Where the page and what the browser made of it are kept after the test.
fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-report");
    std::fs::create_dir_all(&dir).expect("output folder");
    dir
}

/// `trailscope report --format html` of the generated archive, written once for every test.
fn report_page() -> &'static Path {
    static PAGE: OnceLock<PathBuf> = OnceLock::new();
    PAGE.get_or_init(|| {
        let page = output_dir().join("report.html");
        let archive = root().join("testdata/generated/archive");
        let out = trailscope([
            "report".as_ref(),
            "--format".as_ref(),
            "html".as_ref(),
            "-o".as_ref(),
            page.as_os_str(),
            archive.as_os_str(),
        ]);
        // 3: the archive holds broken objects on purpose.
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
        page
    })
}

/// What one headless Chromium run printed.
struct Run {
    stdout: String,
    stderr: String,
}

/// Runs headless Chromium on `page` with `extra` arguments, in a profile of its own, with
/// everything that would reach the network turned off, and its log on stderr.
fn browse(page: &Path, extra: &[String]) -> Run {
    let profile = tempfile::tempdir().expect("profile folder");
    let logs = tempfile::tempdir().expect("log folder");
    let (stdout_path, stderr_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let file = |path: &Path| std::fs::File::create(path).expect("log file");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(file(&stdout_path))
        .stderr(file(&stderr_path))
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |path: &Path| String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
    let run = Run { stdout: read(&stdout_path), stderr: read(&stderr_path) };
    assert!(status.success(), "chromium failed ({status}):\n{}", run.stderr);
    run
}

/// Lines Chromium logged for the page's console: errors, warnings, CSP violations, anything.
fn console_lines(run: &Run) -> Vec<&str> {
    run.stderr.lines().filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught")).collect()
}

#[test]
fn the_report_loads_without_console_messages_and_draws_a_timeline_per_endpoint() {
    if skipped() {
        return;
    }
    let run = browse(report_page(), &["--dump-dom".into()]);
    assert_eq!(console_lines(&run), Vec::<&str>::new(), "the page logged to the console");
    let dom = &run.stdout;
    assert!(dom.contains("<h1>trailscope report</h1>"), "the page parsed:\n{dom}");
    // One chart per endpoint of the generated archive, and the time axis (above, for print, and
    // below).
    let ids = [
        "eice-000ea572df58fa3c9",
        "eice-013cae3bdd442b302",
        "eice-0275aff131274b92b",
        "eice-06941692b7e261627",
        "eice-0a14ec5a41af567f7",
        "eice-0e456b91583f15513",
        "eice-0e8f17ed1981f9189",
    ];
    assert_eq!(dom.matches("<svg class=\"tl-chart\" viewBox=\"0 0 800 ").count(), ids.len() + 2);
    // Endpoints' creations and deletions are marked on their charts, each with its time.
    assert_eq!(dom.matches("<path class=\"created\"").count(), 4, "four endpoints created in the archive");
    assert_eq!(dom.matches("<path class=\"deleted\"").count(), 2, "two deleted");
    assert!(dom.contains("<title>created 2024-03-01 00:05</title>"), "{dom}");
    for id in ids {
        assert!(
            dom.contains(&format!("<div class=\"tl-label\"><code>{id}</code>")),
            "{id} has a timeline row"
        );
    }
    // Hourly columns with a tooltip each, naming the denied attempts' error codes.
    assert!(dom.contains("<title>2024-03-01 02:00 to 03:00 UTC\n1 connection"), "a column's tooltip");
    assert!(dom.contains(" denied: AccessDenied ×1</title>"), "a denied attempt's tooltip");
    // The page's sections made it through parsing, in order.
    let order = [
        "<h2>Summary</h2>",
        "<h2>Endpoints</h2>",
        "<h3>Timeline</h3>",
        "<h3>Differs between endpoints",
        "<h2>Unreadable objects",
    ];
    let at: Vec<usize> = order.iter().map(|s| dom.find(s).unwrap_or_else(|| panic!("{s} missing"))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "sections out of order: {order:?} at {at:?}");
}

/// Width and height from a PNG's header.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 24, "not a PNG");
    let number = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes"));
    (number(16), number(20))
}

#[test]
fn a_screenshot_at_1280_pixels_shows_the_report() {
    if skipped() {
        return;
    }
    let shot = output_dir().join("report.png");
    let _ = std::fs::remove_file(&shot);
    let run = browse(
        report_page(),
        &[
            format!("--screenshot={}", shot.display()),
            // Tall enough for the findings, the endpoints with their life and their timeline.
            "--window-size=1280,6200".into(),
            "--hide-scrollbars".into(),
        ],
    );
    assert_eq!(console_lines(&run), Vec::<&str>::new(), "the page logged to the console");
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(png_size(&png), (1280, 6200));
    // A blank or unstyled page compresses to a few kilobytes; tables, text and charts do not.
    assert!(
        png.len() > 100_000,
        "a screenshot of {} bytes is nearly empty: look at {}",
        png.len(),
        shot.display()
    );
}

#[test]
fn the_report_prints_to_pdf() {
    if skipped() {
        return;
    }
    let pdf = output_dir().join("report.pdf");
    let _ = std::fs::remove_file(&pdf);
    let run = browse(
        report_page(),
        &[format!("--print-to-pdf={}", pdf.display()), "--no-pdf-header-footer".into()],
    );
    assert_eq!(console_lines(&run), Vec::<&str>::new(), "the page logged to the console");
    let bytes = std::fs::read(&pdf).expect("chromium wrote the PDF");
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    assert!(
        bytes.len() > 50_000,
        "a PDF of {} bytes is nearly empty: look at {}",
        bytes.len(),
        pdf.display()
    );
}
