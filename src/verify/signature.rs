//! The generic signature engine. One [`SignatureScheme`] value says where a
//! provider puts its signature, how the header is laid out, which bytes are
//! signed, with which algorithm, and how old a delivery may be;
//! [`SignatureScheme::verify`] executes any of them — GitHub's one-header HMAC
//! as well as Stripe's timestamped list or Discord's Ed25519.
//!
//! Presented signatures are *decoded* and compared as bytes, never as
//! strings: hex case, whitespace games and truncated values all fail alike.

use http::header::HeaderName;
use sha2::{Digest, Sha256};

use super::algorithm::Algorithm;
use super::encoding::{Encoding, MAX_SIGNATURE};
use super::header_format::{HeaderFormat, MAX_CANDIDATES};
use super::json_pointer::{self, Lookup, Pointer};
use super::template::{sorted_form_params, Inputs, Part, SignedContent};
use super::timestamp::{SignedTimestamp, TimestampSource};
use super::{single_header, Location, Presented, Rejection};
use crate::verify::secret::{constant_time_eq, Secret};

/// A signature over (parts of) the delivery.
#[derive(Debug, Clone)]
pub struct SignatureScheme {
    pub header: HeaderName,
    pub format: HeaderFormat,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    pub signed: SignedContent,
    /// The header whose value `{id}` stands for.
    pub id_header: Option<HeaderName>,
    pub timestamp: Option<SignedTimestamp>,
    /// Twilio, for non-form bodies: the URL carries this query parameter with
    /// the hex SHA-256 of the body; the signature covers the URL, and the body
    /// must match the digest.
    pub body_digest_param: Option<String>,
    /// Twilio signs the URL sometimes with, sometimes without the default
    /// port, and with a `'` where the request may carry `%27`; its SDKs
    /// accept each spelling, and so does this scheme when set.
    pub url_variants: bool,
}

impl SignatureScheme {
    /// Verifies the signature header's `value`; the position of the key that
    /// matched.
    pub(super) fn verify(&self, value: &[u8], delivery: &Presented<'_>, keys: &[Secret]) -> Result<usize, Rejection> {
        let malformed = || Rejection::Malformed(Location::Header(self.header.clone()));
        let parsed = self.format.parse(value).map_err(|_| malformed())?;
        let inputs = self.inputs(delivery, parsed.timestamp)?;
        // Read once: the replay check below looks at the same text.
        let timestamp_text = inputs.timestamp;

        // Decode every candidate once, on the stack; undecodable ones can
        // never match, and a header with no decodable one is malformed.
        let mut buffers = [[0u8; MAX_SIGNATURE]; MAX_CANDIDATES];
        let mut presented: [&[u8]; MAX_CANDIDATES] = [&[]; MAX_CANDIDATES];
        let mut count = 0;
        for (candidate, buffer) in parsed.candidates().iter().zip(buffers.iter_mut()) {
            if let Some(bytes) = self.encoding.decode(candidate, buffer).filter(|b| !b.is_empty()) {
                presented[count] = bytes;
                count += 1;
            }
        }
        if count == 0 {
            return Err(malformed());
        }

        let presented = &presented[..count];
        let matches = |inputs: &Inputs<'_>| {
            let feed = |update: &mut dyn FnMut(&[u8])| self.signed.feed(inputs, update);
            self.algorithm.matching_key(keys, &feed, presented)
        };
        let mut matched = matches(&inputs);
        if matched.is_none() && self.url_variants {
            // The rare path (a mismatch on Twilio): clone the inputs per try.
            for spelling in delivery.url.map(url_spellings).unwrap_or_default() {
                matched = matches(&Inputs {
                    url: spelling.as_bytes(),
                    ..inputs.clone()
                });
                if matched.is_some() {
                    break;
                }
            }
        }
        let Some(key) = matched else {
            return Err(Rejection::BadSignature);
        };
        self.check_body_digest(delivery)?;
        // Checked after the signature, so `stale timestamp` always means a
        // genuine delivery replayed (or a clock problem), never a forgery.
        self.check_replay(delivery, timestamp_text)?;
        Ok(key)
    }

    /// Gathers what the template needs from the delivery.
    fn inputs<'a>(
        &self,
        delivery: &Presented<'a>,
        header_timestamp: Option<&'a [u8]>,
    ) -> Result<Inputs<'a>, Rejection> {
        let mut inputs = Inputs {
            body: delivery.body,
            ..Inputs::default()
        };
        if self.signed.uses(&Part::Timestamp) {
            inputs.timestamp = self.timestamp_text(delivery, header_timestamp)?;
        }
        if self.signed.uses(&Part::Id) {
            if let Some(id_header) = &self.id_header {
                inputs.id = single_header(delivery.headers, id_header)?
                    .ok_or_else(|| Rejection::Missing(Location::Header(id_header.clone())))?;
            }
        }
        if self.signed.uses(&Part::Url) {
            // The config requires `public_url` for such schemes; without one
            // no signature can match.
            inputs.url = delivery.url.ok_or(Rejection::BadSignature)?.as_bytes();
        }
        if self.signed.uses(&Part::Method) {
            inputs.method = delivery.method.as_bytes();
        }
        if self.signed.uses(&Part::FormParams) && self.presented_body_digest(delivery).is_none() {
            inputs.form_params = sorted_form_params(delivery.body);
        }
        Ok(inputs)
    }

    /// The timestamp text as sent, from the header or signature field that
    /// holds it.
    fn timestamp_text<'a>(
        &self,
        delivery: &Presented<'a>,
        header_timestamp: Option<&'a [u8]>,
    ) -> Result<&'a [u8], Rejection> {
        match self.timestamp.as_ref().map(|r| &r.source) {
            Some(TimestampSource::Header(name)) => {
                single_header(delivery.headers, name)?.ok_or_else(|| Rejection::Missing(Location::Header(name.clone())))
            }
            Some(TimestampSource::SignatureHeader) => {
                header_timestamp.ok_or_else(|| Rejection::Malformed(Location::Header(self.header.clone())))
            }
            // The config only lets `{timestamp}` into a template whose
            // timestamp comes from a header.
            Some(TimestampSource::BodyJson(_)) | None => Ok(b""),
        }
    }

    /// `text` is the signed timestamp as sent, for header and signature-field
    /// sources (the template always signs those; see `spec`).
    fn check_replay(&self, delivery: &Presented<'_>, text: &[u8]) -> Result<(), Rejection> {
        let Some(window) = self.timestamp.as_ref().filter(|t| t.tolerance.is_some()) else {
            return Ok(());
        };
        let at = match &window.source {
            TimestampSource::BodyJson(pointer) => body_timestamp(delivery.body, pointer, window)?,
            TimestampSource::Header(_) | TimestampSource::SignatureHeader => {
                window.format.parse(text).ok_or_else(|| {
                    let location = match &window.source {
                        TimestampSource::Header(name) => name.clone(),
                        _ => self.header.clone(),
                    };
                    Rejection::Malformed(Location::Header(location))
                })?
            }
        };
        window.admits(at, delivery.now).map_err(Rejection::StaleTimestamp)
    }

    /// The body digest the URL carries, if this scheme uses one and it is there.
    fn presented_body_digest<'a>(&self, delivery: &Presented<'a>) -> Option<&'a str> {
        let param = self.body_digest_param.as_deref()?;
        delivery.query?.split('&').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name == param).then_some(value)
        })
    }

    fn check_body_digest(&self, delivery: &Presented<'_>) -> Result<(), Rejection> {
        let Some(presented) = self.presented_body_digest(delivery) else {
            return Ok(());
        };
        let mut buf = [0u8; MAX_SIGNATURE];
        let presented = Encoding::Hex
            .decode(presented.as_bytes(), &mut buf)
            .ok_or(Rejection::BadSignature)?;
        let actual = Sha256::digest(delivery.body);
        if constant_time_eq(actual.as_slice(), presented) {
            Ok(())
        } else {
            Err(Rejection::BadSignature)
        }
    }

    /// The signature header value a sender would attach, for HMAC schemes
    /// (used by `sign_forwarded` and `hookfence sign`); `None` for public-key
    /// schemes, which need the sender's private key.
    pub fn sign(&self, secret: &Secret, inputs: &Inputs<'_>) -> Option<String> {
        if self.algorithm.is_asymmetric() {
            return None;
        }
        let mac = self.algorithm.mac(secret, &|update| self.signed.feed(inputs, update));
        let timestamp = std::str::from_utf8(inputs.timestamp).ok();
        Some(self.format.write(&self.encoding.encode(mac.as_bytes()), timestamp))
    }
}

/// The same URL with its port written out if it was implicit (`:443`, `:80`),
/// or removed if it was explicit: Twilio's two ways of signing one URL.
/// The other spellings of `url` a sender may have signed: the default port
/// toggled, single quotes toggled between `'` and `%27` (Twilio signs the
/// unescaped quote; twilio-node #1061), and both.
fn url_spellings(url: &str) -> Vec<String> {
    let port = toggle_default_port(url);
    let quotes = toggle_quotes(url);
    let both = port.as_deref().and_then(toggle_quotes);
    [quotes, port, both].into_iter().flatten().collect()
}

/// `url` with every `%27` written `'`, or, when it has none, every `'`
/// written `%27`; `None` when it has neither.
fn toggle_quotes(url: &str) -> Option<String> {
    if url.contains("%27") {
        Some(url.replace("%27", "'"))
    } else if url.contains('\'') {
        Some(url.replace('\'', "%27"))
    } else {
        None
    }
}

fn toggle_default_port(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host();
    let rest = uri.path_and_query().map_or("", |pq| pq.as_str());
    Some(match authority.port_u16() {
        Some(_) => format!("{scheme}://{host}{rest}"),
        None => {
            let port = if scheme.eq_ignore_ascii_case("https") { 443 } else { 80 };
            format!("{scheme}://{host}:{port}{rest}")
        }
    })
}

/// A timestamp inside the JSON body (which the signature covers whole).
fn body_timestamp(body: &[u8], pointer: &Pointer, window: &SignedTimestamp) -> Result<i64, Rejection> {
    let location = || Location::Body(pointer.to_string());
    let text = match json_pointer::lookup_one(body, pointer) {
        Ok(Lookup::Text(text) | Lookup::Number(text)) => text,
        Ok(Lookup::Absent) => return Err(Rejection::Missing(location())),
        Ok(Lookup::NotScalar) | Err(_) => return Err(Rejection::Malformed(location())),
    };
    window
        .format
        .parse(text.as_bytes())
        .ok_or_else(|| Rejection::Malformed(location()))
}

#[cfg(test)]
mod tests {
    use super::toggle_default_port;

    #[test]
    fn port_variants() {
        assert_eq!(
            toggle_default_port("https://x.test/a?b=1").as_deref(),
            Some("https://x.test:443/a?b=1")
        );
        assert_eq!(
            toggle_default_port("http://x.test/a").as_deref(),
            Some("http://x.test:80/a")
        );
        assert_eq!(
            toggle_default_port("http://x.test:1234/a").as_deref(),
            Some("http://x.test/a")
        );
        assert_eq!(toggle_default_port("not a url"), None);
    }
}
