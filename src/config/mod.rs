//! Configuration: the TOML schema, its validation with precise errors, secret
//! references, and the validated runtime model the proxy runs on.
//!
//! Loading is all-or-nothing: a config either validates completely — every
//! secret resolved and non-empty, every route unambiguous — or is refused with
//! every problem listed by file, line and key. Reject by default: a route
//! without a usable secret is an error unless unsigned delivery was opted into
//! twice (`verify = "none"` on the route *and* `allow_unsigned` globally).

mod dedup;
mod error;
mod files;
mod keys;
mod listener_tls;
mod queue;
mod raw;
mod route;
mod secret_ref;
mod sign_forwarded;
mod units;
mod upstream_tls;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::header::HeaderName;
use http::Method;
use toml::Spanned;

pub use error::{ConfigError, ConfigErrors};
pub use files::referenced as referenced_files;
pub use listener_tls::Tls;
pub use secret_ref::resolve as resolve_secret;
pub use sign_forwarded::SignForwarded;
pub use units::ByteSize;

use crate::dedup::DedupSettings;
use crate::delivery::{QueueSettings, RouteDelivery};
use crate::routing::{PathPattern, Routable, RouteTable};
use crate::verify::field::Field;
use crate::verify::json_pointer::Pointer;
use crate::verify::presets::Preset;
use crate::verify::secret::Secret;
use crate::verify::Verifier;
use error::Reporter;
use raw::{RawConfig, RawRoute};
use route::RouteContext;

pub const DEFAULT_MAX_BODY: u64 = 25 << 20;
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The environment switch that, like `allow_unsigned = true`, enables the
/// global half of the unsigned-route opt-in.
pub const ALLOW_UNSIGNED_ENV: &str = "HOOKFENCE_ALLOW_UNSIGNED";
/// The environment switch that, like `allow_shadow = true`, enables shadow
/// routes (`enforce = false`).
pub const ALLOW_SHADOW_ENV: &str = "HOOKFENCE_ALLOW_SHADOW";

/// A validated configuration.
#[derive(Debug)]
pub struct Config {
    pub source: PathBuf,
    /// The config file and every file it references (the reload watcher's).
    pub files: Vec<PathBuf>,
    /// What validates but looks wrong (e.g. a route's secrets all the same).
    pub warnings: Vec<ConfigError>,
    pub server: Server,
    pub log: Log,
    pub dedup: DedupSettings,
    pub queue: QueueSettings,
    pub routes: RouteTable<Route>,
}

impl Config {
    /// The route named `name`.
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.routes().iter().find(|route| route.name == name)
    }

    /// Whether some route delivers through the queue.
    pub fn uses_queue(&self) -> bool {
        self.routes
            .routes()
            .iter()
            .any(|route| route.delivery.mode.uses_queue())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Plain HTTP listeners.
    pub listen: Vec<String>,
    pub tls: Option<Tls>,
    /// The admin API's address; `None` when turned off (`admin_listen = "off"`).
    pub admin_listen: Option<String>,
    /// What the admin API's state-changing endpoints ask for, if set.
    pub admin_token: Option<Secret>,
    /// Host names, lowercase, under which browsers may use the admin
    /// listener (IP addresses and `localhost` always work).
    pub admin_hosts: Vec<String>,
    pub recent_deliveries: usize,
    /// Requests handled at once; more get 503 with `Retry-After`.
    pub max_connections: usize,
    /// Body bytes held in memory at once; beyond, deliveries wait, then get 503.
    pub max_in_flight_body: u64,
    pub threads: usize,
    pub header_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Reload when the config file or a file it references changes.
    pub watch_files: bool,
}

/// Log output settings (`RUST_LOG` and `--log-format` override them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub format: crate::telemetry::LogFormat,
    pub level: String,
}

pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
pub const DEFAULT_RECENT_DELIVERIES: usize = 200;
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
pub const DEFAULT_MAX_IN_FLIGHT_BODY: u64 = 256 << 20;

/// How a route proves its deliveries.
#[derive(Debug)]
pub enum Verification {
    Verified {
        verifier: Verifier,
        keys: Keys,
    },
    /// Explicitly opted out (route and global switch); every delivery is counted.
    Unsigned,
}

/// The keys a route verifies with.
#[derive(Debug)]
pub enum Keys {
    /// The same keys for every delivery (several during a rotation).
    Fixed(Vec<Secret>),
    /// Keys picked by a path parameter: one sender, many tenants (apps,
    /// customers), each with its own secret.
    PerTenant {
        param: String,
        /// Position of `param` among the route pattern's parameters.
        param_index: usize,
        tenants: HashMap<String, Vec<Secret>>,
    },
}

impl Keys {
    /// The keys for a request whose path parameters are `params`; `None` for
    /// an unknown tenant.
    pub fn for_params(&self, params: &[&str]) -> Option<&[Secret]> {
        match self {
            Keys::Fixed(keys) => Some(keys),
            Keys::PerTenant {
                param_index, tenants, ..
            } => tenants.get(*params.get(*param_index)?).map(Vec::as_slice),
        }
    }
}

#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub pattern: PathPattern,
    pub methods: Vec<Method>,
    pub upstream: Upstream,
    pub provider: Option<&'static Preset>,
    pub verification: Verification,
    /// The URL senders call, origin plus path prefix as registered with the
    /// sender; schemes that sign the URL need it.
    pub public_url: Option<String>,
    pub fields: DeliveryFields,
    /// The JSON fields read from a verified body (the id's, the event's,
    /// and the filter's): found together, in one pass over the body.
    pub body_fields: Vec<Pointer>,
    pub filter: Filter,
    pub dedup: RouteDedup,
    pub limits: RouteLimits,
    pub sign_forwarded: Option<SignForwarded>,
    /// Direct, queued or fallback delivery, and the queue's policy for it.
    pub delivery: RouteDelivery,
    /// Paths that decoders read differently (`routing::path_ambiguity`)
    /// are accepted; otherwise refused with 400.
    pub allow_encoded_path: bool,
    /// Refuse what fails verification (the default); `false` is shadow
    /// mode: verify and record, but forward anyway, marked unverified.
    pub enforce: bool,
    /// The provider's endpoint handshake, answered by hookfence.
    pub handshake: Option<RouteHandshake>,
    /// How many bytes of each body are kept for the console (`keep_bodies`).
    pub keep_bodies: Option<usize>,
    /// The provider's `GET` subscription check and the route's token for it
    /// (for a check that carries one).
    pub subscription: Option<(&'static crate::verify::handshake::QueryChallenge, Option<Secret>)>,
    /// The references of the route's `secrets` (`env:NAME`, `file:/path`),
    /// in order, to say which one matched; empty for per-tenant secrets.
    pub secret_names: Vec<String>,
    /// Request headers removed before forwarding (the credential, when asked).
    pub strip_headers: Vec<HeaderName>,
    /// Query parameters removed before forwarding (a query token, when asked).
    pub strip_query: Vec<String>,
    /// Where the route's credentials are presented (headers and query
    /// parameters), whether or not they are stripped: what the admin API
    /// never shows.
    pub credential_headers: Vec<HeaderName>,
    pub credential_query: Vec<String>,
    /// Headers the route reads (credentials, signed timestamp and id, the
    /// delivery id, event and ordering key fields): forwarded even when the
    /// client's `Connection` names them, so that a backend that verifies
    /// again finds them.
    pub read_headers: Vec<HeaderName>,
}

/// A route's handshake with the fields it reads, parsed at load.
#[derive(Debug)]
pub struct RouteHandshake {
    pub spec: &'static crate::verify::handshake::Handshake,
    pub fields: Vec<(&'static str, Field)>,
}

impl RouteHandshake {
    /// The field named `name` (as the preset writes it).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, f)| f)
    }
}

impl Route {
    /// The provider as metrics and forwarded headers name it: the preset,
    /// `custom` for a scheme written out, `unsigned` for `verify = "none"`.
    pub fn provider_label(&self) -> &'static str {
        match (&self.verification, self.provider) {
            (Verification::Unsigned, _) => "unsigned",
            (_, Some(preset)) => preset.name,
            (_, None) => "custom",
        }
    }
}

impl Routable for Route {
    fn pattern(&self) -> &PathPattern {
        &self.pattern
    }
    fn methods(&self) -> &[Method] {
        &self.methods
    }
}

/// Where a route finds a delivery's id and event type.
#[derive(Debug, Default)]
pub struct DeliveryFields {
    pub delivery_id: Option<Field>,
    pub event: Option<Field>,
}

/// How a route deduplicates.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteDedup {
    /// On when the route knows where the delivery id is, unless `dedup = false`.
    pub enabled: bool,
    pub policy: crate::dedup::Policy,
    /// Refuse deliveries without an id instead of forwarding them.
    pub require_id: bool,
    /// The sender does not sign the delivery id (GitHub's
    /// `X-GitHub-Delivery`, any id of a token route): the key also holds a
    /// digest of the body, so that a captured delivery replayed under
    /// another id cannot make that id's genuine delivery a "duplicate".
    pub digest_body: bool,
}

/// Which verified deliveries are forwarded.
#[derive(Debug, Default)]
pub struct Filter {
    /// Forward only these events (when the event is known); `None`: all.
    pub events: Option<Vec<String>>,
    /// Forward a delivery with a `ref` only for these branches.
    pub branches: Option<Vec<BranchPattern>>,
    /// Answer this event directly instead of forwarding it.
    pub ping_event: Option<&'static str>,
}

/// A branch name, or a prefix when written with a trailing `*` (`release/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchPattern {
    Exact(String),
    Prefix(String),
}

impl BranchPattern {
    pub fn parse(text: &str) -> Self {
        match text.strip_suffix('*') {
            Some(prefix) => BranchPattern::Prefix(prefix.to_owned()),
            None => BranchPattern::Exact(text.to_owned()),
        }
    }

    pub fn matches(&self, branch: &str) -> bool {
        match self {
            BranchPattern::Exact(name) => branch == name,
            BranchPattern::Prefix(prefix) => branch.starts_with(prefix.as_str()),
        }
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
    /// The address, when `host` is an IP literal (else it is resolved for
    /// each delivery, so that a backend that moves is found).
    pub address: Option<std::net::SocketAddr>,
    /// When set, replaces the request's path and query; otherwise they are kept.
    pub path: Option<String>,
    /// Set for an `https://` upstream.
    pub tls: Option<crate::upstream::tls::UpstreamTls>,
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
        let switched_on = |name: &str| env(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let global_unsigned = raw.server.allow_unsigned || switched_on(ALLOW_UNSIGNED_ENV);
        let global_shadow = raw.server.allow_shadow || switched_on(ALLOW_SHADOW_ENV);
        let base = path.parent().unwrap_or(Path::new("."));
        let server = build_server(&raw, env, base, &mut report);
        let log = build_log(&raw, &mut report);
        let dedup = dedup::build(raw.dedup.as_ref(), env, base, &mut report);
        let (queue, default_retry) = queue::build(raw.queue.as_ref(), &dedup, env, base, &mut report);
        let mut routes = Vec::with_capacity(raw.routes.len());
        for (index, route) in raw.routes.iter().enumerate() {
            let ctx = RouteContext {
                index,
                global_unsigned,
                global_shadow,
                env,
                base,
                in_flight_ttl: dedup.in_flight_ttl,
                queue: &queue,
                default_retry: &default_retry,
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
                files: files::referenced(path, source),
                warnings: report.take_warnings(),
                server,
                log,
                dedup,
                queue,
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
                // `Spanned` tables show up in the path as a private field.
                let key = e.path().to_string().replace(".$__serde_spanned_private_value", "");
                (if key == "." { String::new() } else { key }, e.into_inner())
            })
        });
    result.map_err(|(key, e)| {
        report.error(e.span(), key, e.message().trim().to_owned());
        report.into_errors()
    })
}

fn build_server(
    raw: &RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
    base: &Path,
    report: &mut Reporter<'_>,
) -> Server {
    let server = &raw.server;
    let addresses = |list: &Option<Spanned<raw::OneOrMany>>, key: &str, report: &mut Reporter<'_>| {
        let Some(list) = list else {
            return Vec::new();
        };
        let addresses = list.get_ref().clone().into_vec();
        if addresses.is_empty() {
            report.error(
                Some(list.span()),
                key,
                "list at least one address, or leave the key out",
            );
        }
        for addr in &addresses {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                report.error(
                    Some(list.span()),
                    key,
                    format!("`{addr}` is not an IP:port address (e.g. \"0.0.0.0:8080\")"),
                );
            }
        }
        addresses
    };
    let listen = addresses(&server.listen, "server.listen", report);
    let tls_listen = addresses(&server.tls_listen, "server.tls_listen", report);
    if server.listen.is_none() && server.tls_listen.is_none() {
        report.error(
            None,
            "server.listen",
            "missing: give `listen` (HTTP) and/or `tls_listen` (HTTPS)",
        );
    }
    let tls = listener_tls::build(server, tls_listen, base, report);
    let admin_listen = match &server.admin_listen {
        Some(addr) if addr.get_ref() == "off" => None,
        Some(addr) => {
            if addr.get_ref().parse::<std::net::SocketAddr>().is_err() {
                report.error(
                    Some(addr.span()),
                    "server.admin_listen",
                    format!("`{}` is not an IP:port address, or \"off\"", addr.get_ref()),
                );
            }
            Some(addr.get_ref().clone())
        }
        None => Some(DEFAULT_ADMIN_LISTEN.to_owned()),
    };
    let recent_deliveries = match &server.recent_deliveries {
        Some(n) if *n.get_ref() == 0 || *n.get_ref() > 100_000 => {
            report.error(
                Some(n.span()),
                "server.recent_deliveries",
                "must be between 1 and 100000",
            );
            DEFAULT_RECENT_DELIVERIES
        }
        Some(n) => *n.get_ref(),
        None => DEFAULT_RECENT_DELIVERIES,
    };
    let max_connections = match &server.max_connections {
        Some(n) if *n.get_ref() == 0 => {
            report.error(Some(n.span()), "server.max_connections", "must be at least 1");
            DEFAULT_MAX_CONNECTIONS
        }
        Some(n) => *n.get_ref(),
        None => DEFAULT_MAX_CONNECTIONS,
    };
    let max_in_flight_body = server.max_in_flight_body.map_or(DEFAULT_MAX_IN_FLIGHT_BODY, |b| b.0);
    let threads = match &server.threads {
        Some(t) if *t.get_ref() == 0 => {
            report.error(Some(t.span()), "server.threads", "must be at least 1");
            1
        }
        Some(t) => *t.get_ref(),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let admin_token = server.admin_token.as_ref().and_then(|token| {
        secret_ref::resolve(token.get_ref(), env, base)
            .map_err(|e| report.error(Some(token.span()), "server.admin_token", e))
            .ok()
    });
    Server {
        listen,
        tls,
        admin_listen,
        admin_token,
        admin_hosts: server.admin_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
        recent_deliveries,
        max_connections,
        max_in_flight_body,
        threads,
        header_timeout: server.header_timeout.map_or(DEFAULT_HEADER_TIMEOUT, |d| d.0),
        shutdown_grace: server.shutdown_grace.map_or(DEFAULT_SHUTDOWN_GRACE, |d| d.0),
        watch_files: server.watch_files.unwrap_or(true),
    }
}

fn build_log(raw: &RawConfig, report: &mut Reporter<'_>) -> Log {
    let level = match &raw.log.level {
        Some(level) => {
            if tracing_subscriber::EnvFilter::try_new(level.get_ref()).is_err() {
                report.error(
                    Some(level.span()),
                    "log.level",
                    format!(
                        "`{}` is not a log filter (e.g. \"info\" or \"hookfence=debug,info\")",
                        level.get_ref()
                    ),
                );
            }
            level.get_ref().clone()
        }
        None => "info".to_owned(),
    };
    Log {
        format: raw.log.format.unwrap_or_default(),
        level,
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
