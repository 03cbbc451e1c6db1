//! Step 1 of [`verify`](super::verify), read the digests: each one once, with what its name and
//! content say, and whether it is where it says it was delivered.

use std::collections::BTreeSet;

use super::integrity::{ChainBreak, ChainBreakKind};
use super::place::{match_key, Index, Place};
use super::{Digest, DigestObject, Findings};
use crate::layout::DigestName;
use crate::time::{Timestamp, HOUR};

/// One digest object, with what is known of it.
pub(super) struct Found<'a> {
    pub(super) input: &'a DigestObject,
    /// Its position among the inputs (what a listing read apart from it names it by).
    pub(super) position: usize,
    pub(super) place: Place,
    /// Account, region, trail, end, backfill: from the content's `digestS3Object` when readable,
    /// else from the object's own name.
    pub(super) name: Option<DigestName>,
    pub(super) digest: Option<&'a Digest>,
}

impl Found<'_> {
    pub(super) fn account(&self) -> String {
        stream_of(self.name.as_ref(), self.digest, &self.place).0
    }

    pub(super) fn region(&self) -> String {
        stream_of(self.name.as_ref(), self.digest, &self.place).1
    }

    pub(super) fn trail(&self) -> String {
        self.name.as_ref().map(|n| n.trail.clone()).unwrap_or_default()
    }

    pub(super) fn backfill(&self) -> bool {
        self.name.as_ref().is_some_and(|n| n.backfill)
    }

    pub(super) fn end(&self) -> Option<Timestamp> {
        self.digest.map(|d| d.end).or_else(|| self.name.as_ref().map(|n| n.end))
    }

    pub(super) fn chain_break(&self, kind: ChainBreakKind, detail: String) -> ChainBreak {
        ChainBreak {
            kind,
            account: self.account(),
            region: self.region(),
            trail: self.trail(),
            backfill: self.backfill(),
            object: None,
            next: None,
            after: None,
            from: None,
            to: None,
            detail,
        }
    }

    /// The delivery times it covers; an unreadable digest is assumed to cover the hour before
    /// the end its name gives.
    pub(super) fn span(&self) -> Option<(Timestamp, Timestamp)> {
        match self.digest {
            Some(d) => Some((d.start, d.end)),
            None => self.name.as_ref().map(|n| (Timestamp(n.end.millis() - HOUR), n.end)),
        }
    }
}

/// The account and region a digest is reported under: its name's (from its content's
/// `digestS3Object` when readable, else its own), else its content's account and its folder's region.
/// [`Facts`](super::Facts) files a digest by the same.
pub(super) fn stream_of(
    name: Option<&DigestName>,
    digest: Option<&Digest>,
    place: &Place,
) -> (String, String) {
    let account =
        name.map(|n| n.account.clone()).or_else(|| digest.map(|d| d.account.clone())).unwrap_or_default();
    let region = name.map(|n| n.region.clone()).or_else(|| place.region.clone()).unwrap_or_default();
    (account, region)
}

/// The digests read, each layout path once, in name order, with an index to find them by the keys
/// other digests write.
pub(super) struct Digests<'a> {
    pub(super) found: Vec<Found<'a>>,
    pub(super) index: Index<'a>,
}

impl Digests<'_> {
    /// The digest a key (`previousDigestS3Object`) names, when it was read.
    pub(super) fn find(&self, key: &str) -> Option<usize> {
        self.index.find(key).into_iter().next()
    }
}

/// Step 1, read the digests: in name order, each layout path once (a second copy of the same
/// object, the same archive given twice, adds nothing), with what their names and content say.
pub(super) fn read_digests(digests: &[DigestObject]) -> Digests<'_> {
    let mut order: Vec<(usize, &DigestObject)> = digests.iter().enumerate().collect();
    order.sort_by(|a, b| a.1.object.cmp(&b.1.object));
    let mut seen = BTreeSet::new();
    let found: Vec<Found> = order
        .into_iter()
        .filter_map(|(position, input)| {
            if !seen.insert(match_key(&input.object)) {
                return None;
            }
            let place = Place::of(&input.object);
            let digest = input.digest.as_ref().ok();
            let name =
                digest.and_then(|d| DigestName::parse(&d.key)).or_else(|| DigestName::parse(&input.object));
            Some(Found { input, position, place, name, digest })
        })
        .collect();
    let index = Index::new(found.iter().map(|f| match_key(&f.input.object)));
    Digests { found, index }
}

/// Part of step 1: a digest found elsewhere than it says it was delivered is `moved`.
pub(super) fn check_delivery(digests: &Digests, findings: &mut Findings) {
    for (i, f) in digests.found.iter().enumerate() {
        let Some(digest) = f.digest else { continue };
        let claimed = Place::of(&digest.key);
        let same = match (&f.place.tail, &claimed.tail) {
            (Some(here), Some(there)) => here == there,
            _ => f.place.file == claimed.file,
        };
        if !same {
            findings.contradicted[i] = true;
            let mut brk = f.chain_break(
                ChainBreakKind::Moved,
                format!("{} says it was delivered to {}/{}", f.input.object, digest.bucket, digest.key),
            );
            brk.object = Some(f.input.object.clone());
            findings.add_break(digest.end, brk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::fixture::*;

    #[test]
    fn reading_digests_keeps_each_layout_path_once_in_name_order() {
        let (mut digests, _) = Fixture::new(3).inputs();
        digests.reverse();
        digests
            .push(DigestObject { object: digests[0].object.replace(ROOT, "/copy/"), ..digests[0].clone() });
        let read = read_digests(&digests);
        let names: Vec<&str> = read.found.iter().map(|f| f.input.object.as_str()).collect();
        assert_eq!(names.len(), 3, "the copy is the same digest: {names:?}");
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        let fixture = Fixture::new(3);
        let at = read.find(&fixture.digests[1].key).expect("found by the key a digest writes");
        assert_eq!(read.found[at].input.object, fixture.digest_named(1));
        assert!(names[0].starts_with("/copy/"), "the first copy by name is kept: {names:?}");
    }

    #[test]
    fn a_digest_copied_over_another_is_moved_and_breaks_the_chain() {
        let mut fixture = Fixture::new(5);
        fixture.digests[3].json = fixture.digests[1].json.clone();
        fixture.digests[3].signature = fixture.digests[1].signature.clone();
        let integrity = fixture.verify();
        assert!(kinds(&integrity).contains(&ChainBreakKind::Moved), "{integrity:#?}");
        assert!(kinds(&integrity).contains(&ChainBreakKind::PreviousHashMismatch));
        assert!(integrity.digests_verified < integrity.digests_read);
    }
}
