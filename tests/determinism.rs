//! The same archive gives the same bytes whatever the thread count, in every format.

use crate::common;

use common::{testdata, trailscope};

#[test]
fn every_format_is_byte_identical_for_one_and_four_jobs() {
    let archive = testdata("");
    let archive = archive.to_str().expect("utf-8 path");
    for format in ["json", "text", "markdown", "html"] {
        let run = |jobs: &str| {
            let out = trailscope(["report", "--all", "--format", format, "--jobs", jobs, archive]);
            assert!(
                matches!(out.status.code(), Some(0 | 3)),
                "{format}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            (out.stdout, out.stderr)
        };
        let one = run("1");
        assert!(!one.0.is_empty());
        for _ in 0..3 {
            assert!(run("4") == one, "{format}: --jobs 4 differs from --jobs 1");
        }
    }
}
