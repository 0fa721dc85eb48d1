//! Configuration: the TOML schema, its validation with precise errors, secret
//! references, and the validated runtime model the proxy runs on.
//!
//! Loading is all-or-nothing: a config either validates completely — every
//! secret resolved and non-empty, every route unambiguous — or is refused with
//! every problem listed by file, line and key. Reject by default: a route
//! without a usable secret is an error unless unsigned delivery was opted into
//! twice (`verify = "none"` on the route *and* `allow_unsigned` globally).

mod error;
mod raw;
mod secret_ref;
mod units;

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::header::HeaderName;
use http::{Method, Uri};
use toml::Spanned;

pub use error::{ConfigError, ConfigErrors};
pub use units::ByteSize;

use crate::routing::{PathPattern, Routable, RouteTable};
use crate::secret::Secret;
use crate::verify::hmac::{Algorithm, Encoding, HmacScheme};
use crate::verify::presets::{self, Preset};
use crate::verify::Verifier;
use error::Reporter;
use raw::{RawConfig, RawRoute, VerifyMode};

pub const DEFAULT_MAX_BODY: u64 = 25 << 20;
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The environment switch that, like `allow_unsigned = true`, enables the
/// global half of the unsigned-route opt-in.
pub const ALLOW_UNSIGNED_ENV: &str = "HOOKFENCE_ALLOW_UNSIGNED";

/// A validated configuration.
#[derive(Debug)]
pub struct Config {
    pub source: PathBuf,
    pub server: Server,
    pub routes: RouteTable<Route>,
}

#[derive(Debug)]
pub struct Server {
    pub listen: Vec<String>,
    pub threads: usize,
    pub header_timeout: Duration,
    pub shutdown_grace: Duration,
}

/// How a route proves its deliveries.
#[derive(Debug)]
pub enum Verification {
    Verified(Verifier),
    /// Explicitly opted out (route and global switch); every delivery is counted.
    Unsigned,
}

#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub pattern: PathPattern,
    pub methods: Vec<Method>,
    pub upstream: Upstream,
    pub provider: Option<&'static Preset>,
    pub verification: Verification,
    pub limits: RouteLimits,
    pub sign_forwarded: Option<SignForwarded>,
    /// Request headers removed before forwarding (the credential, when asked).
    pub strip_headers: Vec<HeaderName>,
}

impl Routable for Route {
    fn pattern(&self) -> &PathPattern {
        &self.pattern
    }
    fn methods(&self) -> &[Method] {
        &self.methods
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RouteLimits {
    pub max_body: u64,
    pub body_timeout: Duration,
    pub connect_timeout: Duration,
    pub upstream_timeout: Duration,
}

/// Where verified deliveries go.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    /// When set, replaces the request's path and query; otherwise they are kept.
    pub path: Option<String>,
}

impl Upstream {
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// An HMAC the proxy adds to forwarded deliveries (for token-only providers).
#[derive(Debug)]
pub struct SignForwarded {
    pub scheme: HmacScheme,
    pub secret: Secret,
}

impl Config {
    /// Reads and validates a config file, resolving secrets from the process
    /// environment and the file system.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                position: None,
                key: None,
                message: format!("cannot read config: {e}"),
            }])
        })?;
        Self::parse(path, &source, &|name| std::env::var(name).ok())
    }

    /// Validates `source` as if read from `path`; `env` looks up environment
    /// variables (injected so tests need not mutate the process environment).
    pub fn parse(path: &Path, source: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let raw = deserialize(path, source)?;
        let mut report = Reporter::new(path, source);
        let global_unsigned =
            raw.server.allow_unsigned || env(ALLOW_UNSIGNED_ENV).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let server = build_server(&raw, &mut report);
        let mut routes = Vec::with_capacity(raw.routes.len());
        for (index, route) in raw.routes.iter().enumerate() {
            let ctx = RouteContext {
                index,
                global_unsigned,
                env,
                base: path.parent().unwrap_or(Path::new(".")),
            };
            if let Some(route) = ctx.build(route, &mut report) {
                routes.push(route);
            }
        }
        check_unique_names(&raw.routes, &mut report);
        if raw.routes.is_empty() {
            report.error(None, "routes", "no routes: add at least one [[routes]] table");
        }
        // Ambiguity is only meaningful once every route built: the table's
        // indices then equal the config's.
        if report.has_errors() {
            return Err(report.into_errors());
        }
        match RouteTable::new(routes) {
            Ok(routes) => Ok(Config {
                source: path.to_path_buf(),
                server,
                routes,
            }),
            Err(ambiguities) => {
                for a in ambiguities {
                    let (first, second) = (&raw.routes[a.first], &raw.routes[a.second]);
                    report.error(
                        Some(second.path.span()),
                        format!("routes[{}].path", a.second),
                        format!(
                            "route `{}` ({}) is ambiguous with route `{}` ({}): both can match the same request; make one path more specific or give them different methods",
                            second.name.get_ref(),
                            second.path.get_ref(),
                            first.name.get_ref(),
                            first.path.get_ref()
                        ),
                    );
                }
                Err(report.into_errors())
            }
        }
    }
}

fn deserialize(path: &Path, source: &str) -> Result<RawConfig, ConfigErrors> {
    let mut report = Reporter::new(path, source);
    let result = toml::Deserializer::parse(source)
        .map_err(|e| (String::new(), e))
        .and_then(|deserializer| {
            serde_path_to_error::deserialize(deserializer).map_err(|e| {
                let key = e.path().to_string();
                (if key == "." { String::new() } else { key }, e.into_inner())
            })
        });
    result.map_err(|(key, e)| {
        report.error(e.span(), key, e.message().trim().to_owned());
        report.into_errors()
    })
}

fn build_server(raw: &RawConfig, report: &mut Reporter<'_>) -> Server {
    let server = &raw.server;
    let listen = server.listen.get_ref().clone().into_vec();
    if listen.is_empty() {
        report.error(
            Some(server.listen.span()),
            "server.listen",
            "at least one listen address is required",
        );
    }
    for addr in &listen {
        if addr.parse::<std::net::SocketAddr>().is_err() {
            report.error(
                Some(server.listen.span()),
                "server.listen",
                format!("`{addr}` is not an IP:port address (e.g. \"0.0.0.0:8080\")"),
            );
        }
    }
    let threads = match &server.threads {
        Some(t) if *t.get_ref() == 0 => {
            report.error(Some(t.span()), "server.threads", "must be at least 1");
            1
        }
        Some(t) => *t.get_ref(),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    Server {
        listen,
        threads,
        header_timeout: server.header_timeout.map_or(DEFAULT_HEADER_TIMEOUT, |d| d.0),
        shutdown_grace: server.shutdown_grace.map_or(DEFAULT_SHUTDOWN_GRACE, |d| d.0),
    }
}

fn check_unique_names(routes: &[RawRoute], report: &mut Reporter<'_>) {
    for (i, route) in routes.iter().enumerate() {
        if let Some(first) = routes[..i]
            .iter()
            .position(|r| r.name.get_ref() == route.name.get_ref())
        {
            report.error(
                Some(route.name.span()),
                format!("routes[{i}].name"),
                format!(
                    "route name `{}` is already used by routes[{first}]",
                    route.name.get_ref()
                ),
            );
        }
    }
}

/// What building one route needs besides the raw table.
struct RouteContext<'a> {
    index: usize,
    global_unsigned: bool,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// Directory of the config file: relative `file:` references resolve from here.
    base: &'a Path,
}

impl RouteContext<'_> {
    fn key(&self, field: &str) -> String {
        format!("routes[{}].{field}", self.index)
    }

    /// Builds the runtime route, or reports why not (and returns `None`).
    fn build(&self, raw: &RawRoute, report: &mut Reporter<'_>) -> Option<Route> {
        let errors_before = report.error_count();
        let name = raw.name.get_ref().clone();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            report.error(
                Some(raw.name.span()),
                self.key("name"),
                "must be non-empty and use only letters, digits, `-`, `_` and `.` (it is a metric label)",
            );
        }
        let pattern = PathPattern::parse(raw.path.get_ref())
            .map_err(|e| report.error(Some(raw.path.span()), self.key("path"), e))
            .ok();
        let methods = self.methods(raw, report);
        let upstream = parse_upstream(raw.upstream.get_ref())
            .map_err(|e| report.error(Some(raw.upstream.span()), self.key("upstream"), e))
            .ok();
        let provider = raw.provider.as_ref().and_then(|p| {
            let found = presets::find(p.get_ref());
            if found.is_none() {
                let known: Vec<_> = presets::names().collect();
                report.error(
                    Some(p.span()),
                    self.key("provider"),
                    format!(
                        "unknown provider `{}`; known providers: {}",
                        p.get_ref(),
                        known.join(", ")
                    ),
                );
            }
            found
        });
        let verification = self.verification(raw, provider, report);
        let sign_forwarded = raw.sign_forwarded.as_ref().and_then(|s| self.sign_forwarded(s, report));
        let strip_headers = match (&verification, raw.strip_credential) {
            (Some(Verification::Verified(v)), true) => {
                v.schemes().iter().map(|s| s.credential_header().clone()).collect()
            }
            (Some(Verification::Unsigned), true) => {
                report.error(
                    None,
                    self.key("strip_credential"),
                    "an unsigned route has no credential to strip",
                );
                Vec::new()
            }
            _ => Vec::new(),
        };
        let limits = RouteLimits {
            max_body: raw.max_body.map_or(DEFAULT_MAX_BODY, |b| b.0),
            body_timeout: raw.body_timeout.map_or(DEFAULT_BODY_TIMEOUT, |d| d.0),
            connect_timeout: raw.connect_timeout.map_or(DEFAULT_CONNECT_TIMEOUT, |d| d.0),
            upstream_timeout: raw.upstream_timeout.map_or(DEFAULT_UPSTREAM_TIMEOUT, |d| d.0),
        };
        if report.error_count() > errors_before {
            return None;
        }
        Some(Route {
            name,
            pattern: pattern?,
            methods,
            upstream: upstream?,
            provider,
            verification: verification?,
            limits,
            sign_forwarded,
            strip_headers,
        })
    }

    fn methods(&self, raw: &RawRoute, report: &mut Reporter<'_>) -> Vec<Method> {
        let Some(list) = &raw.methods else {
            return vec![Method::POST];
        };
        if list.get_ref().is_empty() {
            report.error(Some(list.span()), self.key("methods"), "must list at least one method");
        }
        let mut methods = Vec::new();
        for (i, m) in list.get_ref().iter().enumerate() {
            match Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes()) {
                Ok(method) if !methods.contains(&method) => methods.push(method),
                Ok(_) => report.error(Some(m.span()), self.key(&format!("methods[{i}]")), "listed twice"),
                Err(_) => report.error(Some(m.span()), self.key(&format!("methods[{i}]")), "not an HTTP method"),
            }
        }
        methods
    }

    fn verification(
        &self,
        raw: &RawRoute,
        provider: Option<&'static Preset>,
        report: &mut Reporter<'_>,
    ) -> Option<Verification> {
        let mode = raw.verify.as_ref().map_or(VerifyMode::Signature, |m| *m.get_ref());
        let mode_span = raw.verify.as_ref().map(Spanned::span);
        if let (Some(legacy), Some(p)) = (&raw.allow_legacy_signature, provider) {
            if *legacy.get_ref() && p.legacy.is_empty() {
                report.error(
                    Some(legacy.span()),
                    self.key("allow_legacy_signature"),
                    format!("provider `{}` has no legacy signature scheme", p.name),
                );
            }
        }
        match mode {
            VerifyMode::None => {
                if !self.global_unsigned {
                    report.error(
                        mode_span,
                        self.key("verify"),
                        format!("verify = \"none\" also needs `allow_unsigned = true` in [server] (or {ALLOW_UNSIGNED_ENV}=true): unsigned routes must be opted into twice"),
                    );
                }
                if let Some(secrets) = &raw.secrets {
                    report.error(
                        Some(secrets.span()),
                        self.key("secrets"),
                        "verify = \"none\" takes no secrets",
                    );
                }
                Some(Verification::Unsigned)
            }
            VerifyMode::Signature => {
                let Some(provider) = provider else {
                    if raw.provider.is_none() {
                        let known: Vec<_> = presets::names().collect();
                        report.error(
                            Some(raw.name.span()),
                            self.key("provider"),
                            format!("missing: every verified route needs a provider ({})", known.join(", ")),
                        );
                    }
                    return None;
                };
                let secrets = self.secrets(raw, report)?;
                let legacy = raw.allow_legacy_signature.as_ref().is_some_and(|l| *l.get_ref());
                Some(Verification::Verified(Verifier::new(provider.schemes(legacy), secrets)))
            }
        }
    }

    fn secrets(&self, raw: &RawRoute, report: &mut Reporter<'_>) -> Option<Vec<Secret>> {
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
        let mut secrets = Vec::with_capacity(list.get_ref().len());
        for (i, reference) in list.get_ref().iter().enumerate() {
            match secret_ref::resolve(reference.get_ref(), self.env, self.base) {
                Ok(secret) => secrets.push(secret),
                Err(e) => report.error(Some(reference.span()), self.key(&format!("secrets[{i}]")), e),
            }
        }
        (secrets.len() == list.get_ref().len()).then_some(secrets)
    }

    fn sign_forwarded(&self, raw: &Spanned<raw::RawSignForwarded>, report: &mut Reporter<'_>) -> Option<SignForwarded> {
        let raw = raw.get_ref();
        let header = HeaderName::from_bytes(raw.header.get_ref().as_bytes())
            .map_err(|_| {
                report.error(
                    Some(raw.header.span()),
                    self.key("sign_forwarded.header"),
                    "not a valid header name",
                )
            })
            .ok();
        let secret = secret_ref::resolve(raw.secret.get_ref(), self.env, self.base)
            .map_err(|e| report.error(Some(raw.secret.span()), self.key("sign_forwarded.secret"), e))
            .ok();
        Some(SignForwarded {
            scheme: HmacScheme {
                header: header?,
                algorithm: Algorithm::Sha256,
                encoding: Encoding::Hex,
                prefix: "sha256=",
            },
            secret: secret?,
        })
    }
}

fn parse_upstream(text: &str) -> Result<Upstream, String> {
    let uri: Uri = text.parse().map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(
                "https upstreams are not supported yet: use http:// (hookfence usually runs next to its backend)"
                    .into(),
            )
        }
        _ => return Err(format!("`{text}` must be an http:// URL")),
    }
    let authority = uri.authority().ok_or_else(|| format!("`{text}` has no host"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if host.is_empty() {
        return Err(format!("`{text}` has no host"));
    }
    let path = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .filter(|pq| !pq.is_empty() && *pq != "/")
        .map(str::to_owned);
    Ok(Upstream {
        host,
        port: authority.port_u16().unwrap_or(80),
        path,
    })
}
