//! A digest file's JSON, from its uncompressed bytes, into a checked [`Digest`]: times parsed,
//! hashes decoded, algorithms known. Anything else is a [`DigestError`] naming the field.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use crate::hash::{HexText, Sha256};
use crate::time::Timestamp;

/// The only hash algorithm CloudTrail names, for log files and previous digests alike.
const SHA_256: &str = "SHA-256";

/// A digest file, checked. Text fields that enter the signing string are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Digest {
    pub(crate) account: String,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    /// `digestEndTime` as written, for the signing string.
    pub(crate) end_text: String,
    pub(crate) bucket: String,
    /// `digestS3Object`: the key the digest was delivered to.
    pub(crate) key: String,
    pub(crate) fingerprint: String,
    pub(crate) signature_algorithm: Option<String>,
    /// Null in a starting digest.
    pub(crate) previous: Option<PreviousDigest>,
    /// `previousDigestSignature` as written (null in a starting digest), hex: the previous
    /// digest's signature, and part of the signing string.
    pub(crate) previous_signature: Option<HexText>,
    pub(crate) log_files: Vec<LogFile>,
}

/// Where the previous digest of the chain was delivered, and what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PreviousDigest {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) sha256: Option<Sha256>,
}

/// One log file a digest lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogFile {
    /// Shared with the log files listed before it in the same bucket (all of them, as CloudTrail
    /// writes digests), not a copy per log file.
    pub(crate) bucket: Arc<str>,
    pub(crate) key: String,
    /// SHA-256 of the log file's uncompressed content.
    pub(crate) sha256: Sha256,
}

/// The bucket names of a digest's log files, each kept once while the next is the same.
#[derive(Default)]
pub(super) struct Buckets(Option<Arc<str>>);

impl Buckets {
    pub(super) fn share(&mut self, name: String) -> Arc<str> {
        match &self.0 {
            Some(last) if **last == *name => Arc::clone(last),
            _ => Arc::clone(self.0.insert(Arc::from(name))),
        }
    }
}

/// Why bytes are not a usable digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DigestError(pub(crate) String);

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DigestError {}

/// The JSON as CloudTrail writes it; [`Digest::parse`] checks it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    aws_account_id: String,
    digest_start_time: String,
    digest_end_time: String,
    digest_s3_bucket: String,
    digest_s3_object: String,
    digest_public_key_fingerprint: String,
    #[serde(default)]
    digest_signature_algorithm: Option<String>,
    #[serde(default)]
    previous_digest_s3_bucket: Option<String>,
    #[serde(default)]
    previous_digest_s3_object: Option<String>,
    #[serde(default)]
    previous_digest_hash_value: Option<String>,
    #[serde(default)]
    previous_digest_hash_algorithm: Option<String>,
    #[serde(default)]
    previous_digest_signature: Option<String>,
    // Null in an empty digest on some writers; CloudTrail writes `[]`.
    #[serde(default)]
    log_files: Option<Vec<RawLogFile>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogFile {
    s3_bucket: String,
    s3_object: String,
    hash_value: String,
    #[serde(default)]
    hash_algorithm: Option<String>,
    // `oldestEventTime` and `newestEventTime` are informative only: nothing is checked against
    // them, so they are not read (an unreadable one cannot refuse a digest).
}

impl Digest {
    /// `previousDigestSignature` as written, for the signing string.
    pub(crate) fn previous_signature_text(&self) -> Option<Cow<'_, str>> {
        self.previous_signature.as_ref().map(HexText::text)
    }

    /// Parses a digest file's uncompressed content.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Digest, DigestError> {
        let raw: Raw = serde_json::from_slice(bytes)
            .map_err(|e| DigestError(format!("not a CloudTrail digest: {e}")))?;
        let time = |field: &str, text: &str| {
            Timestamp::parse(text).ok_or_else(|| DigestError(format!("{field} is not a time: {text:?}")))
        };
        let start = time("digestStartTime", &raw.digest_start_time)?;
        let end = time("digestEndTime", &raw.digest_end_time)?;
        if end < start {
            return Err(DigestError(format!(
                "digestEndTime {} is before digestStartTime {}",
                raw.digest_end_time, raw.digest_start_time
            )));
        }
        let previous = match raw.previous_digest_s3_object {
            None => None,
            Some(key) => {
                if let Some(algorithm) = &raw.previous_digest_hash_algorithm {
                    if algorithm != SHA_256 {
                        return Err(DigestError(format!(
                            "previousDigestHashAlgorithm {algorithm:?} is not {SHA_256}"
                        )));
                    }
                }
                let sha256 = match &raw.previous_digest_hash_value {
                    None => None,
                    Some(text) => Some(Sha256::from_hex(text).ok_or_else(|| {
                        DigestError(format!("previousDigestHashValue is not a hex SHA-256: {text:?}"))
                    })?),
                };
                Some(PreviousDigest {
                    bucket: raw.previous_digest_s3_bucket.unwrap_or_default(),
                    key,
                    sha256,
                })
            }
        };
        let mut buckets = Buckets::default();
        let log_files = raw
            .log_files
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, file)| {
                let algorithm = file.hash_algorithm.as_deref().unwrap_or(SHA_256);
                if algorithm != SHA_256 {
                    return Err(DigestError(format!(
                        "logFiles[{i}] ({}): hashAlgorithm {algorithm:?} is not {SHA_256}",
                        file.s3_object
                    )));
                }
                let sha256 = Sha256::from_hex(&file.hash_value).ok_or_else(|| {
                    DigestError(format!(
                        "logFiles[{i}] ({}): hashValue is not a hex SHA-256: {:?}",
                        file.s3_object, file.hash_value
                    ))
                })?;
                Ok(LogFile { bucket: buckets.share(file.s3_bucket), key: file.s3_object, sha256 })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Digest {
            account: raw.aws_account_id,
            start,
            end,
            end_text: raw.digest_end_time,
            bucket: raw.digest_s3_bucket,
            key: raw.digest_s3_object,
            fingerprint: raw.digest_public_key_fingerprint,
            signature_algorithm: raw.digest_signature_algorithm,
            previous,
            previous_signature: raw.previous_digest_signature.map(HexText::new),
            log_files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample of the CloudTrail User Guide ("CloudTrail digest file structure").
    pub(crate) const GUIDE_SAMPLE: &str = r#"{
  "awsAccountId": "111122223333",
  "digestStartTime": "2015-08-17T14:01:31Z",
  "digestEndTime": "2015-08-17T15:01:31Z",
  "digestS3Bucket": "S3-bucket-name",
  "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z.json.gz",
  "digestPublicKeyFingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
  "digestSignatureAlgorithm": "SHA256withRSA",
  "newestEventTime": "2015-08-17T14:52:27Z",
  "oldestEventTime": "2015-08-17T14:42:27Z",
  "previousDigestS3Bucket": "S3-bucket-name",
  "previousDigestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T140131Z.json.gz",
  "previousDigestHashValue": "97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d",
  "previousDigestHashAlgorithm": "SHA-256",
  "previousDigestSignature": "50887ccffad4c002b97caa37cc9dc626e3c680207d41d27fa5835458e066e0d3",
  "logFiles": [
    {
      "s3Bucket": "S3-bucket-name",
      "s3Object": "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/17/111122223333_CloudTrail_us-east-2_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz",
      "hashValue": "9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6",
      "hashAlgorithm": "SHA-256",
      "newestEventTime": "2015-08-17T14:52:27Z",
      "oldestEventTime": "2015-08-17T14:42:27Z"
    }
  ]
}"#;

    #[test]
    fn the_user_guide_sample_parses_with_every_field() {
        let digest = Digest::parse(GUIDE_SAMPLE.as_bytes()).expect("the guide's sample");
        assert_eq!(digest.account, "111122223333");
        assert_eq!(digest.start.to_string(), "2015-08-17T14:01:31Z");
        assert_eq!(digest.end_text, "2015-08-17T15:01:31Z");
        assert_eq!(digest.bucket, "S3-bucket-name");
        assert!(digest.key.ends_with("_us-east-2_20150817T150131Z.json.gz"));
        assert_eq!(digest.fingerprint, "31e8b5433410dfb61a9dc45cc65b22ff");
        assert_eq!(digest.signature_algorithm.as_deref(), Some("SHA256withRSA"));
        let previous = digest.previous.expect("a previous digest");
        assert!(previous.key.ends_with("_20150817T140131Z.json.gz"));
        assert_eq!(
            previous.sha256.map(|h| h.to_string()).as_deref(),
            Some("97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d")
        );
        assert_eq!(digest.log_files.len(), 1);
        let log = &digest.log_files[0];
        assert!(log.key.ends_with("_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz"));
        assert_eq!(
            log.sha256.to_string(),
            "9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6"
        );
    }

    #[test]
    fn a_starting_digest_has_no_previous_and_an_empty_one_no_logs() {
        let text = GUIDE_SAMPLE
            .replace(r#""S3-bucket-name",
  "previousDigestS3Object""#, r#"null,
  "previousDigestS3Object""#)
            .replace(
                "\"AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T140131Z.json.gz\"",
                "null",
            )
            .replace(
                "\"97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d\"",
                "null",
            )
            .replace("\"50887ccffad4c002b97caa37cc9dc626e3c680207d41d27fa5835458e066e0d3\"", "null");
        let text = format!("{}\"logFiles\": []}}", &text[..text.find("\"logFiles\"").expect("logFiles")]);
        let digest = Digest::parse(text.as_bytes()).expect("a starting, empty digest");
        assert_eq!(digest.previous, None);
        assert_eq!(digest.previous_signature, None);
        assert!(digest.log_files.is_empty());
    }

    #[test]
    fn errors_name_the_field_that_is_wrong() {
        let cases = [
            (GUIDE_SAMPLE.replace("\"digestEndTime\"", "\"digestEnd\""), "digestEndTime"),
            (GUIDE_SAMPLE.replace("2015-08-17T15:01:31Z", "yesterday"), "digestEndTime is not a time"),
            (GUIDE_SAMPLE.replace("9bb6196fc6b8", "zzzz"), "logFiles[0]"),
            (GUIDE_SAMPLE.replace("\"hashAlgorithm\": \"SHA-256\"", "\"hashAlgorithm\": \"MD5\""), "MD5"),
            (GUIDE_SAMPLE.replace("97fb791cf91f", "97fb"), "previousDigestHashValue"),
            (GUIDE_SAMPLE.replace("2015-08-17T14:01:31Z", "2015-08-17T16:01:31Z"), "before digestStartTime"),
            ("{\"Records\":[]}".to_owned(), "not a CloudTrail digest"),
            (GUIDE_SAMPLE[..200].to_owned(), "not a CloudTrail digest"),
        ];
        for (text, expected) in cases {
            let error = Digest::parse(text.as_bytes()).expect_err(expected).to_string();
            assert!(error.contains(expected), "{error:?} should mention {expected:?}");
        }
    }
}
