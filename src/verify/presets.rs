//! Provider presets: how each webhook sender proves a delivery, as data.
//!
//! A new provider is a new entry in [`PRESETS`] plus its published test vector,
//! not a new code path. Header names are lowercase (HTTP header names are
//! case-insensitive; `http` stores them lowercase).

use http::header::HeaderName;

use super::hmac::{Algorithm, Encoding, HmacScheme};
use super::token::TokenScheme;
use super::Scheme;

/// A scheme as static data; [`SchemeSpec::build`] turns it into a runtime [`Scheme`].
#[derive(Debug, Clone, Copy)]
pub enum SchemeSpec {
    Hmac {
        header: &'static str,
        algorithm: Algorithm,
        encoding: Encoding,
        prefix: &'static str,
    },
    Token {
        header: &'static str,
    },
}

impl SchemeSpec {
    pub fn build(&self) -> Scheme {
        match *self {
            SchemeSpec::Hmac {
                header,
                algorithm,
                encoding,
                prefix,
            } => Scheme::Hmac(HmacScheme {
                header: HeaderName::from_static(header),
                algorithm,
                encoding,
                prefix,
            }),
            SchemeSpec::Token { header } => Scheme::Token(TokenScheme {
                header: HeaderName::from_static(header),
            }),
        }
    }
}

/// One webhook sender.
#[derive(Debug)]
pub struct Preset {
    pub name: &'static str,
    /// Tried in order; the first whose header is present decides.
    pub schemes: &'static [SchemeSpec],
    /// Weaker schemes a route may opt into (`allow_legacy_signature = true`);
    /// consulted only after every scheme in `schemes` found its header absent.
    pub legacy: &'static [SchemeSpec],
    /// Header carrying the provider's delivery id (kept across redeliveries).
    pub delivery_id_header: Option<&'static str>,
    /// Header carrying the event type.
    pub event_header: Option<&'static str>,
}

impl Preset {
    pub fn schemes(&self, allow_legacy: bool) -> Vec<Scheme> {
        let legacy = if allow_legacy { self.legacy } else { &[] };
        self.schemes.iter().chain(legacy).map(SchemeSpec::build).collect()
    }
}

pub static PRESETS: &[Preset] = &[
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    Preset {
        name: "github",
        schemes: &[SchemeSpec::Hmac {
            header: "x-hub-signature-256",
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: "sha256=",
        }],
        legacy: &[SchemeSpec::Hmac {
            header: "x-hub-signature",
            algorithm: Algorithm::Sha1,
            encoding: Encoding::Hex,
            prefix: "sha1=",
        }],
        delivery_id_header: Some("x-github-delivery"),
        event_header: Some("x-github-event"),
    },
    // https://docs.gitlab.com/user/project/integrations/webhooks/ (secret token)
    Preset {
        name: "gitlab",
        schemes: &[SchemeSpec::Token {
            header: "x-gitlab-token",
        }],
        legacy: &[],
        delivery_id_header: Some("x-gitlab-webhook-uuid"),
        event_header: Some("x-gitlab-event"),
    },
];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|p| p.name)
}
