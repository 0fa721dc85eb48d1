//! A route's verification: which scheme (a provider preset or a custom
//! scheme), which keys (fixed, or per tenant by path parameter), and how the
//! keys are written. Every key is resolved, decoded and checked here, at load
//! time, so a bad key is a config error with a line number rather than a 401
//! on every delivery.

use std::collections::HashMap;
use std::time::Duration;

use toml::Spanned;

use super::error::Reporter;
use super::raw::{AuthorizationKind, CustomKind, OneOrMany, RawCustom, RawRoute, SecretEncoding, VerifyMode};
use super::route::RouteContext;
use super::{secret_ref, Keys, Verification, ALLOW_UNSIGNED_ENV};
use crate::routing::PathPattern;
use crate::verify::algorithm::Algorithm;
use crate::verify::encoding::{Encoding, KeyEncoding};
use crate::verify::presets;
use crate::verify::secret::Secret;
use crate::verify::spec::{FormatSpec, SchemeSpec, SignatureSpec, TimestampSourceSpec, TimestampSpec, TokenSpec};
use crate::verify::timestamp::TimestampFormat;
use crate::verify::{decode_key, Scheme, Verifier};

/// A route's verification, with what the rest of the route needs to know.
pub(super) struct Built {
    pub verification: Verification,
    /// The scheme signs the URL: the route needs `public_url`.
    pub signs_url: bool,
}

/// The schemes a route will run, before keys.
struct Schemes {
    specs: Vec<AnySpec>,
    key_encoding: KeyEncoding,
    /// The algorithm keys are checked against (Ed25519 keys must be points).
    key_algorithm: Option<Algorithm>,
}

impl RouteContext<'_> {
    pub(super) fn verification(
        &self,
        raw: &RawRoute,
        pattern: Option<&PathPattern>,
        report: &mut Reporter<'_>,
    ) -> Option<Built> {
        let mode = raw.verify.as_ref().map_or(VerifyMode::Signature, |m| *m.get_ref());
        if mode == VerifyMode::None {
            return Some(self.unsigned(raw, report));
        }
        let schemes = self.schemes(raw, report)?;
        let tolerance = raw.replay_window.as_ref().map(|w| w.get_ref().0);
        if tolerance.is_none() && schemes.specs.iter().any(AnySpec::has_unbounded_timestamp) {
            report.warn(
                raw.provider.as_ref().map(Spanned::span),
                self.key("replay_window"),
                "the sender signs a timestamp but documents no window for it: set replay_window (e.g. \"5m\", longer than the sender's retries reuse a timestamp) so a captured delivery cannot be replayed later",
            );
        }
        if let Some(window) = &raw.replay_window {
            if !schemes.specs.iter().any(AnySpec::has_timestamp) {
                report.error(
                    Some(window.span()),
                    self.key("replay_window"),
                    "this scheme signs no timestamp, so a replay window cannot apply; deduplicate by delivery id instead",
                );
            }
        }
        let mut built = Vec::with_capacity(schemes.specs.len());
        for spec in &schemes.specs {
            let own_tolerance = tolerance.filter(|_| spec.has_timestamp());
            match spec.build(own_tolerance) {
                Ok(scheme) => built.push(scheme),
                Err(e) => {
                    let key = if raw.custom.is_some() { "custom" } else { "provider" };
                    let span = raw
                        .custom
                        .as_ref()
                        .map(Spanned::span)
                        .or(raw.provider.as_ref().map(Spanned::span));
                    report.error(span, self.key(key), e);
                }
            }
        }
        let encoding = match &raw.secret_encoding {
            Some(e) => match (e.get_ref(), schemes.key_encoding) {
                (SecretEncoding::Text, _) => KeyEncoding::Text,
                (SecretEncoding::Hex, _) => KeyEncoding::Hex { len: None },
                (SecretEncoding::Base64, KeyEncoding::Base64 { prefix }) => KeyEncoding::Base64 { prefix },
                (SecretEncoding::Base64, _) => KeyEncoding::Base64 { prefix: "" },
            },
            None => schemes.key_encoding,
        };
        let keys = self.keys(raw, pattern, encoding, schemes.key_algorithm, report)?;
        if built.len() != schemes.specs.len() {
            return None;
        }
        Some(Built {
            verification: Verification::Verified {
                verifier: Verifier::new(built),
                keys,
            },
            signs_url: schemes.specs.iter().any(AnySpec::signs_url),
        })
    }

    fn unsigned(&self, raw: &RawRoute, report: &mut Reporter<'_>) -> Built {
        let span = raw.verify.as_ref().map(Spanned::span);
        if !self.global_unsigned {
            report.error(
                span,
                self.key("verify"),
                format!("verify = \"none\" also needs `allow_unsigned = true` in [server] (or {ALLOW_UNSIGNED_ENV}=true): unsigned routes must be opted into twice"),
            );
        }
        for (present, key) in [
            (raw.secrets.as_ref().map(Spanned::span), "secrets"),
            (raw.tenant_secrets.as_ref().map(Spanned::span), "tenant_secrets"),
            (raw.custom.as_ref().map(Spanned::span), "custom"),
            (raw.replay_window.as_ref().map(Spanned::span), "replay_window"),
        ] {
            if let Some(at) = present {
                report.error(Some(at), self.key(key), format!("verify = \"none\" takes no {key}"));
            }
        }
        Built {
            verification: Verification::Unsigned,
            signs_url: false,
        }
    }

    /// The route's schemes: a provider preset or a custom scheme, exactly one.
    fn schemes(&self, raw: &RawRoute, report: &mut Reporter<'_>) -> Option<Schemes> {
        if let (Some(legacy), Some(p)) = (&raw.allow_legacy_signature, &raw.provider) {
            if *legacy.get_ref() && presets::find(p.get_ref()).is_some_and(|p| p.legacy.is_empty()) {
                report.error(
                    Some(legacy.span()),
                    self.key("allow_legacy_signature"),
                    format!("provider `{}` has no legacy signature scheme", p.get_ref()),
                );
            }
        }
        match (&raw.provider, &raw.custom) {
            (Some(_), Some(custom)) => {
                report.error(
                    Some(custom.span()),
                    self.key("custom"),
                    "a route has either a `provider` or a `custom` scheme, not both",
                );
                None
            }
            (None, None) => {
                let known: Vec<_> = presets::names().collect();
                report.error(
                    Some(raw.name.span()),
                    self.key("provider"),
                    format!(
                        "missing: every verified route needs a provider ({}) or a `custom` scheme",
                        known.join(", ")
                    ),
                );
                None
            }
            (Some(name), None) => {
                let Some(preset) = presets::find(name.get_ref()) else {
                    let known: Vec<_> = presets::names().collect();
                    report.error(
                        Some(name.span()),
                        self.key("provider"),
                        format!(
                            "unknown provider `{}`; known providers: {}",
                            name.get_ref(),
                            known.join(", ")
                        ),
                    );
                    return None;
                };
                let legacy = raw.allow_legacy_signature.as_ref().is_some_and(|l| *l.get_ref());
                let specs: Vec<_> = preset.specs(legacy).map(AnySpec::Preset).collect();
                Some(Schemes {
                    key_algorithm: specs.iter().find_map(AnySpec::algorithm),
                    specs,
                    key_encoding: preset.key_encoding,
                })
            }
            (None, Some(custom)) => {
                let spec = custom_spec(custom.get_ref())
                    .map_err(|e| report.error(Some(custom.span()), self.key("custom"), e))
                    .ok()?;
                let algorithm = spec.algorithm();
                Some(Schemes {
                    specs: vec![AnySpec::Custom(Box::new(spec))],
                    key_encoding: algorithm.map_or(KeyEncoding::Text, Algorithm::default_key_encoding),
                    key_algorithm: algorithm,
                })
            }
        }
    }

    /// Fixed keys from `secrets`, or per-tenant keys.
    fn keys(
        &self,
        raw: &RawRoute,
        pattern: Option<&PathPattern>,
        encoding: KeyEncoding,
        algorithm: Option<Algorithm>,
        report: &mut Reporter<'_>,
    ) -> Option<Keys> {
        let decode = |bytes: Secret| decode_key(encoding, algorithm, bytes.expose());
        let Some(param) = &raw.tenant_param else {
            if let Some(t) = raw
                .tenant_secrets
                .as_ref()
                .map(Spanned::span)
                .or(raw.tenant_secrets_file.as_ref().map(Spanned::span))
            {
                report.error(
                    Some(t),
                    self.key("tenant_param"),
                    "missing: per-tenant secrets need `tenant_param`, the path parameter that names the tenant",
                );
                return None;
            }
            return self.fixed_keys(raw, &decode, report).map(Keys::Fixed);
        };
        if let Some(secrets) = &raw.secrets {
            report.error(
                Some(secrets.span()),
                self.key("secrets"),
                "a route with `tenant_param` takes its secrets from `tenant_secrets` / `tenant_secrets_file`",
            );
        }
        let param_index = pattern.and_then(|p| p.param_names().position(|n| n == param.get_ref()));
        if pattern.is_some() && param_index.is_none() {
            report.error(
                Some(param.span()),
                self.key("tenant_param"),
                format!("the path has no `{{{}}}` parameter", param.get_ref()),
            );
        }
        let tenants = self.tenant_keys(raw, &decode, report)?;
        Some(Keys::PerTenant {
            param: param.get_ref().clone(),
            param_index: param_index?,
            tenants,
        })
    }

    fn fixed_keys(
        &self,
        raw: &RawRoute,
        decode: &dyn Fn(Secret) -> Result<Secret, String>,
        report: &mut Reporter<'_>,
    ) -> Option<Vec<Secret>> {
        let Some(list) = &raw.secrets else {
            report.error(
                Some(raw.name.span()),
                self.key("secrets"),
                "missing: a verified route needs at least one secret (`env:NAME` or `file:/path`); reject by default",
            );
            return None;
        };
        if list.get_ref().is_empty() {
            report.error(Some(list.span()), self.key("secrets"), "must list at least one secret");
            return None;
        }
        let mut keys = Vec::with_capacity(list.get_ref().len());
        // As written (before decoding): what a placeholder looks like.
        let mut texts = Vec::with_capacity(list.get_ref().len());
        for (i, reference) in list.get_ref().iter().enumerate() {
            let resolved = secret_ref::resolve(reference.get_ref(), self.env, self.base);
            if let Ok(text) = &resolved {
                texts.push(text.clone());
            }
            match resolved.and_then(decode) {
                Ok(key) => keys.push(key),
                Err(e) => report.error(Some(reference.span()), self.key(&format!("secrets[{i}]")), e),
            }
        }
        if keys.len() != list.get_ref().len() {
            return None;
        }
        self.warn_about_weak_secrets(&texts, list, report);
        Some(keys)
    }

    /// Secrets that verify, but do not do their job: all the same (a
    /// rotation that rotated nothing), or placeholders and very short values.
    fn warn_about_weak_secrets(
        &self,
        keys: &[Secret],
        list: &Spanned<Vec<Spanned<String>>>,
        report: &mut Reporter<'_>,
    ) {
        if keys.len() > 1 && keys.iter().all(|k| k.expose() == keys[0].expose()) {
            report.warn(
                Some(list.span()),
                self.key("secrets"),
                "all the secrets are the same value: a rotation needs the old and the new secret",
            );
        }
        for (i, (key, reference)) in keys.iter().zip(list.get_ref()).enumerate() {
            if let Some(why) = looks_empty(key.expose()) {
                report.warn(
                    Some(reference.span()),
                    self.key(&format!("secrets[{i}]")),
                    format!("the secret {why}: is it a placeholder?"),
                );
            }
        }
    }

    /// Tenant keys from the config table and the secrets file, merged.
    fn tenant_keys(
        &self,
        raw: &RawRoute,
        decode: &dyn Fn(Secret) -> Result<Secret, String>,
        report: &mut Reporter<'_>,
    ) -> Option<HashMap<String, Vec<Secret>>> {
        let errors_before = report.error_count();
        let mut tenants: HashMap<String, Vec<Secret>> = HashMap::new();
        if let Some(table) = &raw.tenant_secrets {
            for (id, references) in table.get_ref() {
                let key = self.key(&format!("tenant_secrets.{id}"));
                let references_list = references.get_ref().clone().into_vec();
                if references_list.is_empty() {
                    report.error(Some(references.span()), key.clone(), "must list at least one secret");
                }
                let mut keys = Vec::new();
                for reference in references_list {
                    match secret_ref::resolve(&reference, self.env, self.base).and_then(decode) {
                        Ok(k) => keys.push(k),
                        Err(e) => report.error(Some(references.span()), key.clone(), e),
                    }
                }
                tenants.insert(id.clone(), keys);
            }
        }
        if let Some(file) = &raw.tenant_secrets_file {
            match self.tenant_file(file.get_ref(), decode) {
                Ok(from_file) => {
                    for (id, keys) in from_file {
                        if tenants.insert(id.clone(), keys).is_some() {
                            report.error(
                                Some(file.span()),
                                self.key("tenant_secrets_file"),
                                format!("tenant `{id}` is also in `tenant_secrets`"),
                            );
                        }
                    }
                }
                Err(e) => report.error(Some(file.span()), self.key("tenant_secrets_file"), e),
            }
        }
        if tenants.is_empty() && report.error_count() == errors_before {
            report.error(
                Some(raw.name.span()),
                self.key("tenant_secrets"),
                "missing: a route with `tenant_param` needs `tenant_secrets` or `tenant_secrets_file`",
            );
        }
        (report.error_count() == errors_before).then_some(tenants)
    }

    /// A TOML file of `"tenant id" = "secret"` (or a list, for rotation). It
    /// holds secret values, so errors never quote its content.
    fn tenant_file(
        &self,
        path: &str,
        decode: &dyn Fn(Secret) -> Result<Secret, String>,
    ) -> Result<HashMap<String, Vec<Secret>>, String> {
        let full = self.base.join(path);
        let text = std::fs::read_to_string(&full)
            .map_err(|e| format!("cannot read tenant secrets file {}: {e}", full.display()))?;
        let table: HashMap<String, OneOrMany> = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            format!(
                "{}{}: must be a TOML table of \"tenant id\" = \"secret\" or [\"secret\", ...]",
                full.display(),
                line.map(|l| format!(":{l}")).unwrap_or_default()
            )
        })?;
        table
            .into_iter()
            .map(|(id, values)| {
                let values = values.into_vec();
                if values.is_empty() {
                    return Err(format!("{}: tenant `{id}` has no secret", full.display()));
                }
                let keys = values
                    .into_iter()
                    .map(|v| decode(Secret::new(v.into_bytes())))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("{}: tenant `{id}`: {e}", full.display()))?;
                Ok((id, keys))
            })
            .collect()
    }
}

/// A scheme spec from a preset (static) or a custom table (owned); both
/// build through the same [`SchemeSpec::build`].
enum AnySpec {
    Preset(&'static SchemeSpec<&'static str>),
    Custom(Box<SchemeSpec<String>>),
}

impl AnySpec {
    fn build(&self, tolerance: Option<Duration>) -> Result<Scheme, String> {
        match self {
            AnySpec::Preset(spec) => spec.build(tolerance),
            AnySpec::Custom(spec) => spec.build(tolerance),
        }
    }

    fn signs_url(&self) -> bool {
        match self {
            AnySpec::Preset(spec) => spec.signs_url(),
            AnySpec::Custom(spec) => spec.signs_url(),
        }
    }

    fn algorithm(&self) -> Option<Algorithm> {
        match self {
            AnySpec::Preset(spec) => spec.algorithm(),
            AnySpec::Custom(spec) => spec.algorithm(),
        }
    }

    fn has_timestamp(&self) -> bool {
        match self {
            AnySpec::Preset(spec) => spec.has_timestamp(),
            AnySpec::Custom(spec) => spec.has_timestamp(),
        }
    }

    fn has_unbounded_timestamp(&self) -> bool {
        match self {
            AnySpec::Preset(spec) => spec.has_unbounded_timestamp(),
            AnySpec::Custom(spec) => spec.has_unbounded_timestamp(),
        }
    }
}

/// A custom scheme table as a spec.
fn custom_spec(raw: &RawCustom) -> Result<SchemeSpec<String>, String> {
    if raw.kind == CustomKind::Token {
        return custom_token(raw);
    }
    if raw.query.is_some() || raw.authorization.is_some() {
        return Err("`query` and `authorization` belong to kind = \"token\"".into());
    }
    let header = raw
        .header
        .as_ref()
        .map(|h| h.get_ref().clone())
        .ok_or("missing `header`: the header that carries the signature")?;
    let algorithm = raw
        .algorithm
        .ok_or("missing `algorithm`: sha1, sha256, sha512 or ed25519")?;
    let prefix = raw.prefix.clone().unwrap_or_default();
    let format = match (raw.separator, &raw.signature_key) {
        (None, None) => FormatSpec::Single { prefix },
        (Some(separator), None) => FormatSpec::List { separator, prefix },
        (Some(separator), Some(key)) => FormatSpec::Pairs {
            separator,
            signature_key: key.clone(),
            timestamp_key: raw.timestamp_key.clone(),
        },
        (None, Some(_)) => {
            return Err("`signature_key` needs `separator` (the character between key=value pairs)".into())
        }
    };
    let format_of_timestamp = raw.timestamp_format.unwrap_or(TimestampFormat::UnixSeconds);
    let source = match (&raw.timestamp_header, &raw.timestamp_field, &raw.timestamp_key) {
        (None, None, None) => None,
        (Some(h), None, None) => Some(TimestampSourceSpec::Header(h.clone())),
        (None, Some(p), None) => Some(TimestampSourceSpec::BodyJson(p.clone())),
        (None, None, Some(_)) => Some(TimestampSourceSpec::SignatureHeader),
        _ => {
            return Err("give the timestamp one place: `timestamp_header`, `timestamp_field` or `timestamp_key`".into())
        }
    };
    Ok(SchemeSpec::Signature(SignatureSpec {
        header,
        format,
        algorithm,
        encoding: raw.encoding.unwrap_or(Encoding::Hex),
        signed: raw.signed.clone().unwrap_or_else(|| "{body}".into()),
        timestamp: source.map(|source| TimestampSpec {
            source,
            format: format_of_timestamp,
            // A custom scheme with a timestamp gets the common 5-minute
            // window; `replay_window` on the route changes it.
            tolerance_secs: Some(300),
        }),
        id_header: raw.id_header.clone(),
        body_digest_param: None,
        url_variants: false,
    }))
}

fn custom_token(raw: &RawCustom) -> Result<SchemeSpec<String>, String> {
    let signature_only = raw.algorithm.is_some()
        || raw.encoding.is_some()
        || raw.prefix.is_some()
        || raw.separator.is_some()
        || raw.signed.is_some()
        || raw.timestamp_header.is_some()
        || raw.timestamp_field.is_some();
    if signature_only {
        return Err("a token scheme takes only `header`, `query` or `authorization`".into());
    }
    let spec = match (&raw.header, &raw.query, &raw.authorization) {
        (Some(h), None, None) => TokenSpec::Header(h.get_ref().clone()),
        (None, Some(q), None) => TokenSpec::Query(q.get_ref().clone()),
        (None, None, Some(a)) => match a.get_ref() {
            AuthorizationKind::Basic => TokenSpec::Basic,
            AuthorizationKind::Bearer => TokenSpec::Bearer,
        },
        _ => return Err("a token scheme needs exactly one of `header`, `query` or `authorization`".into()),
    };
    Ok(SchemeSpec::Token(spec))
}

/// Why a secret's value looks like a placeholder rather than a secret.
fn looks_empty(value: &[u8]) -> Option<&'static str> {
    const PLACEHOLDERS: [&str; 8] = [
        "changeme",
        "change-me",
        "secret",
        "password",
        "todo",
        "example",
        "test",
        "xxx",
    ];
    let text = String::from_utf8_lossy(value);
    let trimmed = text.trim().to_ascii_lowercase();
    if trimmed.is_empty() {
        Some("is only whitespace")
    } else if PLACEHOLDERS.contains(&trimmed.as_str()) || trimmed.starts_with('<') || trimmed.starts_with("${") {
        Some("reads like a placeholder")
    } else if value.len() < 8 {
        Some("is shorter than 8 bytes")
    } else if value.iter().all(|b| *b == value[0]) {
        Some("is one character repeated")
    } else {
        None
    }
}
