//! The RSA signature of a digest: the string CloudTrail signs, and checking (or, for the
//! synthetic archives, making) a `SHA256withRSA` signature over it with aws-lc-rs. Then step 4 of
//! [`verify`](super::verify), check the signatures: each readable digest's, read with it or
//! recorded by the digest after it, with the key its fingerprint names.

use std::fmt;

use aws_lc_rs::signature::{self as rsa, UnparsedPublicKey};

use super::digests::Digests;
use super::integrity::{SignatureFailure, Signatures};
use super::{Digest, Findings};
use crate::hash::{unhex, HexText, Sha256};
use crate::keys::PublicKeys;

/// The algorithm CloudTrail names in `digestSignatureAlgorithm` and in the S3 metadata
/// `x-amz-meta-signature-algorithm`; the only one there is.
pub(crate) const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";

/// The string CloudTrail signs for a digest (CloudTrail User Guide, "Custom implementations of
/// CloudTrail log file integrity validation", and aws-cli's `_create_string_to_sign`):
/// `digestEndTime`, the digest's `bucket/key`, the hex SHA-256 of its uncompressed content and
/// the previous digest's hex signature, one per line, no final newline. A starting digest has no
/// previous signature: the literal `null` stands for it, as in CloudTrail's Java implementation.
/// Fields go in exactly as the digest writes them: the signature is over those bytes.
pub(crate) fn signing_string(
    end_time: &str,
    bucket: &str,
    key: &str,
    content: &Sha256,
    previous_signature: Option<&str>,
) -> String {
    format!("{end_time}\n{bucket}/{key}\n{content}\n{}", previous_signature.unwrap_or("null"))
}

/// Why a signature does not check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignatureError {
    /// The signature text is not hex.
    NotHex,
    /// The public key's bytes are not an RSA public key (DER `RSAPublicKey` or
    /// `SubjectPublicKeyInfo`) of 2048 to 8192 bits.
    BadKey,
    /// Well-formed, but not made by this key over this string.
    Mismatch,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureError::NotHex => "the signature is not hex",
            SignatureError::BadKey => "the public key is not a 2048-bit or larger RSA key",
            SignatureError::Mismatch => "the signature does not match the digest and the public key",
        })
    }
}

impl std::error::Error for SignatureError {}

/// Checks a hex `SHA256withRSA` (RSA PKCS#1 v1.5, SHA-256) signature of `signing_string` against
/// a DER public key as `ListPublicKeys` gives it. The key is parsed on every call; a few hundred
/// digests an archive-day make that negligible.
pub(crate) fn verify_signature(
    public_key_der: &[u8],
    signing_string: &[u8],
    signature_hex: &str,
) -> Result<(), SignatureError> {
    let signature = unhex(signature_hex.trim()).ok_or(SignatureError::NotHex)?;
    // Parsed once more by `verify`, but its error does not tell a bad key from a bad signature.
    aws_lc_rs::rsa::PublicKey::from_der(public_key_der).map_err(|_| SignatureError::BadKey)?;
    UnparsedPublicKey::new(&rsa::RSA_PKCS1_2048_8192_SHA256, public_key_der)
        .verify(signing_string, &signature)
        .map_err(|_| SignatureError::Mismatch)
}

/// Signs `signing_string` as CloudTrail does, with a PKCS#8 RSA private key; hex. PKCS#1 v1.5
/// signatures are deterministic, so the synthetic archives come out the same for a seed.
#[cfg(any(test, feature = "synth"))]
pub(crate) fn sign(private_key_pkcs8: &[u8], signing_string: &[u8]) -> Result<String, String> {
    use crate::hash::hex;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::RsaKeyPair;
    let key = RsaKeyPair::from_pkcs8(private_key_pkcs8).map_err(|e| format!("not an RSA PKCS#8 key: {e}"))?;
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(&rsa::RSA_PKCS1_SHA256, &SystemRandom::new(), signing_string, &mut signature)
        .map_err(|_| "RSA signing failed".to_owned())?;
    Ok(hex(&signature))
}

/// The DER `RSAPublicKey` of a PKCS#8 RSA private key, as `ListPublicKeys` lists it.
#[cfg(test)]
pub(crate) fn public_key_of(private_key_pkcs8: &[u8]) -> Result<Vec<u8>, String> {
    use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
    let key = RsaKeyPair::from_pkcs8(private_key_pkcs8).map_err(|e| format!("not an RSA PKCS#8 key: {e}"))?;
    Ok(key.public_key().as_ref().to_vec())
}

/// Step 4, check the signatures: each readable digest's, read with it or recorded by the digest
/// after it, with the key its fingerprint names.
pub(super) fn check_signatures(
    digests: &Digests,
    keys: Option<&PublicKeys>,
    findings: &mut Findings,
) -> Signatures {
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
        let next_signature =
            next_of[i].and_then(|n| found[n].digest).and_then(|n| n.previous_signature.as_ref());
        let (signature, from_next) = match (&f.input.signature, next_signature) {
            (Some(own), _) => (Some(own.text()), false),
            (None, next) => (next.map(HexText::text), next.is_some()),
        };
        match check_signature(digest, f.input.sha256, signature.as_deref(), keys) {
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

/// How a digest's signature fared.
pub(super) enum Check {
    Verified,
    Failed(String),
    Unchecked(String),
}

pub(super) fn check_signature(
    digest: &Digest,
    content: Option<Sha256>,
    signature: Option<&str>,
    keys: Option<&PublicKeys>,
) -> Check {
    if let Some(algorithm) = digest.signature_algorithm.as_deref().filter(|a| *a != SIGNATURE_ALGORITHM) {
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
        digest.previous_signature_text().as_deref(),
    );
    match verify_signature(&key.der, message.as_bytes(), signature) {
        Ok(()) => Check::Verified,
        Err(e) => Check::Failed(format!("{e} (key {})", key.fingerprint)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::digests::read_digests;
    use crate::verify::fixture::*;
    use serde_json::json;

    const TEST_KEY: &[u8] = include_bytes!("../../testdata/keys/test-digest-signing-key.pk8");

    fn example() -> String {
        let content = Sha256::of(b"{\"logFiles\":[]}");
        signing_string(
            "2024-03-01T01:00:00Z",
            "trail-bucket",
            "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/01/d.json.gz",
            &content,
            None,
        )
    }

    #[test]
    fn signing_string_is_four_lines_and_null_stands_for_no_previous_signature() {
        let content = Sha256::of(b"x");
        let first = signing_string("2015-08-12T04:01:31Z", "b", "k.json.gz", &content, None);
        assert_eq!(first, format!("2015-08-12T04:01:31Z\nb/k.json.gz\n{content}\nnull"));
        let next = signing_string("2015-08-12T05:01:31Z", "b", "k2.json.gz", &content, Some("ab01"));
        assert_eq!(
            next.lines().collect::<Vec<_>>(),
            ["2015-08-12T05:01:31Z", "b/k2.json.gz", &content.to_string(), "ab01"]
        );
        assert!(!next.ends_with('\n'));
    }

    #[test]
    fn a_signature_verifies_with_its_key_and_is_deterministic() {
        let message = example();
        let signature = sign(TEST_KEY, message.as_bytes()).expect("sign");
        assert_eq!(signature.len(), 512, "2048-bit RSA, hex");
        assert_eq!(
            sign(TEST_KEY, message.as_bytes()).expect("sign"),
            signature,
            "PKCS#1 v1.5 is deterministic"
        );
        let public = public_key_of(TEST_KEY).expect("public key");
        assert_eq!(verify_signature(&public, message.as_bytes(), &signature), Ok(()));
        assert_eq!(verify_signature(&public, message.as_bytes(), &signature.to_ascii_uppercase()), Ok(()));
    }

    #[test]
    fn a_signature_fails_for_another_key_another_string_or_garbage() {
        let message = example();
        let signature = sign(TEST_KEY, message.as_bytes()).expect("sign");
        let public = public_key_of(TEST_KEY).expect("public key");
        let other = public_key_of(OTHER_KEY).expect("other public key");
        assert_eq!(verify_signature(&other, message.as_bytes(), &signature), Err(SignatureError::Mismatch));
        let resigned = sign(OTHER_KEY, message.as_bytes()).expect("sign");
        assert_eq!(verify_signature(&public, message.as_bytes(), &resigned), Err(SignatureError::Mismatch));
        let changed = message.replace("01:00:00", "02:00:00");
        assert_eq!(verify_signature(&public, changed.as_bytes(), &signature), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(&public, message.as_bytes(), "xyz"), Err(SignatureError::NotHex));
        assert_eq!(
            verify_signature(&public, message.as_bytes(), &signature[..100]),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify_signature(b"", message.as_bytes(), &signature), Err(SignatureError::BadKey));
        assert_eq!(
            verify_signature(&[0x30; 300], message.as_bytes(), &signature),
            Err(SignatureError::BadKey)
        );
    }

    /// An independent implementation agrees: this signature was made by OpenSSL
    /// (`printf '%s' "$STRING" | openssl dgst -sha256 -sign test-digest-signing-key.pk8 -keyform DER | xxd -p -c0`)
    /// over the signing string of [`example`].
    #[test]
    fn a_signature_made_by_openssl_verifies_and_ours_is_byte_identical() {
        let message = example();
        let public = public_key_of(TEST_KEY).expect("public key");
        assert_eq!(verify_signature(&public, message.as_bytes(), OPENSSL_SIGNATURE), Ok(()));
        assert_eq!(sign(TEST_KEY, message.as_bytes()).expect("sign"), OPENSSL_SIGNATURE);
    }

    const OPENSSL_SIGNATURE: &str = "59000f5840e58b40033b87883fb2fb09baad8615debce29abd417e5ffba5fbaa72cb5d5c601dfc54132701aeca3f66ba120f85d19f6df925ef68ca9ff937734de953eca8c42c5f8b633df3fa1db2e82ea937272c3d6121677ed5aee9ffb564dda147154040223045aab538f0eddc49a10c7a2e7c21d99b548564e358a53c0b9216b5aa4db37f62c9460c25a68b38108959ededd5e7ccdcf4bff6b0d48d1cdd227b871b3c02d3cc673c57eb26de0546a9fbbf014ba832c37337599d7ae649d79a24e3d46948d0f30e2455f5fd6ba461f1212b3f36625ec0f014cbabb82ce65331af9b0fa207526fcddb052e402043aa13d648abaea174d16ff7cde78e7552ff4b";

    #[test]
    fn the_committed_test_keys_parse_and_belong_to_the_test_signing_key() {
        let keys =
            crate::keys::PublicKeys::parse(include_bytes!("../../testdata/keys/test-public-keys.json"))
                .expect("testdata/keys/test-public-keys.json");
        assert_eq!(keys.len(), 1);
        let key = keys.iter().next().expect("one key");
        let private = include_bytes!("../../testdata/keys/test-digest-signing-key.pk8");
        assert_eq!(key.der, public_key_of(private).expect("public half"));
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
}
