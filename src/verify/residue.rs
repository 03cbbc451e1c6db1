//! What a shard of a sharded `--verify` run (`scan --verify --shard I/N`) hands on of its
//! verification, for the merge (`report PARTIAL...`) to verify the whole archive: every fact
//! [`verify`](super::verify) reads, of every digest and log file the shard read, and the public
//! keys it had. The merge files every shard's facts as a single run files what it reads
//! ([`Facts`](super::Facts)) and verifies them the same way, so its `integrity` is the one a
//! single run over the same sources gives, by construction.
//!
//! A fact survives the partial exactly: hashes as hex, times as milliseconds, every text field of
//! a digest verbatim (the signing string is made from them).
//!
//! These facts are one per object read, so a partial of a `--verify` shard grows with the objects
//! its shard read (about 330 bytes per log file gzipped, digests included: see docs/scaling.md,
//! "Scaling out"), not only with the edges of its hour blocks.

use std::borrow::Cow;
use std::collections::BinaryHeap;
use std::io;

use serde::{Deserialize, Serialize};

use super::format::{Buckets, Digest, LogFile, PreviousDigest};
use super::{DigestObject, LogObject};
use crate::hash::{hex, unhex, HexText, Sha256};
use crate::keys::{PublicKey, PublicKeys};
use crate::layout::{self, DigestName, LogName};
use crate::spill;
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

/// The facts of what a shard read, for its residue: its keys first, then its digests and log files
/// (each handed once by `read`, in any order) in the order of [`Order`]. The merge reads them in
/// any order; this one puts each digest right after the log files it lists, so that gzip finds
/// their names and hashes twice within its window and writes them once, and it is the same
/// whatever order they were read in (two facts of one object, by their lines).
///
/// They are sorted in runs of about `run` facts, each run but the last written to a temporary
/// file, and the runs merged as the facts are taken: a shard holds a run and a fact of each run,
/// not its share of the archive.
pub(crate) fn in_order(
    keys: Option<&PublicKeys>,
    read: impl FnOnce(&mut dyn FnMut(Fact) -> io::Result<()>) -> io::Result<()>,
    run: usize,
) -> io::Result<InOrder> {
    let keys = keys.map(|keys| {
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
    });
    let mut runs: Vec<Run> = Vec::new();
    let (mut held, mut weight) = (Vec::new(), 0);
    read(&mut |fact| {
        weight += match &fact {
            Fact::Digest(d) => 1 + d.digest.as_ref().map_or(0, |d| d.log_files.len()),
            _ => 1,
        };
        held.push(fact);
        if weight >= run {
            runs.push(spill(sorted(std::mem::take(&mut held)))?);
            weight = 0;
        }
        Ok(())
    })?;
    runs.push(Box::new(sorted(held).into_iter().map(Ok)));
    let mut heap = BinaryHeap::with_capacity(runs.len());
    for (at, run) in runs.iter_mut().enumerate() {
        if let Some(fact) = run.next().transpose()? {
            heap.push(Head::new(fact, at));
        }
    }
    Ok(InOrder { keys, runs, heap })
}

/// A sorted run of facts, from memory or from its temporary file.
type Run = Box<dyn Iterator<Item = io::Result<Fact>>>;

/// The facts in [`Order`], each one's place worked out once.
fn sorted(facts: Vec<Fact>) -> Vec<Fact> {
    let mut placed: Vec<(Order, Fact)> = facts.into_iter().map(|f| (Order::of_fact(&f), f)).collect();
    placed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| tie(&a.1, &b.1)));
    placed.into_iter().map(|(_, fact)| fact).collect()
}

/// Between two facts of the same object (its name given twice, read differently): by their
/// lines, so that which comes first does not depend on which was read first.
fn tie(a: &Fact, b: &Fact) -> std::cmp::Ordering {
    serde_json::to_vec(a).ok().cmp(&serde_json::to_vec(b).ok())
}

/// Writes a sorted run to a temporary file and reads it back.
fn spill(facts: Vec<Fact>) -> io::Result<Run> {
    let mut file = spill::Lines::new()?;
    for fact in &facts {
        file.push(fact)?;
    }
    Ok(Box::new(file.read()?))
}

/// The residue's facts in order ([`in_order`]); an error reading a run back ends it.
pub(crate) struct InOrder {
    keys: Option<Fact>,
    runs: Vec<Run>,
    heap: BinaryHeap<Head>,
}

impl Iterator for InOrder {
    type Item = io::Result<Fact>;

    fn next(&mut self) -> Option<io::Result<Fact>> {
        if let Some(keys) = self.keys.take() {
            return Some(Ok(keys));
        }
        let Head { fact, run, .. } = self.heap.pop()?;
        match self.runs[run].next() {
            Some(Ok(next)) => self.heap.push(Head::new(next, run)),
            Some(Err(e)) => {
                self.heap.clear();
                let kind = e.kind();
                return Some(Err(io::Error::new(
                    kind,
                    format!("cannot read back what --verify keeps in the temporary folder (TMPDIR): {e}"),
                )));
            }
            None => {}
        }
        Some(Ok(fact))
    }
}

/// The next fact of a run: first out of the heap when it comes first in [`Order`] (then by run,
/// for facts of the same name).
struct Head {
    order: Order,
    fact: Fact,
    run: usize,
}

impl Head {
    fn new(fact: Fact, run: usize) -> Head {
        Head { order: Order::of_fact(&fact), fact, run }
    }
}

impl Ord for Head {
    /// Reversed: the heap gives the greatest first.
    fn cmp(&self, other: &Head) -> std::cmp::Ordering {
        other.order.cmp(&self.order).then_with(|| tie(&other.fact, &self.fact)).then(other.run.cmp(&self.run))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Head {}

/// Where an object's fact goes in the residue: by account and region as its file name gives them,
/// then by time (a log file's delivery minute, a digest's end, which comes after the deliveries
/// it lists), log files before digests, then by name.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Order {
    account: String,
    region: String,
    time: Option<Timestamp>,
    digest: bool,
    name: String,
}

impl Order {
    fn of_fact(fact: &Fact) -> Order {
        Order::of(fact.object(), matches!(fact, Fact::Digest(_)))
    }

    fn of(name: &str, digest: bool) -> Order {
        let parts = LogName::parse(layout::file_name(name));
        let time = if digest { DigestName::parse(name).map(|n| n.end) } else { parts.delivered };
        Order {
            account: parts.account.to_owned(),
            region: parts.region.unwrap_or_default().to_owned(),
            time,
            digest,
            name: name.to_owned(),
        }
    }
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

    /// The residue of these objects, in runs of `run` facts.
    fn facts(
        keys: Option<&PublicKeys>,
        digests: &[DigestObject],
        logs: &[LogObject],
        run: usize,
    ) -> Vec<Fact> {
        let read = |visit: &mut dyn FnMut(Fact) -> io::Result<()>| {
            digests.iter().map(Fact::of_digest).chain(logs.iter().map(Fact::of_log)).try_for_each(visit)
        };
        in_order(keys, read, run).expect("in order").collect::<io::Result<_>>().expect("read back")
    }

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
        for fact in facts(Some(&keys), &digests, &logs, 4096) {
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

    #[test]
    fn each_digest_follows_the_log_files_it_lists_whatever_order_they_were_read_in() {
        let fixture = crate::verify::fixture::Fixture::new(4);
        let (mut digests, mut logs) = fixture.inputs();
        digests.reverse();
        logs.swap(0, 5);
        let mut expected = Vec::new();
        for d in &fixture.digests {
            let listed = Digest::parse(&d.json).expect("a digest").log_files;
            let mut names: Vec<String> =
                listed.iter().map(|f| format!("s3://{}/{}", f.bucket, f.key)).collect();
            names.sort();
            expected.extend(names);
            expected.push(format!("s3://{}/{}", crate::verify::fixture::BUCKET, d.key));
        }
        // Sorted whole, and in runs of one to a few facts merged.
        for run in [4096, 1, 2, 5] {
            let written: Vec<String> =
                facts(None, &digests, &logs, run).into_iter().map(|fact| fact.object().to_owned()).collect();
            assert_eq!(written, expected, "runs of {run}");
        }
    }
}
