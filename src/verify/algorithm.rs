//! The cryptography behind signature schemes: HMAC (SHA-1, SHA-256, SHA-512)
//! with a shared secret, or Ed25519 with the sender's public key.
//!
//! Given the keys, the signed content and the presented signatures, an
//! algorithm answers one question: does any presented signature prove the
//! content under any key? HMAC comparisons run in constant time; Ed25519 uses
//! strict verification (no malleable or small-order signatures).

use ed25519_dalek::{Signature, VerifyingKey};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use super::encoding::{KeyEncoding, MAX_SIGNATURE};
use crate::secret::{constant_time_eq, Secret};

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
}

/// A MAC output, on the stack.
pub struct MacOutput {
    bytes: [u8; MAX_SIGNATURE],
    len: usize,
}

impl MacOutput {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "HMAC-SHA1",
            Algorithm::Sha256 => "HMAC-SHA256",
            Algorithm::Sha512 => "HMAC-SHA512",
            Algorithm::Ed25519 => "Ed25519",
        }
    }

    /// How keys for this algorithm are written in secret files and variables.
    pub fn default_key_encoding(self) -> KeyEncoding {
        match self {
            Algorithm::Ed25519 => KeyEncoding::Hex { len: Some(32) },
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
            _ if key.is_empty() => Err("is empty".into()),
            _ => Ok(()),
        }
    }

    /// Whether any of `presented` (decoded signatures) proves the content
    /// under any of `keys`. Each key's MAC is computed once, whatever the
    /// number of presented signatures.
    pub fn any_matches(self, keys: &[Secret], feed: Feed<'_>, presented: &[&[u8]]) -> bool {
        match self {
            Algorithm::Ed25519 => {
                let mut message = Vec::new();
                feed(&mut |bytes| message.extend_from_slice(bytes));
                keys.iter().filter_map(|k| ed25519_key(k.expose())).any(|key| {
                    presented.iter().any(|signature| {
                        Signature::from_slice(signature).is_ok_and(|s| key.verify_strict(&message, &s).is_ok())
                    })
                })
            }
            _ => keys.iter().any(|key| {
                let expected = self.mac(key.expose(), feed);
                // An empty output (Ed25519 has none) or candidate never matches.
                presented
                    .iter()
                    .any(|candidate| !candidate.is_empty() && constant_time_eq(expected.as_bytes(), candidate))
            }),
        }
    }

    /// HMAC under `key` of the fed bytes. Ed25519 has no MAC: it yields an
    /// empty output, which matches nothing.
    pub fn mac(self, key: &[u8], feed: Feed<'_>) -> MacOutput {
        match self {
            Algorithm::Sha1 => mac_with::<Hmac<Sha1>>(key, feed),
            Algorithm::Sha256 => mac_with::<Hmac<Sha256>>(key, feed),
            Algorithm::Sha512 => mac_with::<Hmac<Sha512>>(key, feed),
            Algorithm::Ed25519 => MacOutput {
                bytes: [0; MAX_SIGNATURE],
                len: 0,
            },
        }
    }

    /// HMAC of one byte string.
    pub fn mac_bytes(self, key: &[u8], data: &[u8]) -> MacOutput {
        self.mac(key, &|update| update(data))
    }
}

fn ed25519_key(bytes: &[u8]) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(bytes.try_into().ok()?).ok()
}

fn mac_with<M: Mac + KeyInit>(key: &[u8], feed: Feed<'_>) -> MacOutput {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps
    // the function total without an unwrap (an empty output matches nothing).
    let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
        return MacOutput {
            bytes: [0; MAX_SIGNATURE],
            len: 0,
        };
    };
    feed(&mut |bytes| mac.update(bytes));
    let tag = mac.finalize().into_bytes();
    let mut bytes = [0u8; MAX_SIGNATURE];
    bytes[..tag.len()].copy_from_slice(&tag);
    MacOutput { bytes, len: tag.len() }
}
