//! Step 5 of [`verify`](super::verify), summarise: counts, what the digests of each account and
//! region cover, the log files no digest lists with why, every list sorted.

use std::collections::BTreeMap;

use super::digests::{Digests, Found};
use super::integrity::{Integrity, Signatures, StreamIntegrity, Unlisted, UnlistedCause, UnreadableDigest};
use super::logs::Matched;
use super::place::{log_identity, Place};
use super::{Findings, LogObject, Scope};
use crate::time::{Timestamp, HOUR, MINUTE};

/// A log file delivered less than this after the end of the last digest of its account and
/// region may be listed by a digest not delivered yet: digests come every hour, for the hour
/// before.
pub(super) const AWAITING: i64 = 2 * HOUR;

/// Step 5, summarise: counts, per account and region what the digests cover, the log files no
/// digest lists with why, and every list sorted.
pub(super) fn summarise(
    digests: &Digests,
    logs: &[LogObject],
    matched: Matched,
    findings: Findings,
    signatures: Signatures,
    scope: &Scope,
) -> Integrity {
    let mut summary = Summary::new(digests, findings, signatures);
    summary.judge(logs, matched, scope);
    summary.finish()
}

/// Summarising, with the log files judged as they come: all at once ([`summarise`]) or a part at
/// a time, each part with what matching found of it. The order they come in changes nothing.
pub(super) struct Summary<'d, 'a> {
    found: &'d [Found<'a>],
    out: Integrity,
    streams: BTreeMap<StreamKey, StreamIntegrity>,
    coverage: BTreeMap<StreamKey, Vec<Span>>,
    breaks: Vec<(super::BreakOrder, super::ChainBreak)>,
}

impl<'d, 'a> Summary<'d, 'a> {
    /// What the digests say: counts, streams, what they cover.
    pub(super) fn new(digests: &'d Digests<'a>, findings: Findings, signatures: Signatures) -> Self {
        let found = &digests.found;
        let mut out = Integrity { signatures, ..Integrity::default() };
        count_digests(found, &findings, &mut out);
        let (streams, coverage) = streams_and_coverage(found);
        Summary { found, out, streams, coverage, breaks: findings.breaks }
    }

    /// Judges these log files by what matching found of them.
    pub(super) fn judge(&mut self, logs: &[LogObject], matched: Matched, scope: &Scope) {
        judge_logs(logs, matched, self.found, &self.coverage, scope, &mut self.streams, &mut self.out);
    }

    /// Every list sorted.
    pub(super) fn finish(self) -> Integrity {
        let mut out = self.out;
        out.streams = self.streams.into_values().collect();
        for stream in &mut out.streams {
            stream.trails.sort();
        }
        let mut breaks = self.breaks;
        breaks.sort_by(|a, b| a.0.cmp(&b.0));
        out.chain_breaks = breaks.into_iter().map(|(_, brk)| brk).collect();
        // Each missing file is named once, by the listings of its file name.
        out.missing.sort_by(|a, b| a.object.cmp(&b.object));
        out.modified.sort();
        out.unlisted.sort();
        out.unreadable_digests.sort();
        out
    }
}

/// An account and a region.
type StreamKey = (String, String);

/// The digests read, backfill and verified (nothing contradicts them), and the unreadable ones.
fn count_digests(found: &[Found], findings: &Findings, out: &mut Integrity) {
    for f in found {
        if f.digest.is_none() {
            let error = f.input.digest.as_ref().err().cloned().unwrap_or_default();
            out.unreadable_digests.push(UnreadableDigest {
                object: f.input.object.clone(),
                account: f.name.as_ref().map(|n| n.account.clone()).or(f.place.account.clone()),
                region: f.name.as_ref().map(|n| n.region.clone()).or(f.place.region.clone()),
                error,
            });
            continue;
        }
        out.digests_read += 1;
        out.backfill_digests += u64::from(f.backfill());
    }
    out.digests_verified =
        found.iter().enumerate().filter(|(i, f)| f.digest.is_some() && !findings.contradicted[*i]).count()
            as u64;
}

/// Per account and region: the stream's summary so far (digests, trails, the times the digests
/// read cover), and the spans its hourly digests cover, sorted, to explain unlisted files by.
fn streams_and_coverage(
    found: &[Found],
) -> (BTreeMap<StreamKey, StreamIntegrity>, BTreeMap<StreamKey, Vec<Span>>) {
    let mut streams: BTreeMap<StreamKey, StreamIntegrity> = BTreeMap::new();
    let mut coverage: BTreeMap<StreamKey, Vec<Span>> = BTreeMap::new();
    for (i, f) in found.iter().enumerate() {
        let key = (f.account(), f.region());
        let stream = streams.entry(key.clone()).or_insert_with(|| StreamIntegrity::new(&key));
        if f.digest.is_some() {
            stream.digests += 1;
            let trail = f.trail();
            if !stream.trails.contains(&trail) {
                stream.trails.push(trail);
            }
        }
        if let (Some((start, end)), false) = (f.span(), f.backfill()) {
            coverage.entry(key).or_default().push((start, end, i));
        }
    }
    for spans in coverage.values_mut() {
        spans.sort();
    }
    for (key, spans) in &coverage {
        if let Some(stream) = streams.get_mut(key) {
            let read: Vec<&Span> = spans.iter().filter(|(_, _, i)| found[*i].digest.is_some()).collect();
            stream.from = read.iter().map(|s| s.0).min().map(|t| t.to_string());
            stream.to = read.iter().map(|s| s.1).max().map(|t| t.to_string());
        }
    }
    (streams, coverage)
}

/// Each log file, as matching found it: verified, modified, or listed by no digest (with why),
/// counted in its stream. Missing files are matching's list as it is.
fn judge_logs(
    logs: &[LogObject],
    mut matched: Matched,
    found: &[Found],
    coverage: &BTreeMap<StreamKey, Vec<Span>>,
    scope: &Scope,
    streams: &mut BTreeMap<StreamKey, StreamIntegrity>,
    out: &mut Integrity,
) {
    out.missing.extend(matched.missing);
    for (h, log) in logs.iter().enumerate() {
        let place = Place::of(&log.object);
        let (account, region, delivered) = log_identity(&place);
        let key = (account.clone(), region.clone());
        if let Some(modified) = matched.mismatch.remove(&h) {
            out.modified.push(modified);
        } else if matched.listed[h] {
            out.log_files_verified += 1;
            streams
                .entry(key)
                .or_insert_with(|| StreamIntegrity::new(&(account, region)))
                .log_files_verified += 1;
            continue;
        }
        if matched.listed[h] {
            continue;
        }
        let spans = coverage.get(&key).map(Vec::as_slice).unwrap_or_default();
        let (cause, digest) = unlisted_cause(delivered, spans, found);
        let after_last = matches!(cause, UnlistedCause::AfterLastDigest | UnlistedCause::AwaitingDigest);
        if after_last && scope.last_day().is_some() && place.day == scope.last_day() {
            continue;
        }
        streams.entry(key).or_insert_with(|| StreamIntegrity::new(&(account.clone(), region.clone())));
        out.unlisted.push(Unlisted {
            object: log.object.clone(),
            account,
            region,
            delivered: delivered.map(|t| t.to_string()),
            first_event: log.events.map(|(first, _)| first.to_string()),
            last_event: log.events.map(|(_, last)| last.to_string()),
            cause,
            digest,
        });
    }
}

/// The delivery times a digest covers, and which digest (an index into the found ones).
pub(super) type Span = (Timestamp, Timestamp, usize);

/// Why no digest lists a file delivered at `delivered` (a minute), given the spans of the hourly
/// digests of its account and region, sorted.
pub(super) fn unlisted_cause(
    delivered: Option<Timestamp>,
    spans: &[Span],
    found: &[Found],
) -> (UnlistedCause, Option<String>) {
    if spans.is_empty() {
        return (UnlistedCause::NoDigests, None);
    }
    let Some(t) = delivered.map(Timestamp::millis) else {
        return (UnlistedCause::UnknownDeliveryTime, None);
    };
    // The name gives the minute: the file was delivered within [t, t + 1 min).
    let covering = |readable: bool| {
        spans.iter().find(|(start, end, i)| {
            found[*i].digest.is_some() == readable && t < end.millis() && t + MINUTE > start.millis()
        })
    };
    if let Some((_, _, i)) = covering(true) {
        return (UnlistedCause::NotListed, Some(found[*i].input.object.clone()));
    }
    if let Some((_, _, i)) = covering(false) {
        return (UnlistedCause::DigestUnreadable, Some(found[*i].input.object.clone()));
    }
    let first = spans.iter().map(|s| s.0.millis()).min().unwrap_or(i64::MIN);
    let last = spans.iter().map(|s| s.1.millis()).max().unwrap_or(i64::MAX);
    let cause = if t + MINUTE <= first {
        UnlistedCause::BeforeFirstDigest
    } else if t >= last + AWAITING {
        UnlistedCause::AfterLastDigest
    } else if t >= last {
        UnlistedCause::AwaitingDigest
    } else {
        UnlistedCause::NoDigestForItsHour
    };
    (cause, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::digests::read_digests;
    use crate::verify::fixture::*;
    use crate::verify::logs::match_logs;

    #[test]
    fn a_truncated_digest_is_unreadable_and_its_log_files_are_unlisted_for_that_reason() {
        let fixture = Fixture::new(6);
        let (mut digests, logs) = fixture.inputs();
        // Cut inside the gzip stream: the reading cannot inflate it, there is no content hash.
        digests[3] = DigestObject::unreadable(fixture.digest_named(3), "truncated gzip stream".into());
        let integrity = verify(&digests, &logs, Some(&keys()), &Scope::default());
        assert_eq!(
            integrity.unreadable_digests,
            [UnreadableDigest {
                object: fixture.digest_named(3),
                account: Some(ACCOUNT.into()),
                region: Some(REGION.into()),
                error: "truncated gzip stream".into(),
            }]
        );
        assert!(integrity.chain_breaks.is_empty(), "the link into it is taken on trust: {integrity:#?}");
        let causes: Vec<(&str, &Option<String>)> =
            integrity.unlisted.iter().map(|u| (u.object.as_str(), &u.digest)).collect();
        let unreadable = Some(fixture.digest_named(3));
        assert_eq!(
            causes,
            [(fixture.log_named(4).as_str(), &unreadable), (fixture.log_named(5).as_str(), &unreadable)]
        );
        assert!(integrity.unlisted.iter().all(|u| u.cause == UnlistedCause::DigestUnreadable));
        assert_eq!(integrity.problems(), 3);
        assert_eq!(integrity.digests_read, 5);
    }

    #[test]
    fn a_log_file_no_digest_lists_is_unlisted_with_the_digest_of_its_hour() {
        let mut fixture = Fixture::new(6);
        let added = fixture.log(at(3, 50), "forged");
        fixture.logs.push(added);
        let integrity = fixture.verify();
        assert_eq!(integrity.problems(), 1, "{integrity:#?}");
        let unlisted = &integrity.unlisted[0];
        assert_eq!(unlisted.object, fixture.log_named(fixture.logs.len() - 1));
        assert_eq!(unlisted.cause, UnlistedCause::NotListed);
        assert_eq!(unlisted.digest.as_deref(), Some(fixture.digest_named(4).as_str()));
        assert_eq!(unlisted.delivered.as_deref(), Some("2024-03-01T03:51:00Z"));
        assert_eq!(unlisted.first_event.as_deref(), Some("2024-03-01T03:51:31Z"));
    }

    #[test]
    fn log_files_after_the_last_digest_await_it_for_two_hours_then_are_problems() {
        let mut fixture = Fixture::new(4);
        let soon = fixture.log(at(3, 30), "soon");
        let late = fixture.log(at(6, 0), "late");
        let early = fixture.log(at(-3, 0), "early");
        fixture.logs.extend([soon, late, early]);
        let integrity = fixture.verify();
        let cause_of = |i: usize| {
            let name = fixture.log_named(i);
            integrity.unlisted.iter().find(|u| u.object == name).map(|u| u.cause)
        };
        let n = fixture.logs.len();
        assert_eq!(cause_of(n - 3), Some(UnlistedCause::AwaitingDigest));
        assert_eq!(cause_of(n - 2), Some(UnlistedCause::AfterLastDigest));
        assert_eq!(cause_of(n - 1), Some(UnlistedCause::BeforeFirstDigest));
        assert_eq!(integrity.unlisted.len(), 3);
        assert_eq!(integrity.problems(), 2, "awaiting its digest is not a problem");
    }

    #[test]
    fn summarising_alone_counts_verified_files_and_explains_unlisted_ones() {
        let mut fixture = Fixture::new(4);
        let added = fixture.log(at(1, 50), "forged");
        fixture.logs.push(added);
        let (digests, logs) = fixture.inputs();
        let digests = read_digests(&digests);
        let matched = match_logs(&digests, &logs, &Scope::default());
        let findings = Findings::new(digests.found.len());
        let integrity =
            summarise(&digests, &logs, matched, findings, Signatures::default(), &Scope::default());
        assert_eq!(
            (integrity.digests_read, integrity.digests_verified, integrity.log_files_verified),
            (4, 4, 6)
        );
        assert_eq!(integrity.unlisted.len(), 1);
        assert_eq!(integrity.unlisted[0].cause, UnlistedCause::NotListed);
        assert_eq!(integrity.streams[0].log_files_verified, 6);
    }
}
