//! The TOML schema exactly as written by the operator (serde). Validation and
//! resolution into the runtime model happen in [`super::load`]; fields that
//! validation may complain about carry their span so errors can name a line.

use serde::Deserialize;
use toml::Spanned;

use super::units::{ByteSize, HumanDuration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub server: RawServer,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Spanned<OneOrMany>,
    /// Global half of the two-key opt-in for unsigned routes.
    #[serde(default)]
    pub allow_unsigned: bool,
    pub threads: Option<Spanned<usize>>,
    /// Time allowed for a client to send the request line and headers.
    pub header_timeout: Option<HumanDuration>,
    /// After SIGTERM, pingora stops accepting and waits this long (always the
    /// full period) for in-flight deliveries before exiting.
    pub shutdown_grace: Option<HumanDuration>,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: Spanned<String>,
    pub path: Spanned<String>,
    pub methods: Option<Spanned<Vec<Spanned<String>>>>,
    pub upstream: Spanned<String>,
    pub provider: Option<Spanned<String>>,
    pub verify: Option<Spanned<VerifyMode>>,
    pub secrets: Option<Spanned<Vec<Spanned<String>>>>,
    pub allow_legacy_signature: Option<Spanned<bool>>,
    pub max_body: Option<ByteSize>,
    pub body_timeout: Option<HumanDuration>,
    pub connect_timeout: Option<HumanDuration>,
    pub upstream_timeout: Option<HumanDuration>,
    pub sign_forwarded: Option<Spanned<RawSignForwarded>>,
    /// Remove the provider's credential header (e.g. `X-Gitlab-Token`) before
    /// forwarding, so the backend never sees the shared token.
    #[serde(default)]
    pub strip_credential: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignForwarded {
    pub header: Spanned<String>,
    pub secret: Spanned<String>,
}
