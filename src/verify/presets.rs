//! Provider presets: how each webhook sender proves a delivery, as data.
//!
//! A new provider is a new entry in [`PRESETS`] plus its published test
//! vector (tests/providers.rs), not a new code path. Header names are written
//! lowercase (HTTP header names are case-insensitive; `http` stores them so).
//! Each entry cites where its scheme was confirmed. Windows marked "hookfence
//! policy" are ours where the provider documents none.
//!
//! Left out because their scheme could not be confirmed from the provider's
//! own documentation or SDK: Atlassian Bamboo (no signing feature found; its
//! webhook templates can carry a static token header — use a custom token
//! scheme), Asana (its `X-Hook-Secret` handshake hands the key to whoever
//! answers, unauthenticated: a proxy in the middle would have to store or
//! log it), Mailgun (its signature covers a timestamp and a token, not the
//! body), Microsoft Graph (its `clientState` is a secret inside each
//! notification's body), and Plivo, Contentful, Netlify, Polar, Brex and
//! Render, whose exact scheme or key form the sources found disagree on or
//! do not state.

use super::algorithm::Algorithm;
use super::encoding::{Encoding, KeyEncoding};
use super::handshake::{ChallengeAnswer, ChallengeIn, Handshake, HandshakeAnswer, QueryChallenge};
use super::spec::{FormatSpec, SchemeSpec, SignatureSpec, TimestampSourceSpec, TimestampSpec, TokenSpec};
use super::timestamp::TimestampFormat;
use super::{decode_key, Verifier};
use crate::verify::secret::Secret;

/// One webhook sender.
#[derive(Debug)]
pub struct Preset {
    pub name: &'static str,
    /// Where the scheme is documented.
    pub docs: &'static str,
    /// Tried in order; the first whose credential is present decides.
    pub schemes: &'static [SchemeSpec<&'static str>],
    /// Weaker schemes a route may opt into (`allow_legacy_signature = true`);
    /// consulted only after every scheme in `schemes` found its credential absent.
    pub legacy: &'static [SchemeSpec<&'static str>],
    /// How keys for this provider are written.
    pub key_encoding: KeyEncoding,
    /// Field (`header:` / `json:`) with the delivery id, stable across retries.
    pub delivery_id: Option<&'static str>,
    /// Field with the event type.
    pub event: Option<&'static str>,
    /// The event a sender uses to test the endpoint, answerable by hookfence
    /// itself when a route sets `answer_ping = true`.
    pub ping_event: Option<&'static str>,
    /// The challenge the sender sends before it enables the webhook,
    /// answered by hookfence (a route's `handshake`, on by default).
    pub handshake: Option<Handshake>,
    /// A `GET` subscription check against a token the operator chooses
    /// (a route's `verify_token`).
    pub query_challenge: Option<QueryChallenge>,
}

impl Preset {
    /// The schemes a route uses: the preset's, plus the legacy ones if allowed.
    pub fn specs(&self, allow_legacy: bool) -> impl Iterator<Item = &'static SchemeSpec<&'static str>> {
        let legacy: &'static [SchemeSpec<&'static str>] = if allow_legacy { self.legacy } else { &[] };
        self.schemes.iter().chain(legacy)
    }

    /// The preset's verifier with its default replay windows (what a route
    /// without overrides gets; used by `hookfence sign` and tests).
    pub fn verifier(&self, allow_legacy: bool) -> Result<Verifier, String> {
        let schemes = self.specs(allow_legacy).map(|spec| spec.build(None));
        Ok(Verifier::new(schemes.collect::<Result<_, _>>()?))
    }

    /// A well-formed key of this provider's kind, for examples and tests:
    /// a text secret, a Standard Webhooks secret, an Ed25519 public key (RFC
    /// 8032 test key 1, in hex or base64) or a P-256 public key (SendGrid's
    /// published test key).
    pub fn example_key(&self) -> &'static str {
        const CANDIDATES: [&str; 5] = [
            "example-secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==",
        ];
        CANDIDATES
            .into_iter()
            .find(|key| self.key(key).is_ok())
            .unwrap_or(CANDIDATES[0])
    }

    /// A key as this provider writes it (e.g. `whsec_…`), decoded and checked.
    pub fn key(&self, text: &str) -> Result<Secret, String> {
        let algorithm = self.schemes.iter().find_map(SchemeSpec::algorithm);
        decode_key(self.key_encoding, algorithm, text.as_bytes())
    }
}

/// `<prefix><signature>` over the raw body: the most common scheme.
const fn body_signature(
    header: &'static str,
    prefix: &'static str,
    algorithm: Algorithm,
    encoding: Encoding,
) -> SchemeSpec<&'static str> {
    SchemeSpec::Signature(SignatureSpec {
        header,
        format: FormatSpec::Single { prefix },
        algorithm,
        encoding,
        signed: "{body}",
        timestamp: None,
        id_header: None,
        body_digest_param: None,
        url_variants: false,
    })
}

/// `v1=<hex>` of the body among comma-separated versions (only v1 is
/// checked; a sender may add later versions beside it).
const fn versioned_body_signature(header: &'static str) -> SchemeSpec<&'static str> {
    SchemeSpec::Signature(SignatureSpec {
        header,
        format: FormatSpec::List {
            separator: ',',
            prefix: "v1=",
        },
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        signed: "{body}",
        timestamp: None,
        id_header: None,
        body_digest_param: None,
        url_variants: false,
    })
}

/// `<timestamp_key>=<ts>,<signature_key>=<hex>` in one header over
/// `{timestamp}.{body}` (Stripe's shape, which several senders copied).
const fn timestamped_pairs(
    header: &'static str,
    signature_key: &'static str,
    timestamp_key: &'static str,
    tolerance_secs: Option<u64>,
) -> SchemeSpec<&'static str> {
    SchemeSpec::Signature(SignatureSpec {
        header,
        format: FormatSpec::Pairs {
            separator: ',',
            signature_key,
            timestamp_key: Some(timestamp_key),
        },
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        signed: "{timestamp}.{body}",
        timestamp: Some(TimestampSpec {
            source: TimestampSourceSpec::SignatureHeader,
            format: TimestampFormat::UnixSeconds,
            tolerance_secs,
        }),
        id_header: None,
        body_digest_param: None,
        url_variants: false,
    })
}

/// A timestamp in its own header, in Unix seconds.
const fn header_timestamp(header: &'static str, tolerance_secs: Option<u64>) -> Option<TimestampSpec<&'static str>> {
    Some(TimestampSpec {
        source: TimestampSourceSpec::Header(header),
        format: TimestampFormat::UnixSeconds,
        tolerance_secs,
    })
}

/// `v0=<hex>` over `v0:{timestamp}:{body}`, the timestamp (Unix seconds)
/// in its own header, ±5 minutes (Slack's shape; Zoom and Frame.io copied it).
const fn v0_signature(header: &'static str, timestamp_header: &'static str) -> SchemeSpec<&'static str> {
    SchemeSpec::Signature(SignatureSpec {
        header,
        format: FormatSpec::Single { prefix: "v0=" },
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        signed: "v0:{timestamp}:{body}",
        timestamp: header_timestamp(timestamp_header, Some(300)),
        id_header: None,
        body_digest_param: None,
        url_variants: false,
    })
}

/// Standard Webhooks' scheme under a header prefix (`webhook-`, `svix-`).
const fn standard_webhooks(
    signature: &'static str,
    id: &'static str,
    timestamp: &'static str,
) -> SchemeSpec<&'static str> {
    SchemeSpec::Signature(SignatureSpec {
        header: signature,
        format: FormatSpec::List {
            separator: ' ',
            prefix: "v1,",
        },
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Base64,
        signed: "{id}.{timestamp}.{body}",
        timestamp: header_timestamp(timestamp, Some(300)),
        id_header: Some(id),
        body_digest_param: None,
        url_variants: false,
    })
}

const TEXT: KeyEncoding = KeyEncoding::Text;
const WHSEC: KeyEncoding = KeyEncoding::Base64 { prefix: "whsec_" };
use Algorithm::{Sha1, Sha256};
use Encoding::{Base64, Hex};

pub static PRESETS: &[Preset] = &[
    Preset {
        name: "github",
        docs: "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
        schemes: &[body_signature("x-hub-signature-256", "sha256=", Sha256, Hex)],
        legacy: &[body_signature("x-hub-signature", "sha1=", Sha1, Hex)],
        key_encoding: TEXT,
        delivery_id: Some("header:x-github-delivery"),
        event: Some("header:x-github-event"),
        ping_event: Some("ping"),
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "gitlab",
        // Idempotency-Key is kept across retries; X-Gitlab-Webhook-UUID is new
        // on every attempt (gitlabhq app/services/web_hook_service.rb).
        docs: "https://docs.gitlab.com/user/project/integrations/webhooks/#create-a-webhook",
        schemes: &[SchemeSpec::Token(TokenSpec::Header("x-gitlab-token"))],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:idempotency-key"),
        event: Some("header:x-gitlab-event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // GitLab 19.0 signing tokens follow Standard Webhooks (MR !230944, !231325).
        name: "gitlab-signed",
        docs: "https://docs.gitlab.com/user/project/integrations/webhooks/#signing-tokens",
        schemes: &[standard_webhooks("webhook-signature", "webhook-id", "webhook-timestamp")],
        legacy: &[],
        key_encoding: WHSEC,
        delivery_id: Some("header:webhook-id"),
        event: Some("header:x-gitlab-event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Gitea, Forgejo and Gogs sign the JSON payload: configure their
        // webhooks with the `application/json` content type (a form-encoded
        // body is not the signed bytes). Unsigned hooks send empty values,
        // which are malformed here, never a match.
        name: "gitea",
        docs: "https://docs.gitea.com/usage/webhooks",
        schemes: &[body_signature("x-gitea-signature", "", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:x-gitea-delivery"),
        event: Some("header:x-gitea-event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "forgejo",
        docs: "https://forgejo.org/docs/latest/user/webhooks/",
        schemes: &[body_signature("x-forgejo-signature", "", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:x-forgejo-delivery"),
        event: Some("header:x-forgejo-event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "gogs",
        docs: "https://gogs.io/docs/features/webhook",
        schemes: &[body_signature("x-gogs-signature", "", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:x-gogs-delivery"),
        event: Some("header:x-gogs-event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Bitbucket writes SHA-256 under the name GitHub uses for SHA-1.
        name: "bitbucket",
        docs: "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/",
        schemes: &[body_signature("x-hub-signature", "sha256=", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:x-request-uuid"),
        event: Some("header:x-event-key"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "bitbucket-server",
        docs: "https://confluence.atlassian.com/bitbucketserver/manage-webhooks-938025878.html",
        schemes: &[body_signature("x-hub-signature", "sha256=", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:x-request-id"),
        event: Some("header:x-event-key"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Service hooks sign nothing: the Web Hooks consumer sends Basic
        // credentials (the secret is `user:password`).
        name: "azure-devops",
        docs: "https://learn.microsoft.com/en-us/azure/devops/service-hooks/services/webhooks",
        schemes: &[SchemeSpec::Token(TokenSpec::Basic)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/id"),
        event: Some("json:/eventType"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "jira",
        docs: "https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks",
        schemes: &[body_signature("x-hub-signature", "sha256=", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:x-atlassian-webhook-identifier"),
        event: Some("json:/webhookEvent"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Jira webhooks without a secret: a token in the webhook URL's query.
        // Weaker than HMAC: the body is not authenticated and the token shows
        // in Jira's admin UI and in URL logs.
        name: "jira-token",
        docs: "https://developer.atlassian.com/cloud/jira/platform/webhooks/",
        schemes: &[SchemeSpec::Token(TokenSpec::Query("token"))],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:x-atlassian-webhook-identifier"),
        event: Some("json:/webhookEvent"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // For hookfence in front of Jenkins' Generic Webhook Trigger: the
        // token where that plugin looks for it.
        name: "jenkins",
        docs: "https://plugins.jenkins.io/generic-webhook-trigger/",
        schemes: &[
            SchemeSpec::Token(TokenSpec::Query("token")),
            SchemeSpec::Token(TokenSpec::Header("token")),
            SchemeSpec::Token(TokenSpec::Bearer),
        ],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: None,
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // The key is the whole `whsec_…` string as text (stripe-python
        // _webhook.py); only `v1` signatures count. hookfence policy: future
        // timestamps beyond the window are refused too.
        name: "stripe",
        docs: "https://docs.stripe.com/webhooks#verify-manually",
        schemes: &[timestamped_pairs("stripe-signature", "v1", "t", Some(300))],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/id"),
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "slack",
        docs: "https://api.slack.com/authentication/verifying-requests-from-slack",
        schemes: &[v0_signature("x-slack-signature", "x-slack-request-timestamp")],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/event_id"),
        event: Some("json:/type"),
        ping_event: None,
        handshake: Some(Handshake {
            // https://api.slack.com/events/url_verification
            field: "json:/type",
            value: "url_verification",
            absent: None,
            answer: HandshakeAnswer::EchoJson {
                field: "json:/challenge",
                key: "challenge",
            },
        }),
        query_challenge: None,
    },
    Preset {
        name: "standard-webhooks",
        docs: "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md",
        schemes: &[standard_webhooks("webhook-signature", "webhook-id", "webhook-timestamp")],
        legacy: &[],
        key_encoding: WHSEC,
        delivery_id: Some("header:webhook-id"),
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "svix",
        docs: "https://docs.svix.com/receiving/verifying-payloads/how-manual",
        schemes: &[standard_webhooks("svix-signature", "svix-id", "svix-timestamp")],
        legacy: &[],
        key_encoding: WHSEC,
        delivery_id: Some("header:svix-id"),
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "shopify",
        docs: "https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook",
        schemes: &[body_signature("x-shopify-hmac-sha256", "", Sha256, Base64)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:x-shopify-webhook-id"),
        event: Some("header:x-shopify-topic"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // twilio-python request_validator.py: URL + form parameters sorted by
        // name (and value); JSON bodies are bound by `bodySHA256` in the URL.
        name: "twilio",
        docs: "https://www.twilio.com/docs/usage/webhooks/webhooks-security",
        schemes: &[SchemeSpec::Signature(SignatureSpec {
            header: "x-twilio-signature",
            format: FormatSpec::Single { prefix: "" },
            algorithm: Sha1,
            encoding: Base64,
            signed: "{url}{form_params}",
            timestamp: None,
            id_header: None,
            body_digest_param: Some("bodySHA256"),
            url_variants: true,
        })],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:i-twilio-idempotency-token"),
        event: None,
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Discord documents no replay window; a route may set one.
        name: "discord",
        docs: "https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers",
        schemes: &[SchemeSpec::Signature(SignatureSpec {
            header: "x-signature-ed25519",
            format: FormatSpec::Single { prefix: "" },
            algorithm: Algorithm::Ed25519,
            encoding: Hex,
            signed: "{timestamp}{body}",
            timestamp: header_timestamp("x-signature-timestamp", None),
            id_header: None,
            body_digest_param: None,
            url_variants: false,
        })],
        legacy: &[],
        key_encoding: KeyEncoding::Hex { len: Some(32) },
        delivery_id: Some("json:/id"),
        event: Some("json:/type"),
        ping_event: None,
        handshake: Some(Handshake {
            // https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-acknowledging-ping-requests
            // An interaction PING is type 1 with no `event`; Discord's
            // Webhook Events use type 1 for real events (with `event`),
            // which are forwarded.
            field: "json:/type",
            value: "1",
            absent: Some("json:/event/type"),
            answer: HandshakeAnswer::Fixed(r#"{"type":1}"#),
        }),
        query_challenge: None,
    },
    Preset {
        name: "twitch",
        docs: "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message",
        schemes: &[SchemeSpec::Signature(SignatureSpec {
            header: "twitch-eventsub-message-signature",
            format: FormatSpec::Single { prefix: "sha256=" },
            algorithm: Sha256,
            encoding: Hex,
            signed: "{id}{timestamp}{body}",
            timestamp: Some(TimestampSpec {
                source: TimestampSourceSpec::Header("twitch-eventsub-message-timestamp"),
                format: TimestampFormat::Rfc3339,
                tolerance_secs: Some(600),
            }),
            id_header: Some("twitch-eventsub-message-id"),
            body_digest_param: None,
            url_variants: false,
        })],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:twitch-eventsub-message-id"),
        event: Some("header:twitch-eventsub-subscription-type"),
        ping_event: None,
        handshake: Some(Handshake {
            // https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#responding-to-a-challenge-request
            field: "header:twitch-eventsub-message-type",
            value: "webhook_callback_verification",
            absent: None,
            answer: HandshakeAnswer::EchoText {
                field: "json:/challenge",
            },
        }),
        query_challenge: None,
    },
    Preset {
        // The signed freshness value is the body's `webhookTimestamp` (ms);
        // the `linear-timestamp` header is not signed and is ignored.
        name: "linear",
        docs: "https://linear.app/developers/webhooks#securing-webhooks",
        schemes: &[SchemeSpec::Signature(SignatureSpec {
            header: "linear-signature",
            format: FormatSpec::Single { prefix: "" },
            algorithm: Sha256,
            encoding: Hex,
            signed: "{body}",
            timestamp: Some(TimestampSpec {
                source: TimestampSourceSpec::BodyJson("/webhookTimestamp"),
                format: TimestampFormat::UnixMillis,
                tolerance_secs: Some(60),
            }),
            id_header: None,
            body_digest_param: None,
            url_variants: false,
        })],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "pagerduty",
        docs: "https://developer.pagerduty.com/docs/webhooks/webhook-signatures/",
        schemes: &[versioned_body_signature("x-pagerduty-signature")],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:x-webhook-id"),
        event: Some("json:/event/event_type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Zoom's own code checks no window; 300 s is hookfence policy.
        name: "zoom",
        docs: "https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events",
        schemes: &[v0_signature("x-zm-signature", "x-zm-request-timestamp")],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/event"),
        ping_event: None,
        handshake: Some(Handshake {
            // https://developers.zoom.us/docs/api/webhooks/#validate-your-webhook-endpoint
            field: "json:/event",
            value: "endpoint.url_validation",
            absent: None,
            answer: HandshakeAnswer::ZoomTokens {
                field: "json:/payload/plainToken",
            },
        }),
        query_challenge: None,
    },
    Preset {
        // Signs the notification URL exactly as subscribed + the body.
        name: "square",
        docs: "https://developer.squareup.com/docs/webhooks/step3validate",
        schemes: &[SchemeSpec::Signature(SignatureSpec {
            header: "x-square-hmacsha256-signature",
            format: FormatSpec::Single { prefix: "" },
            algorithm: Sha256,
            encoding: Base64,
            signed: "{url}{body}",
            timestamp: None,
            id_header: None,
            body_digest_param: None,
            url_variants: false,
        })],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/event_id"),
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // The SDK allows 5 s (past only); hookfence applies it both ways.
        name: "paddle",
        docs: "https://developer.paddle.com/webhooks/signature-verification",
        schemes: &[SchemeSpec::Signature(SignatureSpec {
            header: "paddle-signature",
            format: FormatSpec::Pairs {
                separator: ';',
                signature_key: "h1",
                timestamp_key: Some("ts"),
            },
            algorithm: Sha256,
            encoding: Hex,
            signed: "{timestamp}:{body}",
            timestamp: Some(TimestampSpec {
                source: TimestampSourceSpec::SignatureHeader,
                format: TimestampFormat::UnixSeconds,
                tolerance_secs: Some(5),
            }),
            id_header: None,
            body_digest_param: None,
            url_variants: false,
        })],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/event_id"),
        event: Some("json:/event_type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // `Sentry-Hook-Timestamp` is sent but not signed, so it is not used.
        name: "sentry",
        docs: "https://docs.sentry.io/organization/integrations/integration-platform/webhooks/#verifying-the-signature",
        schemes: &[body_signature("sentry-hook-signature", "", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:request-id"),
        event: Some("header:sentry-hook-resource"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "typeform",
        docs: "https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
        schemes: &[body_signature("typeform-signature", "sha256=", Sha256, Base64)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/event_id"),
        event: Some("json:/event_type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "intercom",
        docs: "https://developers.intercom.com/docs/references/webhooks/webhook-models#signed-notifications",
        schemes: &[body_signature("x-hub-signature", "sha1=", Sha1, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/id"),
        event: Some("json:/topic"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Facebook, Instagram, Messenger and WhatsApp Business webhooks: the
        // app secret signs the body like GitHub's secret does; the
        // subscription check is a GET with the app's verify token.
        name: "meta",
        docs: "https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications",
        schemes: &[body_signature("x-hub-signature-256", "sha256=", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/object"),
        ping_event: None,
        handshake: None,
        query_challenge: Some(QueryChallenge {
            // https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests
            mode: Some(("hub.mode", "subscribe")),
            token_param: Some("hub.verify_token"),
            challenge: ChallengeIn::Query("hub.challenge"),
            answer: ChallengeAnswer::Text,
        }),
    },
    Preset {
        // Signed with the app secret; a notification lists accounts and has no id.
        name: "dropbox",
        docs: "https://www.dropbox.com/developers/reference/webhooks",
        schemes: &[body_signature("x-dropbox-signature", "", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: None,
        ping_event: None,
        handshake: None,
        query_challenge: Some(QueryChallenge {
            // https://www.dropbox.com/developers/reference/webhooks#documentation
            // (verification request): echo `challenge`, unsigned, no token.
            mode: None,
            token_param: None,
            challenge: ChallengeIn::Query("challenge"),
            answer: ChallengeAnswer::Text,
        }),
    },
    Preset {
        name: "coinbase-commerce",
        docs: "https://docs.cdp.coinbase.com/commerce/api-architecture/webhooks-overview",
        schemes: &[body_signature("x-cc-webhook-signature", "", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/event/id"),
        event: Some("json:/event/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "razorpay",
        docs: "https://razorpay.com/docs/webhooks/validate-test/",
        schemes: &[body_signature("x-razorpay-signature", "", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:x-razorpay-event-id"),
        event: Some("json:/event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // generate_signature(): base64 HMAC-SHA256 of the body as sent. The ping
        // sent when a webhook is created is unsigned, so it is refused here.
        name: "woocommerce",
        docs: "https://github.com/woocommerce/woocommerce/blob/trunk/plugins/woocommerce/includes/class-wc-webhook.php",
        schemes: &[body_signature("x-wc-webhook-signature", "", Sha256, Base64)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("header:x-wc-webhook-delivery-id"),
        event: Some("header:x-wc-webhook-topic"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // HCP Terraform generic notifications: HMAC-SHA512 of the body with the token.
        name: "terraform-cloud",
        docs: "https://developer.hashicorp.com/terraform/cloud-docs/api-docs/notification-configurations#notification-authenticity",
        schemes: &[body_signature("x-tfe-notification-signature", "", Algorithm::Sha512, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/notifications/0/trigger"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
                name: "circleci",
        docs: "https://circleci.com/docs/webhooks/#validate-webhooks",
        schemes: &[versioned_body_signature("circleci-signature")],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/id"),
        event: Some("header:circleci-event-type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "xero",
        docs: "https://developer.xero.com/documentation/guides/webhooks/configuring-your-server/",
        schemes: &[body_signature("x-xero-signature", "", Sha256, Base64)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: None,
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "launchdarkly",
        docs: "https://launchdarkly.com/docs/home/infrastructure/webhooks#sign-a-webhook",
        schemes: &[body_signature("x-ld-signature", "", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/_id"),
        event: Some("json:/kind"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Signed with the app secret; X-Pusher-Key names the app (a route per app).
        name: "pusher",
        docs: "https://pusher.com/docs/channels/server_api/webhooks/#authentication",
        schemes: &[body_signature("x-pusher-signature", "", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: None,
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // The body's `id` is the webhook's, the same for every delivery: not a
        // delivery id.
        name: "webex",
        docs: "https://developer.webex.com/blog/using-a-webhook-secret",
        schemes: &[body_signature("x-spark-signature", "", Sha1, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Clerk delivers through Svix.
        name: "clerk",
        docs: "https://clerk.com/docs/webhooks/sync-data",
        schemes: &[standard_webhooks("svix-signature", "svix-id", "svix-timestamp")],
        legacy: &[],
        key_encoding: WHSEC,
        delivery_id: Some("header:svix-id"),
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Resend delivers through Svix.
        name: "resend",
        docs: "https://resend.com/docs/webhooks/verify-webhooks-requests",
        schemes: &[standard_webhooks("svix-signature", "svix-id", "svix-timestamp")],
        legacy: &[],
        key_encoding: WHSEC,
        delivery_id: Some("header:svix-id"),
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "mux",
        docs: "https://www.mux.com/docs/core/verify-webhook-signatures",
        schemes: &[timestamped_pairs("mux-signature", "v1", "t", Some(300))],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/id"),
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // A signed timestamp with no documented window: set replay_window.
        name: "persona",
        docs: "https://docs.withpersona.com/docs/webhooks-best-practices",
        schemes: &[timestamped_pairs("persona-signature", "v1", "t", None)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/data/id"),
        event: Some("json:/data/attributes/name"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // A signed timestamp with no documented window: set replay_window.
        name: "buildkite",
        docs: "https://buildkite.com/docs/apis/webhooks/pipelines#webhook-signature",
        schemes: &[timestamped_pairs("x-buildkite-signature", "signature", "timestamp", None)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("header:x-buildkite-event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // A retry carries a new attempt id in the signed body: same
        // delivery id, different signature.
        name: "heroku",
        docs: "https://devcenter.heroku.com/articles/app-webhooks#securing-webhook-requests",
        schemes: &[body_signature("heroku-webhook-hmac-sha256", "", Sha256, Base64)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/webhook_metadata/delivery/id"),
        event: Some("json:/webhook_metadata/event/include"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // The key is the subscription's `verification_token` (with its
        // `secret_` prefix). The one-time POST that delivers that token is
        // unsigned and is refused: read the token in Notion's UI instead.
        name: "notion",
        docs: "https://developers.notion.com/reference/webhooks#step-3-validating-event-payloads-recommended",
        schemes: &[body_signature("x-notion-signature", "sha256=", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/id"),
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // The key is `macSecretBase64` from the create-webhook answer. A ping
        // names only the base and webhook: no delivery id, no event.
        name: "airtable",
        docs: "https://airtable.com/developers/web/api/webhooks-overview#webhook-notification-delivery",
        schemes: &[body_signature("x-airtable-content-mac", "hmac-sha256=", Sha256, Hex)],
        legacy: &[],
        key_encoding: KeyEncoding::Base64 { prefix: "" },
        delivery_id: None,
        event: None,
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "lemon-squeezy",
        docs: "https://docs.lemonsqueezy.com/help/webhooks/signing-requests",
        schemes: &[body_signature("x-signature", "", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("header:x-event-name"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Signed with the account's API secret key (`sk_live_…`).
        name: "paystack",
        docs: "https://paystack.com/docs/payments/webhooks/#verify-event-origin",
        schemes: &[body_signature("x-paystack-signature", "", Algorithm::Sha512, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Without a secret Cal.com sends `no-secret-provided`, which is not
        // hex: refused as malformed.
        name: "cal-com",
        docs: "https://github.com/calcom/cal.com/blob/main/packages/features/webhooks/lib/sendPayload.ts",
        schemes: &[body_signature("x-cal-signature-256", "", Sha256, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/triggerEvent"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "vercel",
        docs: "https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks",
        schemes: &[body_signature("x-vercel-signature", "", Sha1, Hex)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/id"),
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // DocuSign sends `X-DocuSign-Signature-1..N`, one per active Connect
        // key; the first is checked against every configured key, so keep
        // every key active in DocuSign in `secrets` while rotating.
        name: "docusign",
        docs: "https://developers.docusign.com/platform/webhooks/connect/hmac/",
        schemes: &[body_signature("x-docusign-signature-1", "", Sha256, Base64)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // The key is the base64 security token Teams shows once. Teams waits
        // (5 s) for the backend's reply, which hookfence relays.
        name: "microsoft-teams",
        docs: "https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-outgoing-webhook",
        schemes: &[body_signature("authorization", "HMAC ", Sha256, Base64)],
        legacy: &[],
        key_encoding: KeyEncoding::Base64 { prefix: "" },
        delivery_id: Some("json:/id"),
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "frameio",
        docs: "https://developer.adobe.com/frameio/guides/Webhooks/",
        schemes: &[v0_signature("x-frameio-signature", "x-frameio-request-timestamp")],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // A signed timestamp whose window Calendly's docs do not state: set
        // replay_window.
        name: "calendly",
        docs: "https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures",
        schemes: &[timestamped_pairs("calendly-webhook-signature", "v1", "t", None)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // The key is used as its text, although it looks like base64. No
        // window is documented: set replay_window.
        name: "zendesk",
        docs: "https://developer.zendesk.com/documentation/webhooks/verifying/",
        schemes: &[SchemeSpec::Signature(SignatureSpec {
            header: "x-zendesk-webhook-signature",
            format: FormatSpec::Single { prefix: "" },
            algorithm: Sha256,
            encoding: Base64,
            signed: "{timestamp}{body}",
            timestamp: Some(TimestampSpec {
                source: TimestampSourceSpec::Header("x-zendesk-webhook-signature-timestamp"),
                format: TimestampFormat::Rfc3339,
                tolerance_secs: None,
            }),
            id_header: None,
            body_digest_param: None,
            url_variants: false,
        })],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Box signs twice, with its primary and its secondary key; the
        // primary signature is checked against every configured key (list
        // both keys while rotating). `BOX-DELIVERY-ID` changes per retry;
        // the body's `id` does not.
        name: "box",
        docs: "https://developer.box.com/guides/webhooks/v2/signatures-v2/",
        schemes: &[SchemeSpec::Signature(SignatureSpec {
            header: "box-signature-primary",
            format: FormatSpec::Single { prefix: "" },
            algorithm: Sha256,
            encoding: Base64,
            signed: "{body}{timestamp}",
            timestamp: Some(TimestampSpec {
                source: TimestampSourceSpec::Header("box-delivery-timestamp"),
                format: TimestampFormat::Rfc3339,
                tolerance_secs: Some(600),
            }),
            id_header: None,
            body_digest_param: None,
            url_variants: false,
        })],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/id"),
        event: Some("json:/trigger"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // The key is the account's public key (base64 of its 32 bytes);
        // the SDKs' window is ±300 s.
        name: "telnyx",
        docs: "https://github.com/team-telnyx/telnyx-python/blob/master/src/telnyx/lib/webhook_verification.py",
        schemes: &[SchemeSpec::Signature(SignatureSpec {
            header: "telnyx-signature-ed25519",
            format: FormatSpec::Single { prefix: "" },
            algorithm: Algorithm::Ed25519,
            encoding: Base64,
            signed: "{timestamp}|{body}",
            timestamp: header_timestamp("telnyx-timestamp", Some(300)),
            id_header: None,
            body_digest_param: None,
            url_variants: false,
        })],
        legacy: &[],
        key_encoding: KeyEncoding::Base64 { prefix: "" },
        delivery_id: Some("json:/data/id"),
        event: Some("json:/data/event_type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // `t` is in milliseconds; the toolkit checks no window (set
        // replay_window). Sanity sends no fixed event types.
        name: "sanity",
        docs: "https://github.com/sanity-io/webhook-toolkit/blob/main/src/signature.ts",
        schemes: &[SchemeSpec::Signature(SignatureSpec {
            header: "sanity-webhook-signature",
            format: FormatSpec::Pairs {
                separator: ',',
                signature_key: "v1",
                timestamp_key: Some("t"),
            },
            algorithm: Sha256,
            encoding: Encoding::Base64urlUnpadded,
            signed: "{timestamp}.{body}",
            timestamp: Some(TimestampSpec {
                source: TimestampSourceSpec::SignatureHeader,
                format: TimestampFormat::UnixMillis,
                tolerance_secs: None,
            }),
            id_header: None,
            body_digest_param: None,
            url_variants: false,
        })],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("header:sanity-operation"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        name: "openai",
        docs: "https://platform.openai.com/docs/guides/webhooks#verifying-webhook-signatures",
        schemes: &[standard_webhooks("webhook-signature", "webhook-id", "webhook-timestamp")],
        legacy: &[],
        key_encoding: WHSEC,
        delivery_id: Some("header:webhook-id"),
        event: Some("json:/type"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // One secret per account (`GET /v1/webhooks/default/secret`).
        name: "replicate",
        docs: "https://replicate.com/docs/topics/webhooks/verify-webhook",
        schemes: &[standard_webhooks("webhook-signature", "webhook-id", "webhook-timestamp")],
        legacy: &[],
        key_encoding: WHSEC,
        delivery_id: Some("header:webhook-id"),
        event: None,
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // No signature: Postmark sends the user and password written into
        // the webhook URL as Basic credentials (configure `user:password`).
        name: "postmark",
        docs: "https://postmarkapp.com/developer/webhooks/webhooks-overview#basic-http-authentication",
        schemes: &[SchemeSpec::Token(TokenSpec::Basic)],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/RecordType"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // A shared token, not a signature: the dashboard's "secret hash".
        name: "flutterwave",
        docs: "https://developer.flutterwave.com/docs/webhooks#verifying-webhook-signatures",
        schemes: &[SchemeSpec::Token(TokenSpec::Header("verif-hash"))],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // `t` is in milliseconds, signed after the body; no window is
        // documented (set replay_window). Recent Ghost versions put `event`
        // in the body; older ones name no event.
        name: "ghost",
        docs: "https://github.com/TryGhost/Ghost/blob/main/ghost/core/core/server/services/webhooks/webhook-trigger.js",
        schemes: &[SchemeSpec::Signature(SignatureSpec {
            header: "x-ghost-signature",
            format: FormatSpec::Pairs {
                separator: ',',
                signature_key: "sha256",
                timestamp_key: Some("t"),
            },
            algorithm: Sha256,
            encoding: Hex,
            signed: "{body}{timestamp}",
            timestamp: Some(TimestampSpec {
                source: TimestampSourceSpec::SignatureHeader,
                format: TimestampFormat::UnixMillis,
                tolerance_secs: None,
            }),
            id_header: None,
            body_digest_param: None,
            url_variants: false,
        })],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // Signature v3 over method, URL (the route's `public_url`), body and
        // the millisecond timestamp. v1/v2 (plain hashes, no HMAC) are not
        // accepted. The URL is signed as sent, as HubSpot's official SDKs
        // (Python, Node, PHP) do. The body is an array of events: no single
        // delivery id.
        name: "hubspot",
        docs: "https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation",
        schemes: &[SchemeSpec::Signature(SignatureSpec {
            header: "x-hubspot-signature-v3",
            format: FormatSpec::Single { prefix: "" },
            algorithm: Sha256,
            encoding: Base64,
            signed: "{method}{url}{body}{timestamp}",
            timestamp: Some(TimestampSpec {
                source: TimestampSourceSpec::Header("x-hubspot-request-timestamp"),
                format: TimestampFormat::UnixMillis,
                tolerance_secs: Some(300),
            }),
            id_header: None,
            body_digest_param: None,
            url_variants: false,
        })],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: None,
        event: Some("json:/0/subscriptionType"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // The key is the public key SendGrid shows (base64 DER), the
        // signature ECDSA P-256 in DER over the timestamp and the body (its
        // trailing CRLF included). No window is documented: set
        // replay_window. The body is a batch of events, each with its own
        // `sg_event_id`: no single delivery id.
        name: "sendgrid",
        docs: "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features",
        schemes: &[SchemeSpec::Signature(SignatureSpec {
            header: "x-twilio-email-event-webhook-signature",
            format: FormatSpec::Single { prefix: "" },
            algorithm: Algorithm::EcdsaP256,
            encoding: Base64,
            signed: "{timestamp}{body}",
            timestamp: header_timestamp("x-twilio-email-event-webhook-timestamp", None),
            id_header: None,
            body_digest_param: None,
            url_variants: false,
        })],
        legacy: &[],
        key_encoding: KeyEncoding::Base64 { prefix: "" },
        delivery_id: None,
        event: Some("json:/0/event"),
        ping_event: None,
        handshake: None,
        query_challenge: None,
    },
    Preset {
        // No signature: Okta sends the header the event hook was set up
        // with, `Authorization` by default, its value verbatim (configure
        // the whole value as the secret; for another header name, write a
        // custom token scheme). The one-time verification GET is
        // answered here; it carries no secret, so it is answered unchecked,
        // as Dropbox's is.
        name: "okta",
        docs: "https://developer.okta.com/docs/concepts/event-hooks/",
        schemes: &[SchemeSpec::Token(TokenSpec::Header("authorization"))],
        legacy: &[],
        key_encoding: TEXT,
        delivery_id: Some("json:/eventId"),
        event: Some("json:/data/events/0/eventType"),
        ping_event: None,
        handshake: None,
        query_challenge: Some(QueryChallenge {
            mode: None,
            token_param: None,
            challenge: ChallengeIn::Header("x-okta-verification-challenge"),
            answer: ChallengeAnswer::Json("verification"),
        }),
    },
];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|p| p.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::field::Field;

    #[test]
    fn every_preset_builds() {
        for preset in PRESETS {
            for spec in preset.specs(true) {
                spec.build(None).unwrap_or_else(|e| panic!("{}: {e}", preset.name));
            }
            for field in [preset.delivery_id, preset.event].into_iter().flatten() {
                Field::parse(field).unwrap_or_else(|e| panic!("{}: {e}", preset.name));
            }
        }
    }

    #[test]
    fn every_preset_has_a_well_formed_example_key() {
        for preset in PRESETS {
            preset
                .key(preset.example_key())
                .unwrap_or_else(|e| panic!("{}: {e}", preset.name));
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = names().collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PRESETS.len());
    }
}
