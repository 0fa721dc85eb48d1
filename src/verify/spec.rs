//! Schemes as plain data: what presets are written in (`&'static str`) and
//! what a custom scheme in the config becomes (`String`). [`SchemeSpec::build`]
//! validates a spec and turns it into the runtime [`Scheme`] the engine runs,
//! so a preset and a hand-written config scheme take the same road.

use std::time::Duration;

use http::header::HeaderName;

use super::algorithm::Algorithm;
use super::encoding::Encoding;
use super::header_format::HeaderFormat;
use super::json_pointer::Pointer;
use super::template::{Part, SignedContent};
use super::timestamp::{SignedTimestamp, TimestampFormat, TimestampSource};
use super::token::{TokenScheme, TokenSource};
use super::{Scheme, SignatureScheme};

#[derive(Debug, Clone)]
pub enum SchemeSpec<S> {
    Signature(SignatureSpec<S>),
    Token(TokenSpec<S>),
}

/// A signature scheme; see [`SignatureScheme`] for the meaning of each part.
#[derive(Debug, Clone)]
pub struct SignatureSpec<S> {
    pub header: S,
    pub format: FormatSpec<S>,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    /// Template of the signed bytes, e.g. `v0:{timestamp}:{body}`.
    pub signed: S,
    pub timestamp: Option<TimestampSpec<S>>,
    /// Header that `{id}` stands for.
    pub id_header: Option<S>,
    pub body_digest_param: Option<S>,
    pub url_variants: bool,
}

#[derive(Debug, Clone)]
pub enum FormatSpec<S> {
    Single {
        prefix: S,
    },
    List {
        separator: char,
        prefix: S,
    },
    Pairs {
        separator: char,
        signature_key: S,
        timestamp_key: Option<S>,
    },
}

#[derive(Debug, Clone)]
pub struct TimestampSpec<S> {
    pub source: TimestampSourceSpec<S>,
    pub format: TimestampFormat,
    /// The provider's documented (or hookfence's chosen) window, in seconds.
    pub tolerance_secs: Option<u64>,
}

#[derive(Debug, Clone)]
pub enum TimestampSourceSpec<S> {
    Header(S),
    SignatureHeader,
    BodyJson(S),
}

#[derive(Debug, Clone)]
pub enum TokenSpec<S> {
    Header(S),
    Query(S),
    Basic,
    Bearer,
}

impl<S: AsRef<str>> SchemeSpec<S> {
    /// Builds the runtime scheme. `tolerance` overrides the spec's replay
    /// window (a route's `replay_window`). Errors name the offending part.
    pub fn build(&self, tolerance: Option<Duration>) -> Result<Scheme, String> {
        match self {
            SchemeSpec::Signature(spec) => spec.build(tolerance).map(|s| Scheme::Signature(Box::new(s))),
            SchemeSpec::Token(spec) => {
                if tolerance.is_some() {
                    return Err("a token scheme has no timestamp to apply a replay window to".into());
                }
                Ok(Scheme::Token(TokenScheme {
                    source: match spec {
                        TokenSpec::Header(name) => TokenSource::Header(header_name(name.as_ref())?),
                        TokenSpec::Query(param) => TokenSource::Query(non_empty("query parameter", param)?),
                        TokenSpec::Basic => TokenSource::Basic,
                        TokenSpec::Bearer => TokenSource::Bearer,
                    },
                }))
            }
        }
    }

    /// Whether this scheme signs the URL (the route then needs `public_url`).
    pub fn signs_url(&self) -> bool {
        matches!(self, SchemeSpec::Signature(s) if s.signed.as_ref().contains("{url}"))
    }

    /// Whether the scheme signs a timestamp a replay window can apply to.
    pub fn has_timestamp(&self) -> bool {
        matches!(self, SchemeSpec::Signature(SignatureSpec { timestamp: Some(_), .. }))
    }

    /// A signed timestamp whose age nothing checks by default (the sender
    /// documents no window).
    pub fn has_unbounded_timestamp(&self) -> bool {
        matches!(
            self,
            SchemeSpec::Signature(SignatureSpec {
                timestamp: Some(TimestampSpec {
                    tolerance_secs: None,
                    ..
                }),
                ..
            })
        )
    }

    /// The algorithm whose keys this scheme takes, if it is a signature.
    pub fn algorithm(&self) -> Option<Algorithm> {
        match self {
            SchemeSpec::Signature(s) => Some(s.algorithm),
            SchemeSpec::Token(_) => None,
        }
    }
}

impl<S: AsRef<str>> SignatureSpec<S> {
    fn build(&self, tolerance: Option<Duration>) -> Result<SignatureScheme, String> {
        let signed = SignedContent::parse(self.signed.as_ref())?;
        let timestamp = match &self.timestamp {
            Some(spec) => Some(SignedTimestamp {
                source: match &spec.source {
                    TimestampSourceSpec::Header(name) => TimestampSource::Header(header_name(name.as_ref())?),
                    TimestampSourceSpec::SignatureHeader => TimestampSource::SignatureHeader,
                    TimestampSourceSpec::BodyJson(pointer) => {
                        let text = pointer.as_ref();
                        match Pointer::parse(text).filter(|_| !text.is_empty()) {
                            Some(pointer) => TimestampSource::BodyJson(pointer),
                            None => return Err(format!("`{text}` is not a JSON pointer (it must start with `/`)")),
                        }
                    }
                },
                format: spec.format,
                tolerance: tolerance.or(spec.tolerance_secs.map(Duration::from_secs)),
            }),
            None if tolerance.is_some() => return Err(
                "this scheme signs no timestamp, so a replay window cannot apply; deduplicate by delivery id instead"
                    .into(),
            ),
            None => None,
        };
        let format = match &self.format {
            FormatSpec::Single { prefix } => HeaderFormat::Single {
                prefix: prefix.as_ref().to_owned(),
            },
            FormatSpec::List { separator, prefix } => HeaderFormat::List {
                separator: ascii_separator(*separator)?,
                prefix: prefix.as_ref().to_owned(),
            },
            FormatSpec::Pairs {
                separator,
                signature_key,
                timestamp_key,
            } => HeaderFormat::Pairs {
                separator: ascii_separator(*separator)?,
                signature_key: non_empty("signature key", signature_key)?,
                timestamp_key: timestamp_key
                    .as_ref()
                    .map(|k| non_empty("timestamp key", k))
                    .transpose()?,
            },
        };
        // A timestamp is only worth checking if the signature covers it.
        let timestamp_signed = match timestamp.as_ref().map(|t| &t.source) {
            Some(TimestampSource::BodyJson(_)) => !signed.uses(&Part::Timestamp),
            Some(_) => signed.uses(&Part::Timestamp),
            None => !signed.uses(&Part::Timestamp),
        };
        if !timestamp_signed {
            return Err(match timestamp.map(|t| t.source) {
                None => "`{timestamp}` is signed but the scheme says nowhere where the timestamp is".into(),
                Some(TimestampSource::BodyJson(_)) => {
                    "a timestamp from the body is signed with the body: leave `{timestamp}` out of the template".into()
                }
                Some(_) => "the timestamp is not part of the signed content (add `{timestamp}` to the template): an unsigned timestamp proves nothing".into(),
            });
        }
        if matches!(
            timestamp.as_ref().map(|t| &t.source),
            Some(TimestampSource::SignatureHeader)
        ) && !matches!(
            format,
            HeaderFormat::Pairs {
                timestamp_key: Some(_),
                ..
            }
        ) {
            return Err("the timestamp is said to be in the signature header, which has no timestamp key".into());
        }
        let id_header = self.id_header.as_ref().map(|h| header_name(h.as_ref())).transpose()?;
        if signed.uses(&Part::Id) != id_header.is_some() {
            return Err("`{id}` in the template and an id header go together".into());
        }
        Ok(SignatureScheme {
            header: header_name(self.header.as_ref())?,
            format,
            algorithm: self.algorithm,
            encoding: self.encoding,
            signed,
            id_header,
            timestamp,
            body_digest_param: self.body_digest_param.as_ref().map(|p| p.as_ref().to_owned()),
            url_variants: self.url_variants,
        })
    }
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("`{name}` is not a valid header name"))
}

fn non_empty<S: AsRef<str>>(what: &str, value: &S) -> Result<String, String> {
    let value = value.as_ref();
    if value.is_empty() {
        Err(format!("the {what} must not be empty"))
    } else {
        Ok(value.to_owned())
    }
}

fn ascii_separator(separator: char) -> Result<char, String> {
    if separator.is_ascii() && !separator.is_ascii_alphanumeric() {
        Ok(separator)
    } else {
        Err(format!(
            "separator `{separator}` must be one ASCII punctuation or space character"
        ))
    }
}
