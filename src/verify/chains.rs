//! Step 3 of [`verify`](super::verify), check the chains: each digest's link to its previous one,
//! then the hours between consecutive digests of each hourly chain.

use std::collections::BTreeMap;

use super::digests::{Digests, Found};
use super::integrity::ChainBreakKind;
use super::place::{sibling_name, Place};
use super::{Findings, Scope};
use crate::layout::DigestName;
use crate::time::{Timestamp, MINUTE};

/// How far apart two digests may be (end of one, start of the next, or of the digest assumed
/// between them) before the time between them counts as hours without digest. Consecutive
/// digests are exactly contiguous; this only absorbs a digest that lasts longer than the next.
pub(super) const SLACK: i64 = 10 * MINUTE;

/// A chain: one trail's hourly digests for one account and source region (account, region,
/// trail, home region).
pub(super) type ChainKey = (String, String, String, String);

/// Step 3, check the chains: each digest's link to its previous one (hash, signature, presence),
/// then the hours between consecutive digests of each hourly chain.
pub(super) fn check_chains(digests: &Digests, scope: &Scope, findings: &mut Findings) {
    check_links(digests, scope, findings);
    check_hours(digests, scope, findings);
}

/// Links to the previous digest: its hash and signature as the next one records them, or its
/// absence.
pub(super) fn check_links(digests: &Digests, scope: &Scope, findings: &mut Findings) {
    let found = &digests.found;
    for f in found {
        let Some(digest) = f.digest else { continue };
        let Some(previous) = &digest.previous else { continue };
        match digests.find(&previous.key) {
            Some(p) => {
                let prior = &found[p];
                if let (Some(recorded), Some(actual)) = (previous.sha256, prior.input.sha256) {
                    if recorded != actual {
                        findings.contradicted[p] = true;
                        let detail = format!(
                            "{} records SHA-256 {recorded} for its previous digest {}, whose content hashes to {actual}",
                            f.input.object, prior.input.object
                        );
                        link_broken(
                            findings,
                            f,
                            prior,
                            digest.start,
                            ChainBreakKind::PreviousHashMismatch,
                            detail,
                        );
                    }
                }
                if let (Some(recorded), Some(actual)) = (&digest.previous_signature, &prior.input.signature) {
                    if !recorded.text().trim().eq_ignore_ascii_case(actual.text().trim()) {
                        let detail = format!(
                            "{} records another signature for its previous digest {} than the one read with it",
                            f.input.object, prior.input.object
                        );
                        let kind = ChainBreakKind::PreviousSignatureMismatch;
                        link_broken(findings, f, prior, digest.start, kind, detail);
                    }
                }
            }
            None if scope.holds(Place::of(&previous.key).day) => {
                let absent = sibling_name(&f.place, &previous.bucket, &previous.key);
                let ended = DigestName::parse(&previous.key).map_or(digest.start, |n| n.end);
                let mut brk = f.chain_break(
                    ChainBreakKind::PreviousDigestAbsent,
                    format!(
                        "{} names {absent} as its previous digest, which is not in the archive",
                        f.input.object
                    ),
                );
                brk.object = Some(absent);
                brk.next = Some(f.input.object.clone());
                brk.to = Some(ended.to_string());
                findings.add_break(ended, brk);
            }
            None => {}
        }
    }
}

/// The link from `next` back to `prior` does not hold: a break naming both, placed where `prior`
/// ends (else where `next` starts, `start`).
fn link_broken(
    findings: &mut Findings,
    next: &Found<'_>,
    prior: &Found<'_>,
    start: Timestamp,
    kind: ChainBreakKind,
    detail: String,
) {
    let mut brk = next.chain_break(kind, detail);
    brk.object = Some(prior.input.object.clone());
    brk.next = Some(next.input.object.clone());
    findings.add_break(prior.end().unwrap_or(start), brk);
}

/// Hours without digest, between consecutive digests of each hourly chain.
pub(super) fn check_hours(digests: &Digests, scope: &Scope, findings: &mut Findings) {
    let found = &digests.found;
    let mut chains: BTreeMap<ChainKey, Vec<usize>> = BTreeMap::new();
    for (i, f) in found.iter().enumerate() {
        if let (Some(name), Some(_)) = (&f.name, f.end()) {
            if !name.backfill {
                let key =
                    (name.account.clone(), name.region.clone(), name.trail.clone(), name.home_region.clone());
                chains.entry(key).or_default().push(i);
            }
        }
    }
    for members in chains.values_mut() {
        members.sort_by_key(|&i| (found[i].end(), found[i].input.object.clone()));
        for pair in members.windows(2) {
            let (a, b) = (&found[pair[0]], &found[pair[1]]);
            let (Some(a_end), Some(digest)) = (a.end(), b.digest) else { continue };
            let (kind, until, detail) = match &digest.previous {
                None => (
                    ChainBreakKind::ChainRestarted,
                    digest.start,
                    format!(
                        "no digest from {a_end} to {}: {} starts a new chain (validation or logging was turned off)",
                        digest.start, b.input.object
                    ),
                ),
                Some(previous) => {
                    if digests.find(&previous.key).is_some() || !scope.holds(Place::of(&previous.key).day) {
                        continue;
                    }
                    // The absent previous digest ends where this one starts and lasts as long.
                    let ended = DigestName::parse(&previous.key).map_or(digest.start, |n| n.end);
                    let period = (digest.end.millis() - digest.start.millis()).max(MINUTE);
                    let started = Timestamp(ended.millis() - period);
                    (
                        ChainBreakKind::NoDigest,
                        started,
                        format!(
                            "no digest from {a_end} to {started}, before the absent {}",
                            sibling_name(&b.place, &previous.bucket, &previous.key)
                        ),
                    )
                }
            };
            if until.millis() - a_end.millis() <= SLACK {
                continue;
            }
            let mut brk = b.chain_break(kind, detail);
            brk.next = Some(b.input.object.clone());
            brk.after = Some(a.input.object.clone());
            brk.from = Some(a_end.to_string());
            brk.to = Some(until.to_string());
            findings.add_break(a_end, brk);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::verify::digests::read_digests;
    use crate::verify::fixture::*;

    #[test]
    fn a_deleted_digest_is_one_chain_break_and_its_log_files_are_unlisted_for_that_reason() {
        let mut fixture = Fixture::new(7);
        let gone = fixture.digest_named(4);
        fixture.digests.remove(4);
        let integrity = fixture.verify();
        assert_eq!(kinds(&integrity), [ChainBreakKind::PreviousDigestAbsent], "{integrity:#?}");
        let brk = &integrity.chain_breaks[0];
        assert_eq!(brk.object.as_deref(), Some(gone.as_str()));
        assert_eq!(brk.next.as_deref(), Some(fixture.digest_named(4).as_str()));
        assert_eq!(brk.to.as_deref(), Some("2024-03-01T04:01:31Z"));
        assert_eq!(
            (brk.account.as_str(), brk.region.as_str(), brk.trail.as_str()),
            (ACCOUNT, REGION, "management")
        );
        let unlisted: Vec<(&str, UnlistedCause)> =
            integrity.unlisted.iter().map(|u| (u.object.as_str(), u.cause)).collect();
        assert_eq!(
            unlisted,
            [
                (fixture.log_named(6).as_str(), UnlistedCause::NoDigestForItsHour),
                (fixture.log_named(7).as_str(), UnlistedCause::NoDigestForItsHour),
            ]
        );
        assert_eq!(integrity.unlisted[0].delivered.as_deref(), Some("2024-03-01T03:16:00Z"));
        assert!(integrity.missing.is_empty() && integrity.modified.is_empty());
        assert_eq!(integrity.signatures.verified, 6);
    }

    /// The second of two deleted digests in a row, which aws-cli's validator does not report.
    #[test]
    fn two_deleted_digests_in_a_row_are_both_reported() {
        let mut fixture = Fixture::new(8);
        let second = fixture.digest_named(5);
        fixture.digests.drain(4..6);
        let integrity = fixture.verify();
        assert_eq!(
            kinds(&integrity),
            [ChainBreakKind::NoDigest, ChainBreakKind::PreviousDigestAbsent],
            "{integrity:#?}"
        );
        let (hole, absent) = (&integrity.chain_breaks[0], &integrity.chain_breaks[1]);
        assert_eq!(absent.object.as_deref(), Some(second.as_str()));
        assert_eq!(absent.next.as_deref(), Some(fixture.digest_named(4).as_str()));
        // The hour of the first deleted digest, exactly: from the end of the digest before it
        // to the start of the second.
        assert_eq!(
            (hole.from.as_deref(), hole.to.as_deref()),
            (Some("2024-03-01T03:01:31Z"), Some("2024-03-01T04:01:31Z"))
        );
        assert_eq!(hole.after.as_deref(), Some(fixture.digest_named(3).as_str()));
        assert!(hole.detail.contains(&second), "{}", hole.detail);
        assert_eq!(integrity.unlisted.len(), 4);
        assert!(integrity.unlisted.iter().all(|u| u.cause == UnlistedCause::NoDigestForItsHour));
    }

    #[test]
    fn three_deleted_digests_in_a_row_leave_a_two_hour_span() {
        let mut fixture = Fixture::new(9);
        fixture.digests.drain(4..7);
        let integrity = fixture.verify();
        assert_eq!(kinds(&integrity), [ChainBreakKind::NoDigest, ChainBreakKind::PreviousDigestAbsent]);
        let hole = &integrity.chain_breaks[0];
        assert_eq!(
            (hole.from.as_deref(), hole.to.as_deref()),
            (Some("2024-03-01T03:01:31Z"), Some("2024-03-01T05:01:31Z"))
        );
    }

    #[test]
    fn a_digest_cut_inside_its_json_is_unreadable_and_breaks_the_chain_hash() {
        let fixture = Fixture::new(6);
        let (mut digests, logs) = fixture.inputs();
        let json = &fixture.digests[3].json;
        digests[3] = DigestObject::from_content(fixture.digest_named(3), &json[..json.len() / 2], None);
        let integrity = verify(&digests, &logs, Some(&keys()), &Scope::default());
        assert_eq!(integrity.unreadable_digests.len(), 1);
        assert!(
            integrity.unreadable_digests[0].error.starts_with("not a CloudTrail digest"),
            "{integrity:#?}"
        );
        assert_eq!(kinds(&integrity), [ChainBreakKind::PreviousHashMismatch]);
        assert_eq!(integrity.chain_breaks[0].object.as_deref(), Some(fixture.digest_named(3).as_str()));
        assert_eq!(integrity.chain_breaks[0].next.as_deref(), Some(fixture.digest_named(4).as_str()));
    }

    #[test]
    fn hours_before_a_starting_digest_are_a_restarted_chain() {
        let mut fixture = Fixture::new(3);
        // Validation off for three hours, then on again: a new starting digest.
        let logs = vec![fixture.log(at(5, 20), "after the restart")];
        fixture.logs.extend(logs.iter().cloned());
        fixture.push_digest(at(5, 0), at(6, 0), None, &logs, false);
        let integrity = fixture.verify();
        assert_eq!(kinds(&integrity), [ChainBreakKind::ChainRestarted], "{integrity:#?}");
        let brk = &integrity.chain_breaks[0];
        assert_eq!(
            (brk.from.as_deref(), brk.to.as_deref()),
            (Some("2024-03-01T02:01:31Z"), Some("2024-03-01T05:01:31Z"))
        );
        assert_eq!(integrity.signatures.verified, 4);
    }

    #[test]
    fn backfill_digests_list_late_files_and_chain_on_their_own() {
        let mut fixture = Fixture::new(5);
        // A file the original digest of its hour left out, listed a day later by a backfill digest.
        let late = fixture.log(at(1, 40), "late");
        fixture.logs.push(late.clone());
        fixture.push_digest(at(1, 0), at(26, 0), None, std::slice::from_ref(&late), true);
        let integrity = fixture.verify();
        assert_eq!(integrity.problems(), 0, "{integrity:#?}");
        assert_eq!(integrity.backfill_digests, 1);
        assert_eq!(integrity.digests_read, 6);
        assert_eq!(integrity.log_files_verified, 9);
        assert_eq!(
            integrity.streams[0].to.as_deref(),
            Some("2024-03-01T04:01:31Z"),
            "backfill spans are not hours"
        );
    }

    #[test]
    fn a_range_still_reports_a_deleted_first_digest_of_its_first_day() {
        let mut fixture = Fixture::new(72);
        let first =
            fixture.digests.iter().position(|d| d.key.contains("/2024/03/02/")).expect("a digest of the 2nd");
        let name = fixture.digest_named(first);
        fixture.digests.remove(first);
        let scope = Scope {
            days: Some((Day::parse("2024-03-02").expect("day"), Day::parse("2024-03-03").expect("day"))),
        };
        let (digests, logs) = fixture.inputs_in(&scope);
        let integrity = verify(&digests, &logs, Some(&keys()), &scope);
        assert_eq!(kinds(&integrity), [ChainBreakKind::PreviousDigestAbsent], "{integrity:#?}");
        assert_eq!(integrity.chain_breaks[0].object.as_deref(), Some(name.as_str()));
    }

    #[test]
    fn checking_chains_alone_reports_both_of_two_deleted_digests() {
        let mut fixture = Fixture::new(8);
        fixture.digests.drain(4..6);
        let (digests, _) = fixture.inputs();
        let digests = read_digests(&digests);
        let mut findings = Findings::new(digests.found.len());
        check_chains(&digests, &Scope::default(), &mut findings);
        let kinds: BTreeSet<ChainBreakKind> = findings.breaks.iter().map(|(_, b)| b.kind).collect();
        assert_eq!(kinds, BTreeSet::from([ChainBreakKind::NoDigest, ChainBreakKind::PreviousDigestAbsent]));
        assert!(findings.contradicted.iter().all(|&c| !c), "an absent digest contradicts none read");
    }
}
