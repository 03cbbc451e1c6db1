//! Verification of an archive against CloudTrail's signed digests: which log files are missing,
//! modified or listed by no digest, where the chain of digests is broken, which signatures fail.
//! The checks are pure: the reading pipeline hands in what it found ([`input`]: names, hashes,
//! parsed digests, signatures) and gets back an [`Integrity`] to report ([`integrity`]). Nothing
//! here opens a file or reads the network: what a run keeps on disk until it verifies (below)
//! goes to temporary files made by [`crate::spill`]. [`verify`] runs five steps, a file each: read the digests ([`digests`]),
//! match the log files they list ([`logs`]), check the chains ([`chains`]), check the signatures
//! ([`signature`]), summarise ([`summary`]). Around them: the digest file format ([`mod@format`]),
//! how objects are matched by their place in the layout ([`place`]), a digest or log file as one
//! JSON value ([`fact`]: kept on disk, and handed on in a partial's residue), and where a run keeps what it read
//! until then: on disk, verified a group of account-regions at a time, which gives what one call
//! over everything gives ([`facts`]), and a large group in parts by file name ([`split`]).
//!
//! # What CloudTrail writes, and where each fact comes from
//!
//! Sources, cited below by their short name in parentheses (all read in 2026; the notes in `docs/digest-notes.md` say
//! the same with more detail):
//! - (structure): CloudTrail User Guide, "CloudTrail digest file structure",
//!   <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html>
//!   (also `doc_source/cloudtrail-log-file-validation-digest-file-structure.md` in
//!   github.com/awsdocs/aws-cloudtrail-user-guide).
//! - (custom): CloudTrail User Guide, "Custom implementations of CloudTrail log file integrity
//!   validation", <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-custom-validation.html>
//!   (`doc_source/cloudtrail-log-file-custom-validation.md`).
//! - (api): CloudTrail API Reference, `ListPublicKeys` and `PublicKey`,
//!   <https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_ListPublicKeys.html>.
//! - (cli): aws-cli, `awscli/customizations/cloudtrail/validation.py` (github.com/aws/aws-cli,
//!   commit 07c4fe3, 2026-07), the reference implementation of `aws cloudtrail validate-logs`,
//!   and its example `awscli/examples/cloudtrail/list-public-keys.rst`.
//! - (two-deleted): the aws-cli issue "Logs Validator is not seeing when user will delete two
//!   digest-files in a row" (<https://github.com/aws/aws-cli/issues/7054>).
//!
//! Facts:
//! - **Key layout** (structure): `[prefix/]AWSLogs/[O-ID/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/
//!   ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_YYYYMMDDTHHMMSSZ.json.gz`. The date folders
//!   and the timestamp are the digest's *end* time, so the digest of an hour that ends after
//!   midnight sits in the next day's folder. The first REGION is where the logs come from, the
//!   last is the trail's home region. Organization trails add the `O-ID/` folder.
//! - **Backfill digests** (structure, cli): named `..._YYYYMMDDTHHMMSSZ_backfill.json.gz`,
//!   delivered when logs were left out of the original digest by processing delays. aws-cli
//!   walks them as a chain of their own (their `previousDigest*` fields point to earlier backfill
//!   digests) and reads an S3 metadata entry `backfill-generation-timestamp` with them. They are
//!   not hourly, so hours without one are not a break.
//! - **Fields** (structure): `awsAccountId`, `digestStartTime`, `digestEndTime` (the span of
//!   *delivery* times of the logs listed, `[start, end]`), `digestS3Bucket`, `digestS3Object`,
//!   `digestPublicKeyFingerprint` (the field list of (structure) calls it `publicKeyFingerprint`,
//!   but its samples and (cli) use `digestPublicKeyFingerprint`), `digestSignatureAlgorithm`
//!   (`SHA256withRSA`), `newestEventTime`, `oldestEventTime` (null when no log is listed),
//!   `previousDigestS3Bucket`, `previousDigestS3Object`, `previousDigestHashValue`,
//!   `previousDigestHashAlgorithm` (`SHA-256`), `previousDigestSignature`, and `logFiles[]` of
//!   `{s3Bucket, s3Object, hashValue, hashAlgorithm, newestEventTime, oldestEventTime}`.
//!   Consecutive digests are contiguous: a digest's `digestStartTime` is its previous one's
//!   `digestEndTime` (every sample of (structure)).
//! - **Log hash** (structure, custom): `hashValue` is the hex SHA-256 of the log file's
//!   *uncompressed* content. (cli) hashes the inflated stream of the first gzip member and
//!   rejects data after it.
//! - **Previous digest hash** (structure): `previousDigestHashValue` is the hex SHA-256 of the
//!   previous digest file's *uncompressed* content.
//! - **Starting digest** (structure): when validation starts or restarts (validation or logging
//!   turned off and on), every `previousDigest*` field is null. Hours between the last digest
//!   before and the starting digest have no digest at all, by design.
//! - **Empty digests** (structure): a digest is delivered every hour even when no log was,
//!   with `logFiles: []`.
//! - **Signing string** (custom, cli): `digestEndTime + "\n" + digestS3Bucket + "/" +
//!   digestS3Object + "\n" + hex(SHA-256(uncompressed digest)) + "\n" + previousDigestSignature`,
//!   with the field values exactly as written in the digest, and the literal `null` when
//!   `previousDigestSignature` is null (a starting digest): (cli) writes "The value must be
//!   'null' to match the Java implementation", and (custom)'s Java sample formats the field
//!   with `getString`.
//! - **Signature** (custom, structure): RSA PKCS#1 v1.5 over SHA-256 of the signing string
//!   (`SHA256withRSA`; (cli) verifies with python-rsa's PKCS#1 v1.5 `rsa.verify`), hex-encoded,
//!   in the digest object's S3 metadata `x-amz-meta-signature`, with
//!   `x-amz-meta-signature-algorithm: SHA256withRSA`. A digest's signature is also written in
//!   the next digest's `previousDigestSignature`, which is how (custom) ("Validating digest and
//!   log files offline") validates all but the newest digest of a copy without S3 metadata.
//! - **Public keys** (custom, api, cli): one key pair per region at a time; `ListPublicKeys`
//!   (`aws cloudtrail list-public-keys`) returns `PublicKeyList[]` of `{Value, ValidityStartTime,
//!   ValidityEndTime, Fingerprint}`, `Value` being base64 of the DER public key ("PKCS #1": an
//!   `RSAPublicKey`; one sample of (custom) is a `SubjectPublicKeyInfo`). The digest's
//!   `digestPublicKeyFingerprint` picks the key. The fingerprint is the hex MD5 of the DER bytes
//!   of `Value`: checked on the four keys of (custom) and (cli)'s samples (not stated anywhere).
//!   aws-cli v1 prints the validity times as epoch seconds (`1453076702.0`, (cli)'s example);
//!   (custom)'s sample has them as strings and a `publicKeyList` key; aws-cli v2 prints ISO 8601
//!   by default. All of these are accepted.
//! - **Two deleted digests in a row** (two-deleted, cli): aws-cli follows `previousDigestS3Object`
//!   from the newest digest; on a missing one it jumps to the next digest listed in the bucket
//!   and reports only the first missing one. Here every hour is accounted for instead: see
//!   the rules below.
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
//! `no_digest` span: that is how the second of two deleted digests in a row is caught, which
//! aws-cli misses ((two-deleted) above). If B is a starting digest (no previous), the hours
//! between A and B are a `chain_restarted` span: CloudTrail restarts the chain when validation or
//! logging was turned off. A digest that is unreadable has unknown content: the link into it is
//! taken on trust, the hours before it are not checked.
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
//! its account and region was read. Delivered less than [`summary::AWAITING`] after the last
//! digest, its digest may simply not be delivered yet: `awaiting_digest`, the one reason that is
//! not a problem.
//!
//! **Signatures.** A digest's signature is the one read with it (S3 metadata or sidecar) or,
//! failing that, the `previousDigestSignature` of the digest after it, as CloudTrail's guide
//! does offline: on a copy without metadata, every digest but the newest is still checked. The
//! key is the one whose fingerprint the digest names. A fingerprint that no given key has, while
//! some given key was valid at the digest's end, is a failure (a key CloudTrail does not list);
//! when no given key was valid then, the signature is unchecked.

mod chains;
mod digests;
pub(crate) mod fact;
mod facts;
#[cfg(test)]
pub(crate) mod fixture;
mod format;
mod input;
mod integrity;
mod logs;
mod place;
mod signature;
mod split;
mod summary;

use chains::check_chains;
use digests::{check_delivery, read_digests};
pub(crate) use facts::Facts;
pub(crate) use format::Digest;
use format::LogFile;
pub(crate) use input::{DigestObject, LogObject, Scope};
pub(crate) use integrity::Integrity;
use integrity::{ChainBreak, ChainBreakKind};
use logs::{match_listings, match_logs};
use signature::check_signatures;
pub(crate) use split::PART_BYTES;
// Signing is for the generator and the tests: trailscope itself only verifies.
#[cfg(any(test, feature = "synth"))]
pub(crate) use signature::{sign, signing_string, SIGNATURE_ALGORITHM};
use summary::{summarise, Summary};
// What only tests name from outside their module.
#[cfg(test)]
pub(crate) use integrity::UnlistedCause;

use crate::keys::PublicKeys;
use crate::time::Timestamp;

/// Verifies the archive: see the module documentation for the rules. Five steps, each a function
/// of what the steps before it found: read the digests, match the log files they list, check the
/// chains, check the signatures, summarise.
pub(crate) fn verify(
    digests: &[DigestObject],
    logs: &[LogObject],
    keys: Option<&PublicKeys>,
    scope: &Scope,
) -> Integrity {
    let (digests, findings, signatures) = check_digests(digests, keys, scope);
    let matched = match_logs(&digests, logs, scope);
    summarise(&digests, logs, matched, findings, signatures, scope)
}

/// The steps that read digests alone: read them, check the chains, check the signatures.
fn check_digests<'a>(
    digests: &'a [DigestObject],
    keys: Option<&PublicKeys>,
    scope: &Scope,
) -> (digests::Digests<'a>, Findings, integrity::Signatures) {
    let digests = read_digests(digests);
    let mut findings = Findings::new(digests.found.len());
    check_delivery(&digests, &mut findings);
    check_chains(&digests, scope, &mut findings);
    let signatures = check_signatures(&digests, keys, &mut findings);
    (digests, findings, signatures)
}

/// One log file a digest lists, read apart from the digest: which digest (its position among the
/// digests handed to [`verify_in_parts`]) and the entry of its list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listing {
    pub(crate) digest: usize,
    pub(crate) file: LogFile,
}

/// A part of the log files and listings: every log file and every listing of some file names.
pub(crate) type Part = (Vec<LogObject>, Vec<Listing>);

/// [`verify`], holding a part of the log files at a time: the digests come without their lists
/// of log files, and the log files and the listings come in parts, each part every log file and
/// every listing of some file names, each listing in a part after those of its digest that come
/// before it in the digest's list. The [`Integrity`] is the one [`verify`] gives over the digests
/// with their lists and all the log files: a log file is only ever matched by a listing of its
/// file name ([`logs::match_listings`]), and everything else of the steps reads digests alone.
pub(crate) fn verify_in_parts<E>(
    digests: &[DigestObject],
    parts: impl Iterator<Item = Result<Part, E>>,
    keys: Option<&PublicKeys>,
    scope: &Scope,
) -> Result<Integrity, E> {
    let (digests, findings, signatures) = check_digests(digests, keys, scope);
    // From an input's position to its place among the digests found (a second copy of the same
    // digest is not found, and what it lists is not read again).
    let mut found_at = vec![None; digests.found.iter().map(|f| f.position + 1).max().unwrap_or(0)];
    for (i, f) in digests.found.iter().enumerate() {
        found_at[f.position] = Some(i);
    }
    let mut summary = Summary::new(&digests, findings, signatures);
    for part in parts {
        let (logs, listings) = part?;
        let mut listings: Vec<(usize, LogFile)> = listings
            .into_iter()
            .filter_map(|l| found_at.get(l.digest).copied().flatten().map(|i| (i, l.file)))
            .collect();
        // In the order of the found digests; stable, so each digest's in its list's order.
        listings.sort_by_key(|(i, _)| *i);
        let matched = match_listings(&digests, listings.iter().map(|(i, f)| (*i, f)), &logs, scope);
        summary.judge(&logs, matched, scope);
    }
    Ok(summary.finish())
}

/// What the checks hold against digests: which ones something contradicts (they do not count as
/// verified), and the chain breaks found.
pub(super) struct Findings {
    pub(super) contradicted: Vec<bool>,
    pub(super) breaks: Vec<(BreakOrder, ChainBreak)>,
}

impl Findings {
    pub(super) fn new(digests: usize) -> Findings {
        Findings { contradicted: vec![false; digests], breaks: Vec::new() }
    }

    pub(super) fn add_break(&mut self, moment: Timestamp, brk: ChainBreak) {
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

/// Chain breaks are listed by account, region, trail, time, kind and object.
type BreakOrder = (String, String, String, Timestamp, ChainBreakKind, String);

#[cfg(test)]
mod tests {
    use fixture::*;

    use super::*;

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
    fn a_range_reports_nothing_about_what_lies_outside_it() {
        // Three days of hours; read as `--from 2024-03-02 --to 2024-03-02` would: the day folders
        // of the 2nd and 3rd, for logs and digests alike.
        let fixture = Fixture::new(72);
        let scope = Scope {
            days: Some((Day::parse("2024-03-02").expect("day"), Day::parse("2024-03-03").expect("day"))),
        };
        let (digests, logs) = fixture.inputs_in(&scope);
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
        let (digests, logs) = fixture.inputs_in(&scope);
        let integrity = verify(&digests, &logs, Some(&keys()), &scope);
        assert_eq!(integrity.missing.iter().map(|m| m.object.as_str()).collect::<Vec<_>>(), [name.as_str()]);
        assert_eq!(integrity.problems(), 1);
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
}
