//! CloudTrail's public keys, from the JSON `aws cloudtrail list-public-keys` prints (the
//! `ListPublicKeys` response): the key that checks a digest is the one whose `Fingerprint` is the
//! digest's `digestPublicKeyFingerprint`.

use std::collections::BTreeMap;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use crate::time::Timestamp;

/// One public key and when CloudTrail signed with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicKey {
    /// Lower-case hex, as digests write it.
    pub(crate) fingerprint: String,
    /// DER, as `Value` holds it in base64 (`RSAPublicKey`, or `SubjectPublicKeyInfo`).
    pub(crate) der: Vec<u8>,
    pub(crate) valid_from: Option<Timestamp>,
    pub(crate) valid_until: Option<Timestamp>,
}

impl PublicKey {
    fn valid_at(&self, time: Timestamp) -> bool {
        self.valid_from.is_none_or(|from| from <= time) && self.valid_until.is_none_or(|until| time <= until)
    }
}

/// The keys of one or more `list-public-keys` outputs, by fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PublicKeys {
    by_fingerprint: BTreeMap<String, PublicKey>,
}

#[derive(Deserialize)]
struct Raw {
    // aws-cli prints `PublicKeyList`; the User Guide's sample spells it `publicKeyList`.
    #[serde(rename = "PublicKeyList", alias = "publicKeyList")]
    list: Vec<RawKey>,
}

#[derive(Deserialize)]
struct RawKey {
    #[serde(rename = "Value")]
    value: String,
    #[serde(rename = "Fingerprint")]
    fingerprint: String,
    #[serde(rename = "ValidityStartTime", default)]
    start: Option<Value>,
    #[serde(rename = "ValidityEndTime", default)]
    end: Option<Value>,
}

impl PublicKeys {
    /// Parses `list-public-keys` JSON. Every key must be usable: a file with a broken entry is
    /// refused whole, naming the entry, rather than quietly checking fewer digests.
    pub(crate) fn parse(json: &[u8]) -> Result<PublicKeys, String> {
        let raw: Raw = serde_json::from_slice(json)
            .map_err(|e| format!("not the output of `aws cloudtrail list-public-keys`: {e}"))?;
        let mut keys = PublicKeys::default();
        for (i, entry) in raw.list.into_iter().enumerate() {
            let at = |field: &str| format!("PublicKeyList[{i}].{field}");
            let der = base64(&entry.value).ok_or_else(|| format!("{} is not base64", at("Value")))?;
            aws_lc_rs::rsa::PublicKey::from_der(&der)
                .map_err(|_| format!("{} is not an RSA public key", at("Value")))?;
            let fingerprint = entry.fingerprint.to_ascii_lowercase();
            if fingerprint.is_empty() || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{} is not hex: {:?}", at("Fingerprint"), entry.fingerprint));
            }
            let time = |field: &str, value: Option<Value>| match value {
                None | Some(Value::Null) => Ok(None),
                Some(value) => validity_time(&value)
                    .map(Some)
                    .ok_or_else(|| format!("{} is not a time: {value}", at(field))),
            };
            let key = PublicKey {
                fingerprint: fingerprint.clone(),
                der,
                valid_from: time("ValidityStartTime", entry.start)?,
                valid_until: time("ValidityEndTime", entry.end)?,
            };
            // Listings of overlapping ranges repeat keys; a fingerprint naming two different keys
            // would make every signature under it ambiguous.
            match keys.by_fingerprint.get(&fingerprint) {
                Some(known) if known.der != key.der => {
                    return Err(format!("{} {fingerprint} names two different keys", at("Fingerprint")));
                }
                _ => {
                    keys.by_fingerprint.insert(fingerprint, key);
                }
            }
        }
        Ok(keys)
    }

    /// Adds a key (from the CloudTrail API); a key already known is kept as it is.
    pub(crate) fn insert(&mut self, key: PublicKey) {
        self.by_fingerprint.entry(key.fingerprint.to_ascii_lowercase()).or_insert(key);
    }

    pub(crate) fn get(&self, fingerprint: &str) -> Option<&PublicKey> {
        self.by_fingerprint.get(&fingerprint.to_ascii_lowercase())
    }

    /// Whether some key was valid at `time`: if so, a digest of that time whose fingerprint is not
    /// among them was signed by a key CloudTrail does not list; if not, the file just does not
    /// reach that far.
    pub(crate) fn cover(&self, time: Timestamp) -> bool {
        self.by_fingerprint.values().any(|key| key.valid_at(time))
    }

    /// Lower-case, in order.
    #[cfg(feature = "synth")]
    pub(crate) fn fingerprints(&self) -> impl Iterator<Item = &str> {
        self.by_fingerprint.keys().map(String::as_str)
    }

    /// Every key, by fingerprint.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &PublicKey> {
        self.by_fingerprint.values()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_fingerprint.len()
    }
}

/// A validity time as aws-cli prints it: epoch seconds (v1, and the API's own JSON), as a number
/// or a string, or ISO 8601 with `Z` or an offset (v2's default).
fn validity_time(value: &Value) -> Option<Timestamp> {
    let seconds = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => match s.parse::<f64>() {
            Ok(seconds) => seconds,
            Err(_) => return Timestamp::parse(s),
        },
        _ => return None,
    };
    (seconds.is_finite() && seconds.abs() < 1e13).then(|| Timestamp((seconds * 1_000.0).round() as i64))
}

/// Standard base64 (RFC 4648), read without its `=` padding: AWS's JSON encodes blobs so, and
/// copies of it come with the padding or without.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Standard base64, `=` padding optional, as AWS's JSON encodes blobs.
fn base64(text: &str) -> Option<Vec<u8>> {
    BASE64.decode(text.trim().trim_end_matches('=')).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// aws-cli's own example (`awscli/examples/cloudtrail/list-public-keys.rst`), v1 output.
    const AWS_CLI_EXAMPLE: &str = r#"{
    "PublicKeyList": [
        {
           "ValidityStartTime": 1453076702.0,
           "ValidityEndTime": 1455668702.0,
           "Value": "MIIBCgKCAQEAlSS3cl92HDycr/MTj0moOhas8habjrraXw+KzlWF0axSI2tcF+3iJ9BKQAVSKxGwxwu3m0wG3J+kUl1xboEcEPHYoIYMbgfSw7KGnuDKwkLzsQWhUJ0cIbOHASox1vv/5fNXkrHhGbDCHeVXm804c83nvHUEFYThr1PfyP/8HwrCtR3FX5OANtQCP61C1nJtSSkC8JSQUOrIP4CuwJjc+4WGDk+BGH5m9iuiAKkipEHWmUl8/P7XpfpWQuk4h8g3pXZOrNXr08lbh4d39svj7UqdhvOXoBISp9t/EXYuePGEtBdrKD9Dz+VHwyUPtBQvYr9BnkF88qBnaPNhS44rzwIDAQAB",
           "Fingerprint": "7f3f401420072e50a65a141430817ab3"
       }
    ]
}"#;

    #[test]
    fn the_aws_cli_example_parses_with_its_validity_window() {
        let keys = PublicKeys::parse(AWS_CLI_EXAMPLE.as_bytes()).expect("aws-cli's example");
        assert_eq!(keys.len(), 1);
        let key = keys.get("7F3F401420072E50A65A141430817AB3").expect("found in either case");
        assert_eq!(key.der.len(), 270, "a 2048-bit RSAPublicKey");
        assert_eq!(key.valid_from.map(|t| t.to_string()).as_deref(), Some("2016-01-18T00:25:02Z"));
        assert!(keys.cover(Timestamp::parse("2016-02-01T00:00:00Z").expect("valid")));
        assert!(!keys.cover(Timestamp::parse("2016-03-01T00:00:00Z").expect("valid")));
    }

    #[test]
    fn v2_iso_times_the_guides_spelling_and_string_seconds_are_accepted() {
        let v2 = AWS_CLI_EXAMPLE
            .replace("1453076702.0", "\"2016-01-18T09:25:02+09:00\"")
            .replace("1455668702.0", "\"2016-02-17T00:25:02.000Z\"");
        let keys = PublicKeys::parse(v2.as_bytes()).expect("v2 output");
        let key = keys.get("7f3f401420072e50a65a141430817ab3").expect("key");
        assert_eq!(key.valid_from.map(|t| t.to_string()).as_deref(), Some("2016-01-18T00:25:02Z"));
        assert_eq!(key.valid_until.map(|t| t.to_string()).as_deref(), Some("2016-02-17T00:25:02Z"));
        let guide = AWS_CLI_EXAMPLE
            .replace("PublicKeyList", "publicKeyList")
            .replace("1453076702.0", "\"1453076702.0\"");
        assert!(PublicKeys::parse(guide.as_bytes()).is_ok());
    }

    #[test]
    fn a_broken_entry_is_refused_by_name() {
        let cases = [
            (
                AWS_CLI_EXAMPLE.replace("MIIBCgKCAQEAlSS3", "MIIB*gKCAQEAlSS3"),
                "PublicKeyList[0].Value is not base64",
            ),
            (
                AWS_CLI_EXAMPLE.replace("MIIBCgKCAQEAlSS3", "AAAA"),
                "PublicKeyList[0].Value is not an RSA public key",
            ),
            (AWS_CLI_EXAMPLE.replace("7f3f4014", "not hex!"), "PublicKeyList[0].Fingerprint"),
            (AWS_CLI_EXAMPLE.replace("1455668702.0", "\"soon\""), "PublicKeyList[0].ValidityEndTime"),
            ("{\"Records\": []}".to_owned(), "list-public-keys"),
        ];
        for (text, expected) in cases {
            let error = PublicKeys::parse(text.as_bytes()).expect_err(expected);
            assert!(error.contains(expected), "{error:?} should contain {expected:?}");
        }
    }

    #[test]
    fn base64_decodes_with_or_without_padding() {
        assert_eq!(base64("TWFu"), Some(b"Man".to_vec()));
        assert_eq!(base64("TWE="), Some(b"Ma".to_vec()));
        assert_eq!(base64("TWE"), Some(b"Ma".to_vec()));
        assert_eq!(base64("TQ=="), Some(b"M".to_vec()));
        assert_eq!(base64("T"), None);
        assert_eq!(base64("TW-u"), None);
    }
}
