//! Webhook verification: a pure library over (headers, body) → verified or a
//! precise [`Rejection`].
//!
//! Nothing here touches the network or storage. A route's [`Verifier`] is a list
//! of [`Scheme`] values built from a provider preset (data in [`presets`]); the
//! engines ([`hmac`], [`token`]) execute them. The first scheme whose credential
//! header is present decides: a request carrying GitHub's SHA-256 signature is
//! judged on it alone, and the legacy SHA-1 header is only looked at when the
//! route enabled it *and* the SHA-256 header is absent — an attacker cannot
//! downgrade a request by adding a second, weaker signature.

pub mod hmac;
pub mod presets;
pub mod token;

use http::header::{HeaderMap, HeaderName};

use crate::secret::Secret;

/// The parts of a delivery that verification may look at.
#[derive(Clone, Copy)]
pub struct Delivery<'a> {
    pub headers: &'a HeaderMap,
    /// The raw bytes exactly as received: never re-serialised or decompressed.
    pub body: &'a [u8],
}

/// Why a delivery was refused. `Display` is the client-facing message: it names
/// headers, never secrets or expected values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("missing {0}")]
    Missing(HeaderName),
    #[error("duplicate {0} header")]
    Duplicate(HeaderName),
    #[error("malformed {0}")]
    Malformed(HeaderName),
    #[error("invalid signature")]
    BadSignature,
    #[error("invalid token")]
    BadToken,
}

/// One way of proving a delivery's origin.
#[derive(Debug, Clone)]
pub enum Scheme {
    Hmac(hmac::HmacScheme),
    Token(token::TokenScheme),
}

impl Scheme {
    /// The header that carries this scheme's credential.
    pub fn credential_header(&self) -> &HeaderName {
        match self {
            Scheme::Hmac(s) => &s.header,
            Scheme::Token(s) => &s.header,
        }
    }

    fn verify(&self, value: &[u8], delivery: &Delivery<'_>, secrets: &[Secret]) -> Result<(), Rejection> {
        match self {
            Scheme::Hmac(s) => s.verify(value, delivery, secrets),
            Scheme::Token(s) => s.verify(value, secrets),
        }
    }
}

/// A route's verification: its schemes in order of preference and its secrets
/// (several during a rotation; any one matching is enough).
#[derive(Debug, Clone)]
pub struct Verifier {
    schemes: Vec<Scheme>,
    secrets: Vec<Secret>,
}

impl Verifier {
    /// `schemes` must not be empty and `secrets` must hold no empty secret; the
    /// config layer guarantees both and reports violations with file and line.
    pub fn new(schemes: Vec<Scheme>, secrets: Vec<Secret>) -> Self {
        debug_assert!(!schemes.is_empty());
        debug_assert!(!secrets.is_empty() && secrets.iter().all(|s| !s.is_empty()));
        Self { schemes, secrets }
    }

    pub fn schemes(&self) -> &[Scheme] {
        &self.schemes
    }

    pub fn verify(&self, delivery: &Delivery<'_>) -> Result<(), Rejection> {
        for scheme in &self.schemes {
            let header = scheme.credential_header();
            if let Some(value) = single_header(delivery.headers, header)? {
                return scheme.verify(value, delivery, &self.secrets);
            }
        }
        // Name the preferred header: that is the one the sender should add.
        Err(Rejection::Missing(self.schemes[0].credential_header().clone()))
    }
}

/// The value of a header that must appear at most once. Two copies are refused
/// rather than picking one: proxies disagree on which copy wins, and that
/// disagreement is what an attacker would exploit.
fn single_header<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h [u8]>, Rejection> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::Duplicate(name.clone()));
    }
    Ok(Some(first.as_bytes()))
}
