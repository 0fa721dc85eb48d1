//! Webhook verification: a pure library over (headers, query, URL, body, now)
//! → verified, or a precise [`Rejection`].
//!
//! Nothing here touches the network or storage. A scheme is a small value
//! ([`SignatureScheme`] for HMAC and Ed25519 signatures, [`TokenScheme`] for
//! shared tokens), a provider is a preset of such values ([`presets`]), and
//! one engine executes them. A route's [`Verifier`] holds its schemes in order
//! of preference; the first whose credential is present decides. A request
//! carrying GitHub's SHA-256 signature is judged on it alone, and the legacy
//! SHA-1 header is only looked at when the route enabled it *and* the SHA-256
//! header is absent: an attacker cannot downgrade a request by adding a
//! second, weaker signature.

pub mod algorithm;
pub mod encoding;
pub mod field;
pub mod handshake;
pub mod header_format;
pub mod json_pointer;
pub mod presets;
pub mod secret;
pub mod sign;
pub mod signature;
pub mod spec;
pub mod template;
pub mod timestamp;
pub mod token;

use std::fmt;
use std::time::SystemTime;

use http::header::HeaderName;

use algorithm::Algorithm;
use encoding::KeyEncoding;
pub use signature::SignatureScheme;
pub use token::TokenScheme;

use crate::header_lines::HeaderLines;
use crate::verify::secret::Secret;

/// What the sender presented: the parts of a delivery that verification may
/// look at.
#[derive(Clone, Copy)]
pub struct Presented<'a> {
    /// The request method as sent (HubSpot signs it).
    pub method: &'a str,
    /// The header lines as received.
    pub headers: HeaderLines<'a>,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// The full URL the sender called, when the route declares its public URL
    /// (Twilio and Square sign it).
    pub url: Option<&'a str>,
    /// The raw bytes exactly as received: never re-serialised or decompressed.
    pub body: &'a [u8],
    /// The time replay windows are measured against.
    pub now: SystemTime,
}

/// Where a credential or a signed value is (or should have been).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Header(HeaderName),
    Query(String),
    /// A JSON pointer into the body.
    Body(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Header(name) => f.write_str(&display_header_name(name.as_str())),
            Location::Query(param) => write!(f, "query parameter `{param}`"),
            Location::Body(pointer) => write!(f, "body field `{pointer}`"),
        }
    }
}

/// `x-hub-signature-256` → `X-Hub-Signature-256`: how senders' documentation
/// writes header names, so error messages read like the docs.
pub fn display_header_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

/// Why a delivery was refused. `Display` is the client-facing message: it
/// names where the credential should be, never secrets or expected values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("missing {0}")]
    Missing(Location),
    #[error("duplicate {0}")]
    Duplicate(Location),
    #[error("malformed {0}")]
    Malformed(Location),
    #[error("invalid signature")]
    BadSignature,
    #[error("invalid token")]
    BadToken,
    /// A genuine signature over a timestamp outside the replay window.
    #[error("stale timestamp")]
    StaleTimestamp(timestamp::Staleness),
}

impl Rejection {
    /// The reason in an operator's words, for the audit record and the
    /// console: more than the sender is told (how many secrets were tried,
    /// how stale a timestamp was), never a secret or an expected value.
    pub fn explain(&self, secrets: usize) -> String {
        let tried = |noun: &str| match secrets {
            1 => format!("the {noun}"),
            n => format!("any of the {n} {noun}s"),
        };
        match self {
            Rejection::BadSignature => format!("signature does not match {}", tried("secret")),
            Rejection::BadToken => format!("token does not match {}", tried("token")),
            Rejection::StaleTimestamp(staleness) => staleness.to_string(),
            other => other.to_string(),
        }
    }
}

/// One way of proving a delivery's origin.
#[derive(Debug, Clone)]
pub enum Scheme {
    Signature(Box<SignatureScheme>),
    Token(TokenScheme),
}

impl Scheme {
    /// Where this scheme's credential is presented.
    pub fn location(&self) -> Location {
        match self {
            Scheme::Signature(s) => Location::Header(s.header.clone()),
            Scheme::Token(t) => t.location(),
        }
    }

    /// `None` if this scheme's credential is absent; otherwise its verdict.
    fn try_verify(&self, delivery: &Presented<'_>, keys: &[Secret]) -> Option<Result<usize, Rejection>> {
        match self {
            Scheme::Signature(s) => match single_header(delivery.headers, &s.header) {
                Ok(Some(value)) => Some(s.verify(value, delivery, keys)),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            },
            Scheme::Token(t) => match t.presented(delivery) {
                Ok(Some(token)) => Some(t.verify(&token, keys)),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            },
        }
    }
}

/// A route's verification: its schemes in order of preference. The keys are
/// passed per delivery, because a route may pick them by tenant.
#[derive(Debug, Clone)]
pub struct Verifier {
    schemes: Vec<Scheme>,
}

impl Verifier {
    /// `schemes` must not be empty; the config layer guarantees it (and that
    /// no key is empty), reporting violations with file and line.
    pub fn new(schemes: Vec<Scheme>) -> Self {
        debug_assert!(!schemes.is_empty());
        Self { schemes }
    }

    pub fn schemes(&self) -> &[Scheme] {
        &self.schemes
    }

    /// Verifies `delivery` against `keys` (several during a rotation; any one
    /// matching is enough).
    pub fn verify(&self, delivery: &Presented<'_>, keys: &[Secret]) -> Result<(), Rejection> {
        self.matching_key(delivery, keys).map(|_| ())
    }

    /// Like [`Self::verify`], with the position in `keys` of the key that
    /// verified the delivery (the first, when several would).
    pub fn matching_key(&self, delivery: &Presented<'_>, keys: &[Secret]) -> Result<usize, Rejection> {
        for scheme in &self.schemes {
            if let Some(verdict) = scheme.try_verify(delivery, keys) {
                return verdict;
            }
        }
        // Name the preferred location: that is what the sender should add.
        let first = self.schemes.first().map(Scheme::location);
        Err(Rejection::Missing(
            first.unwrap_or(Location::Header(http::header::AUTHORIZATION)),
        ))
    }
}

/// Decodes a configured key as `encoding` says and checks it suits
/// `algorithm` (an Ed25519 key must be a curve point). Errors describe the
/// format, never the key.
pub fn decode_key(encoding: KeyEncoding, algorithm: Option<Algorithm>, text: &[u8]) -> Result<Secret, String> {
    let key = encoding
        .decode(text)
        .map_err(|e| format!("the key {e} (expected {})", encoding.describe()))?;
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    if let Some(algorithm) = algorithm {
        algorithm.validate_key(&key).map_err(|e| format!("the key {e}"))?;
    }
    Ok(Secret::new(key))
}

/// The value of a header that must appear at most once. Two copies are refused
/// rather than picking one: proxies disagree on which copy wins, and that
/// disagreement is what an attacker would exploit.
pub(crate) fn single_header<'h>(headers: HeaderLines<'h>, name: &HeaderName) -> Result<Option<&'h [u8]>, Rejection> {
    headers
        .single(name.as_str())
        .map_err(|_| Rejection::Duplicate(Location::Header(name.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_shown_as_documented() {
        let name = HeaderName::from_static("x-hub-signature-256");
        assert_eq!(display_header_name(name.as_str()), "X-Hub-Signature-256");
        assert_eq!(
            Rejection::Missing(Location::Header(name)).to_string(),
            "missing X-Hub-Signature-256"
        );
        assert_eq!(
            Rejection::Missing(Location::Query("token".into())).to_string(),
            "missing query parameter `token`"
        );
    }
}
