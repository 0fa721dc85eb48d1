//! Shared-token schemes: the sender presents the secret itself — in a header
//! (GitLab's `X-Gitlab-Token`), a query parameter (Jira, Jenkins), HTTP Basic
//! credentials (Azure DevOps) or a Bearer token. Compared in constant time,
//! length included (see [`Secret::token_matches`]).

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{HeaderName, AUTHORIZATION};

use super::{single_header, Location, Presented, Rejection};
use crate::verify::secret::Secret;

/// Where the token is presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// The whole header value is the token.
    Header(HeaderName),
    /// A query parameter (percent-decoded).
    Query(String),
    /// `Authorization: Basic base64(user:password)`; the secret is `user:password`.
    Basic,
    /// `Authorization: Bearer <token>`.
    Bearer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenScheme {
    pub source: TokenSource,
}

impl TokenScheme {
    pub fn location(&self) -> Location {
        match &self.source {
            TokenSource::Header(name) => Location::Header(name.clone()),
            TokenSource::Query(param) => Location::Query(param.clone()),
            TokenSource::Basic | TokenSource::Bearer => Location::Header(AUTHORIZATION),
        }
    }

    /// The presented token, `None` if this scheme's credential is absent. An
    /// `Authorization` header of another auth scheme counts as absent, so a
    /// route may accept Basic *or* Bearer.
    pub(super) fn presented<'a>(&self, delivery: &Presented<'a>) -> Result<Option<Cow<'a, [u8]>>, Rejection> {
        match &self.source {
            TokenSource::Header(name) => Ok(single_header(delivery.headers, name)?.map(Cow::Borrowed)),
            TokenSource::Query(param) => query_param(delivery.query, param),
            TokenSource::Basic => {
                let Some(encoded) = authorization(delivery, "basic")? else {
                    return Ok(None);
                };
                let decoded = STANDARD
                    .decode(encoded)
                    .map_err(|_| Rejection::Malformed(Location::Header(AUTHORIZATION)))?;
                Ok(Some(Cow::Owned(decoded)))
            }
            TokenSource::Bearer => Ok(authorization(delivery, "bearer")?.map(Cow::Borrowed)),
        }
    }

    /// The position of the secret the presented token equals.
    pub(super) fn verify(&self, presented: &[u8], secrets: &[Secret]) -> Result<usize, Rejection> {
        secrets
            .iter()
            .position(|secret| secret.token_matches(presented))
            .ok_or(Rejection::BadToken)
    }
}

/// The credentials of an `Authorization: <scheme> <credentials>` header, if it
/// uses `scheme` (compared case-insensitively, RFC 9110 §11.1).
fn authorization<'a>(delivery: &Presented<'a>, scheme: &str) -> Result<Option<&'a [u8]>, Rejection> {
    let Some(value) = single_header(delivery.headers, &AUTHORIZATION)? else {
        return Ok(None);
    };
    let Some(space) = value.iter().position(|&b| b == b' ') else {
        return Ok(None);
    };
    if !value[..space].eq_ignore_ascii_case(scheme.as_bytes()) {
        return Ok(None);
    }
    Ok(Some(value[space + 1..].trim_ascii()))
}

/// A query parameter's decoded value; present twice is refused like a
/// duplicated header.
fn query_param<'a>(query: Option<&'a str>, name: &str) -> Result<Option<Cow<'a, [u8]>>, Rejection> {
    let mut found = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key == name && found.replace(value).is_some() {
            return Err(Rejection::Duplicate(Location::Query(name.to_owned())));
        }
    }
    Ok(found.map(|value| match value {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }))
}
