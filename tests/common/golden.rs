//! Golden files: whole outputs committed under `tests/golden/` (and the man pages under `docs/`),
//! compared byte for byte, so a change of wording or layout shows in review. When a change is
//! intended, `TRAILSCOPE_BLESS=1 cargo test --test integration golden::` rewrites them; read the diff like code.

use std::fs;
use std::path::Path;

/// The command that rewrites every golden file, quoted in failure messages and the README.
pub const BLESS: &str = "TRAILSCOPE_BLESS=1 cargo test --test integration golden::";

/// Lines shown around the first difference.
const CONTEXT: usize = 3;
/// Changed lines shown of each side, at most.
const SHOWN: usize = 12;

/// True when this run rewrites golden files instead of comparing with them.
pub fn blessing() -> bool {
    std::env::var_os("TRAILSCOPE_BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Compares `actual` with the golden file at `path` (or writes it, when blessing). A mismatch
/// panics with the first differing lines, not two walls of text.
pub fn assert_golden(path: &Path, actual: &[u8]) {
    if blessing() {
        if fs::read(path).ok().as_deref() != Some(actual) {
            fs::create_dir_all(path.parent().expect("a parent")).expect("create golden folder");
            fs::write(path, actual).expect("write golden file");
        }
        return;
    }
    let expected = fs::read(path)
        .unwrap_or_else(|e| panic!("golden file {} ({e}); create it with `{BLESS}`", path.display()));
    if expected != actual {
        panic!(
            "{} differs from the output:\n{}\nIf the change is intended: `{BLESS}`",
            path.display(),
            diff(&expected, actual)
        );
    }
}

/// The first difference between two outputs: a few lines of context, then the `-` expected and
/// `+` actual lines up to where the two agree again (from the end), at most [`SHOWN`] of each.
/// Lines are shown through trailscope's own escaping: a hostile string that a regression let
/// through must not reach the developer's terminal by way of its own test.
pub fn diff(expected: &[u8], actual: &[u8]) -> String {
    let expected = String::from_utf8_lossy(expected);
    let actual = String::from_utf8_lossy(actual);
    let old: Vec<&str> = expected.split_inclusive('\n').collect();
    let new: Vec<&str> = actual.split_inclusive('\n').collect();
    let first = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let same_end =
        old[first..].iter().rev().zip(new[first..].iter().rev()).take_while(|(a, b)| a == b).count();
    let mut out =
        format!("first difference at line {} (expected {} lines, got {})\n", first + 1, old.len(), new.len());
    let show = |out: &mut String, mark: &str, line: &str| {
        let visible = trailscope::output::sanitize::escape(line.strip_suffix('\n').unwrap_or(line));
        let end = if line.ends_with('\n') { "" } else { "  (no newline at end)" };
        out.push_str(&format!("{mark} {visible}{end}\n"));
    };
    let changed = |out: &mut String, mark: &str, lines: &[&str]| {
        for line in lines.iter().take(SHOWN) {
            show(out, mark, line);
        }
        if lines.len() > SHOWN {
            out.push_str(&format!("{mark} ... {} more\n", lines.len() - SHOWN));
        }
    };
    for line in &old[first.saturating_sub(CONTEXT)..first] {
        show(&mut out, " ", line);
    }
    changed(&mut out, "-", &old[first..old.len() - same_end]);
    changed(&mut out, "+", &new[first..new.len() - same_end]);
    for line in old[old.len() - same_end..].iter().take(CONTEXT) {
        show(&mut out, " ", line);
    }
    out
}
