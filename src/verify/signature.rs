//! The generic HMAC engine: one [`HmacScheme`] value describes where a
//! provider puts its signature and how it encodes it; [`HmacScheme::verify`]
//! executes any of them.
//!
//! The presented signature is *decoded* and compared as bytes in constant time,
//! never compared as a string: hex case, whitespace games and truncated values
//! all fail the same way.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::header::HeaderName;
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::{Delivery, Rejection};
use crate::secret::Secret;

/// The MAC's hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// A MAC output, on the stack (the largest, SHA-512, is 64 bytes).
pub struct MacOutput {
    bytes: [u8; 64],
    len: usize,
}

impl MacOutput {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Algorithm {
    /// HMAC of the concatenation of `parts` under `key`.
    pub fn mac(self, key: &[u8], parts: &[&[u8]]) -> MacOutput {
        match self {
            Algorithm::Sha1 => mac_with::<Hmac<Sha1>>(key, parts),
            Algorithm::Sha256 => mac_with::<Hmac<Sha256>>(key, parts),
            Algorithm::Sha512 => mac_with::<Hmac<Sha512>>(key, parts),
        }
    }
}

fn mac_with<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> MacOutput {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps
    // the function total without an unwrap.
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        return MacOutput { bytes: [0; 64], len: 0 };
    };
    for part in parts {
        mac.update(part);
    }
    let tag = mac.finalize().into_bytes();
    let mut bytes = [0u8; 64];
    bytes[..tag.len()].copy_from_slice(&tag);
    MacOutput { bytes, len: tag.len() }
}

/// How the signature bytes are written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Hex digits, either case.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

impl Encoding {
    /// Decodes into `out` (no allocation on the hot path); `None` if `text` is
    /// not valid in this encoding or longer than any MAC.
    fn decode<'o>(self, text: &[u8], out: &'o mut [u8; 64]) -> Option<&'o [u8]> {
        let len = match self {
            Encoding::Hex => {
                let len = text.len() / 2;
                if !text.len().is_multiple_of(2) || len > out.len() {
                    return None;
                }
                hex::decode_to_slice(text, &mut out[..len]).ok()?;
                len
            }
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.decode_slice(text, out).ok()?,
        };
        Some(&out[..len])
    }

    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(bytes),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }
}

/// An HMAC signature over the raw body, carried in one header as
/// `<prefix><encoded MAC>`.
#[derive(Debug, Clone)]
pub struct HmacScheme {
    pub header: HeaderName,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    /// Literal text before the encoded MAC, e.g. `sha256=`. Matched exactly.
    pub prefix: &'static str,
}

impl HmacScheme {
    /// The header value a sender would put on `body`: used by `sign_forwarded`
    /// and by tests.
    pub fn sign(&self, secret: &Secret, body: &[u8]) -> String {
        let mac = self.algorithm.mac(secret.expose(), &[body]);
        format!("{}{}", self.prefix, self.encoding.encode(mac.as_bytes()))
    }

    pub(super) fn verify(&self, value: &[u8], delivery: &Delivery<'_>, secrets: &[Secret]) -> Result<(), Rejection> {
        let malformed = || Rejection::Malformed(self.header.clone());
        let encoded = value.strip_prefix(self.prefix.as_bytes()).ok_or_else(malformed)?;
        let mut buf = [0u8; 64];
        let presented = self
            .encoding
            .decode(encoded.trim_ascii(), &mut buf)
            .ok_or_else(malformed)?;
        // Any secret may match (rotation). Returning on the first match reveals
        // only what the response reveals anyway: that one matched.
        let matched = secrets.iter().any(|secret| {
            let expected = self.algorithm.mac(secret.expose(), &[delivery.body]);
            bool::from(expected.as_bytes().ct_eq(presented))
        });
        if matched {
            Ok(())
        } else {
            Err(Rejection::BadSignature)
        }
    }
}
