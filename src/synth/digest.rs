//! Real digests for synthetic archives: per account and region, a chain of hourly digests in
//! CloudTrail's layout, listing every log file delivered in their hour with the SHA-256 of its
//! uncompressed bytes, each chained to the previous one and signed with the committed test key
//! (`testdata/keys/`) exactly as CloudTrail signs (see `src/verify/mod.rs` for the format and its
//! sources).
//!
//! The signature CloudTrail keeps in the object's S3 metadata (`x-amz-meta-signature`) is written
//! beside each digest as `<digest name>.sig` (hex): a local copy's stand-in for the metadata, and
//! what a test uploading the archive to S3 sets as the `signature` metadata
//! ([`SIGNATURE_SUFFIX`], [`SIGNATURE_ALGORITHM`]).

use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use serde::Serialize;

use super::rng::Rng;
use super::{gzip, put};
use crate::hash::Sha256;
use crate::keys::PublicKeys;
use crate::time::{Day, Timestamp, HOUR};
use crate::verify::{self, Digest};

/// The key the generator signs with. A test key, committed: see `testdata/keys/README.md`.
const TEST_SIGNING_KEY: &[u8] = include_bytes!("../../testdata/keys/test-digest-signing-key.pk8");

/// Another test key, listed nowhere: for tests that re-sign a digest.
pub const OTHER_TEST_SIGNING_KEY: &[u8] = include_bytes!("../../testdata/keys/test-other-signing-key.pk8");

/// The `list-public-keys` JSON that checks the generator's signatures.
pub const TEST_PUBLIC_KEYS: &[u8] = include_bytes!("../../testdata/keys/test-public-keys.json");

/// Its path in the repository, for `--public-keys`.
pub const TEST_PUBLIC_KEYS_PATH: &str = "testdata/keys/test-public-keys.json";

/// What a digest's signature sidecar is named: the digest's name and this.
pub const SIGNATURE_SUFFIX: &str = crate::layout::SIGNATURE_SUFFIX;

/// The S3 metadata a digest object carries beside `signature`: `signature-algorithm`.
pub const SIGNATURE_ALGORITHM: &str = verify::SIGNATURE_ALGORITHM;

/// The bucket the synthetic trails deliver to, as digests name it.
pub const BUCKET: &str = "trail-bucket";

/// The trail every synthetic stream belongs to, and its home region.
pub(crate) const TRAIL: &str = "management";
const HOME_REGION: &str = "us-east-1";

/// A log object the digests must list: where, when delivered, and what it holds.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    /// Relative to the archive: the S3 key.
    pub(crate) key: String,
    /// Milliseconds since the epoch.
    pub(crate) at: i64,
    pub(crate) sha256: Sha256,
    /// The first and last `eventTime` of its records, in milliseconds.
    pub(crate) events: Option<(i64, i64)>,
}

/// One stream's chain: who it belongs to and what it must cover.
pub(crate) struct Chain<'a> {
    /// Which stream of the archive: each draws its own start in the hour.
    pub(crate) index: u64,
    pub(crate) account: &'a str,
    pub(crate) org: Option<&'a str>,
    pub(crate) region: &'a str,
    /// Deliveries from here on are covered (the archive's first instant).
    pub(crate) from: i64,
    /// ... up to here at least (the archive's end).
    pub(crate) until: i64,
    /// Its log objects, in any order.
    pub(crate) logs: Vec<Delivered>,
}

/// What was written for a chain.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    /// Digests, relative to the archive, oldest first; each has its sidecar.
    pub(crate) digests: Vec<String>,
    /// Log files listed.
    pub(crate) log_files: u64,
    /// The delivery times covered, from the first digest's start to the last one's end.
    pub(crate) from: Timestamp,
    pub(crate) to: Timestamp,
}

/// The digest JSON, field for field in the order of the User Guide's sample.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DigestJson<'a> {
    aws_account_id: &'a str,
    digest_start_time: String,
    digest_end_time: String,
    digest_s3_bucket: &'a str,
    digest_s3_object: &'a str,
    digest_public_key_fingerprint: &'a str,
    digest_signature_algorithm: &'a str,
    newest_event_time: Option<String>,
    oldest_event_time: Option<String>,
    previous_digest_s3_bucket: Option<&'a str>,
    previous_digest_s3_object: Option<&'a str>,
    previous_digest_hash_value: Option<String>,
    previous_digest_hash_algorithm: Option<&'a str>,
    previous_digest_signature: Option<&'a str>,
    log_files: Vec<LogFileJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogFileJson<'a> {
    s3_bucket: &'a str,
    s3_object: &'a str,
    hash_value: String,
    hash_algorithm: &'a str,
    newest_event_time: Option<String>,
    oldest_event_time: Option<String>,
}

/// Event times in digests have whole seconds, as CloudTrail writes them.
fn whole_seconds(ms: i64) -> String {
    Timestamp(ms - ms.rem_euclid(1_000)).to_string()
}

/// The fingerprint digests name: that of the committed public key.
fn fingerprint() -> io::Result<String> {
    let keys = PublicKeys::parse(TEST_PUBLIC_KEYS).map_err(io::Error::other)?;
    let first = keys.fingerprints().next().map(str::to_owned);
    first.ok_or_else(|| io::Error::other("no test public key"))
}

/// Writes one stream's chain of hourly digests under `archive`, with their sidecars. Periods
/// start a fixed number of seconds past the hour, drawn from `seed` (CloudTrail's do not start
/// on the hour either); the first starts the chain an hour before `from`, and they go on until
/// every log and `until` are covered. The digest of an hour is written in the folder of its end,
/// so the last one of a day lands in the next day's folder.
pub(crate) fn write_chain(archive: &Path, seed: u64, chain: &Chain) -> io::Result<Written> {
    let fingerprint = fingerprint()?;
    let mut rng = Rng::fork(seed, 0xD16E_5700 + chain.index);
    let offset = 1_000 * rng.between(60, 3_540) as i64;
    let prefix = match chain.org {
        Some(org) => format!("AWSLogs/{org}/{}", chain.account),
        None => format!("AWSLogs/{}", chain.account),
    };
    let mut logs = chain.logs.clone();
    logs.sort_by(|a, b| (a.at, &a.key).cmp(&(b.at, &b.key)));
    let last = logs.last().map_or(chain.until, |l| l.at.max(chain.until));

    let first_start = chain.from - chain.from.rem_euclid(HOUR) + offset - HOUR;
    let mut written = Written {
        digests: Vec::new(),
        log_files: 0,
        from: Timestamp(first_start),
        to: Timestamp(first_start),
    };
    let mut previous: Option<(String, Sha256, String)> = None;
    let mut next_log = logs.iter().peekable();
    let mut start = first_start;
    while start <= last {
        let end = start + HOUR;
        let listed: Vec<&Delivered> = std::iter::from_fn(|| next_log.next_if(|l| l.at < end)).collect();
        let end_day = Day(end.div_euclid(86_400_000));
        let (y, m, d) = end_day.ymd();
        let key = format!(
            "{prefix}/CloudTrail-Digest/{region}/{y:04}/{m:02}/{d:02}/{account}_CloudTrail-Digest_{region}_{TRAIL}_{HOME_REGION}_{stamp}.json.gz",
            region = chain.region,
            account = chain.account,
            stamp = compact(end),
        );
        let events = listed.iter().filter_map(|l| l.events);
        let oldest = events.clone().map(|(first, _)| first).min();
        let newest = events.map(|(_, last)| last).max();
        let body = DigestJson {
            aws_account_id: chain.account,
            digest_start_time: Timestamp(start).to_string(),
            digest_end_time: Timestamp(end).to_string(),
            digest_s3_bucket: BUCKET,
            digest_s3_object: &key,
            digest_public_key_fingerprint: &fingerprint,
            digest_signature_algorithm: SIGNATURE_ALGORITHM,
            newest_event_time: newest.map(whole_seconds),
            oldest_event_time: oldest.map(whole_seconds),
            previous_digest_s3_bucket: previous.as_ref().map(|_| BUCKET),
            previous_digest_s3_object: previous.as_ref().map(|(k, _, _)| k.as_str()),
            previous_digest_hash_value: previous.as_ref().map(|(_, h, _)| h.to_string()),
            previous_digest_hash_algorithm: previous.as_ref().map(|_| "SHA-256"),
            previous_digest_signature: previous.as_ref().map(|(_, _, s)| s.as_str()),
            log_files: listed
                .iter()
                .map(|l| LogFileJson {
                    s3_bucket: BUCKET,
                    s3_object: &l.key,
                    hash_value: l.sha256.to_string(),
                    hash_algorithm: "SHA-256",
                    newest_event_time: l.events.map(|(_, last)| whole_seconds(last)),
                    oldest_event_time: l.events.map(|(first, _)| whole_seconds(first)),
                })
                .collect(),
        };
        let json = serde_json::to_vec(&body).map_err(io::Error::other)?;
        let signature = sign(&json, TEST_SIGNING_KEY)?;
        put(&archive.join(&key), &gzip(&json, 6)?)?;
        put(&archive.join(format!("{key}{SIGNATURE_SUFFIX}")), signature.as_bytes())?;
        written.log_files += listed.len() as u64;
        written.to = Timestamp(end);
        written.digests.push(key.clone());
        previous = Some((key, Sha256::of(&json), signature));
        start = end;
    }
    Ok(written)
}

/// `YYYYMMDDTHHMMSSZ`, as digest names carry their end time.
fn compact(ms: i64) -> String {
    Timestamp(ms - ms.rem_euclid(1_000)).to_string().chars().filter(|c| *c != '-' && *c != ':').collect()
}

/// The hex signature CloudTrail would give a digest whose uncompressed content is `json`, made
/// with a PKCS#8 RSA key.
fn sign(json: &[u8], key: &[u8]) -> io::Result<String> {
    let digest = Digest::parse(json).map_err(io::Error::other)?;
    let message = verify::signing_string(
        &digest.end_text,
        &digest.bucket,
        &digest.key,
        &Sha256::of(json),
        digest.previous_signature_text().as_deref(),
    );
    verify::sign(key, message.as_bytes()).map_err(io::Error::other)
}

/// Signs the digest at `path` (gzipped, as written) anew with `key` and rewrites its sidecar, as
/// someone holding another key would: returns the new signature. For tests of signatures that
/// must fail.
pub fn resign(path: &Path, key: &[u8]) -> io::Result<String> {
    let mut json = Vec::new();
    MultiGzDecoder::new(std::fs::File::open(path)?).read_to_end(&mut json)?;
    let signature = sign(&json, key)?;
    let mut sidecar = path.as_os_str().to_owned();
    sidecar.push(SIGNATURE_SUFFIX);
    std::fs::write(sidecar, signature.as_bytes())?;
    Ok(signature)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::synth::{generate, Spec};
    use crate::verify::{verify, DigestObject, LogObject, Scope, UnlistedCause};

    fn small() -> Spec {
        Spec { objects: 48, records: 600, connections: 5, digests: true, ..Spec::testdata() }
    }

    fn files(root: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }

    /// Reads a generated archive back the way the reading pipeline will: digests inflated and
    /// parsed with their sidecar signature, log objects hashed over their uncompressed content.
    fn read_back(archive: &Path) -> (Vec<DigestObject>, Vec<LogObject>) {
        let (mut digests, mut logs) = (Vec::new(), Vec::new());
        for path in files(archive) {
            let name = path.to_string_lossy().into_owned();
            if name.ends_with(SIGNATURE_SUFFIX) {
                continue;
            }
            let bytes = std::fs::read(&path).expect("read");
            let content = if bytes.starts_with(&[0x1f, 0x8b]) {
                let mut out = Vec::new();
                MultiGzDecoder::new(&bytes[..]).read_to_end(&mut out).ok().map(|_| out)
            } else {
                Some(bytes)
            };
            if name.contains("/CloudTrail-Digest/") {
                let signature = std::fs::read_to_string(format!("{name}{SIGNATURE_SUFFIX}")).ok();
                let content = content.expect("digests inflate");
                digests.push(DigestObject::from_content(name, &content, signature));
            } else if name.ends_with(".json.gz") {
                logs.push(LogObject { object: name, sha256: content.map(|c| Sha256::of(&c)), events: None });
            }
        }
        (digests, logs)
    }

    #[test]
    fn a_generated_archive_verifies_as_its_truth_says() {
        let dir = tempfile::tempdir().expect("temp dir");
        let truth = generate(&small(), dir.path()).expect("generate");
        let expected = truth.integrity.expect("digests were written");
        let archive = dir.path().join("archive");
        let (digests, logs) = read_back(&archive);
        let keys = PublicKeys::parse(TEST_PUBLIC_KEYS).expect("keys");
        let integrity = verify(&digests, &logs, Some(&keys), &Scope::default());

        assert_eq!(integrity.digests_read, expected.digests);
        assert_eq!(integrity.digests_verified, expected.digests);
        assert_eq!(integrity.signatures.verified, expected.digests, "{:?}", integrity.signatures);
        assert_eq!(integrity.log_files_verified, expected.log_files);
        assert!(integrity.missing.is_empty() && integrity.modified.is_empty(), "{integrity:#?}");
        assert!(
            integrity.chain_breaks.is_empty() && integrity.unreadable_digests.is_empty(),
            "{integrity:#?}"
        );
        let unlisted: Vec<String> = integrity.unlisted.iter().map(|u| u.object.clone()).collect();
        let expected_unlisted: Vec<String> =
            expected.unlisted.iter().map(|p| archive.join(p).to_string_lossy().into_owned()).collect();
        assert_eq!(unlisted, expected_unlisted);
        assert!(
            integrity.unlisted.iter().all(|u| u.cause == UnlistedCause::NotListed),
            "{:#?}",
            integrity.unlisted
        );

        for stream in &expected.streams {
            let found = integrity
                .streams
                .iter()
                .find(|s| (&s.account, &s.region) == (&stream.account, &stream.region))
                .unwrap_or_else(|| panic!("{} {} verified", stream.account, stream.region));
            assert_eq!(found.trails, [stream.trail.as_str()]);
            assert_eq!((found.digests, found.log_files_verified), (stream.digests, stream.log_files));
            assert_eq!(
                (found.from.as_deref(), found.to.as_deref()),
                (Some(&*stream.from), Some(&*stream.to))
            );
        }
        assert_eq!(expected.streams.len(), 6);
    }

    #[test]
    fn digests_are_hourly_chained_and_the_last_of_a_day_sits_in_the_next_days_folder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let truth = generate(&Spec { extras: false, ..small() }, dir.path()).expect("generate");
        let (digests, _) = read_back(&dir.path().join("archive"));
        // Two days, plus the hour before the first and the one holding the last deliveries.
        let per_stream = truth.integrity.as_ref().expect("digests").streams[0].digests;
        assert_eq!(per_stream, 49, "48 hours and the one that starts the chain");
        let parsed: Vec<&Digest> = digests.iter().filter_map(|d| d.digest.as_ref().ok()).collect();
        assert_eq!(parsed.len(), digests.len());
        assert_eq!(
            parsed.iter().filter(|d| d.previous.is_none()).count(),
            6,
            "one starting digest per stream"
        );
        for digest in &parsed {
            assert_eq!(digest.end.millis() - digest.start.millis(), HOUR);
            let day = Day(digest.end.millis().div_euclid(86_400_000)).ymd();
            assert!(
                digest.key.contains(&format!("/{:04}/{:02}/{:02}/", day.0, day.1, day.2)),
                "{}",
                digest.key
            );
        }
        assert!(
            parsed
                .iter()
                .any(|d| d.start.millis().div_euclid(86_400_000) != d.end.millis().div_euclid(86_400_000)),
            "some digest spans midnight and sits in the folder of its end"
        );
        assert!(
            parsed.iter().any(|d| d.log_files.is_empty()),
            "an hour with no log file still has its digest"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_digests_and_signatures() {
        let (a, b) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
        let spec = Spec { extras: false, ..small() };
        generate(&spec, a.path()).expect("generate");
        generate(&spec, b.path()).expect("generate");
        let read = |root: &Path| -> Vec<(PathBuf, Vec<u8>)> {
            files(root)
                .into_iter()
                .map(|p| {
                    (p.strip_prefix(root).expect("inside").to_path_buf(), std::fs::read(&p).expect("read"))
                })
                .collect()
        };
        assert!(read(a.path()) == read(b.path()), "byte-identical archives and truths");
    }

    #[test]
    fn a_digest_re_signed_with_the_other_key_fails_verification() {
        let dir = tempfile::tempdir().expect("temp dir");
        generate(&Spec { extras: false, ..small() }, dir.path()).expect("generate");
        let archive = dir.path().join("archive");
        let victim = files(&archive)
            .into_iter()
            .find(|p| {
                p.to_string_lossy().ends_with(".json.gz") && p.to_string_lossy().contains("CloudTrail-Digest")
            })
            .expect("a digest");
        let before =
            std::fs::read_to_string(format!("{}{SIGNATURE_SUFFIX}", victim.display())).expect("sidecar");
        let after = resign(&victim, OTHER_TEST_SIGNING_KEY).expect("re-sign");
        assert_ne!(before, after);
        let (digests, logs) = read_back(&archive);
        let keys = PublicKeys::parse(TEST_PUBLIC_KEYS).expect("keys");
        let integrity = verify(&digests, &logs, Some(&keys), &Scope::default());
        assert_eq!(integrity.signatures.failed, 1);
        assert_eq!(integrity.signatures.failures[0].object, victim.to_string_lossy());
    }
}
