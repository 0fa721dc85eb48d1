//! Endpoint handshakes: the challenge some senders send before they enable
//! a webhook, answered by hookfence instead of the backend. Each preset's
//! handshake is data ([`Handshake`]): which field marks it, and the shape
//! of the answer the sender documents. The proxy answers only a verified
//! challenge (Zoom's answer is an HMAC under the route's secret: answering
//! unverified ones would sign whatever a stranger sent).

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::secret::Secret;
use crate::header_lines::HeaderLines;

/// A sender's endpoint check.
#[derive(Debug)]
pub struct Handshake {
    /// The field (`header:…` / `json:…`) whose value `value` marks a
    /// handshake rather than a delivery.
    pub field: &'static str,
    pub value: &'static str,
    /// A field that must be absent too (it tells a handshake from a
    /// delivery that shares the marker).
    pub absent: Option<&'static str>,
    pub answer: HandshakeAnswer,
}

/// What the sender expects back.
#[derive(Debug)]
pub enum HandshakeAnswer {
    /// `{"<key>": <the field's text>}`, as JSON.
    EchoJson { field: &'static str, key: &'static str },
    /// The field's text, as `text/plain`.
    EchoText { field: &'static str },
    /// A fixed JSON body.
    Fixed(&'static str),
    /// Zoom: `{"plainToken": p, "encryptedToken": hex(HMAC-SHA256(secret, p))}`
    /// with `p` the field's text.
    ZoomTokens { field: &'static str },
}

/// An answer's body and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Json(String),
    Text(String),
}

impl Handshake {
    /// Every field the handshake reads (a route reads them from the body).
    pub fn fields(&self) -> impl Iterator<Item = &'static str> {
        let answer_field = match self.answer {
            HandshakeAnswer::EchoJson { field, .. }
            | HandshakeAnswer::EchoText { field }
            | HandshakeAnswer::ZoomTokens { field } => Some(field),
            HandshakeAnswer::Fixed(_) => None,
        };
        std::iter::once(self.field).chain(self.absent).chain(answer_field)
    }

    /// The answer, if `read` (a field's text) says this is the handshake;
    /// `None` for a delivery, or a handshake missing what the answer needs.
    /// `secret` is the key that verified the request.
    pub fn answer(&self, read: impl Fn(&str) -> Option<String>, secret: &Secret) -> Option<Reply> {
        if read(self.field).as_deref() != Some(self.value) {
            return None;
        }
        if self.absent.is_some_and(|field| read(field).is_some()) {
            return None;
        }
        Some(match &self.answer {
            HandshakeAnswer::EchoJson { field, key } => {
                let mut object = serde_json::Map::new();
                object.insert((*key).to_owned(), read(field)?.into());
                Reply::Json(serde_json::Value::Object(object).to_string())
            }
            HandshakeAnswer::EchoText { field } => Reply::Text(read(field)?),
            HandshakeAnswer::Fixed(body) => Reply::Json((*body).to_owned()),
            HandshakeAnswer::ZoomTokens { field } => {
                let plain = read(field)?;
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose()).ok()?;
                mac.update(plain.as_bytes());
                let encrypted = hex::encode(mac.finalize().into_bytes());
                Reply::Json(json!({ "plainToken": plain, "encryptedToken": encrypted }).to_string())
            }
        })
    }
}

/// A subscription check made with a `GET`, answered with the challenge it
/// carries: Meta's `hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
/// (against a token the operator chose, not the signing secret), Dropbox's
/// `?challenge=…` (no token), Okta's `X-Okta-Verification-Challenge`
/// header, answered `{"verification": …}`.
#[derive(Debug)]
pub struct QueryChallenge {
    /// The parameter and value that mark the check, if the sender sends one.
    pub mode: Option<(&'static str, &'static str)>,
    /// The parameter holding the operator's token, if the check has one.
    pub token_param: Option<&'static str>,
    pub challenge: ChallengeIn,
    pub answer: ChallengeAnswer,
}

/// Where a `GET` check carries its challenge.
#[derive(Debug)]
pub enum ChallengeIn {
    Query(&'static str),
    /// A header (lowercase name).
    Header(&'static str),
}

/// How the challenge is echoed.
#[derive(Debug)]
pub enum ChallengeAnswer {
    /// As `text/plain`.
    Text,
    /// As `{"<key>": challenge}`.
    Json(&'static str),
}

/// How a query challenge ends.
#[derive(Debug, PartialEq, Eq)]
pub enum QueryVerdict {
    /// Echo the challenge, shaped as the sender expects.
    Answer(Reply),
    /// The token does not match (or is missing): 403.
    WrongToken,
    /// Not a subscription check (no `hub.mode=subscribe`, no usable
    /// challenge).
    NotACheck,
}

/// The longest challenge echoed.
const MAX_CHALLENGE: usize = 1024;

impl QueryChallenge {
    /// Judges the query string `query` and the head's `headers`; `token` is
    /// the route's, for checks that carry one (compared in constant time).
    pub fn judge(&self, query: &str, headers: HeaderLines<'_>, token: Option<&Secret>) -> QueryVerdict {
        let (mut mode, mut presented, mut challenge) = (None, None, None);
        let challenge_param = match self.challenge {
            ChallengeIn::Query(param) => Some(param),
            ChallengeIn::Header(name) => {
                let mut lines = headers.get_all(name);
                // A header given twice is ambiguous: not a check.
                challenge = match (lines.next(), lines.next()) {
                    (Some(value), None) => std::str::from_utf8(value).ok().map(str::to_owned),
                    _ => return QueryVerdict::NotACheck,
                };
                None
            }
        };
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = if self.mode.is_some_and(|(param, _)| name == param) {
                &mut mode
            } else if self.token_param.is_some_and(|param| name == param) {
                &mut presented
            } else if challenge_param.is_some_and(|param| name == param) {
                &mut challenge
            } else {
                continue;
            };
            // A parameter given twice is ambiguous: not a check.
            if slot.replace(value.into_owned()).is_some() {
                return QueryVerdict::NotACheck;
            }
        }
        // Senders send digits or random letters; nothing a browser could
        // read as markup is echoed.
        let Some(challenge) = challenge.filter(|c| {
            !c.is_empty()
                && c.len() <= MAX_CHALLENGE
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        }) else {
            return QueryVerdict::NotACheck;
        };
        if let Some((_, expected)) = self.mode {
            if mode.as_deref() != Some(expected) {
                return QueryVerdict::NotACheck;
            }
        }
        let answer = match self.answer {
            ChallengeAnswer::Text => Reply::Text(challenge),
            ChallengeAnswer::Json(key) => Reply::Json(json!({ key: challenge }).to_string()),
        };
        if self.token_param.is_none() {
            return QueryVerdict::Answer(answer);
        }
        match (presented, token) {
            (Some(presented), Some(token)) if token.token_matches(presented.as_bytes()) => QueryVerdict::Answer(answer),
            _ => QueryVerdict::WrongToken,
        }
    }

    /// Whether the check needs a token configured on the route.
    pub fn needs_token(&self) -> bool {
        self.token_param.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header_lines::OwnedHeaderLines;

    fn check(name: &str) -> &'static QueryChallenge {
        let preset = crate::verify::presets::find(name).expect("preset");
        preset.query_challenge.as_ref().expect("a GET check")
    }

    fn text(challenge: &str) -> QueryVerdict {
        QueryVerdict::Answer(Reply::Text(challenge.into()))
    }

    const NO_HEADERS: fn() -> HeaderLines<'static> = HeaderLines::empty;

    #[test]
    fn dropboxs_check_is_answered_without_a_token() {
        let dropbox = check("dropbox");
        assert_eq!(
            dropbox.judge("challenge=s3cr3tV4lu3", NO_HEADERS(), None),
            text("s3cr3tV4lu3")
        );
        assert_eq!(dropbox.judge("", NO_HEADERS(), None), QueryVerdict::NotACheck);
        assert_eq!(
            dropbox.judge("challenge=%3Cb%3E", NO_HEADERS(), None),
            QueryVerdict::NotACheck
        );
    }

    #[test]
    fn oktas_check_is_answered_from_its_header_as_json() {
        // https://developer.okta.com/docs/concepts/event-hooks/#one-time-verification-request
        let okta = check("okta");
        let lines: OwnedHeaderLines = [("X-Okta-Verification-Challenge", "2f9c3c6a-3a0e-4b1b-8b0b-1b6a7c8d9e0f")]
            .into_iter()
            .collect();
        assert_eq!(
            okta.judge("", lines.lines(), None),
            QueryVerdict::Answer(Reply::Json(
                r#"{"verification":"2f9c3c6a-3a0e-4b1b-8b0b-1b6a7c8d9e0f"}"#.into()
            ))
        );
        assert_eq!(okta.judge("", NO_HEADERS(), None), QueryVerdict::NotACheck);
        let twice: OwnedHeaderLines = [
            ("X-Okta-Verification-Challenge", "a"),
            ("X-Okta-Verification-Challenge", "b"),
        ]
        .into_iter()
        .collect();
        assert_eq!(okta.judge("", twice.lines(), None), QueryVerdict::NotACheck);
        let markup: OwnedHeaderLines = [("X-Okta-Verification-Challenge", "<b>")].into_iter().collect();
        assert_eq!(okta.judge("", markup.lines(), None), QueryVerdict::NotACheck);
        assert_eq!(
            okta.judge("verification=1", NO_HEADERS(), None),
            QueryVerdict::NotACheck,
            "the challenge is read from the header only"
        );
    }

    #[test]
    fn metas_documented_check_is_answered_with_the_challenge() {
        // https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests
        let meta = check("meta");
        let token = Secret::new(b"meatyhamhock".to_vec());
        let query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";
        assert_eq!(meta.judge(query, NO_HEADERS(), Some(&token)), text("1158201444"));
        let wrong = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess";
        assert_eq!(meta.judge(wrong, NO_HEADERS(), Some(&token)), QueryVerdict::WrongToken);
        assert_eq!(
            meta.judge("hub.mode=subscribe&hub.challenge=1", NO_HEADERS(), Some(&token)),
            QueryVerdict::WrongToken
        );
        for not_a_check in [
            "",
            "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=meatyhamhock",
            "hub.mode=subscribe&hub.verify_token=meatyhamhock",
            "hub.mode=subscribe&hub.challenge=%3Cscript%3E%20x&hub.verify_token=meatyhamhock",
            "hub.mode=subscribe&hub.challenge=1&hub.challenge=2&hub.verify_token=meatyhamhock",
        ] {
            assert_eq!(
                meta.judge(not_a_check, NO_HEADERS(), Some(&token)),
                QueryVerdict::NotACheck,
                "{not_a_check}"
            );
        }
    }
}
