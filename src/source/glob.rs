//! `--include GLOB`: file names read besides the CloudTrail ones (`*.json`, `*.json.gz`,
//! `*.jsonl`, `*.jsonl.gz`), for exports named otherwise (Elastic's test files are JSON named
//! `*.log`). A glob matches the file name only, the last part of a path or key, so it means the
//! same in a folder and under an S3 prefix (folders are walked whole anyway).
//!
//! The syntax is the shell's, without braces: `*` any run of characters, `?` any one character,
//! `[abc]` one of a set, `[a-z]` one of a range, `[!a-z]` (or `[^a-z]`) one not in it, and `\`
//! takes the next character as itself. Matching is by character and case-sensitive.

use std::fmt;
use std::str::FromStr;

/// One `--include` pattern, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Char(char),
    /// `?`
    Any,
    /// `*`
    Star,
    /// `[...]`: the ranges (a single character is a range of one), and whether negated.
    Set {
        ranges: Vec<(char, char)>,
        negated: bool,
    },
}

impl FromStr for Glob {
    type Err = String;

    fn from_str(text: &str) -> Result<Glob, String> {
        if text.is_empty() {
            return Err("an empty pattern matches no file name".into());
        }
        if text.contains('/') {
            return Err(format!(
                "{text:?}: a pattern matches file names, not paths (folders are read recursively): \
                 leave out the folders, e.g. --include '*.log'"
            ));
        }
        let mut parts = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            parts.push(match c {
                '*' => {
                    // `**` is `*`: a name has no `/` for it to cross.
                    while chars.peek() == Some(&'*') {
                        chars.next();
                    }
                    Part::Star
                }
                '?' => Part::Any,
                '\\' => Part::Char(chars.next().ok_or_else(|| format!("{text:?}: ends with a lone \\"))?),
                '[' => {
                    let negated = chars.next_if(|c| matches!(c, '!' | '^')).is_some();
                    let mut ranges = Vec::new();
                    // A `]` first in the set is one of its characters, as in the shell.
                    let mut first = true;
                    loop {
                        let Some(c) = chars.next() else {
                            return Err(format!("{text:?}: a [ without its ]"));
                        };
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        let low = if c == '\\' { chars.next().unwrap_or('\\') } else { c };
                        let high = if chars.peek() == Some(&'-') {
                            let mut ahead = chars.clone();
                            ahead.next();
                            match ahead.peek() {
                                Some(']') | None => low,
                                Some(_) => {
                                    chars.next();
                                    let high = chars.next().unwrap_or(low);
                                    if high == '\\' {
                                        chars.next().unwrap_or('\\')
                                    } else {
                                        high
                                    }
                                }
                            }
                        } else {
                            low
                        };
                        if high < low {
                            return Err(format!("{text:?}: the range {low}-{high} is backwards"));
                        }
                        ranges.push((low, high));
                    }
                    Part::Set { ranges, negated }
                }
                c => Part::Char(c),
            });
        }
        Ok(Glob { text: text.to_owned(), parts })
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Glob {
    /// Whether the last part of `path` (after its last `/` or `\`) matches.
    pub(crate) fn matches_name_of(&self, path: &str) -> bool {
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let name: Vec<char> = name.chars().collect();
        matches(&self.parts, &name)
    }
}

/// Iterative wildcard matching with one backtrack point (the last `*`): linear in practice and
/// never exponential, whatever the pattern.
fn matches(parts: &[Part], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match parts.get(p) {
            Some(Part::Star) => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(part) if one(part, name[n]) => {
                p += 1;
                n += 1;
                continue;
            }
            _ => {}
        }
        match star {
            // Let the last `*` take one more character, and try again from there.
            Some((sp, sn)) => {
                star = Some((sp, sn + 1));
                p = sp + 1;
                n = sn + 1;
            }
            None => return false,
        }
    }
    parts[p..].iter().all(|part| *part == Part::Star)
}

fn one(part: &Part, c: char) -> bool {
    match part {
        Part::Char(expected) => *expected == c,
        Part::Any => true,
        Part::Star => false,
        Part::Set { ranges, negated } => {
            ranges.iter().any(|&(low, high)| (low..=high).contains(&c)) != *negated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, path: &str) -> bool {
        pattern.parse::<Glob>().expect("a pattern").matches_name_of(path)
    }

    #[test]
    fn stars_and_question_marks_match_within_the_file_name() {
        assert!(matches("*.log", "elastic/cloudtrail/test-cloudtrail.log"));
        assert!(matches("*.log", ".log"));
        assert!(!matches("*.log", "x.log.gz"));
        assert!(!matches("*.log", "x.LOG"), "case-sensitive");
        assert!(matches("*.log*", "x.log.gz"));
        assert!(matches("events-??.txt", "events-01.txt"));
        assert!(!matches("events-??.txt", "events-1.txt"));
        assert!(matches("*a*b*c", "xxaxxbxxbxxc"));
        assert!(matches("**", "anything"));
        assert!(matches("export", "s3/prefix/export"));
        assert!(!matches("export", "export.json"));
        assert!(matches("x.log", "C:\\logs\\x.log"), "the name after a backslash too");
    }

    #[test]
    fn sets_ranges_negation_and_quoting() {
        assert!(matches("log.[0-9]", "log.7"));
        assert!(!matches("log.[0-9]", "log.x"));
        assert!(matches("log.[!0-9]", "log.x"));
        assert!(matches("log.[^0-9]", "log.x"));
        assert!(matches("[]a]", "]"));
        assert!(matches("[a-]", "-"));
        assert!(matches("\\*.log", "*.log"));
        assert!(!matches("\\*.log", "x.log"));
        assert!(matches("[\\]]", "]"));
    }

    #[test]
    fn patterns_that_cannot_mean_a_file_name_are_refused() {
        for (pattern, expected) in [
            ("", "empty"),
            ("logs/*.log", "file names, not paths"),
            ("[abc", "without its ]"),
            ("x\\", "lone"),
            ("[z-a]", "backwards"),
        ] {
            let err = pattern.parse::<Glob>().expect_err(pattern);
            assert!(err.contains(expected), "{pattern:?}: {err}");
        }
    }

    #[test]
    fn long_names_against_many_stars_stay_fast() {
        let name = "a".repeat(10_000);
        assert!(!matches("*a*a*a*a*a*a*a*b", &name));
    }
}
