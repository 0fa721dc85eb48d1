//! The cryptography behind signature schemes: HMAC (SHA-1, SHA-256, SHA-512)
//! with a shared secret, or Ed25519 / ECDSA P-256 with the sender's public
//! key.
//!
//! Given the keys, the signed content and the presented signatures, an
//! algorithm answers one question: does any presented signature prove the
//! content under any key? HMAC comparisons run in constant time; Ed25519 uses
//! strict verification (no malleable or small-order signatures); ECDSA is
//! ring's (already in the tree through rustls), DER signatures over SHA-256.

use std::borrow::Cow;

use ed25519_dalek::{Signature, VerifyingKey};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use super::encoding::{KeyEncoding, MAX_SIGNATURE};
use crate::verify::secret::{constant_time_eq, Secret};

/// Hands the signed bytes, in order, to its callback.
pub type Feed<'f> = &'f dyn Fn(&mut dyn FnMut(&[u8]));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// HMAC-SHA1.
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
    /// Ed25519 signatures; the configured keys are the sender's public keys.
    Ed25519,
    /// ECDSA over P-256 with SHA-256, DER-encoded signatures (SendGrid); the
    /// configured keys are the sender's public keys as DER
    /// SubjectPublicKeyInfo.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
}

/// A P-256 public key's DER SubjectPublicKeyInfo before its uncompressed
/// point: SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING }.
/// Every P-256 key is written with exactly these bytes, so matching them is
/// a complete parse.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// `0x04 || x || y`.
const P256_POINT_LEN: usize = 65;

/// A MAC output, on the stack.
pub struct MacOutput {
    bytes: [u8; MAX_SIGNATURE],
    len: usize,
}

impl MacOutput {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// No output: what Ed25519 (which has no MAC) and a key that could not
    /// be prepared yield. It matches nothing.
    fn empty() -> Self {
        Self {
            bytes: [0; MAX_SIGNATURE],
            len: 0,
        }
    }
}

/// A key made ready for one algorithm, kept in its [`Secret`]: an HMAC
/// keyed with it (inner and outer pads hashed; each use clones this state),
/// or the decompressed Ed25519 public key.
#[derive(Clone)]
pub enum PreparedKey {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
    Ed25519(VerifyingKey),
    /// The uncompressed point, as ring takes it.
    EcdsaP256(Box<[u8; P256_POINT_LEN]>),
}

impl PreparedKey {
    /// Whether `signature` signs `message` under this public key (never,
    /// for an HMAC key: those are compared as MACs).
    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PreparedKey::Ed25519(key) => {
                Signature::from_slice(signature).is_ok_and(|s| key.verify_strict(message, &s).is_ok())
            }
            PreparedKey::EcdsaP256(point) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &point[..])
                .verify(message, signature)
                .is_ok(),
            PreparedKey::Sha1(_) | PreparedKey::Sha256(_) | PreparedKey::Sha512(_) => false,
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            PreparedKey::Sha1(_) => Algorithm::Sha1,
            PreparedKey::Sha256(_) => Algorithm::Sha256,
            PreparedKey::Sha512(_) => Algorithm::Sha512,
            PreparedKey::Ed25519(_) => Algorithm::Ed25519,
            PreparedKey::EcdsaP256(_) => Algorithm::EcdsaP256,
        }
    }
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "HMAC-SHA1",
            Algorithm::Sha256 => "HMAC-SHA256",
            Algorithm::Sha512 => "HMAC-SHA512",
            Algorithm::Ed25519 => "Ed25519",
            Algorithm::EcdsaP256 => "ECDSA P-256 (SHA-256)",
        }
    }

    /// Whether keys are public keys: a signature cannot be made with them
    /// (`hookfence sign`, `sign_forwarded`).
    pub fn is_asymmetric(self) -> bool {
        matches!(self, Algorithm::Ed25519 | Algorithm::EcdsaP256)
    }

    /// How keys for this algorithm are written in secret files and variables.
    pub fn default_key_encoding(self) -> KeyEncoding {
        match self {
            Algorithm::Ed25519 => KeyEncoding::Hex { len: Some(32) },
            Algorithm::EcdsaP256 => KeyEncoding::Base64 { prefix: "" },
            _ => KeyEncoding::Text,
        }
    }

    /// Checks a decoded key at load time, so a bad one is a config error and
    /// not a failure on every delivery.
    pub fn validate_key(self, key: &[u8]) -> Result<(), String> {
        match self {
            Algorithm::Ed25519 => ed25519_key(key)
                .map(|_| ())
                .ok_or_else(|| "is not a valid Ed25519 public key".to_owned()),
            Algorithm::EcdsaP256 => p256_point(key).map(|_| ()).ok_or_else(|| {
                "is not a P-256 public key (base64 of its DER SubjectPublicKeyInfo, `MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…`)"
                    .to_owned()
            }),
            _ if key.is_empty() => Err("is empty".into()),
            _ => Ok(()),
        }
    }

    /// The position of the first of `keys` under which any of `presented`
    /// (decoded signatures) proves the content, if one does. Each key's MAC
    /// is computed once, whatever the number of presented signatures.
    /// (Which key matched is not a secret: operators are told, to retire
    /// old ones.)
    pub fn matching_key(self, keys: &[Secret], feed: Feed<'_>, presented: &[&[u8]]) -> Option<usize> {
        match self {
            Algorithm::Ed25519 | Algorithm::EcdsaP256 => {
                // Public-key verification takes the message whole.
                let mut message = Vec::new();
                feed(&mut |bytes| message.extend_from_slice(bytes));
                keys.iter().position(|k| {
                    self.prepared(k)
                        .is_some_and(|key| presented.iter().any(|signature| key.verifies(&message, signature)))
                })
            }
            _ => keys.iter().position(|key| {
                let expected = self.mac(key, feed);
                // An empty output (Ed25519 has none) or candidate never matches.
                presented
                    .iter()
                    .any(|candidate| !candidate.is_empty() && constant_time_eq(expected.as_bytes(), candidate))
            }),
        }
    }

    /// HMAC under `key` of the fed bytes. Ed25519 has no MAC: it yields an
    /// empty output, which matches nothing.
    pub fn mac(self, key: &Secret, feed: Feed<'_>) -> MacOutput {
        match self.prepared(key).as_deref() {
            Some(PreparedKey::Sha1(mac)) => finish(mac.clone(), feed),
            Some(PreparedKey::Sha256(mac)) => finish(mac.clone(), feed),
            Some(PreparedKey::Sha512(mac)) => finish(mac.clone(), feed),
            Some(PreparedKey::Ed25519(_) | PreparedKey::EcdsaP256(_)) | None => MacOutput::empty(),
        }
    }

    /// `key` prepared for this algorithm: the form kept in the secret when
    /// this is the algorithm it was first used with (always, but for a
    /// GitHub secret that also checks legacy SHA-1 signatures), else made
    /// now. `None` for bytes that are no Ed25519 key.
    fn prepared(self, key: &Secret) -> Option<Cow<'_, PreparedKey>> {
        match key.prepared(|bytes| self.prepare(bytes)) {
            Some(prepared) if prepared.algorithm() == self => Some(Cow::Borrowed(prepared)),
            _ => self.prepare(key.expose()).map(Cow::Owned),
        }
    }

    fn prepare(self, key: &[u8]) -> Option<PreparedKey> {
        // HMAC accepts keys of any length, so only public keys can fail here.
        Some(match self {
            Algorithm::Sha1 => PreparedKey::Sha1(KeyInit::new_from_slice(key).ok()?),
            Algorithm::Sha256 => PreparedKey::Sha256(KeyInit::new_from_slice(key).ok()?),
            Algorithm::Sha512 => PreparedKey::Sha512(KeyInit::new_from_slice(key).ok()?),
            Algorithm::Ed25519 => PreparedKey::Ed25519(ed25519_key(key)?),
            Algorithm::EcdsaP256 => PreparedKey::EcdsaP256(Box::new(p256_point(key)?)),
        })
    }
}

fn ed25519_key(bytes: &[u8]) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(bytes.try_into().ok()?).ok()
}

/// The uncompressed point of a P-256 SubjectPublicKeyInfo (whether it lies
/// on the curve, ring checks at each verification: a key off the curve
/// verifies nothing).
fn p256_point(spki: &[u8]) -> Option<[u8; P256_POINT_LEN]> {
    let point = spki.strip_prefix(&P256_SPKI_PREFIX[..])?;
    let point: [u8; P256_POINT_LEN] = point.try_into().ok()?;
    (point[0] == 0x04).then_some(point)
}

/// Feeds the signed bytes to a keyed HMAC and returns its tag.
fn finish<M: Mac>(mut mac: M, feed: Feed<'_>) -> MacOutput {
    feed(&mut |bytes| mac.update(bytes));
    let tag = mac.finalize().into_bytes();
    let mut output = MacOutput::empty();
    output.bytes[..tag.len()].copy_from_slice(&tag);
    output.len = tag.len();
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = <M as KeyInit>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    fn mac(algorithm: Algorithm, key: &Secret, data: &[u8]) -> Vec<u8> {
        algorithm.mac(key, &|update| update(data)).as_bytes().to_vec()
    }

    #[test]
    fn a_prepared_key_gives_the_same_mac_every_time() {
        let key = Secret::new(b"It's a Secret to Everybody".to_vec());
        let expected = reference::<Hmac<Sha256>>(b"It's a Secret to Everybody", b"Hello, World!");
        // GitHub's published test vector.
        assert_eq!(
            hex::encode(&expected),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        assert_eq!(mac(Algorithm::Sha256, &key, b"Hello, World!"), expected, "first use");
        assert_eq!(mac(Algorithm::Sha256, &key, b"Hello, World!"), expected, "prepared");
        assert_ne!(mac(Algorithm::Sha256, &key, b"Hello, World?"), expected);
    }

    #[test]
    fn one_secret_serves_several_algorithms() {
        // A GitHub secret checks SHA-256 signatures and, when allowed, legacy
        // SHA-1 ones: only the first algorithm's form is kept in the secret.
        let key = Secret::new(b"shared".to_vec());
        for _ in 0..2 {
            assert_eq!(
                mac(Algorithm::Sha256, &key, b"body"),
                reference::<Hmac<Sha256>>(b"shared", b"body")
            );
            assert_eq!(
                mac(Algorithm::Sha1, &key, b"body"),
                reference::<Hmac<Sha1>>(b"shared", b"body")
            );
            assert_eq!(
                mac(Algorithm::Sha512, &key, b"body"),
                reference::<Hmac<Sha512>>(b"shared", b"body")
            );
        }
    }

    #[test]
    fn ed25519_has_no_mac_and_a_bad_key_matches_nothing() {
        let not_a_point = Secret::new([0xff; 32].to_vec());
        assert!(mac(Algorithm::Ed25519, &not_a_point, b"body").is_empty());
        assert!(Algorithm::Ed25519
            .matching_key(&[not_a_point], &|update| update(b"body"), &[&[0u8; 64]])
            .is_none());
    }
}
