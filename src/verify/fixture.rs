//! The archive the tests of every step verify: one trail, account and region, its digests and
//! log files made and signed as CloudTrail makes them, then broken as each test needs.

use serde_json::json;

pub(crate) use super::integrity::*;
use super::{sign, signing_string, Digest};
pub(crate) use super::{verify, DigestObject, LogObject, Scope};
pub(crate) use crate::hash::Sha256;
pub(crate) use crate::keys::PublicKeys;
use crate::layout::format_compact;
pub(crate) use crate::time::{Day, Timestamp};
use crate::time::{HOUR, MINUTE};

pub(crate) const KEY: &[u8] = include_bytes!("../../testdata/keys/test-digest-signing-key.pk8");
pub(crate) const OTHER_KEY: &[u8] = include_bytes!("../../testdata/keys/test-other-signing-key.pk8");
pub(crate) const KEYS: &[u8] = include_bytes!("../../testdata/keys/test-public-keys.json");
pub(crate) const ACCOUNT: &str = "111122223333";
pub(crate) const REGION: &str = "us-east-1";
pub(crate) const BUCKET: &str = "trail-bucket";
pub(crate) const ROOT: &str = "s3://trail-bucket/";

/// 2024-03-01T00:01:31Z plus `hours`: where digest `k` ends (`k` = hours).
pub(crate) fn at(hours: i64, minutes: i64) -> Timestamp {
    let base = Timestamp::parse("2024-03-01T00:01:31Z").expect("valid");
    Timestamp(base.millis() + hours * HOUR + minutes * MINUTE)
}

pub(crate) fn folder(prefix: &str, service: &str, time: Timestamp) -> String {
    let (y, m, d) = Day(time.millis().div_euclid(86_400_000)).ymd();
    format!("{prefix}{service}/{REGION}/{y:04}/{m:02}/{d:02}")
}

/// A digest as CloudTrail writes it: the JSON, where it is, its signature.
#[derive(Clone)]
pub(crate) struct DigestFile {
    pub(crate) key: String,
    pub(crate) json: Vec<u8>,
    pub(crate) signature: String,
}

#[derive(Clone)]
pub(crate) struct LogFileAt {
    pub(crate) key: String,
    pub(crate) content: Vec<u8>,
    pub(crate) delivered: Timestamp,
}

/// An archive of one trail, account and region: digest `k` (0..hours) covers the hour
/// ending `at(k, 0)`, digest 0 starts the chain, and every hour but the third has two log
/// files, delivered 15 and 35 minutes into it.
#[derive(Clone)]
pub(crate) struct Fixture {
    pub(crate) prefix: String,
    pub(crate) trail: String,
    pub(crate) digests: Vec<DigestFile>,
    pub(crate) logs: Vec<LogFileAt>,
    pub(crate) signatures: bool,
}

impl Fixture {
    pub(crate) fn new(hours: i64) -> Fixture {
        Fixture::with_prefix(hours, &format!("AWSLogs/{ACCOUNT}/"))
    }

    pub(crate) fn with_prefix(hours: i64, prefix: &str) -> Fixture {
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

    pub(crate) fn log(&self, delivered: Timestamp, text: &str) -> LogFileAt {
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

    pub(crate) fn digest_key(&self, end: Timestamp, backfill: bool) -> String {
        format!(
            "{}/{ACCOUNT}_CloudTrail-Digest_{REGION}_{}_{REGION}_{}{}.json.gz",
            folder(&self.prefix, "CloudTrail-Digest", end),
            self.trail,
            format_compact(end),
            if backfill { "_backfill" } else { "" }
        )
    }

    pub(crate) fn push_digest(
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

    pub(crate) fn digest_named(&self, k: usize) -> String {
        format!("{ROOT}{}", self.digests[k].key)
    }

    pub(crate) fn log_named(&self, i: usize) -> String {
        format!("{ROOT}{}", self.logs[i].key)
    }

    pub(crate) fn inputs(&self) -> (Vec<DigestObject>, Vec<LogObject>) {
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

    /// The objects a run narrowed to `scope` reads: those in its day folders.
    pub(crate) fn inputs_in(&self, scope: &Scope) -> (Vec<DigestObject>, Vec<LogObject>) {
        let (digests, logs) = self.inputs();
        let read = |name: &str| scope.holds(super::place::Place::of(name).day);
        (
            digests.into_iter().filter(|d| read(&d.object)).collect(),
            logs.into_iter().filter(|l| read(&l.object)).collect(),
        )
    }

    pub(crate) fn verify(&self) -> Integrity {
        let (digests, logs) = self.inputs();
        verify(&digests, &logs, Some(&keys()), &Scope::default())
    }
}

pub(crate) fn keys() -> PublicKeys {
    PublicKeys::parse(KEYS).expect("test keys")
}

/// The test key's `Value`, for other listings of it.
pub(crate) fn test_key_value() -> String {
    let keys: serde_json::Value = serde_json::from_slice(KEYS).expect("JSON");
    keys["PublicKeyList"][0]["Value"].as_str().expect("a Value").to_owned()
}

/// Signs a digest's JSON as CloudTrail does, with `key`.
pub(crate) fn sign_digest(json: &[u8], key: &[u8]) -> String {
    let digest = Digest::parse(json).expect("a digest");
    let message = signing_string(
        &digest.end_text,
        &digest.bucket,
        &digest.key,
        &Sha256::of(json),
        digest.previous_signature_text().as_deref(),
    );
    sign(key, message.as_bytes()).expect("sign")
}

pub(crate) fn kinds(integrity: &Integrity) -> Vec<ChainBreakKind> {
    integrity.chain_breaks.iter().map(|b| b.kind).collect()
}
