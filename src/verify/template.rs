//! What exactly a provider signs, written as a template over the delivery's
//! parts: `{body}` (GitHub), `{timestamp}.{body}` (Stripe),
//! `v0:{timestamp}:{body}` (Slack), `{id}.{timestamp}.{body}` (Standard
//! Webhooks), `{url}{form_params}` (Twilio), `{method}{url}{body}{timestamp}`
//! (HubSpot).
//!
//! Values are fed to the MAC as the bytes that arrived — the timestamp as the
//! sender wrote it, the body unparsed — never re-formatted.

use std::borrow::Cow;

/// One piece of the signed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    /// The raw request body.
    Body,
    /// The timestamp exactly as sent (header or signature field).
    Timestamp,
    /// The delivery id header exactly as sent.
    Id,
    /// The full URL the sender called (route's `public_url` + path and query).
    Url,
    /// The request method as sent (`POST`; HubSpot).
    Method,
    /// A form-encoded body's parameters sorted by name, each name directly
    /// followed by its value (Twilio). Empty for any other body.
    FormParams,
}

impl Part {
    const PLACEHOLDERS: [(&'static str, Part); 6] = [
        ("body", Part::Body),
        ("timestamp", Part::Timestamp),
        ("id", Part::Id),
        ("url", Part::Url),
        ("method", Part::Method),
        ("form_params", Part::FormParams),
    ];
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedContent {
    parts: Vec<Part>,
}

impl SignedContent {
    /// Parses `text` such as `v0:{timestamp}:{body}`. The body must be covered
    /// (by `{body}` or `{form_params}`), or the signature would prove nothing
    /// about what is forwarded.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("`{text}`: `{{` without a closing `}}`"))?;
                    let name = &rest[1..end];
                    let part = Part::PLACEHOLDERS
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, p)| p.clone())
                        .ok_or_else(|| {
                            format!("`{text}`: unknown placeholder `{{{name}}}`; use {{body}}, {{timestamp}}, {{id}}, {{url}} or {{form_params}}")
                        })?;
                    if parts.contains(&part) {
                        return Err(format!("`{text}`: `{{{name}}}` appears twice"));
                    }
                    parts.push(part);
                    rest = &rest[end + 1..];
                }
                found => {
                    let end = found.unwrap_or(rest.len());
                    if rest[..end].contains('}') {
                        return Err(format!("`{text}`: `}}` without an opening `{{`"));
                    }
                    parts.push(Part::Literal(rest[..end].to_owned()));
                    rest = &rest[end..];
                }
            }
        }
        if !parts.iter().any(|p| matches!(p, Part::Body | Part::FormParams)) {
            return Err(format!(
                "`{text}` must include {{body}}: a signature that does not cover the body proves nothing about it"
            ));
        }
        Ok(Self { parts })
    }

    pub fn uses(&self, part: &Part) -> bool {
        self.parts.contains(part)
    }

    /// Feeds the signed bytes, in order, to `update`.
    pub fn feed(&self, inputs: &Inputs<'_>, update: &mut dyn FnMut(&[u8])) {
        for part in &self.parts {
            match part {
                Part::Literal(text) => update(text.as_bytes()),
                Part::Body => update(inputs.body),
                Part::Timestamp => update(inputs.timestamp),
                Part::Id => update(inputs.id),
                Part::Url => update(inputs.url),
                Part::Method => update(inputs.method),
                Part::FormParams => {
                    for (name, value) in &inputs.form_params {
                        update(name.as_bytes());
                        update(value.as_bytes());
                    }
                }
            }
        }
    }
}

/// The values a template draws on, gathered once per delivery. Parts the
/// template does not use are left empty.
#[derive(Debug, Default, Clone)]
pub struct Inputs<'a> {
    pub body: &'a [u8],
    pub timestamp: &'a [u8],
    pub id: &'a [u8],
    pub url: &'a [u8],
    pub method: &'a [u8],
    pub form_params: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// A form-encoded body's parameters in Twilio's signing order: sorted by name,
/// then (for a repeated name) by value.
pub fn sorted_form_params(body: &[u8]) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    let mut params: Vec<_> = form_pairs(body).collect();
    params.sort();
    params
}

/// `form_urlencoded::parse`, with a fast path for the pairs that need no
/// decoding. That crate walks every byte several times (split, `+`, `%`,
/// lossy UTF-8) and dominated Twilio verification (~70% of it, BENCHMARKS.md);
/// a pair without `%` or `+` that is valid UTF-8 decodes to itself, so it is
/// found with SIMD scans and borrowed. Any other pair goes to the crate, so
/// the results are the crate's by construction (and a property test checks).
fn form_pairs(body: &[u8]) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    let mut rest = Some(body);
    let pieces = std::iter::from_fn(move || {
        let text = rest?;
        let (piece, after) = match memchr::memchr(b'&', text) {
            Some(at) => (&text[..at], Some(&text[at + 1..])),
            None => (text, None),
        };
        rest = after;
        Some(piece)
    });
    pieces.filter(|pair| !pair.is_empty()).filter_map(|pair| {
        let plain = memchr::memchr2(b'%', b'+', pair).is_none();
        match std::str::from_utf8(pair) {
            Ok(text) if plain => {
                let (name, value) = text.split_once('=').unwrap_or((text, ""));
                Some((Cow::Borrowed(name), Cow::Borrowed(value)))
            }
            _ => form_urlencoded::parse(pair).next(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(template: &str, inputs: &Inputs<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        SignedContent::parse(template)
            .unwrap()
            .feed(inputs, &mut |b| out.extend_from_slice(b));
        out
    }

    proptest::proptest! {
        #[test]
        fn form_pairs_decode_exactly_as_form_urlencoded(body in proptest::collection::vec(
            proptest::sample::select(b"ab=&%+2F0x\xc3\xa9\xff ".to_vec()), 0..64)) {
            let ours: Vec<_> = form_pairs(&body).collect();
            let reference: Vec<_> = form_urlencoded::parse(&body).collect();
            proptest::prop_assert_eq!(ours, reference);
        }
    }

    #[test]
    fn templates_concatenate_the_parts_as_sent() {
        let inputs = Inputs {
            body: b"{\"a\":1}",
            timestamp: b"1700000000",
            id: b"msg_1",
            url: b"https://x.test/h?a=1",
            method: b"POST",
            form_params: sorted_form_params(b"b=2&a=1+1"),
        };
        assert_eq!(signed("{body}", &inputs), b"{\"a\":1}");
        assert_eq!(signed("v0:{timestamp}:{body}", &inputs), b"v0:1700000000:{\"a\":1}");
        assert_eq!(
            signed("{id}.{timestamp}.{body}", &inputs),
            b"msg_1.1700000000.{\"a\":1}"
        );
        assert_eq!(signed("{url}{form_params}", &inputs), b"https://x.test/h?a=1a1 1b2");
    }

    #[test]
    fn bad_templates() {
        for (t, msg) in [
            ("{timestamp}", "must include {body}"),
            ("{body}{body}", "appears twice"),
            ("{bodyy}", "unknown placeholder"),
            ("{body", "without a closing"),
            ("a}{body}", "without an opening"),
        ] {
            let err = SignedContent::parse(t).unwrap_err();
            assert!(err.contains(msg), "{t}: {err}");
        }
    }
}
