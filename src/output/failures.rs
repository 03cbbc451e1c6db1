//! The unreadable objects grouped by their typed [`Reason`], in one place for every output: the
//! warnings on stderr ([`lines`]), the report's table of them (text, Markdown, HTML) and JSON's
//! `failure_reasons` ([`counts`]). A reason with few objects is shown object by object, with its
//! whole line (it helps to see which record of which object is damaged); one with many is shown
//! once, with a count and a few names, so a storm of ten thousand refusals stays a few lines.
//! The archived objects are counted by storage class the same way.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::error::{ArchivedObject, ObjectError, Reason};

/// Failures with one reason (one [`Reason::group`]): how many, and the objects (in name order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group<'a> {
    /// The reason's group, as printed and counted.
    pub(crate) reason: Cow<'a, str>,
    pub(crate) failures: Vec<&'a ObjectError>,
}

/// A reason with more failures than this is shown as one line (its count and a few names);
/// with up to this many, each failure is shown with its whole line.
pub(crate) const LISTED_PER_REASON: usize = 20;
/// Names a grouped line shows before "and N more".
pub(crate) const NAMES_PER_GROUP: usize = 3;

/// `failures` by reason, most frequent first (then by reason), each group in name order.
pub(crate) fn group(failures: &[ObjectError]) -> Vec<Group<'_>> {
    let mut groups: BTreeMap<Cow<'_, str>, Vec<&ObjectError>> = BTreeMap::new();
    for failure in failures {
        groups.entry(failure.reason.group()).or_default().push(failure);
    }
    let mut groups: Vec<Group<'_>> =
        groups.into_iter().map(|(reason, failures)| Group { reason, failures }).collect();
    for group in &mut groups {
        group.failures.sort();
    }
    groups.sort_by(|a, b| b.failures.len().cmp(&a.failures.len()).then(a.reason.cmp(&b.reason)));
    groups
}

/// The failures shown one by one (those of reasons with at most [`LISTED_PER_REASON`], in name
/// order), and the groups shown as one line each.
pub(crate) fn split(failures: &[ObjectError]) -> (Vec<&ObjectError>, Vec<Group<'_>>) {
    let (few, many): (Vec<_>, Vec<_>) =
        group(failures).into_iter().partition(|g| g.failures.len() <= LISTED_PER_REASON);
    let mut few: Vec<&ObjectError> = few.into_iter().flat_map(|g| g.failures).collect();
    few.sort();
    (few, many)
}

/// Failures counted by reason, for JSON's `failure_reasons`.
pub(crate) fn counts(failures: &[ObjectError]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for failure in failures {
        *counts.entry(failure.reason.group().into_owned()).or_insert(0) += 1;
    }
    counts
}

/// The warning lines that say what could not be read (unescaped: the caller escapes them): per
/// object for reasons with few objects, one per reason for the rest.
pub(crate) fn lines(failures: &[ObjectError]) -> Vec<String> {
    let (few, many) = split(failures);
    let mut lines: Vec<String> = few.iter().map(|f| format!("{}: {}", f.object, f.reason)).collect();
    for group in many {
        let names: Vec<&str> = group.failures.iter().map(|f| f.object.as_str()).collect();
        lines.push(format!("{} objects: {}: {}", thousands(names.len()), group.reason, some_names(&names)));
    }
    lines
}

/// The objects `--state` read before that changed since, as warnings grouped as failures are.
pub(crate) fn changed(names: &[String]) -> Vec<ObjectError> {
    names.iter().map(|name| ObjectError { object: name.clone(), reason: Reason::ChangedSince }).collect()
}

/// `2 GLACIER, 1 DEEP_ARCHIVE`: the archived objects counted by storage class.
pub(crate) fn archive_classes(archived: &[ArchivedObject]) -> String {
    let mut classes = BTreeMap::<&str, usize>::new();
    for object in archived {
        *classes.entry(&object.storage_class).or_default() += 1;
    }
    classes.iter().map(|(class, n)| format!("{} {class}", thousands(*n))).collect::<Vec<_>>().join(", ")
}

/// `n` with thousands separators: `12,345`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The first names of a large group and how many more: `a, b, c and 12,345 more`.
pub(crate) fn some_names(names: &[&str]) -> String {
    let shown = names.len().min(NAMES_PER_GROUP);
    let mut text = names[..shown].join(", ");
    if names.len() > shown {
        text.push_str(&format!(" and {} more", thousands(names.len() - shown)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Io;

    fn failure(object: &str, reason: Reason) -> ObjectError {
        ObjectError { object: object.into(), reason }
    }

    fn denied(message: &str) -> Reason {
        Reason::Fetch { code: "AccessDenied".into(), detail: Some(message.into()) }
    }

    #[test]
    fn groups_are_by_reason_most_frequent_first_names_in_order() {
        let failures = [
            failure("c", Reason::Empty),
            failure("b", denied("User: arn:aws:iam::111122223333:user/b is not authorized")),
            failure("a", denied("User: arn:aws:iam::111122223333:user/a is not authorized")),
        ];
        let groups = group(&failures);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].reason, "cannot download: AccessDenied");
        assert_eq!(groups[0].failures.iter().map(|f| f.object.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(groups[1].reason, "empty object");
        let counts = counts(&failures);
        assert_eq!(counts.get("empty object"), Some(&1));
        assert_eq!(counts.get("cannot download: AccessDenied"), Some(&2));
    }

    #[test]
    fn what_is_particular_to_an_object_does_not_split_its_group() {
        let failures: Vec<ObjectError> = (0..3)
            .flat_map(|i| {
                [
                    failure(
                        &format!("r{i}"),
                        Reason::Read(Io { text: "Permission denied".into(), os: Some(13 + i) }),
                    ),
                    failure(
                        &format!("j{i}"),
                        Reason::Json { at: Some(format!("Records[{i}]")), detail: format!("d{i}") },
                    ),
                    failure(
                        &format!("t{i}"),
                        Reason::Interrupted { attempts: 5, last: format!("reset {i}") },
                    ),
                    failure(&format!("s{i}"), Reason::shape_of("a residue line", format!("line {i}"))),
                ]
            })
            .collect();
        let counts = counts(&failures);
        assert_eq!(
            counts.into_iter().collect::<Vec<_>>(),
            [
                ("a residue line".to_owned(), 3),
                ("cannot download: interrupted 5 times".to_owned(), 3),
                ("cannot read: Permission denied".to_owned(), 3),
                ("invalid JSON".to_owned(), 3),
            ]
        );
        // Another number of attempts, another limit: another group, as the line says.
        let other = [
            failure("a", Reason::Interrupted { attempts: 4, last: "reset".into() }),
            failure("b", Reason::TooLarge { limit: 1 }),
            failure("c", Reason::TooLarge { limit: 2 }),
        ];
        assert_eq!(group(&other).len(), 3);
    }

    #[test]
    fn a_reason_with_many_objects_is_one_line_and_few_are_listed_whole() {
        let mut failures: Vec<ObjectError> =
            (0..LISTED_PER_REASON + 1).map(|i| failure(&format!("s3://b/{i:02}"), denied("no"))).collect();
        failures.push(failure("s3://b/x", Reason::Truncated));
        failures.extend(failure_pair("s3://b/y"));
        failures.sort();
        let (few, many) = split(&failures);
        assert_eq!(
            few.iter().map(|f| f.object.as_str()).collect::<Vec<_>>(),
            ["s3://b/x", "s3://b/y", "s3://b/y"]
        );
        assert_eq!(many.len(), 1);
        assert_eq!(
            lines(&failures),
            [
                "s3://b/x: truncated gzip stream (unexpected end of data)",
                "s3://b/y: cannot read: gone",
                "s3://b/y: empty object",
                "21 objects: cannot download: AccessDenied: s3://b/00, s3://b/01, s3://b/02 and 18 more",
            ]
        );
    }

    fn failure_pair(object: &str) -> [ObjectError; 2] {
        [failure(object, Reason::Empty), failure(object, Reason::Read(Io { text: "gone".into(), os: None }))]
    }

    #[test]
    fn changed_objects_warn_as_one_group() {
        let names: Vec<String> = (0..30).map(|i| format!("o{i:02}")).collect();
        assert_eq!(
            lines(&changed(&names)),
            ["30 objects: changed since an earlier run read it: o00, o01, o02 and 27 more"]
        );
        assert_eq!(
            lines(&changed(&names[..1])),
            ["o00: changed since an earlier run read it (size or ETag or modification time): read again; \
              a delivered log file should never change"]
        );
    }

    #[test]
    fn large_groups_name_a_few_and_count_the_rest() {
        assert_eq!(thousands(12345), "12,345");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        let names: Vec<String> = (0..12348).map(|i| format!("o{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(some_names(&names), "o0, o1, o2 and 12,345 more");
        assert_eq!(some_names(&names[..2]), "o0, o1");
    }
}
