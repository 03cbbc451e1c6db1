//! CloudTrail digests: parsing them, checking their RSA signatures, and verifying an archive
//! against them (which log files are missing, modified or listed by no digest, and where the
//! chain of digests is broken). Everything here is pure: the reading pipeline hands in what it
//! found (names, hashes, parsed digests, signatures) and gets back an [`Integrity`] to report.
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
//! - (7054): aws-cli issue #7054, "Logs Validator is not seeing when user will delete two
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
//! - **Two deleted digests in a row** (7054, cli): aws-cli follows `previousDigestS3Object`
//!   from the newest digest; on a missing one it jumps to the next digest listed in the bucket
//!   and reports only the first missing one. Here every hour is accounted for instead: see
//!   `verify` (in `verify.rs`) for the rules.

mod format;
pub(crate) mod residue;
mod signature;
mod algorithm;

pub(crate) use format::Digest;
pub(crate) use signature::{signing_string, verify_signature, SIGNATURE_ALGORITHM};
// Signing is for the generator and the tests: trailscope itself only verifies.
#[cfg(any(test, feature = "synth"))]
pub(crate) use signature::sign;
pub(crate) use algorithm::{verify, DigestObject, Integrity, LogObject, Scope};
// What only tests name from outside their module.
#[cfg(test)]
pub(crate) use algorithm::UnlistedCause;

