//! `sign_forwarded`: how hookfence signs what it forwards, so that the
//! backend can check a delivery came through hookfence.
//!
//! - `format = "hmac-sha256"` (the default): one header, `sha256=<hex>` of
//!   the body under one secret. Simple, and what GitLab-style backends
//!   that check `X-Hub-Signature-256` already understand.
//! - `format = "standard-webhooks"`: `webhook-id`, `webhook-timestamp` and
//!   `webhook-signature: v1,<base64> v1,<base64>…` (one signature per
//!   secret, so the internal secret can be rotated without downtime), as
//!   the Standard Webhooks specification writes them: the backend verifies
//!   with any Standard Webhooks library, with a timestamp for replay
//!   protection on the internal hop. Secrets are `whsec_<base64>`.
//!
//! The signature is made for every attempt (a reloaded secret signs from
//! then on; a retried queued delivery gets a fresh timestamp).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::header::HeaderName;
use sha2::Sha256;
use toml::Spanned;

use super::error::Reporter;
use super::raw::RawSignForwarded;
use super::secret_ref;
use crate::verify::presets;
use crate::verify::secret::Secret;

/// The Standard Webhooks headers (lowercase, as the specification writes them).
const WEBHOOK_ID: &str = "webhook-id";
const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
const WEBHOOK_SIGNATURE: &str = "webhook-signature";

#[derive(Debug)]
pub enum SignForwarded {
    /// `<header>: sha256=<hex HMAC-SHA256 of the body>`.
    HmacSha256 { header: HeaderName, secret: Secret },
    /// Standard Webhooks, one `v1` signature per secret.
    StandardWebhooks { secrets: Vec<Secret> },
}

impl SignForwarded {
    /// The header lines that sign `body` for this attempt. `id` names the
    /// delivery (stable across its attempts) for formats that sign it.
    pub fn header_lines(&self, body: &[u8], id: &str, now: SystemTime) -> Vec<(Vec<u8>, Vec<u8>)> {
        match self {
            SignForwarded::HmacSha256 { header, secret } => {
                let value = format!("sha256={}", hex::encode(hmac(secret, &[body])));
                vec![(
                    crate::verify::display_header_name(header.as_str()).into_bytes(),
                    value.into_bytes(),
                )]
            }
            SignForwarded::StandardWebhooks { secrets } => {
                let timestamp = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()).to_string();
                let signatures: Vec<String> = secrets
                    .iter()
                    .map(|secret| {
                        let mac = hmac(secret, &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body]);
                        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac))
                    })
                    .collect();
                vec![
                    (WEBHOOK_ID.into(), id.as_bytes().to_vec()),
                    (WEBHOOK_TIMESTAMP.into(), timestamp.into_bytes()),
                    (WEBHOOK_SIGNATURE.into(), signatures.join(" ").into_bytes()),
                ]
            }
        }
    }

    /// Whether the header `name` is one this signing writes (a client's
    /// copy is then not forwarded).
    pub fn writes(&self, name: &[u8]) -> bool {
        match self {
            SignForwarded::HmacSha256 { header, .. } => name.eq_ignore_ascii_case(header.as_str().as_bytes()),
            SignForwarded::StandardWebhooks { .. } => [WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE]
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h.as_bytes())),
        }
    }
}

fn hmac(secret: &Secret, parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes a key of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose()) else {
        return Vec::new();
    };
    parts.iter().for_each(|part| mac.update(part));
    mac.finalize().into_bytes().to_vec()
}

/// Builds a route's `sign_forwarded`, reporting what is wrong under `key`.
pub(super) fn build(
    raw: &Spanned<RawSignForwarded>,
    key: &dyn Fn(&str) -> String,
    env: &dyn Fn(&str) -> Option<String>,
    base: &std::path::Path,
    report: &mut Reporter<'_>,
) -> Option<SignForwarded> {
    let span = raw.span();
    let raw = raw.get_ref();
    let resolve = |reference: &Spanned<String>, field: &str, report: &mut Reporter<'_>| {
        secret_ref::resolve(reference.get_ref(), env, base)
            .map_err(|e| report.error(Some(reference.span()), key(field), e))
            .ok()
    };
    match raw.format.as_ref().map_or("hmac-sha256", |f| f.get_ref().as_str()) {
        "hmac-sha256" => {
            if let Some(secrets) = &raw.secrets {
                report.error(
                    Some(secrets.span()),
                    key("sign_forwarded.secrets"),
                    "several secrets are for format = \"standard-webhooks\"; hmac-sha256 signs with one `secret`",
                );
            }
            let Some(header) = &raw.header else {
                report.error(Some(span), key("sign_forwarded.header"), "missing: the header to write");
                return None;
            };
            let Some(secret) = &raw.secret else {
                report.error(
                    Some(span),
                    key("sign_forwarded.secret"),
                    "missing: the secret to sign with",
                );
                return None;
            };
            let name = HeaderName::from_bytes(header.get_ref().as_bytes())
                .map_err(|_| {
                    report.error(
                        Some(header.span()),
                        key("sign_forwarded.header"),
                        "not a valid header name",
                    )
                })
                .ok();
            let secret = resolve(secret, "sign_forwarded.secret", report);
            Some(SignForwarded::HmacSha256 {
                header: name?,
                secret: secret?,
            })
        }
        "standard-webhooks" => {
            if let Some(header) = &raw.header {
                report.error(
                    Some(header.span()),
                    key("sign_forwarded.header"),
                    "Standard Webhooks writes webhook-id, webhook-timestamp and webhook-signature; no header to choose",
                );
            }
            let references: Vec<&Spanned<String>> = match (&raw.secrets, &raw.secret) {
                (Some(list), None) => list.get_ref().iter().collect(),
                (None, Some(one)) => vec![one],
                _ => {
                    report.error(
                        Some(span),
                        key("sign_forwarded.secrets"),
                        "give `secrets` (one or more whsec_ secrets; several sign at once, for rotation)",
                    );
                    return None;
                }
            };
            if references.is_empty() {
                report.error(
                    Some(span),
                    key("sign_forwarded.secrets"),
                    "must list at least one secret",
                );
                return None;
            }
            let preset = presets::find("standard-webhooks")?;
            let wanted = references.len();
            let mut secrets = Vec::with_capacity(wanted);
            for (i, reference) in references.into_iter().enumerate() {
                let field = format!("sign_forwarded.secrets[{i}]");
                let decoded = resolve(reference, &field, report).and_then(|text| {
                    preset
                        .key(&String::from_utf8_lossy(text.expose()))
                        .map_err(|e| report.error(Some(reference.span()), key(&field), e))
                        .ok()
                });
                secrets.extend(decoded);
            }
            (secrets.len() == wanted).then_some(SignForwarded::StandardWebhooks { secrets })
        }
        other => {
            let at = raw.format.as_ref().map(Spanned::span);
            report.error(
                at,
                key("sign_forwarded.format"),
                format!("unknown format `{other}`: \"hmac-sha256\" or \"standard-webhooks\""),
            );
            None
        }
    }
}
