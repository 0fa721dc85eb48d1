//! The TOML schema exactly as written by the operator (serde). Validation and
//! resolution into the runtime model happen in [`super::Config::parse`];
//! fields that validation may complain about carry their span so errors can
//! name a line.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::units::{ByteSize, HumanDuration};
use crate::dedup::Policy;
use crate::telemetry::LogFormat;
use crate::verify::algorithm::Algorithm;
use crate::verify::encoding::Encoding;
use crate::verify::timestamp::TimestampFormat;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub server: RawServer,
    pub dedup: Option<RawDedup>,
    pub queue: Option<RawQueue>,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Plain HTTP listeners.
    pub listen: Option<Spanned<OneOrMany>>,
    /// TLS listeners (with `tls_cert` and `tls_key`).
    pub tls_listen: Option<Spanned<OneOrMany>>,
    pub tls_cert: Option<Spanned<String>>,
    pub tls_key: Option<Spanned<String>>,
    /// The admin API (`/metrics`, `/healthz`, `/readyz`, `/deliveries`, `/queue`).
    pub admin_listen: Option<Spanned<String>>,
    /// The token the admin API's state-changing endpoints ask for
    /// (`env:NAME` or `file:/path`).
    pub admin_token: Option<Spanned<String>>,
    /// Host names (besides IP addresses and `localhost`) under which a
    /// browser may reach the admin listener and its console.
    #[serde(default)]
    pub admin_hosts: Vec<String>,
    /// Deliveries kept per route for `/deliveries`.
    pub recent_deliveries: Option<Spanned<usize>>,
    /// Requests handled at once; more get 503.
    pub max_connections: Option<Spanned<usize>>,
    /// Request body bytes held in memory at once, over all deliveries.
    pub max_in_flight_body: Option<ByteSize>,
    /// Global half of the two-key opt-in for unsigned routes.
    #[serde(default)]
    pub allow_unsigned: bool,
    pub threads: Option<Spanned<usize>>,
    /// Time allowed for a client to send the request line and headers.
    pub header_timeout: Option<HumanDuration>,
    /// After SIGTERM, the longest hookfence waits for in-flight deliveries
    /// before exiting (it exits as soon as they are done).
    pub shutdown_grace: Option<HumanDuration>,
    /// Global half of the two-key opt-in for shadow routes (`enforce = false`).
    #[serde(default)]
    pub allow_shadow: bool,
    /// Reload when a file the config reads changes (default true).
    pub watch_files: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<LogFormat>,
    /// A `tracing` filter directive; `RUST_LOG` overrides it.
    pub level: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDedup {
    pub backend: Option<Spanned<DedupBackend>>,
    /// How long a delivered id is remembered.
    pub ttl: Option<HumanDuration>,
    /// How long a claim lives if its holder never commits or releases it.
    pub in_flight_ttl: Option<Spanned<HumanDuration>>,
    /// Upper bound on each store command.
    pub command_timeout: Option<HumanDuration>,
    /// Memory backend: ids kept at most (instead of `max_memory`).
    pub capacity: Option<Spanned<usize>>,
    /// Memory backend: the memory its ids may take (default 64 MiB).
    pub max_memory: Option<Spanned<ByteSize>>,
    /// Redis backend: `redis://` or `rediss://` URL, or an `env:` / `file:` reference to one.
    pub url: Option<Spanned<String>>,
    /// Redis Cluster seed nodes, instead of `url`.
    pub cluster: Option<Spanned<Vec<Spanned<String>>>>,
    pub key_prefix: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DedupBackend {
    Memory,
    Redis,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueue {
    pub backend: Option<Spanned<QueueBackendKind>>,
    /// Embedded backend: the directory of its file (relative: to the config).
    pub data_dir: Option<Spanned<String>>,
    /// Redis backend: `redis://` / `rediss://` URL or an `env:` / `file:`
    /// reference; default: the `[dedup]` one, when dedup uses Redis.
    pub url: Option<Spanned<String>>,
    pub cluster: Option<Spanned<Vec<Spanned<String>>>>,
    pub key_prefix: Option<Spanned<String>>,
    /// Per route: bytes of requests held (waiting and dead).
    pub max_bytes: Option<Spanned<ByteSize>>,
    /// Per route: deliveries held (waiting and dead).
    pub max_deliveries: Option<Spanned<u64>>,
    /// Per route and replica: attempts made at once.
    pub workers: Option<Spanned<usize>>,
    /// Redis: when a silent replica's claims are taken over.
    pub claim_timeout: Option<Spanned<HumanDuration>>,
    pub dead_letter_ttl: Option<Spanned<HumanDuration>>,
    pub command_timeout: Option<Spanned<HumanDuration>>,
    /// The retry policy of every queued route, unless it has its own.
    pub retry: Option<Spanned<RawRetry>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackendKind {
    Embedded,
    Redis,
}

/// When to try a queued delivery again, and when to give up.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub base: Option<Spanned<HumanDuration>>,
    pub cap: Option<Spanned<HumanDuration>>,
    pub max_attempts: Option<Spanned<u32>>,
    pub max_age: Option<Spanned<HumanDuration>>,
    /// Statuses below 500 that are tried again (others are dead letters).
    pub retry_statuses: Option<Spanned<Vec<u16>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    Signature,
    None,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SecretEncoding {
    Text,
    Hex,
    Base64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: Spanned<String>,
    pub path: Spanned<String>,
    pub methods: Option<Spanned<Vec<Spanned<String>>>>,
    pub upstream: Spanned<String>,
    pub provider: Option<Spanned<String>>,
    /// A scheme written out in full, instead of a provider preset.
    pub custom: Option<Spanned<RawCustom>>,
    pub verify: Option<Spanned<VerifyMode>>,
    pub secrets: Option<Spanned<Vec<Spanned<String>>>>,
    /// Overrides how the provider's keys are written.
    pub secret_encoding: Option<Spanned<SecretEncoding>>,
    /// The path parameter that picks the secrets (`{app_id}`).
    pub tenant_param: Option<Spanned<String>>,
    /// Tenant id → secret reference(s).
    pub tenant_secrets: Option<Spanned<BTreeMap<String, Spanned<OneOrMany>>>>,
    /// A TOML file of tenant id → secret value(s).
    pub tenant_secrets_file: Option<Spanned<String>>,
    pub allow_legacy_signature: Option<Spanned<bool>>,
    /// Overrides the provider's replay window.
    pub replay_window: Option<Spanned<HumanDuration>>,
    /// The public URL senders call, for schemes that sign it (Twilio, Square).
    pub public_url: Option<Spanned<String>>,
    /// Overrides where the delivery id is found (`header:…` / `json:…`).
    pub delivery_id: Option<Spanned<String>>,
    /// Overrides where the event type is found.
    pub event_type: Option<Spanned<String>>,
    /// Event allow-list; others are acknowledged with 202 and not forwarded.
    pub events: Option<Spanned<Vec<String>>>,
    /// Branch allow-list for deliveries with a `ref` (push-style events).
    pub branches: Option<Spanned<Vec<String>>>,
    /// Answer the provider's test event (GitHub `ping`) directly.
    #[serde(default)]
    pub answer_ping: Option<Spanned<bool>>,
    /// Answer the provider's endpoint handshake (default true where the
    /// preset has one).
    pub handshake: Option<Spanned<bool>>,
    /// The token of a `GET` subscription check (Meta's `hub.verify_token`).
    pub verify_token: Option<Spanned<String>>,
    pub max_body: Option<ByteSize>,
    pub body_timeout: Option<HumanDuration>,
    pub connect_timeout: Option<HumanDuration>,
    pub upstream_timeout: Option<HumanDuration>,
    pub sign_forwarded: Option<Spanned<RawSignForwarded>>,
    /// Trust and client certificate for an `https://` upstream.
    pub upstream_tls: Option<Spanned<RawUpstreamTls>>,
    /// Deduplicate by delivery id (default true when the route has one).
    pub dedup: Option<Spanned<bool>>,
    /// When the dedup store cannot answer: forward anyway, or refuse with 503.
    pub dedup_policy: Option<Spanned<Policy>>,
    /// Refuse (400) deliveries that carry no delivery id.
    #[serde(default)]
    pub require_delivery_id: bool,
    /// Remove the provider's credential (e.g. `X-Gitlab-Token`, a `token`
    /// query parameter) before forwarding, so the backend never sees it.
    #[serde(default)]
    pub strip_credential: bool,
    /// Accept paths whose meaning depends on the decoder (encoded slashes,
    /// backslashes, `;` parameters, nested percent-encoding): for a backend
    /// whose paths really hold them.
    #[serde(default)]
    pub allow_encoded_path: bool,
    /// `false`: shadow mode, forward what fails verification, marked
    /// unverified (needs `allow_shadow` in `[server]`).
    pub enforce: Option<Spanned<bool>>,
    /// `direct` (default), `queued` or `fallback`.
    pub delivery: Option<Spanned<crate::delivery::Mode>>,
    /// The status a queued delivery is answered with (default 202).
    pub queued_status: Option<Spanned<u16>>,
    /// Deliveries with the same value are delivered in order, one at a time.
    pub ordering_key: Option<Spanned<String>>,
    /// This route's retry policy (else `[queue.retry]`, else the defaults).
    pub retry: Option<Spanned<RawRetry>>,
    /// Keep the start of each body beside its record, for the console.
    #[serde(default)]
    pub keep_bodies: bool,
    /// How much of each body `keep_bodies` keeps (default 16 KiB).
    pub keep_body_bytes: Option<Spanned<ByteSize>>,
}

/// A custom scheme: a signature (HMAC, Ed25519 or ECDSA P-256) in a header, or a token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustom {
    #[serde(default)]
    pub kind: CustomKind,
    /// The header carrying the signature or token.
    pub header: Option<Spanned<String>>,
    /// Token kind: the query parameter carrying it.
    pub query: Option<Spanned<String>>,
    /// Token kind: `basic` or `bearer` credentials in `Authorization`.
    pub authorization: Option<Spanned<AuthorizationKind>>,
    pub algorithm: Option<Algorithm>,
    pub encoding: Option<Encoding>,
    /// Literal text before each signature (`sha256=`).
    pub prefix: Option<String>,
    /// Several signatures in one header, separated by this character.
    pub separator: Option<char>,
    /// `key=value` pairs (with `separator`): the key of the signatures...
    pub signature_key: Option<String>,
    /// ...and of the timestamp.
    pub timestamp_key: Option<String>,
    /// Template of the signed bytes; default `{body}`.
    pub signed: Option<String>,
    pub timestamp_header: Option<String>,
    /// JSON pointer to a timestamp inside the (signed) body.
    pub timestamp_field: Option<String>,
    pub timestamp_format: Option<TimestampFormat>,
    /// The header `{id}` stands for.
    pub id_header: Option<String>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CustomKind {
    #[default]
    Signature,
    Token,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizationKind {
    Basic,
    Bearer,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstreamTls {
    /// PEM bundle of the CAs to trust instead of the system's.
    pub ca: Option<Spanned<String>>,
    /// PEM chain (leaf first) hookfence shows the upstream (mTLS).
    pub client_cert: Option<Spanned<String>>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignForwarded {
    /// `hmac-sha256` (default) or `standard-webhooks`.
    pub format: Option<Spanned<String>>,
    pub header: Option<Spanned<String>>,
    pub secret: Option<Spanned<String>>,
    /// Standard Webhooks: several secrets sign at once (rotation).
    pub secrets: Option<Spanned<Vec<Spanned<String>>>>,
}
