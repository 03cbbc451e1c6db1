//! Which records are handed on to be parsed: those whose bytes may hold one of a few needles
//! (the event stage says which, in one place: `event::CANDIDATE_NEEDLES`), decided exactly
//! whatever JSON escapes their writer used.
//!
//! A record is searched for each needle as it is written, and for `\u`. A needle is made of
//! characters that JSON can write only as themselves or as a `\u` escape (letters, digits, `-`,
//! `.`, …: not `"`, `\`, `/` or a control character, which have short escapes of their own), but
//! for a leading `"`: the opening quote of a string, which is never escaped (inside a string that
//! holds a record, a LookupEvents `CloudTrailEvent`, it is written `\"`, which holds it, or
//! `\u0022`). So a record that holds a needle's text, written any way, holds the needle itself
//! or a `\u` escape: a record that holds neither cannot be a candidate, and is only counted. A
//! record that holds a `\u` escape (CloudTrail writes few) is handed on, for the event stage to
//! decide by its parsed values.

use memchr::memmem;

/// What a record's bytes are searched for.
pub(crate) struct Needles {
    finders: Box<[memmem::Finder<'static>]>,
    /// `\u`, the escape that can write any character of a needle.
    escape: memmem::Finder<'static>,
}

impl Needles {
    /// Searches for each of `needles`. Panics if a needle could be written with an escape other
    /// than `\u` (see the module's documentation): the set is a constant of the event stage,
    /// and a test builds it.
    pub(crate) fn new(needles: &[&[u8]]) -> Needles {
        for needle in needles {
            assert!(!needle.is_empty(), "an empty needle");
            let rest = needle.strip_prefix(b"\"").unwrap_or(needle);
            assert!(
                !rest.is_empty()
                    && rest.iter().all(|&b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'/')),
                "{:?} could be written with escapes a search for it and for \\u would miss",
                String::from_utf8_lossy(needle)
            );
        }
        Needles {
            finders: needles.iter().map(|n| memmem::Finder::new(n).into_owned()).collect(),
            escape: memmem::Finder::new(b"\\u").into_owned(),
        }
    }

    /// Whether `bytes` may hold one of the needles, written any way JSON allows: they hold one
    /// as written, or a `\u` escape. `backslash` is `false` only when the caller knows that
    /// `bytes` hold no backslash (the structure scan tells, for nothing): then there is no escape
    /// to search for.
    #[inline]
    pub(crate) fn may_hold(&self, bytes: &[u8], backslash: bool) -> bool {
        self.finders.iter().any(|f| f.find(bytes).is_some())
            || (backslash && self.escape.find(bytes).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Needles {
        fn may_hold_any(&self, bytes: &[u8]) -> bool {
            let answer = self.may_hold(bytes, true);
            if !bytes.contains(&b'\\') {
                assert_eq!(self.may_hold(bytes, false), answer, "no backslash, no escape to search for");
            }
            answer
        }
    }

    const SET: &[&[u8]] = &[b"\"ec2-instance-connect.amazonaws.com", b"InstanceConnectEndpoint", b"eice-"];

    #[test]
    fn each_needle_of_a_set_is_found() {
        let needles = Needles::new(SET);
        for record in [
            r#"{"eventSource":"ec2-instance-connect.amazonaws.com"}"#,
            r#"{"eventName":"CreateInstanceConnectEndpoint"}"#,
            r#"{"eventName":"CreateTags","requestParameters":{"resourcesSet":{"items":[{"resourceId":"eice-0a1"}]}}}"#,
            // Inside a LookupEvents string, the opening quote is escaped, and still there.
            r#"{"CloudTrailEvent":"{\"eventSource\":\"ec2-instance-connect.amazonaws.com\"}"}"#,
        ] {
            assert!(needles.may_hold_any(record.as_bytes()), "{record}");
        }
        for record in [
            r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#,
            r#"{"eventSource":"ec2.amazonaws.com","eventName":"CreateTags","x":"eice"}"#,
            // The name without the quote a string opens with is not a value that is the name.
            r#"{"policy":"arn:aws:ec2-instance-connect.amazonaws.com"}"#,
            // Short escapes cannot spell a needle's characters: no need to look further.
            r#"{"a":"\/\"\\\n\t","b":"ec2-instance-connect.amazonaws.co"}"#,
        ] {
            assert!(!needles.may_hold_any(record.as_bytes()), "{record}");
        }
    }

    #[test]
    fn a_needle_written_with_escapes_is_handed_on() {
        let needles = Needles::new(SET);
        for record in [
            r#"{"eventSource":"ec2\u002dinstance-connect.amazonaws.com"}"#,
            r#"{"eventSource":"\u0065c2-instance-connect.amazonaws.com"}"#,
            r#"{"eventName":"CreateInstanceConnect\u0045ndpoint"}"#,
            r#"{"resourceId":"\u0065ice-1"}"#,
            // The opening quote of the value escaped one level down.
            r#"{"CloudTrailEvent":"{\"eventSource\":\u0022ec2-instance-connect.amazonaws.com\"}"}"#,
            // An escape anywhere: the event stage decides by parsed values.
            r#"{"eventSource":"s3.amazonaws.com","k":"\u00e9"}"#,
        ] {
            assert!(needles.may_hold_any(record.as_bytes()), "{record}");
        }
    }

    #[test]
    fn one_needle_works_alone_and_none_hands_on_only_escapes() {
        let one = Needles::new(&[b"eice-"]);
        assert!(one.may_hold_any(b"{\"id\":\"eice-1\"}"));
        assert!(!one.may_hold_any(b"{\"id\":\"i-1\"}"));
        let none = Needles::new(&[]);
        assert!(!none.may_hold_any(b"{\"id\":\"eice-1\"}"));
        assert!(none.may_hold_any(b"{\"id\":\"\\u0065\"}"));
    }

    #[test]
    fn needles_a_short_escape_could_write_are_refused() {
        for bad in [&b"a/b"[..], b"a\"b", b"a\\b", b"tab\t", b"", b"\"", b"two words"] {
            let refused = std::panic::catch_unwind(|| Needles::new(&[bad])).is_err();
            assert!(refused, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
