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

/// A subscription check made with a `GET` and query parameters, answered
/// with the challenge it carries: Meta's
/// `hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` (against a
/// token the operator chose, not the signing secret), Dropbox's
/// `?challenge=…` (no token).
#[derive(Debug)]
pub struct QueryChallenge {
    /// The parameter and value that mark the check, if the sender sends one.
    pub mode: Option<(&'static str, &'static str)>,
    /// The parameter holding the operator's token, if the check has one.
    pub token_param: Option<&'static str>,
    pub challenge_param: &'static str,
}

/// How a query challenge ends.
#[derive(Debug, PartialEq, Eq)]
pub enum QueryVerdict {
    /// Echo this challenge (`text/plain`).
    Answer(String),
    /// The token does not match (or is missing): 403.
    WrongToken,
    /// Not a subscription check (no `hub.mode=subscribe`, no usable
    /// challenge).
    NotACheck,
}

/// The longest challenge echoed.
const MAX_CHALLENGE: usize = 1024;

impl QueryChallenge {
    /// Judges the query string `query`; `token` is the route's, for checks
    /// that carry one (compared in constant time).
    pub fn judge(&self, query: &str, token: Option<&Secret>) -> QueryVerdict {
        let (mut mode, mut presented, mut challenge) = (None, None, None);
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = if self.mode.is_some_and(|(param, _)| name == param) {
                &mut mode
            } else if self.token_param.is_some_and(|param| name == param) {
                &mut presented
            } else if name == self.challenge_param {
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
        if self.token_param.is_none() {
            return QueryVerdict::Answer(challenge);
        }
        match (presented, token) {
            (Some(presented), Some(token)) if token.token_matches(presented.as_bytes()) => {
                QueryVerdict::Answer(challenge)
            }
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

    const META: QueryChallenge = QueryChallenge {
        mode: Some(("hub.mode", "subscribe")),
        token_param: Some("hub.verify_token"),
        challenge_param: "hub.challenge",
    };
    const DROPBOX: QueryChallenge = QueryChallenge {
        mode: None,
        token_param: None,
        challenge_param: "challenge",
    };

    #[test]
    fn dropboxs_check_is_answered_without_a_token() {
        assert_eq!(
            DROPBOX.judge("challenge=s3cr3tV4lu3", None),
            QueryVerdict::Answer("s3cr3tV4lu3".into())
        );
        assert_eq!(DROPBOX.judge("", None), QueryVerdict::NotACheck);
        assert_eq!(DROPBOX.judge("challenge=%3Cb%3E", None), QueryVerdict::NotACheck);
    }

    #[test]
    fn metas_documented_check_is_answered_with_the_challenge() {
        // https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests
        let token = Secret::new(b"meatyhamhock".to_vec());
        let query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";
        assert_eq!(
            META.judge(query, Some(&token)),
            QueryVerdict::Answer("1158201444".into())
        );
        let wrong = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess";
        assert_eq!(META.judge(wrong, Some(&token)), QueryVerdict::WrongToken);
        assert_eq!(
            META.judge("hub.mode=subscribe&hub.challenge=1", Some(&token)),
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
                META.judge(not_a_check, Some(&token)),
                QueryVerdict::NotACheck,
                "{not_a_check}"
            );
        }
    }
}
