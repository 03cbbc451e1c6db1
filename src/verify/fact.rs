//! A fact: a digest or a log file as [`verify`](super::verify) reads it, or the public keys a run
//! had, as one JSON value that survives a line exactly (hashes as hex, times as milliseconds,
//! every text field of a digest verbatim: the signing string is made from them). It is the line
//! of the temporary files a run keeps what it read in until it verifies ([`Facts`](super::Facts),
//! [`split`](super::split)), and the value of a partial's residue line (`crate::partial::residue`,
//! which orders them and writes them): one encoding, here, because verification reads it back.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::format::{Buckets, Digest, LogFile, PreviousDigest};
use super::{DigestObject, LogObject};
use crate::hash::{hex, unhex, HexText, Sha256};
use crate::keys::{PublicKey, PublicKeys};

use crate::time::Timestamp;

/// One line of a partial's residue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Fact {
    /// A digest object, as the shard read it.
    Digest(Box<DigestFact>),
    /// A log file, with its hash.
    Log(LogFact),
    /// The public keys the shard checked signatures with (`--public-keys` or the CloudTrail
    /// API); absent when it had none, which is not the same as an empty list (see `verify`).
    Keys(Vec<KeyFact>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DigestFact {
    object: String,
    /// Its content, parsed; `None` when unreadable, with `error` saying why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<DigestFields>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DigestFields {
    account: String,
    start: i64,
    end: i64,
    end_text: String,
    bucket: String,
    key: String,
    fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature_algorithm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous: Option<PreviousFields>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_signature: Option<String>,
    log_files: Vec<LogFileFields>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PreviousFields {
    bucket: String,
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    /// The digest's `previous_signature` once more: format 1 has it here too, so it is written for
    /// the readers of format 1 that take it from here, and not read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
}

/// One entry of a digest's list of log files, as a fact holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct LogFileFields {
    bucket: String,
    key: String,
    sha256: String,
}

impl LogFileFields {
    pub(super) fn key(&self) -> &str {
        &self.key
    }

    /// The entry as verification uses it, its bucket's name shared with the entries before it.
    pub(super) fn read(self, buckets: &mut Buckets) -> Result<LogFile, String> {
        Ok(LogFile { bucket: buckets.share(self.bucket), key: self.key, sha256: sha256(&self.sha256)? })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LogFact {
    object: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    events: Option<(i64, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyFact {
    fingerprint: String,
    /// The DER key, hex.
    der: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_from: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_until: Option<i64>,
}

/// What a fact read back is, for the merge.
pub(crate) enum Read {
    Object(Object),
    Keys(Vec<PublicKey>),
}

/// A digest or a log file read back: what verification files.
pub(crate) enum Object {
    Digest(Box<DigestObject>),
    Log(LogObject),
}

impl DigestFact {
    fn of(d: &DigestObject) -> DigestFact {
        DigestFact {
            object: d.object.clone(),
            digest: d.digest.as_ref().ok().map(DigestFields::of),
            error: d.digest.as_ref().err().cloned(),
            sha256: d.sha256.map(|s| s.to_string()),
            signature: d.signature.as_ref().map(|s| s.text().into_owned()),
        }
    }
}

impl DigestFields {
    fn of(d: &Digest) -> DigestFields {
        DigestFields {
            account: d.account.clone(),
            start: d.start.millis(),
            end: d.end.millis(),
            end_text: d.end_text.clone(),
            bucket: d.bucket.clone(),
            key: d.key.clone(),
            fingerprint: d.fingerprint.clone(),
            signature_algorithm: d.signature_algorithm.clone(),
            previous: d.previous.as_ref().map(|p| PreviousFields {
                bucket: p.bucket.clone(),
                key: p.key.clone(),
                sha256: p.sha256.map(|s| s.to_string()),
                signature: d.previous_signature_text().map(Cow::into_owned),
            }),
            previous_signature: d.previous_signature_text().map(Cow::into_owned),
            log_files: d
                .log_files
                .iter()
                .map(|f| LogFileFields {
                    bucket: f.bucket.to_string(),
                    key: f.key.clone(),
                    sha256: f.sha256.to_string(),
                })
                .collect(),
        }
    }

    fn read(self) -> Result<Digest, String> {
        let previous = match self.previous {
            None => None,
            Some(p) => Some(PreviousDigest {
                bucket: p.bucket,
                key: p.key,
                sha256: p.sha256.as_deref().map(sha256).transpose()?,
            }),
        };
        let mut buckets = Buckets::default();
        let log_files =
            self.log_files.into_iter().map(|f| f.read(&mut buckets)).collect::<Result<Vec<_>, String>>()?;
        Ok(Digest {
            account: self.account,
            start: Timestamp(self.start),
            end: Timestamp(self.end),
            end_text: self.end_text,
            bucket: self.bucket,
            key: self.key,
            fingerprint: self.fingerprint,
            signature_algorithm: self.signature_algorithm,
            previous,
            previous_signature: self.previous_signature.map(HexText::new),
            log_files,
        })
    }
}

impl LogFact {
    fn of(l: &LogObject) -> LogFact {
        LogFact {
            object: l.object.clone(),
            sha256: l.sha256.map(|s| s.to_string()),
            events: l.events.map(|(first, last)| (first.millis(), last.millis())),
        }
    }
}

fn sha256(text: &str) -> Result<Sha256, String> {
    Sha256::from_hex(text).ok_or_else(|| format!("not a hex SHA-256: {text:?}"))
}

impl Fact {
    /// A digest's list of log files, taken out of it (nothing for any other fact).
    pub(super) fn take_log_files(&mut self) -> Vec<LogFileFields> {
        match self {
            Fact::Digest(d) => {
                d.digest.as_mut().map(|d| std::mem::take(&mut d.log_files)).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    /// The name of the object it is of (empty for keys).
    pub(crate) fn object(&self) -> &str {
        match self {
            Fact::Digest(d) => &d.object,
            Fact::Log(l) => &l.object,
            Fact::Keys(_) => "",
        }
    }

    pub(crate) fn of_digest(d: &DigestObject) -> Fact {
        Fact::Digest(Box::new(DigestFact::of(d)))
    }

    pub(crate) fn of_log(l: &LogObject) -> Fact {
        Fact::Log(LogFact::of(l))
    }

    pub(crate) fn of_keys(keys: &PublicKeys) -> Fact {
        Fact::Keys(
            keys.iter()
                .map(|key| KeyFact {
                    fingerprint: key.fingerprint.clone(),
                    der: hex(&key.der),
                    valid_from: key.valid_from.map(Timestamp::millis),
                    valid_until: key.valid_until.map(Timestamp::millis),
                })
                .collect(),
        )
    }

    pub(crate) fn is_digest(&self) -> bool {
        matches!(self, Fact::Digest(_))
    }

    /// About how many facts' worth it holds: a digest with its list counts an entry of it as one.
    pub(crate) fn weight(&self) -> usize {
        match self {
            Fact::Digest(d) => 1 + d.digest.as_ref().map_or(0, |d| d.log_files.len()),
            _ => 1,
        }
    }

    /// The fact as the merge uses it; an error names what is wrong with it (a partial edited or
    /// written by something else).
    pub(crate) fn read(self) -> Result<Read, String> {
        Ok(match self {
            Fact::Digest(d) => {
                let digest = match (d.digest, d.error) {
                    (Some(fields), None) => Ok(fields.read()?),
                    (None, Some(error)) => Err(error),
                    _ => return Err(format!("{}: a digest either read or not", d.object)),
                };
                Read::Object(Object::Digest(Box::new(DigestObject {
                    object: d.object,
                    digest,
                    sha256: d.sha256.as_deref().map(sha256).transpose()?,
                    signature: d.signature.map(HexText::new),
                })))
            }
            Fact::Log(l) => Read::Object(Object::Log(LogObject {
                object: l.object,
                sha256: l.sha256.as_deref().map(sha256).transpose()?,
                events: l.events.map(|(first, last)| (Timestamp(first), Timestamp(last))),
            })),
            Fact::Keys(keys) => Read::Keys(
                keys.into_iter()
                    .map(|k| {
                        Ok(PublicKey {
                            der: unhex(&k.der)
                                .ok_or_else(|| format!("a public key that is not hex: {:?}", k.der))?,
                            fingerprint: k.fingerprint,
                            valid_from: k.valid_from.map(Timestamp),
                            valid_until: k.valid_until.map(Timestamp),
                        })
                    })
                    .collect::<Result<_, String>>()?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[u8] = include_bytes!("../../testdata/keys/test-public-keys.json");

    #[test]
    fn every_fact_survives_a_line_of_json_exactly() {
        let digest = br#"{"awsAccountId":"111122223333","digestStartTime":"2024-03-01T00:01:31Z",
            "digestEndTime":"2024-03-01T01:01:31Z","digestS3Bucket":"b",
            "digestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T010131Z.json.gz",
            "digestPublicKeyFingerprint":"3f98e10986cf601d7afccd3b736b75c0","digestSignatureAlgorithm":"SHA256withRSA",
            "previousDigestS3Bucket":"b","previousDigestS3Object":"AWSLogs/x.json.gz",
            "previousDigestHashValue":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"abcd",
            "logFiles":[{"s3Bucket":"b","s3Object":"AWSLogs/l.json.gz","hashAlgorithm":"SHA-256",
            "hashValue":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "newestEventTime":"2024-03-01T00:59:59.123Z","oldestEventTime":null}]}"#;
        let digests = vec![
            DigestObject::from_content("s3://b/d.json.gz".into(), digest, Some("00ff".into())),
            DigestObject::unreadable("s3://b/e.json.gz".into(), "truncated gzip stream".into()),
        ];
        let logs = vec![
            LogObject {
                object: "/copy/l.json.gz".into(),
                sha256: Some(Sha256::of(b"x")),
                events: Some((Timestamp(1), Timestamp(2))),
            },
            LogObject { object: "/copy/m.json.gz".into(), sha256: None, events: None },
        ];
        let keys = PublicKeys::parse(KEYS).expect("keys");
        let mut back = (Vec::new(), Vec::new(), PublicKeys::default());
        let facts = std::iter::once(Fact::of_keys(&keys))
            .chain(digests.iter().map(Fact::of_digest))
            .chain(logs.iter().map(Fact::of_log));
        for fact in facts {
            let line = serde_json::to_string(&fact).expect("JSON");
            let fact: Fact = serde_json::from_str(&line).expect("read back");
            match fact.read().expect("a fact") {
                Read::Object(Object::Digest(d)) => back.0.push(*d),
                Read::Object(Object::Log(l)) => back.1.push(l),
                Read::Keys(keys) => keys.into_iter().for_each(|k| back.2.insert(k)),
            }
        }
        assert_eq!(format!("{:?}", back.0), format!("{digests:?}"));
        assert_eq!(format!("{:?}", back.1), format!("{logs:?}"));
        assert_eq!(back.2, keys);
    }
}
