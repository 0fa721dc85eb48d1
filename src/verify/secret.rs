//! Secret material and the constant-time comparisons made with it.
//!
//! A [`Secret`] never prints its bytes: `Debug` is redacted so that a secret that
//! ends up in a log line, a panic message or an error cannot leak.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::verify::algorithm::PreparedKey;

/// Key material for an HMAC or a shared token. Never empty (config rejects that).
#[derive(Clone)]
pub struct Secret {
    bytes: Box<[u8]>,
    /// SHA-256 of the bytes, what a presented token is compared with.
    digest: [u8; 32],
    /// The key made ready for the algorithm it is first used with (an HMAC
    /// with its pads already hashed, a decompressed Ed25519 key), so that a
    /// verification does not redo that work: for HMAC-SHA256 it is two of
    /// the eighteen block compressions of a 1 KiB delivery. Boxed, so that a
    /// secret never used (a tenant who sends nothing) costs one pointer.
    prepared: OnceLock<Box<PreparedKey>>,
}

impl Secret {
    /// Wraps raw key bytes. Emptiness is the config's business: it rejects empty
    /// secrets with a message naming the key, so this type stays infallible.
    pub fn new(bytes: impl Into<Box<[u8]>>) -> Self {
        let bytes = bytes.into();
        Self {
            digest: Sha256::digest(&bytes).into(),
            bytes,
            prepared: OnceLock::new(),
        }
    }

    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The prepared form of this key, made by `prepare` on first use and
    /// kept. `None` if `prepare` cannot make one (not a valid Ed25519 key).
    pub fn prepared(&self, prepare: impl FnOnce(&[u8]) -> Option<PreparedKey>) -> Option<&PreparedKey> {
        if let Some(prepared) = self.prepared.get() {
            return Some(prepared);
        }
        let prepared = prepare(&self.bytes)?;
        Some(self.prepared.get_or_init(|| Box::new(prepared)))
    }

    /// Compares a presented token with this secret in constant time.
    ///
    /// Both sides are hashed first so that neither the content nor the *length*
    /// of the secret is revealed by timing (`ct_eq` on slices returns early on a
    /// length mismatch).
    pub fn token_matches(&self, presented: &[u8]) -> bool {
        constant_time_eq(&self.digest, &Sha256::digest(presented))
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Secret {}

/// Whether `a` and `b` hold the same bytes, in time that depends only on
/// their lengths (which are public: a MAC's length is its algorithm's).
///
/// The bytes are folded into one difference word eight at a time, then
/// `subtle` decides on it: `subtle`'s slice comparison puts an optimisation
/// barrier on every byte, which cost a sixth of a 1 KiB verification.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, a_rest) = a.as_chunks::<8>();
    let (b_words, b_rest) = b.as_chunks::<8>();
    let mut difference = 0u64;
    for (x, y) in a_words.iter().zip(b_words) {
        difference |= u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y);
    }
    for (x, y) in a_rest.iter().zip(b_rest) {
        difference |= u64::from(x ^ y);
    }
    difference.ct_eq(&0).into()
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let s = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert!(!format!("{:?}", vec![s]).contains("hunter2"));
    }

    #[test]
    fn constant_time_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"0123456789abcdefXYZ", b"0123456789abcdefXYZ"));
        assert!(
            !constant_time_eq(b"0123456789abcdefXYZ", b"0123456789abcdefXYz"),
            "tail byte"
        );
        assert!(
            !constant_time_eq(b"0123456789abcdefXYZ", b"1123456789abcdefXYZ"),
            "first word"
        );
        assert!(!constant_time_eq(b"abc", b"abcd"));
        for i in 0..32 {
            let mut b = [7u8; 32];
            b[i] ^= 0x80;
            assert!(!constant_time_eq(&[7u8; 32], &b), "byte {i}");
        }
    }

    #[test]
    fn token_comparison() {
        let s = Secret::new(b"token-123".to_vec());
        assert!(s.token_matches(b"token-123"));
        assert!(!s.token_matches(b"token-124"));
        assert!(!s.token_matches(b"token-12"));
        assert!(!s.token_matches(b""));
    }
}
