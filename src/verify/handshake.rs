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
        std::iter::once(self.field).chain(answer_field)
    }

    /// The answer, if `read` (a field's text) says this is the handshake;
    /// `None` for a delivery, or a handshake missing what the answer needs.
    /// `secret` is the key that verified the request.
    pub fn answer(&self, read: impl Fn(&str) -> Option<String>, secret: &Secret) -> Option<Reply> {
        if read(self.field).as_deref() != Some(self.value) {
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
