//! Secret material and the constant-time comparisons made with it.
//!
//! A [`Secret`] never prints its bytes: `Debug` is redacted so that a secret that
//! ends up in a log line, a panic message or an error cannot leak.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Key material for an HMAC or a shared token. Never empty (config rejects that).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// Wraps raw key bytes. Emptiness is the config's business: it rejects empty
    /// secrets with a message naming the key, so this type stays infallible.
    pub fn new(bytes: impl Into<Box<[u8]>>) -> Self {
        Self(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares a presented token with this secret in constant time.
    ///
    /// Both sides are hashed first so that neither the content nor the *length*
    /// of the secret is revealed by timing (`ct_eq` on slices returns early on a
    /// length mismatch).
    pub fn token_matches(&self, presented: &[u8]) -> bool {
        let expected = Sha256::digest(&self.0);
        let presented = Sha256::digest(presented);
        expected.ct_eq(&presented).into()
    }
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
    fn token_comparison() {
        let s = Secret::new(b"token-123".to_vec());
        assert!(s.token_matches(b"token-123"));
        assert!(!s.token_matches(b"token-124"));
        assert!(!s.token_matches(b"token-12"));
        assert!(!s.token_matches(b""));
    }
}
