//! Making a delivery as a sender would: the headers (and query parameter)
//! that prove a body under a scheme. Used by `hookfence sign` to test an
//! installation end to end, and by the benchmarks.
//!
//! Ed25519 schemes cannot be signed here: that takes the sender's private
//! key, which hookfence never holds.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{HeaderName, AUTHORIZATION};

use super::template::{sorted_form_params, Inputs, Part};
use super::timestamp::TimestampSource;
use super::token::TokenSource;
use super::{Scheme, SignatureScheme};
use crate::verify::secret::Secret;

/// What a sender adds to a request to prove it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub headers: Vec<(HeaderName, String)>,
    /// A query parameter (name, value) to append to the URL.
    pub query: Option<(String, String)>,
}

/// The request a credential is made for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub body: &'a [u8],
    /// The full URL, for schemes that sign it.
    pub url: Option<&'a str>,
    /// The delivery id, for schemes that sign one.
    pub id: &'a str,
    pub now: SystemTime,
}

impl Scheme {
    /// The credentials proving `request` under `key`; `None` for Ed25519.
    pub fn sign(&self, key: &Secret, request: &Request<'_>) -> Option<Credentials> {
        match self {
            Scheme::Signature(s) => s.credentials(key, request),
            Scheme::Token(t) => {
                let token = String::from_utf8_lossy(key.expose()).into_owned();
                let mut credentials = Credentials::default();
                match &t.source {
                    TokenSource::Header(name) => credentials.headers.push((name.clone(), token)),
                    TokenSource::Query(param) => credentials.query = Some((param.clone(), token)),
                    TokenSource::Basic => credentials
                        .headers
                        .push((AUTHORIZATION, format!("Basic {}", STANDARD.encode(key.expose())))),
                    TokenSource::Bearer => credentials.headers.push((AUTHORIZATION, format!("Bearer {token}"))),
                }
                Some(credentials)
            }
        }
    }
}

impl SignatureScheme {
    fn credentials(&self, key: &Secret, request: &Request<'_>) -> Option<Credentials> {
        let timestamp = self.timestamp.as_ref().map(|t| t.format.format(request.now));
        let mut inputs = Inputs {
            body: request.body,
            timestamp: timestamp.as_deref().unwrap_or_default().as_bytes(),
            id: request.id.as_bytes(),
            url: request.url.unwrap_or_default().as_bytes(),
            // Webhooks are POSTed: a signed test delivery is too.
            method: b"POST",
            ..Inputs::default()
        };
        if self.signed.uses(&Part::FormParams) {
            inputs.form_params = sorted_form_params(request.body);
        }
        let mut credentials = Credentials::default();
        credentials
            .headers
            .push((self.header.clone(), self.sign(key, &inputs)?));
        if let (Some(TimestampSource::Header(name)), Some(ts)) =
            (self.timestamp.as_ref().map(|t| &t.source), &timestamp)
        {
            credentials.headers.push((name.clone(), ts.clone()));
        }
        if let Some(id_header) = &self.id_header {
            credentials.headers.push((id_header.clone(), request.id.to_owned()));
        }
        Some(credentials)
    }
}
