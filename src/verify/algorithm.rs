//! Verification of an archive against its digests: a pure function from what the reading found
//! (digests, log files, their hashes) to an [`Integrity`] report.
//!
//! # Rules
//!
//! **Matching.** Objects are matched by their path from the last `AWSLogs` folder on, so a
//! bucket, a copy of it on disk (under any folder) and the keys digests write (`s3Object`,
//! `previousDigestS3Object`, after any bucket prefix) all agree. A file outside that layout (a
//! flat copy) is matched by its file name, which CloudTrail makes unique. Objects absent from the
//! archive are named after the digest that names them: its name with its `AWSLogs/...` part
//! swapped for theirs (`s3://bucket/prefix/AWSLogs/...` or a local path); when that digest is
//! itself outside the layout, `s3://bucket/key` as the digest writes it.
//!
//! **Streams.** A chain is one trail's digests for one account and source region (from the
//! digest's name: `ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_...`); backfill digests
//! are a chain of their own. Reports are grouped by account and region.
//!
//! **Chain.** For each digest whose `previousDigestS3Object` is set: when that digest is in the
//! archive, its SHA-256 must equal `previousDigestHashValue` (else `previous_hash_mismatch`) and
//! its own signature, when known, `previousDigestSignature` (else `previous_signature_mismatch`);
//! when it is absent, `previous_digest_absent` names it. Then every hour must be accounted for:
//! between two consecutive digests of a (non-backfill) chain, A and B, nothing is missing if B
//! names A as previous. If B names an absent digest P, P accounts for one period before B (P ends
//! where B starts and lasts as long as B), and any time left between A's end and P's start is a
//! `no_digest` span: that is how the second of two deleted digests in a row is caught (aws-cli
//! #7054). If B is a starting digest (no previous), the hours between A and B are a
//! `chain_restarted` span: CloudTrail restarts the chain when validation or logging was turned
//! off. A digest that is unreadable has unknown content: the link into it is taken on trust, the
//! hours before it are not checked.
//!
//! **Range.** With `--from/--to` only some day folders are read ([`Scope`]). Problems are only
//! reported about what was read or should have been: a listed log file or a previous digest whose
//! day folder is outside the scope was not looked for, so its absence says nothing; spans without
//! digest are only looked for between two digests read, never before the first or after the last
//! (those digests were not read, or do not exist: the log files they would list show as
//! `unlisted`); and log files in the last day folder of the scope (the day after `--to`, read for
//! the events of `--to` that spilled into it) that came after the last digest read are not
//! reported, as the digests listing them are in folders not read.
//!
//! **Unlisted.** A log file no digest lists gets the reason no digest does, from its delivery
//! time (the `YYYYMMDDTHHmmZ` of its name) and the digests of its account and region: a digest
//! of that time lists other files but not it (`not_listed`: not delivered by CloudTrail, or listed
//! by a backfill digest not in the archive), that digest is unreadable, that hour has no digest,
//! it came before the first digest (validation not yet on), after the last one, or no digest of
//! its account and region was read. Delivered less than [`AWAITING`] after the last digest, its
//! digest may simply not be delivered yet: `awaiting_digest`, the one reason that is not a
//! problem.
//!
//! **Signatures.** A digest's signature is the one read with it (S3 metadata or sidecar) or,
//! failing that, the `previousDigestSignature` of the digest after it, as CloudTrail's guide
//! does offline: on a copy without metadata, every digest but the newest is still checked. The
//! key is the one whose fingerprint the digest names. A fingerprint that no given key has, while
//! some given key was valid at the digest's end, is a failure (a key CloudTrail does not list);
//! when no given key was valid then, the signature is unchecked.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::{signing_string, verify_signature, Digest, SIGNATURE_ALGORITHM};
use crate::keys::PublicKeys;
use crate::hash::Sha256;
use crate::layout::{self, DigestName, LogName};
use crate::time::{Day, Timestamp, HOUR, MINUTE};


/// How far apart two digests may be (end of one, start of the next, or of the digest assumed
/// between them) before the time between them counts as hours without digest. Consecutive
/// digests are exactly contiguous; this only absorbs a digest that lasts longer than the next.
const SLACK: i64 = 10 * MINUTE;

/// A log file delivered less than this after the end of the last digest of its account and
/// region may be listed by a digest not delivered yet: digests come every hour, for the hour
/// before.
pub(crate) const AWAITING: i64 = 2 * HOUR;

/// A digest object as the reading found it.
#[derive(Debug, Clone)]
pub(crate) struct DigestObject {
    /// Its name in the report: a local path or `s3://bucket/key`.
    pub(crate) object: String,
    /// Its content, parsed, or why it could not be read (fetched, inflated, parsed).
    pub(crate) digest: Result<Digest, String>,
    /// SHA-256 of its uncompressed content, whenever it could be inflated (even if not parsed).
    pub(crate) sha256: Option<Sha256>,
    /// Hex, from the S3 metadata `x-amz-meta-signature` or a `.sig` sidecar.
    pub(crate) signature: Option<String>,
    /// From the S3 metadata `x-amz-meta-signature-algorithm`, when read.
    pub(crate) signature_algorithm: Option<String>,
}

impl DigestObject {
    /// A digest read whole: `content` is its uncompressed bytes.
    pub(crate) fn from_content(object: String, content: &[u8], signature: Option<String>) -> DigestObject {
        DigestObject {
            object,
            digest: Digest::parse(content).map_err(|e| e.to_string()),
            sha256: Some(Sha256::of(content)),
            signature,
            signature_algorithm: None,
        }
    }

    /// A digest that could not be fetched or inflated.
    pub(crate) fn unreadable(object: String, error: String) -> DigestObject {
        DigestObject { object, digest: Err(error), sha256: None, signature: None, signature_algorithm: None }
    }
}

/// A log file as the reading found it.
#[derive(Debug, Clone)]
pub(crate) struct LogObject {
    /// Its name in the report: a local path or `s3://bucket/key`.
    pub(crate) object: String,
    /// SHA-256 of all of its uncompressed content (every gzip member), or `None` when it could
    /// not be inflated.
    pub(crate) sha256: Option<Sha256>,
    /// The first and last `eventTime` of its records, when known.
    pub(crate) events: Option<(Timestamp, Timestamp)>,
}

/// The day folders read, the same for logs and digests (`--from` to the day after `--to`);
/// `None` when everything was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Scope {
    pub(crate) days: Option<(Day, Day)>,
}

impl Scope {
    /// Whether an object in the day folder `day` was read. Objects outside the layout (no day)
    /// are always read.
    fn holds(&self, day: Option<Day>) -> bool {
        match (self.days, day) {
            (Some((first, last)), Some(day)) => first <= day && day <= last,
            _ => true,
        }
    }

    fn last_day(&self) -> Option<Day> {
        self.days.map(|(_, last)| last)
    }
}

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

/// Where an object sits in the CloudTrail layout, from its name or key.
#[derive(Debug, Clone, Default)]
struct Place {
    /// From the last `AWSLogs` folder on, `/`-separated.
    tail: Option<String>,
    /// The name up to `tail`: `s3://bucket/prefix/`, or a local folder.
    root: Option<String>,
    file: String,
    account: Option<String>,
    region: Option<String>,
    day: Option<Day>,
}

impl Place {
    fn of(name: &str) -> Place {
        let file = layout::file_name(name).to_owned();
        let Some(placed) = layout::place(name) else {
            return Place { file, ..Place::default() };
        };
        Place {
            tail: Some(placed.tail.replace('\\', "/")),
            root: Some(placed.root.to_owned()),
            file,
            account: placed.folders.account.map(str::to_owned),
            region: placed.folders.region.map(str::to_owned),
            day: placed.folders.date(),
        }
    }

    /// How objects are matched: the layout path, or the file name outside the layout.
    fn key(&self) -> MatchKey {
        match &self.tail {
            Some(tail) => MatchKey::Tail(tail.clone()),
            None => MatchKey::File(self.file.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum MatchKey {
    Tail(String),
    File(String),
}

/// Objects by how they are matched: the listed key's layout path, or, for objects outside the
/// layout, its file name.
struct Index {
    by_key: HashMap<MatchKey, Vec<usize>>,
}

impl Index {
    fn new<'a>(places: impl Iterator<Item = &'a Place>) -> Index {
        let mut by_key: HashMap<MatchKey, Vec<usize>> = HashMap::new();
        for (i, place) in places.enumerate() {
            by_key.entry(place.key()).or_default().push(i);
        }
        Index { by_key }
    }

    /// Objects matching a key a digest writes.
    fn find(&self, key: &str) -> Vec<usize> {
        let place = Place::of(key);
        let mut found: Vec<usize> = self.by_key.get(&place.key()).cloned().unwrap_or_default();
        if place.tail.is_some() {
            found.extend(self.by_key.get(&MatchKey::File(place.file)).into_iter().flatten());
        }
        found
    }
}

/// The name of an object absent from the archive, from a digest found that names it.
fn sibling_name(found: &Place, bucket: &str, key: &str) -> String {
    match (&found.root, Place::of(key).tail) {
        (Some(root), Some(tail)) => format!("{root}{tail}"),
        _ => format!("s3://{bucket}/{key}"),
    }
}

/// Account and region of a log file: from its folders, else from its name
/// (`ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz`).
fn log_identity(place: &Place) -> (String, String, Option<Timestamp>) {
    let name = LogName::parse(&place.file);
    let account = place.account.clone().unwrap_or_else(|| name.account.to_owned());
    let region = place.region.clone().or(name.region.map(str::to_owned)).unwrap_or_default();
    (account, region, name.delivered)
}

/// One digest object, with what is known of it.
struct Found<'a> {
    input: &'a DigestObject,
    place: Place,
    /// Account, region, trail, end, backfill: from the content's `digestS3Object` when readable,
    /// else from the object's own name.
    name: Option<DigestName>,
    digest: Option<&'a Digest>,
}

impl Found<'_> {
    fn account(&self) -> String {
        self.name
            .as_ref()
            .map(|n| n.account.clone())
            .or_else(|| self.digest.map(|d| d.account.clone()))
            .unwrap_or_default()
    }

    fn region(&self) -> String {
        self.name.as_ref().map(|n| n.region.clone()).or_else(|| self.place.region.clone()).unwrap_or_default()
    }

    fn trail(&self) -> String {
        self.name.as_ref().map(|n| n.trail.clone()).unwrap_or_default()
    }

    fn backfill(&self) -> bool {
        self.name.as_ref().is_some_and(|n| n.backfill)
    }

    fn end(&self) -> Option<Timestamp> {
        self.digest.map(|d| d.end).or_else(|| self.name.as_ref().map(|n| n.end))
    }

    fn chain_break(&self, kind: ChainBreakKind, detail: String) -> ChainBreak {
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
    fn span(&self) -> Option<(Timestamp, Timestamp)> {
        match self.digest {
            Some(d) => Some((d.start, d.end)),
            None => self.name.as_ref().map(|n| (Timestamp(n.end.millis() - HOUR), n.end)),
        }
    }
}

/// A chain: one trail's hourly digests for one account and source region (account, region,
/// trail, home region).
type ChainKey = (String, String, String, String);

/// Verifies the archive: see the module documentation for the rules. Five steps, each a function
/// of what the steps before it found: read the digests, match the log files they list, check the
/// chains, check the signatures, summarise.
pub(crate) fn verify(
    digests: &[DigestObject],
    logs: &[LogObject],
    keys: Option<&PublicKeys>,
    scope: &Scope,
) -> Integrity {
    let digests = read_digests(digests);
    let mut findings = Findings::new(digests.found.len());
    check_delivery(&digests, &mut findings);
    let matched = match_logs(&digests, logs, scope);
    check_chains(&digests, scope, &mut findings);
    let signatures = check_signatures(&digests, keys, &mut findings);
    summarise(&digests, logs, matched, findings, signatures, scope)
}

/// The digests read, each layout path once, in name order, with an index to find them by the keys
/// other digests write.
struct Digests<'a> {
    found: Vec<Found<'a>>,
    index: Index,
}

impl Digests<'_> {
    /// The digest a key (`previousDigestS3Object`) names, when it was read.
    fn find(&self, key: &str) -> Option<usize> {
        self.index.find(key).into_iter().next()
    }
}

/// What the checks hold against digests: which ones something contradicts (they do not count as
/// verified), and the chain breaks found.
struct Findings {
    contradicted: Vec<bool>,
    breaks: Vec<(BreakOrder, ChainBreak)>,
}

impl Findings {
    fn new(digests: usize) -> Findings {
        Findings { contradicted: vec![false; digests], breaks: Vec::new() }
    }

    fn add_break(&mut self, moment: Timestamp, brk: ChainBreak) {
        let order = (
            brk.account.clone(),
            brk.region.clone(),
            brk.trail.clone(),
            moment,
            brk.kind,
            brk.object.clone().unwrap_or_default(),
        );
        self.breaks.push((order, brk));
    }
}

/// Step 1, read the digests: in name order, each layout path once (a second copy of the same
/// object, the same archive given twice, adds nothing), with what their names and content say.
fn read_digests(digests: &[DigestObject]) -> Digests<'_> {
    let mut order: Vec<&DigestObject> = digests.iter().collect();
    order.sort_by(|a, b| a.object.cmp(&b.object));
    let mut seen = BTreeSet::new();
    let found: Vec<Found> = order
        .into_iter()
        .filter_map(|input| {
            let place = Place::of(&input.object);
            if !seen.insert(place.key()) {
                return None;
            }
            let digest = input.digest.as_ref().ok();
            let name =
                digest.and_then(|d| DigestName::parse(&d.key)).or_else(|| DigestName::parse(&input.object));
            Some(Found { input, place, name, digest })
        })
        .collect();
    let index = Index::new(found.iter().map(|f| &f.place));
    Digests { found, index }
}

/// Part of step 1: a digest found elsewhere than it says it was delivered is `moved`.
fn check_delivery(digests: &Digests, findings: &mut Findings) {
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

/// What matching the listed log files found, per log file (by its position among the inputs).
struct Matched {
    /// Listed by some digest read.
    listed: Vec<bool>,
    /// Listed with another SHA-256 than its own (the first digest by name that does).
    mismatch: Vec<Option<Modified>>,
    /// Listed, and not in the archive, by name.
    missing: Vec<Missing>,
}

/// Step 2, match the log files: each one a digest lists is present with the same SHA-256,
/// modified, or missing (when its day folder was read).
fn match_logs(digests: &Digests, logs: &[LogObject], scope: &Scope) -> Matched {
    let places: Vec<Place> = logs.iter().map(|l| Place::of(&l.object)).collect();
    let index = Index::new(places.iter());
    let mut listed = vec![false; logs.len()];
    let mut mismatch: Vec<Option<Modified>> = vec![None; logs.len()];
    let mut missing: BTreeMap<String, Missing> = BTreeMap::new();
    for f in &digests.found {
        let Some(digest) = f.digest else { continue };
        for file in &digest.log_files {
            let hits = index.find(&file.key);
            if hits.is_empty() {
                let place = Place::of(&file.key);
                if scope.holds(place.day) {
                    let (account, region, _) = log_identity(&place);
                    let object = sibling_name(&f.place, &file.bucket, &file.key);
                    missing.entry(object.clone()).or_insert(Missing {
                        object,
                        account,
                        region,
                        listed_by: f.input.object.clone(),
                    });
                }
                continue;
            }
            for h in hits {
                listed[h] = true;
                if logs[h].sha256 != Some(file.sha256) && mismatch[h].is_none() {
                    let (account, region, _) = log_identity(&places[h]);
                    mismatch[h] = Some(Modified {
                        object: logs[h].object.clone(),
                        account,
                        region,
                        listed_by: f.input.object.clone(),
                        expected_sha256: file.sha256.to_string(),
                        actual_sha256: logs[h].sha256.map(|s| s.to_string()),
                    });
                }
            }
        }
    }
    Matched { listed, mismatch, missing: missing.into_values().collect() }
}

/// Step 3, check the chains: each digest's link to its previous one (hash, signature, presence),
/// then the hours between consecutive digests of each hourly chain.
fn check_chains(digests: &Digests, scope: &Scope, findings: &mut Findings) {
    check_links(digests, scope, findings);
    check_hours(digests, scope, findings);
}

/// Links to the previous digest: its hash and signature as the next one records them, or its
/// absence.
fn check_links(digests: &Digests, scope: &Scope, findings: &mut Findings) {
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
                        let mut brk = f.chain_break(
                            ChainBreakKind::PreviousHashMismatch,
                            format!(
                                "{} records SHA-256 {recorded} for its previous digest {}, whose content hashes to {actual}",
                                f.input.object, prior.input.object
                            ),
                        );
                        brk.object = Some(prior.input.object.clone());
                        brk.next = Some(f.input.object.clone());
                        findings.add_break(prior.end().unwrap_or(digest.start), brk);
                    }
                }
                if let (Some(recorded), Some(actual)) = (&previous.signature, &prior.input.signature) {
                    if !recorded.trim().eq_ignore_ascii_case(actual.trim()) {
                        let mut brk = f.chain_break(
                            ChainBreakKind::PreviousSignatureMismatch,
                            format!(
                                "{} records another signature for its previous digest {} than the one read with it",
                                f.input.object, prior.input.object
                            ),
                        );
                        brk.object = Some(prior.input.object.clone());
                        brk.next = Some(f.input.object.clone());
                        findings.add_break(prior.end().unwrap_or(digest.start), brk);
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

/// Hours without digest, between consecutive digests of each hourly chain.
fn check_hours(digests: &Digests, scope: &Scope, findings: &mut Findings) {
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

/// Step 4, check the signatures: each readable digest's, read with it or recorded by the digest
/// after it, with the key its fingerprint names.
fn check_signatures(digests: &Digests, keys: Option<&PublicKeys>, findings: &mut Findings) -> Signatures {
    let found = &digests.found;
    // The digest after each one: it carries the previous digest's signature.
    let mut next_of: Vec<Option<usize>> = vec![None; found.len()];
    for (b, f) in found.iter().enumerate() {
        if let Some(previous) = f.digest.and_then(|d| d.previous.as_ref()) {
            if let Some(p) = digests.find(&previous.key) {
                next_of[p].get_or_insert(b);
            }
        }
    }
    let mut out = Signatures::default();
    for (i, f) in found.iter().enumerate() {
        let Some(digest) = f.digest else { continue };
        let next_signature = next_of[i]
            .and_then(|n| found[n].digest)
            .and_then(|n| n.previous.as_ref())
            .and_then(|p| p.signature.as_deref());
        let (signature, from_next) = match (&f.input.signature, next_signature) {
            (Some(own), _) => (Some(own.as_str()), false),
            (None, next) => (next, next.is_some()),
        };
        let algorithm = f.input.signature_algorithm.as_deref().or(digest.signature_algorithm.as_deref());
        match check_signature(digest, f.input.sha256, algorithm, signature, keys) {
            Check::Verified => out.verified += 1,
            Check::Failed(reason) => {
                findings.contradicted[i] = true;
                out.failed += 1;
                let reason = if from_next {
                    format!("{reason} (the signature the next digest records)")
                } else {
                    reason
                };
                out.failures.push(SignatureFailure {
                    object: f.input.object.clone(),
                    account: f.account(),
                    region: f.region(),
                    reason,
                });
            }
            Check::Unchecked(reason) => {
                out.unchecked += 1;
                *out.unchecked_reasons.entry(reason).or_default() += 1;
            }
        }
    }
    out.failures.sort();
    out
}

/// Step 5, summarise: counts, per account and region what the digests cover, the log files no
/// digest lists with why, and every list sorted.
fn summarise(
    digests: &Digests,
    logs: &[LogObject],
    mut matched: Matched,
    findings: Findings,
    signatures: Signatures,
    scope: &Scope,
) -> Integrity {
    let found = &digests.found;
    let mut out = Integrity { signatures, missing: matched.missing, ..Integrity::default() };
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

    // Per account and region: the spans the hourly digests cover, for unlisted files and the
    // summary.
    let mut streams: BTreeMap<(String, String), StreamIntegrity> = BTreeMap::new();
    let mut coverage: BTreeMap<(String, String), Vec<Span>> = BTreeMap::new();
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

    for (h, log) in logs.iter().enumerate() {
        let place = Place::of(&log.object);
        let (account, region, delivered) = log_identity(&place);
        let key = (account.clone(), region.clone());
        if let Some(modified) = matched.mismatch[h].take() {
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

    out.streams = streams.into_values().collect();
    for stream in &mut out.streams {
        stream.trails.sort();
    }
    let mut breaks = findings.breaks;
    breaks.sort_by(|a, b| a.0.cmp(&b.0));
    out.chain_breaks = breaks.into_iter().map(|(_, brk)| brk).collect();
    out.modified.sort();
    out.unlisted.sort();
    out.unreadable_digests.sort();
    out
}

impl StreamIntegrity {
    fn new((account, region): &(String, String)) -> StreamIntegrity {
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

/// How a digest's signature fared.
enum Check {
    Verified,
    Failed(String),
    Unchecked(String),
}

fn check_signature(
    digest: &Digest,
    content: Option<Sha256>,
    algorithm: Option<&str>,
    signature: Option<&str>,
    keys: Option<&PublicKeys>,
) -> Check {
    if let Some(algorithm) = algorithm.filter(|a| *a != SIGNATURE_ALGORITHM) {
        return Check::Unchecked(format!("signature algorithm {algorithm} is not {SIGNATURE_ALGORITHM}"));
    }
    let Some(keys) = keys else {
        return Check::Unchecked("no public keys were given".to_owned());
    };
    let Some(signature) = signature else {
        return Check::Unchecked(
            "no signature: none was read with it (S3 metadata or .sig file) and no later digest records it"
                .to_owned(),
        );
    };
    let Some(content) = content else {
        return Check::Unchecked("its content hash is unknown".to_owned());
    };
    let Some(key) = keys.get(&digest.fingerprint) else {
        return if keys.cover(digest.end) {
            Check::Failed(format!(
                "signed with key {}, which is not among the public keys valid at {}",
                digest.fingerprint, digest.end
            ))
        } else {
            Check::Unchecked(format!("no public key given was valid at {}", digest.end))
        };
    };
    let message = signing_string(
        &digest.end_text,
        &digest.bucket,
        &digest.key,
        &content,
        digest.previous_signature.as_deref(),
    );
    match verify_signature(&key.der, message.as_bytes(), signature) {
        Ok(()) => Check::Verified,
        Err(e) => Check::Failed(format!("{e} (key {})", key.fingerprint)),
    }
}

/// The delivery times a digest covers, and which digest (an index into the found ones).
type Span = (Timestamp, Timestamp, usize);

/// Chain breaks are listed by account, region, trail, time, kind and object.
type BreakOrder = (String, String, String, Timestamp, ChainBreakKind, String);

/// Why no digest lists a file delivered at `delivered` (a minute), given the spans of the hourly
/// digests of its account and region, sorted.
fn unlisted_cause(
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
    use super::super::{sign, Digest};
    use crate::layout::format_compact;
    use super::*;
    use serde_json::json;

    const KEY: &[u8] = include_bytes!("../../testdata/keys/test-digest-signing-key.pk8");
    const OTHER_KEY: &[u8] = include_bytes!("../../testdata/keys/test-other-signing-key.pk8");
    const KEYS: &[u8] = include_bytes!("../../testdata/keys/test-public-keys.json");
    const ACCOUNT: &str = "111122223333";
    const REGION: &str = "us-east-1";
    const BUCKET: &str = "trail-bucket";
    const ROOT: &str = "s3://trail-bucket/";

    /// 2024-03-01T00:01:31Z plus `hours`: where digest `k` ends (`k` = hours).
    fn at(hours: i64, minutes: i64) -> Timestamp {
        let base = Timestamp::parse("2024-03-01T00:01:31Z").expect("valid");
        Timestamp(base.millis() + hours * HOUR + minutes * MINUTE)
    }

    fn folder(prefix: &str, service: &str, time: Timestamp) -> String {
        let (y, m, d) = Day(time.millis().div_euclid(86_400_000)).ymd();
        format!("{prefix}{service}/{REGION}/{y:04}/{m:02}/{d:02}")
    }

    /// A digest as CloudTrail writes it: the JSON, where it is, its signature.
    #[derive(Clone)]
    struct DigestFile {
        key: String,
        json: Vec<u8>,
        signature: String,
    }

    #[derive(Clone)]
    struct LogFileAt {
        key: String,
        content: Vec<u8>,
        delivered: Timestamp,
    }

    /// An archive of one trail, account and region: digest `k` (0..hours) covers the hour
    /// ending `at(k, 0)`, digest 0 starts the chain, and every hour but the third has two log
    /// files, delivered 15 and 35 minutes into it.
    #[derive(Clone)]
    struct Fixture {
        prefix: String,
        trail: String,
        digests: Vec<DigestFile>,
        logs: Vec<LogFileAt>,
        signatures: bool,
    }

    impl Fixture {
        fn new(hours: i64) -> Fixture {
            Fixture::with_prefix(hours, &format!("AWSLogs/{ACCOUNT}/"))
        }

        fn with_prefix(hours: i64, prefix: &str) -> Fixture {
            let mut fixture = Fixture {
                prefix: prefix.to_owned(),
                trail: "management".to_owned(),
                digests: Vec::new(),
                logs: Vec::new(),
                signatures: true,
            };
            for k in 0..hours {
                let logs: Vec<LogFileAt> = if k == 2 {
                    Vec::new()
                } else {
                    [15, 35]
                        .iter()
                        .map(|&minute| fixture.log(at(k - 1, minute), &format!("hour {k} minute {minute}")))
                        .collect()
                };
                fixture.logs.extend(logs.iter().cloned());
                let previous = fixture.digests.last().cloned();
                fixture.push_digest(at(k - 1, 0), at(k, 0), previous.as_ref(), &logs, false);
            }
            fixture
        }

        fn log(&self, delivered: Timestamp, text: &str) -> LogFileAt {
            let stamp = &format_compact(delivered)[..13];
            let unique =
                Sha256::of(format!("{text} {delivered}").as_bytes()).to_string()[..16].to_ascii_uppercase();
            LogFileAt {
                key: format!(
                    "{}/{ACCOUNT}_CloudTrail_{REGION}_{stamp}Z_{unique}.json.gz",
                    folder(&self.prefix, "CloudTrail", delivered)
                ),
                content: format!("{{\"Records\":[{{\"eventName\":\"{text}\"}}]}}").into_bytes(),
                delivered,
            }
        }

        fn digest_key(&self, end: Timestamp, backfill: bool) -> String {
            format!(
                "{}/{ACCOUNT}_CloudTrail-Digest_{REGION}_{}_{REGION}_{}{}.json.gz",
                folder(&self.prefix, "CloudTrail-Digest", end),
                self.trail,
                format_compact(end),
                if backfill { "_backfill" } else { "" }
            )
        }

        fn push_digest(
            &mut self,
            start: Timestamp,
            end: Timestamp,
            previous: Option<&DigestFile>,
            logs: &[LogFileAt],
            backfill: bool,
        ) {
            let key = self.digest_key(end, backfill);
            let fingerprint = "3f98e10986cf601d7afccd3b736b75c0";
            let json = json!({
                "awsAccountId": ACCOUNT,
                "digestStartTime": start.to_string(),
                "digestEndTime": end.to_string(),
                "digestS3Bucket": BUCKET,
                "digestS3Object": key,
                "digestPublicKeyFingerprint": fingerprint,
                "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": null,
                "oldestEventTime": null,
                "previousDigestS3Bucket": previous.map(|_| BUCKET),
                "previousDigestS3Object": previous.map(|p| p.key.clone()),
                "previousDigestHashValue": previous.map(|p| Sha256::of(&p.json).to_string()),
                "previousDigestHashAlgorithm": previous.map(|_| "SHA-256"),
                "previousDigestSignature": previous.map(|p| p.signature.clone()),
                "logFiles": logs.iter().map(|l| json!({
                    "s3Bucket": BUCKET,
                    "s3Object": l.key,
                    "hashValue": Sha256::of(&l.content).to_string(),
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": l.delivered.to_string(),
                    "oldestEventTime": l.delivered.to_string(),
                })).collect::<Vec<_>>(),
            });
            let json = serde_json::to_vec(&json).expect("JSON");
            let signature = sign_digest(&json, KEY);
            self.digests.push(DigestFile { key, json, signature });
        }

        fn digest_named(&self, k: usize) -> String {
            format!("{ROOT}{}", self.digests[k].key)
        }

        fn log_named(&self, i: usize) -> String {
            format!("{ROOT}{}", self.logs[i].key)
        }

        fn inputs(&self) -> (Vec<DigestObject>, Vec<LogObject>) {
            let digests = self
                .digests
                .iter()
                .map(|d| {
                    let signature = self.signatures.then(|| d.signature.clone());
                    DigestObject::from_content(format!("{ROOT}{}", d.key), &d.json, signature)
                })
                .collect();
            let logs = self
                .logs
                .iter()
                .map(|l| LogObject {
                    object: format!("{ROOT}{}", l.key),
                    sha256: Some(Sha256::of(&l.content)),
                    events: Some((l.delivered, l.delivered)),
                })
                .collect();
            (digests, logs)
        }

        fn verify(&self) -> Integrity {
            let (digests, logs) = self.inputs();
            verify(&digests, &logs, Some(&keys()), &Scope::default())
        }
    }

    fn keys() -> PublicKeys {
        PublicKeys::parse(KEYS).expect("test keys")
    }

    /// The test key's `Value`, for other listings of it.
    fn test_key_value() -> String {
        let keys: serde_json::Value = serde_json::from_slice(KEYS).expect("JSON");
        keys["PublicKeyList"][0]["Value"].as_str().expect("a Value").to_owned()
    }

    /// Signs a digest's JSON as CloudTrail does, with `key`.
    fn sign_digest(json: &[u8], key: &[u8]) -> String {
        let digest = Digest::parse(json).expect("a digest");
        let message = signing_string(
            &digest.end_text,
            &digest.bucket,
            &digest.key,
            &Sha256::of(json),
            digest.previous_signature.as_deref(),
        );
        sign(key, message.as_bytes()).expect("sign")
    }

    fn kinds(integrity: &Integrity) -> Vec<ChainBreakKind> {
        integrity.chain_breaks.iter().map(|b| b.kind).collect()
    }

    #[test]
    fn an_untouched_archive_verifies_clean() {
        let fixture = Fixture::new(8);
        let integrity = fixture.verify();
        assert_eq!(integrity.problems(), 0, "{integrity:#?}");
        assert_eq!(integrity.digests_read, 8);
        assert_eq!(integrity.digests_verified, 8);
        assert_eq!(integrity.log_files_verified, 14, "two a hour, none in the third");
        assert_eq!(
            (integrity.signatures.verified, integrity.signatures.failed, integrity.signatures.unchecked),
            (8, 0, 0)
        );
        assert_eq!(integrity.streams.len(), 1);
        let stream = &integrity.streams[0];
        assert_eq!((stream.account.as_str(), stream.region.as_str()), (ACCOUNT, REGION));
        assert_eq!(stream.trails, ["management"]);
        assert_eq!((stream.digests, stream.log_files_verified), (8, 14));
        assert_eq!(stream.from.as_deref(), Some("2024-02-29T23:01:31Z"));
        assert_eq!(stream.to.as_deref(), Some("2024-03-01T07:01:31Z"));
    }

    #[test]
    fn a_deleted_log_file_is_missing_and_named_like_its_digest() {
        let mut fixture = Fixture::new(6);
        let gone = fixture.log_named(3);
        fixture.logs.remove(3);
        let integrity = fixture.verify();
        assert_eq!(
            integrity.missing,
            [Missing {
                object: gone,
                account: ACCOUNT.into(),
                region: REGION.into(),
                listed_by: fixture.digest_named(1)
            }]
        );
        assert_eq!(integrity.problems(), 1, "{integrity:#?}");
        assert_eq!(integrity.log_files_verified, 9);
    }

    #[test]
    fn an_edited_record_is_a_modified_log_file() {
        let mut fixture = Fixture::new(6);
        let expected = Sha256::of(&fixture.logs[4].content).to_string();
        fixture.logs[4].content = b"{\"Records\":[{\"eventName\":\"edited\"}]}".to_vec();
        let integrity = fixture.verify();
        assert_eq!(
            integrity.modified,
            [Modified {
                object: fixture.log_named(4),
                account: ACCOUNT.into(),
                region: REGION.into(),
                listed_by: fixture.digest_named(3),
                expected_sha256: expected,
                actual_sha256: Some(Sha256::of(&fixture.logs[4].content).to_string()),
            }]
        );
        assert_eq!(integrity.problems(), 1, "{integrity:#?}");
    }

    #[test]
    fn an_unreadable_log_file_that_a_digest_lists_is_modified_with_no_hash() {
        let fixture = Fixture::new(4);
        let (digests, mut logs) = fixture.inputs();
        logs[0].sha256 = None;
        let integrity = verify(&digests, &logs, Some(&keys()), &Scope::default());
        assert_eq!(integrity.modified.len(), 1);
        assert_eq!(integrity.modified[0].actual_sha256, None);
    }

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

    /// aws-cli #7054: the second of two deleted digests in a row went unreported.
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
    fn a_digest_re_signed_with_another_key_fails_its_signature() {
        let mut fixture = Fixture::new(6);
        fixture.digests[2].signature = sign_digest(&fixture.digests[2].json, OTHER_KEY);
        let integrity = fixture.verify();
        assert_eq!(integrity.signatures.failed, 1);
        assert_eq!(integrity.signatures.failures.len(), 1);
        let failure = &integrity.signatures.failures[0];
        assert_eq!(failure.object, fixture.digest_named(2));
        assert!(failure.reason.contains("does not match"), "{}", failure.reason);
        assert_eq!(integrity.signatures.verified, 5);
        assert_eq!(integrity.digests_verified, 5);
        // The next digest recorded the real signature.
        assert_eq!(kinds(&integrity), [ChainBreakKind::PreviousSignatureMismatch]);
        assert_eq!(integrity.problems(), 2);
    }

    #[test]
    fn a_digest_signed_by_a_key_cloudtrail_does_not_list_fails_and_one_outside_the_keys_time_is_unchecked() {
        let mut fixture = Fixture::new(3);
        // Rewritten to name another key, and signed by it: the fingerprint matches no listed key.
        let text = String::from_utf8(fixture.digests[2].json.clone()).expect("utf-8");
        fixture.digests[2].json =
            text.replace("3f98e10986cf601d7afccd3b736b75c0", "4202eb9001d5e740ea52580c85a0bcb8").into_bytes();
        fixture.digests[2].signature = sign_digest(&fixture.digests[2].json, OTHER_KEY);
        let integrity = fixture.verify();
        assert_eq!(integrity.signatures.failed, 1);
        assert!(integrity.signatures.failures[0].reason.contains("not among the public keys"));

        // Keys that do not reach the archive's time: another fingerprint is unchecked, not failed.
        let (digests, logs) = Fixture::new(3).inputs();
        let listing = |fingerprint: &str| {
            let json = json!({"PublicKeyList": [{
                "Value": test_key_value(),
                "Fingerprint": fingerprint,
                "ValidityStartTime": 1_000_000_000.0,
                "ValidityEndTime": 1_100_000_000.0,
            }]});
            PublicKeys::parse(&serde_json::to_vec(&json).expect("JSON")).expect("keys")
        };
        let integrity =
            verify(&digests, &logs, Some(&listing("00000000000000000000000000000000")), &Scope::default());
        assert_eq!(integrity.signatures.unchecked, 3, "{integrity:#?}");
        assert!(integrity
            .signatures
            .unchecked_reasons
            .keys()
            .all(|r| r.starts_with("no public key given was valid")));
        assert_eq!(integrity.problems(), 0);
        // The right key, listed with another validity window: validity is not enforced, as
        // aws-cli does not (CloudTrail signs when it delivers, after the digest's end).
        let integrity =
            verify(&digests, &logs, Some(&listing("3f98e10986cf601d7afccd3b736b75c0")), &Scope::default());
        assert_eq!(integrity.signatures.verified, 3);
    }

    #[test]
    fn without_metadata_every_digest_but_the_newest_is_checked_with_the_signature_the_next_records() {
        let mut fixture = Fixture::new(5);
        fixture.signatures = false;
        let integrity = fixture.verify();
        assert_eq!((integrity.signatures.verified, integrity.signatures.unchecked), (4, 1), "{integrity:#?}");
        let (reason, count) = integrity.signatures.unchecked_reasons.iter().next().expect("a reason");
        assert!(reason.starts_with("no signature"), "{reason}");
        assert_eq!(*count, 1);
        assert_eq!(integrity.problems(), 0);

        // A digest edited after delivery: the signature the next one records no longer matches.
        let text = String::from_utf8(fixture.digests[1].json.clone()).expect("utf-8");
        fixture.digests[1].json = text
            .replace("\"oldestEventTime\":null", "\"oldestEventTime\":\"2024-03-01T00:00:00Z\"")
            .into_bytes();
        assert_ne!(fixture.digests[1].json, text.as_bytes());
        let integrity = fixture.verify();
        assert_eq!(integrity.signatures.failed, 1);
        assert_eq!(integrity.signatures.failures[0].object, fixture.digest_named(1));
        assert!(integrity.signatures.failures[0].reason.contains("the next digest records"));
        assert_eq!(kinds(&integrity), [ChainBreakKind::PreviousHashMismatch]);
    }

    #[test]
    fn without_keys_signatures_are_unchecked_and_the_rest_still_runs() {
        let mut fixture = Fixture::new(4);
        fixture.logs.remove(0);
        let (digests, logs) = fixture.inputs();
        let integrity = verify(&digests, &logs, None, &Scope::default());
        assert_eq!(integrity.signatures.unchecked, 4);
        assert_eq!(integrity.signatures.unchecked_reasons.get("no public keys were given"), Some(&4));
        assert_eq!(integrity.missing.len(), 1);
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
    fn a_range_reports_nothing_about_what_lies_outside_it() {
        // Three days of hours; read as `--from 2024-03-02 --to 2024-03-02` would: the day folders
        // of the 2nd and 3rd, for logs and digests alike.
        let fixture = Fixture::new(72);
        let scope = Scope {
            days: Some((Day::parse("2024-03-02").expect("day"), Day::parse("2024-03-03").expect("day"))),
        };
        let (digests, logs) = fixture.inputs();
        let read = |name: &str| scope.holds(Place::of(name).day);
        let digests: Vec<DigestObject> = digests.into_iter().filter(|d| read(&d.object)).collect();
        let logs: Vec<LogObject> = logs.into_iter().filter(|l| read(&l.object)).collect();
        let integrity = verify(&digests, &logs, Some(&keys()), &scope);
        assert_eq!(integrity.problems(), 0, "{integrity:#?}");
        assert!(integrity.unlisted.is_empty());
        assert_eq!(integrity.digests_read, 48, "those ending 00:01:31 on the 2nd to 23:01:31 on the 3rd");

        // The same range over a whole archive, but a log file of the 2nd deleted: reported.
        let mut fixture = fixture;
        let gone =
            fixture.logs.iter().position(|l| l.key.contains("/2024/03/02/")).expect("a log of the 2nd");
        let name = fixture.log_named(gone);
        fixture.logs.remove(gone);
        let (digests, logs) = fixture.inputs();
        let digests: Vec<DigestObject> = digests.into_iter().filter(|d| read(&d.object)).collect();
        let logs: Vec<LogObject> = logs.into_iter().filter(|l| read(&l.object)).collect();
        let integrity = verify(&digests, &logs, Some(&keys()), &scope);
        assert_eq!(integrity.missing.iter().map(|m| m.object.as_str()).collect::<Vec<_>>(), [name.as_str()]);
        assert_eq!(integrity.problems(), 1);
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
        let (digests, logs) = fixture.inputs();
        let read = |name: &str| scope.holds(Place::of(name).day);
        let digests: Vec<DigestObject> = digests.into_iter().filter(|d| read(&d.object)).collect();
        let logs: Vec<LogObject> = logs.into_iter().filter(|l| read(&l.object)).collect();
        let integrity = verify(&digests, &logs, Some(&keys()), &scope);
        assert_eq!(kinds(&integrity), [ChainBreakKind::PreviousDigestAbsent], "{integrity:#?}");
        assert_eq!(integrity.chain_breaks[0].object.as_deref(), Some(name.as_str()));
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
    fn organization_trails_and_local_copies_are_matched_and_named_by_their_layout() {
        let mut fixture = Fixture::with_prefix(4, &format!("AWSLogs/o-a1b2c3d4e5/{ACCOUNT}/"));
        let gone = fixture.logs[1].key.clone();
        fixture.logs.remove(1);
        let (digests, logs) = fixture.inputs();
        // The same archive copied under a local folder (with a prefix the bucket did not have).
        let local = |name: &str| name.replace(ROOT, "/audit/copy/");
        let digests: Vec<DigestObject> =
            digests.into_iter().map(|d| DigestObject { object: local(&d.object), ..d }).collect();
        let logs: Vec<LogObject> =
            logs.into_iter().map(|l| LogObject { object: local(&l.object), ..l }).collect();
        let integrity = verify(&digests, &logs, Some(&keys()), &Scope::default());
        assert_eq!(integrity.missing.len(), 1, "{integrity:#?}");
        assert_eq!(integrity.missing[0].object, format!("/audit/copy/{gone}"));
        assert_eq!(
            (integrity.missing[0].account.as_str(), integrity.missing[0].region.as_str()),
            (ACCOUNT, REGION)
        );
        assert_eq!(integrity.log_files_verified, 5);
        assert_eq!(integrity.signatures.verified, 4);
    }

    #[test]
    fn a_flat_copy_is_matched_by_file_name() {
        let fixture = Fixture::new(3);
        let (digests, logs) = fixture.inputs();
        let flat = |name: &str| format!("/tmp/flat/{}", name.rsplit('/').next().unwrap_or_default());
        let digests: Vec<DigestObject> =
            digests.into_iter().map(|d| DigestObject { object: flat(&d.object), ..d }).collect();
        let mut logs: Vec<LogObject> =
            logs.into_iter().map(|l| LogObject { object: flat(&l.object), ..l }).collect();
        let gone = fixture.logs[0].key.clone();
        logs.remove(0);
        let integrity = verify(&digests, &logs, Some(&keys()), &Scope::default());
        assert_eq!(integrity.log_files_verified, 3, "{integrity:#?}");
        assert_eq!(integrity.missing[0].object, format!("s3://{BUCKET}/{gone}"), "no layout to name it by");
        assert_eq!(integrity.problems(), 1);
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

    #[test]
    fn the_result_does_not_depend_on_input_order_or_duplicates() {
        let mut fixture = Fixture::new(6);
        fixture.digests.remove(3);
        fixture.logs.remove(1);
        let (mut digests, mut logs) = fixture.inputs();
        let expected = verify(&digests, &logs, Some(&keys()), &Scope::default());
        digests.reverse();
        logs.reverse();
        digests.push(digests[0].clone());
        assert_eq!(verify(&digests, &logs, Some(&keys()), &Scope::default()), expected);
    }

    // Each step alone.

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
    fn matching_logs_alone_finds_missing_modified_and_listed_files() {
        let mut fixture = Fixture::new(4);
        fixture.logs[1].content = b"edited".to_vec();
        let gone = fixture.log_named(0);
        fixture.logs.remove(0);
        let (digests, logs) = fixture.inputs();
        let matched = match_logs(&read_digests(&digests), &logs, &Scope::default());
        assert_eq!(matched.missing.iter().map(|m| m.object.as_str()).collect::<Vec<_>>(), [gone.as_str()]);
        assert_eq!(matched.mismatch.iter().flatten().count(), 1);
        assert_eq!(
            matched.mismatch[0].as_ref().map(|m| m.object.as_str()),
            Some(fixture.log_named(0).as_str())
        );
        assert!(matched.listed.iter().all(|&l| l), "every file present is listed");
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

    #[test]
    fn checking_signatures_alone_fails_a_re_signed_digest_and_contradicts_it() {
        let mut fixture = Fixture::new(4);
        fixture.digests[1].signature = sign_digest(&fixture.digests[1].json, OTHER_KEY);
        let (digests, _) = fixture.inputs();
        let digests = read_digests(&digests);
        let mut findings = Findings::new(digests.found.len());
        let signatures = check_signatures(&digests, Some(&keys()), &mut findings);
        assert_eq!((signatures.verified, signatures.failed), (3, 1));
        assert_eq!(findings.contradicted.iter().filter(|&&c| c).count(), 1);
        let unchecked = check_signatures(&digests, None, &mut Findings::new(digests.found.len()));
        assert_eq!(unchecked.unchecked_reasons.get("no public keys were given"), Some(&4));
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
