//! The integrity report: what verification says about an archive, the schema the JSON report's
//! `integrity` object and the text report's section are made from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What verification says about an archive. Lists are sorted; the same inputs give the same
/// value whatever order they came in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integrity {
    /// Digests read and parsed (backfill digests included).
    pub digests_read: u64,
    /// Of those, the ones nothing speaks against: signature not failed, content as the next
    /// digest recorded it, found where they say they were delivered.
    pub digests_verified: u64,
    /// Of the digests read, how many are backfill digests.
    pub backfill_digests: u64,
    /// Log files whose SHA-256 equals what every digest listing them recorded.
    pub log_files_verified: u64,
    pub signatures: Signatures,
    /// Per account and region.
    pub streams: Vec<StreamIntegrity>,
    /// Listed by a digest, absent from the archive.
    pub missing: Vec<Missing>,
    /// Present, with another SHA-256 than a digest recorded.
    pub modified: Vec<Modified>,
    /// Present, listed by no digest read.
    pub unlisted: Vec<Unlisted>,
    pub chain_breaks: Vec<ChainBreak>,
    pub unreadable_digests: Vec<UnreadableDigest>,
}

impl Integrity {
    /// Problems found: entries of every list (but unlisted files awaiting their digest) and
    /// failed signatures. Unchecked signatures are not problems; the report says why they were
    /// not checked.
    pub fn problems(&self) -> usize {
        self.missing.len()
            + self.modified.len()
            + self.unlisted.iter().filter(|u| u.cause.is_problem()).count()
            + self.chain_breaks.len()
            + self.unreadable_digests.len()
            + self.signatures.failures.len()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signatures {
    pub verified: u64,
    pub failed: u64,
    pub unchecked: u64,
    pub failures: Vec<SignatureFailure>,
    /// Why signatures were not checked, with how many digests each.
    pub unchecked_reasons: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SignatureFailure {
    pub object: String,
    pub account: String,
    pub region: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamIntegrity {
    pub account: String,
    pub region: String,
    /// Trails whose digests were read (a backfill chain counts under its trail).
    pub trails: Vec<String>,
    pub digests: u64,
    pub log_files_verified: u64,
    /// The delivery times the digests read cover, from the earliest start to the latest end.
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Missing {
    pub object: String,
    pub account: String,
    pub region: String,
    /// The digest that lists it.
    pub listed_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Modified {
    pub object: String,
    pub account: String,
    pub region: String,
    pub listed_by: String,
    pub expected_sha256: String,
    /// `None` when the file could not be inflated (it is also among the report's failures).
    pub actual_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Unlisted {
    pub object: String,
    pub account: String,
    pub region: String,
    /// When CloudTrail delivered it, to the minute, as its name says.
    pub delivered: Option<String>,
    /// The time span its records cover.
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    pub cause: UnlistedCause,
    /// The digest the cause is about (`not_listed`, `digest_unreadable`).
    pub digest: Option<String>,
}

/// Why no digest lists a log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnlistedCause {
    /// The digest of its delivery time was read and does not list it: CloudTrail did not deliver
    /// it (or a backfill digest not in the archive lists it).
    NotListed,
    /// The digest of its delivery time is unreadable.
    DigestUnreadable,
    /// Its delivery time falls in hours without digest (see `chain_breaks`).
    NoDigestForItsHour,
    /// Delivered before the first digest of its account and region: before validation was on.
    BeforeFirstDigest,
    /// Delivered two hours or more after the last digest: the digests after it are absent.
    AfterLastDigest,
    /// Delivered less than two hours after the last digest: its digest may not be delivered
    /// yet. Not a problem.
    AwaitingDigest,
    /// No digest of its account and region was read: validation off, or digests not copied.
    NoDigests,
    /// Its name does not say when it was delivered.
    UnknownDeliveryTime,
}

impl UnlistedCause {
    pub fn is_problem(self) -> bool {
        self != UnlistedCause::AwaitingDigest
    }

    /// What it means, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            UnlistedCause::NotListed => "its hour's digest does not list it (not delivered by CloudTrail?)",
            UnlistedCause::DigestUnreadable => "its hour's digest is unreadable",
            UnlistedCause::NoDigestForItsHour => "no digest covers its hour",
            UnlistedCause::BeforeFirstDigest => "delivered before the first digest",
            UnlistedCause::AfterLastDigest => "delivered after the last digest",
            UnlistedCause::AwaitingDigest => "its digest may not be delivered yet",
            UnlistedCause::NoDigests => "no digest of its account and region was read",
            UnlistedCause::UnknownDeliveryTime => "its name does not say when it was delivered",
        }
    }
}

impl Integrity {
    /// One line per problem, for warnings: what, and which object.
    pub fn problem_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for m in &self.missing {
            lines.push(format!("{}: missing (listed by {})", m.object, m.listed_by));
        }
        for m in &self.modified {
            lines.push(format!(
                "{}: modified (its SHA-256 differs from what {} lists)",
                m.object, m.listed_by
            ));
        }
        for u in self.unlisted.iter().filter(|u| u.cause.is_problem()) {
            lines.push(format!("{}: listed by no digest: {}", u.object, u.cause.describe()));
        }
        for b in &self.chain_breaks {
            let object = b.object.as_deref().or(b.next.as_deref()).unwrap_or("digest chain");
            lines.push(format!("{object}: {}", b.detail));
        }
        for d in &self.unreadable_digests {
            lines.push(format!("{}: unreadable digest: {}", d.object, d.error));
        }
        for s in &self.signatures.failures {
            lines.push(format!("{}: signature: {}", s.object, s.reason));
        }
        lines
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    pub kind: ChainBreakKind,
    pub account: String,
    pub region: String,
    pub trail: String,
    /// In the chain of backfill digests.
    pub backfill: bool,
    /// The digest at fault, or the absent one (named as a sibling of the digest naming it).
    pub object: Option<String>,
    /// The digest the break was found from: the next one in the chain (mismatch, absent), or the
    /// first one after the span (`no_digest`, `chain_restarted`).
    pub next: Option<String>,
    /// The last digest before the span (`no_digest`, `chain_restarted`).
    pub after: Option<String>,
    /// The span without digest; for `previous_digest_absent`, `to` is when the absent digest ended.
    pub from: Option<String>,
    pub to: Option<String>,
    /// One line for people.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainBreakKind {
    /// The next digest's `previousDigestHashValue` is not this digest's SHA-256.
    PreviousHashMismatch,
    /// The next digest's `previousDigestSignature` is not this digest's signature.
    PreviousSignatureMismatch,
    /// The next digest names it as previous; it is not in the archive.
    PreviousDigestAbsent,
    /// Hours no digest covers, beyond any absent digest named by the next one.
    NoDigest,
    /// Hours without digest before a starting digest: validation or logging was turned off.
    ChainRestarted,
    /// The digest says it was delivered elsewhere (`digestS3Object`).
    Moved,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UnreadableDigest {
    pub object: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub error: String,
}

impl StreamIntegrity {
    pub(super) fn new((account, region): &(String, String)) -> StreamIntegrity {
        StreamIntegrity {
            account: account.clone(),
            region: region.clone(),
            trails: Vec::new(),
            digests: 0,
            log_files_verified: 0,
            from: None,
            to: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::verify::fixture::*;

    #[test]
    fn the_json_shape_is_stable() {
        let mut fixture = Fixture::new(5);
        fixture.digests.remove(3);
        let integrity = fixture.verify();
        let text = serde_json::to_string(&integrity).expect("serializes");
        let fields = [
            "digests_read",
            "digests_verified",
            "backfill_digests",
            "log_files_verified",
            "signatures",
            "streams",
            "missing",
            "modified",
            "unlisted",
            "chain_breaks",
            "unreadable_digests",
        ];
        let positions: Vec<usize> = fields
            .iter()
            .map(|f| text.find(&format!("\"{f}\":")).unwrap_or_else(|| panic!("{f} in {text}")))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "fields in this order: {text}");
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value.as_object().map(|o| o.len()), Some(fields.len()));
        assert_eq!(value["chain_breaks"][0]["kind"], "previous_digest_absent");
        assert_eq!(value["unlisted"][0]["cause"], "no_digest_for_its_hour");
    }
}
