//! Building one runtime [`Route`] from its `[[routes]]` table, reporting every
//! problem with the route's key path. Verification and keys live in
//! [`super::keys`].

use std::path::Path;

use http::header::HeaderName;
use http::{Method, Uri};
use toml::Spanned;

use super::error::Reporter;
use super::queue::{self, RouteQueueContext};
use super::raw::{self, RawRoute};
use super::{secret_ref, sign_forwarded, upstream_tls};
use super::{
    BranchPattern, DeliveryFields, Filter, Route, RouteDedup, RouteHandshake, RouteLimits, SignForwarded, Upstream,
    Verification, ALLOW_SHADOW_ENV, DEFAULT_BODY_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY,
    DEFAULT_UPSTREAM_TIMEOUT,
};
use crate::delivery::{QueueSettings, RetryPolicy};
use crate::routing::PathPattern;
use crate::verify::field::Field;
use crate::verify::handshake::QueryChallenge;
use crate::verify::json_pointer::Pointer;
use crate::verify::presets::{self, Preset};
use crate::verify::secret::Secret;
use crate::verify::template::Part;
use crate::verify::timestamp::TimestampSource;
use crate::verify::token::TokenSource;
use crate::verify::Scheme;

/// `keep_bodies` keeps this much of each body unless `keep_body_bytes` says otherwise.
const DEFAULT_KEPT_BODY: usize = 16 * 1024;
const MAX_KEPT_BODY: usize = 1 << 20;

/// What building one route needs besides the raw table.
pub(super) struct RouteContext<'a> {
    pub index: usize,
    pub global_unsigned: bool,
    /// `allow_shadow` in `[server]` (or its environment switch).
    pub global_shadow: bool,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Directory of the config file: relative `file:` references resolve from here.
    pub base: &'a Path,
    /// `[dedup] in_flight_ttl`: a claim must outlive the forward it covers.
    pub in_flight_ttl: std::time::Duration,
    pub queue: &'a QueueSettings,
    /// `[queue.retry]`, or the defaults.
    pub default_retry: &'a RetryPolicy,
}

impl RouteContext<'_> {
    pub fn key(&self, field: &str) -> String {
        format!("routes[{}].{field}", self.index)
    }

    /// Builds the runtime route, or reports why not (and returns `None`).
    pub fn build(&self, raw: &RawRoute, report: &mut Reporter<'_>) -> Option<Route> {
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
        let mut methods = self.methods(raw, report);
        let upstream = self.upstream(raw, report);
        let built = self.verification(raw, pattern.as_ref(), report);
        // From the name, not the built verification: a route whose secrets
        // failed still has a provider, and its other keys are judged by it.
        let provider = raw.provider.as_ref().and_then(|p| presets::find(p.get_ref()));
        let public_url = self.public_url(raw, built.as_ref().is_some_and(|b| b.signs_url), report);
        let fields = DeliveryFields {
            delivery_id: self
                .field(&raw.delivery_id, "delivery_id", report)
                .or_else(|| provider.and_then(|p| p.delivery_id).and_then(|f| Field::parse(f).ok())),
            event: self
                .field(&raw.event_type, "event_type", report)
                .or_else(|| provider.and_then(|p| p.event).and_then(|f| Field::parse(f).ok())),
        };
        let filter = self.filter(raw, provider.and_then(|p| p.ping_event), fields.event.is_some(), report);
        let limits = RouteLimits {
            max_body: raw.max_body.map_or(DEFAULT_MAX_BODY, |b| b.0),
            body_timeout: raw.body_timeout.map_or(DEFAULT_BODY_TIMEOUT, |d| d.0),
            connect_timeout: raw.connect_timeout.map_or(DEFAULT_CONNECT_TIMEOUT, |d| d.0),
            upstream_timeout: raw.upstream_timeout.map_or(DEFAULT_UPSTREAM_TIMEOUT, |d| d.0),
        };
        let delivery = queue::route_delivery(
            raw,
            &RouteQueueContext {
                key: &|field| self.key(field),
                queue: self.queue,
                default_retry: self.default_retry,
            },
            limits.max_body,
            // The longest an attempt can hold its claim: resolving the name,
            // then up to three exchanges (a reused connection found closed is
            // tried again), each a connect and an answer.
            limits.connect_timeout + (limits.connect_timeout + limits.upstream_timeout) * 3,
            report,
        );
        let handshake = self.handshake(raw, provider, report);
        let subscription = self.subscription(raw, provider, report);
        if subscription.is_some() && !methods.contains(&Method::GET) {
            // The check comes as a GET; deliveries still come as configured.
            methods.push(Method::GET);
        }
        let mut body_fields: Vec<Pointer> = Vec::new();
        for pointer in [&fields.delivery_id, &fields.event, &delivery.ordering_key]
            .into_iter()
            .flatten()
            .chain(filter.body_field())
            .chain(handshake.iter().flat_map(|h| h.fields.iter().map(|(_, field)| field)))
            .filter_map(Field::pointer)
        {
            if !body_fields.contains(pointer) {
                body_fields.push(pointer.clone());
            }
        }
        let mut dedup = self.dedup(raw, fields.delivery_id.is_some(), &limits, report);
        if let (Some(b), Some(id)) = (&built, &fields.delivery_id) {
            dedup.digest_body = !signs_field(&b.verification, id);
        }
        let sign_forwarded = raw.sign_forwarded.as_ref().and_then(|s| self.sign_forwarded(s, report));
        let credentials = match built.as_ref().map(|b| &b.verification) {
            Some(Verification::Verified { verifier, .. }) => credential_locations(verifier.schemes()),
            _ => Default::default(),
        };
        let (strip_headers, strip_query) = match (&built, raw.strip_credential) {
            (Some(b), true) => match &b.verification {
                Verification::Verified { .. } => credentials.clone(),
                Verification::Unsigned => {
                    report.error(
                        None,
                        self.key("strip_credential"),
                        "an unsigned route has no credential to strip",
                    );
                    Default::default()
                }
            },
            _ => Default::default(),
        };
        let enforce = self.enforce(raw, built.as_ref().map(|b| &b.verification), report);
        let keep_bodies = self.keep_bodies(raw, report);
        let read_headers = read_headers(
            built.as_ref().map(|b| &b.verification),
            &credentials.0,
            [&fields.delivery_id, &fields.event, &delivery.ordering_key],
        );
        if report.error_count() > errors_before {
            return None;
        }
        Some(Route {
            name,
            pattern: pattern?,
            methods,
            upstream: upstream?,
            provider,
            verification: built?.verification,
            public_url,
            fields,
            body_fields,
            filter,
            dedup,
            limits,
            sign_forwarded,
            delivery,
            allow_encoded_path: raw.allow_encoded_path,
            enforce,
            handshake,
            keep_bodies,
            subscription,
            secret_names: match (&raw.tenant_param, &raw.secrets) {
                (None, Some(list)) => list.get_ref().iter().map(|r| r.get_ref().clone()).collect(),
                _ => Vec::new(),
            },
            strip_headers,
            strip_query,
            credential_headers: credentials.0,
            credential_query: credentials.1,
            read_headers,
        })
    }

    /// `keep_bodies`: how much of each body is kept for the console.
    fn keep_bodies(&self, raw: &RawRoute, report: &mut Reporter<'_>) -> Option<usize> {
        match (&raw.keep_body_bytes, raw.keep_bodies) {
            (Some(size), false) => {
                report.error(
                    Some(size.span()),
                    self.key("keep_body_bytes"),
                    "keep_body_bytes needs keep_bodies = true",
                );
                None
            }
            (Some(size), true) if size.get_ref().0 == 0 || size.get_ref().0 > MAX_KEPT_BODY as u64 => {
                report.error(
                    Some(size.span()),
                    self.key("keep_body_bytes"),
                    "must be between 1 byte and 1MiB (bodies are kept in memory, recent_deliveries of them per route)",
                );
                None
            }
            (Some(size), true) => usize::try_from(size.get_ref().0).ok(),
            (None, true) => Some(DEFAULT_KEPT_BODY),
            (None, false) => None,
        }
    }

    /// The provider's `GET` subscription check: with the route's
    /// `verify_token` for a check that carries one (Meta: answered only
    /// when one is configured), on by default for one without (Dropbox);
    /// `handshake = false` leaves either to the backend.
    fn subscription(
        &self,
        raw: &RawRoute,
        provider: Option<&'static Preset>,
        report: &mut Reporter<'_>,
    ) -> Option<(&'static QueryChallenge, Option<Secret>)> {
        let check = provider.and_then(|p| p.query_challenge.as_ref());
        let turned_off = raw.handshake.as_ref().is_some_and(|h| !*h.get_ref());
        match (check, &raw.verify_token) {
            (None, Some(token)) => {
                report.error(
                    Some(token.span()),
                    self.key("verify_token"),
                    "this route's provider makes no GET subscription check",
                );
                None
            }
            (Some(check), Some(token)) if check.needs_token() => {
                secret_ref::resolve(token.get_ref(), self.env, self.base)
                    .map_err(|e| report.error(Some(token.span()), self.key("verify_token"), e))
                    .ok()
                    .filter(|_| !turned_off)
                    .map(|secret| (check, Some(secret)))
            }
            (Some(_), Some(token)) => {
                report.error(
                    Some(token.span()),
                    self.key("verify_token"),
                    "this provider's subscription check carries no token",
                );
                None
            }
            (Some(check), None) if !check.needs_token() && !turned_off => Some((check, None)),
            _ => None,
        }
    }

    /// The preset's endpoint handshake, unless the route turns it off.
    fn handshake(
        &self,
        raw: &RawRoute,
        provider: Option<&'static Preset>,
        report: &mut Reporter<'_>,
    ) -> Option<RouteHandshake> {
        let wanted = raw.handshake.as_ref();
        let spec = provider.and_then(|p| p.handshake.as_ref());
        match (wanted.map(|w| *w.get_ref()), spec) {
            (Some(false), _) => None,
            (Some(true), None) => {
                report.error(
                    wanted.map(Spanned::span),
                    self.key("handshake"),
                    "this route's provider has no endpoint handshake",
                );
                None
            }
            (_, Some(spec)) => {
                // The preset's field names are fixed and tested: one that
                // did not parse would be a bug in the table, not the config.
                let fields = spec
                    .fields()
                    .filter_map(|name| Field::parse(name).ok().map(|field| (name, field)))
                    .collect();
                Some(RouteHandshake { spec, fields })
            }
            (None, None) => None,
        }
    }

    /// `enforce = false` (shadow mode) is opted into twice, like unsigned
    /// routes: on the route and globally, so one line cannot turn a
    /// verifier into a pass-through.
    fn enforce(&self, raw: &RawRoute, verification: Option<&Verification>, report: &mut Reporter<'_>) -> bool {
        let Some(enforce) = &raw.enforce else { return true };
        if *enforce.get_ref() {
            return true;
        }
        if !self.global_shadow {
            report.error(
                Some(enforce.span()),
                self.key("enforce"),
                format!("enforce = false also needs `allow_shadow = true` in [server] (or {ALLOW_SHADOW_ENV}=true): shadow routes must be opted into twice"),
            );
        }
        if matches!(verification, Some(Verification::Unsigned)) {
            report.error(
                Some(enforce.span()),
                self.key("enforce"),
                "an unsigned route verifies nothing: there is nothing to enforce or to shadow",
            );
        }
        false
    }

    /// The upstream, with its TLS settings when it is `https://`.
    fn upstream(&self, raw: &RawRoute, report: &mut Reporter<'_>) -> Option<Upstream> {
        let (mut upstream, tls) = parse_upstream(raw.upstream.get_ref())
            .map_err(|e| report.error(Some(raw.upstream.span()), self.key("upstream"), e))
            .ok()?;
        if tls {
            let key = |field: &str| self.key(field);
            upstream.tls = Some(upstream_tls::build(
                &upstream.host,
                raw.upstream_tls.as_ref(),
                self.base,
                &key,
                report,
            )?);
        } else if let Some(settings) = &raw.upstream_tls {
            report.error(
                Some(settings.span()),
                self.key("upstream_tls"),
                "only used with an https:// upstream",
            );
        }
        Some(upstream)
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

    fn public_url(&self, raw: &RawRoute, required: bool, report: &mut Reporter<'_>) -> Option<String> {
        let Some(url) = &raw.public_url else {
            if required {
                report.error(
                    Some(raw.name.span()),
                    self.key("public_url"),
                    "missing: this provider signs the URL it calls, so the route needs `public_url` (scheme and host exactly as registered with the sender, e.g. \"https://hooks.example.com\")",
                );
            }
            return None;
        };
        let text = url.get_ref().trim_end_matches('/');
        match text.parse::<Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.authority().is_some()
                    && uri
                        .path_and_query()
                        .is_none_or(|pq| pq.as_str().is_empty() || pq.as_str() == "/") =>
            {
                Some(text.to_owned())
            }
            _ => {
                report.error(
                    Some(url.span()),
                    self.key("public_url"),
                    format!("`{}` must be a scheme and host only, e.g. \"https://hooks.example.com\" (the request's path and query are appended)", url.get_ref()),
                );
                None
            }
        }
    }

    fn field(&self, raw: &Option<Spanned<String>>, key: &str, report: &mut Reporter<'_>) -> Option<Field> {
        let raw = raw.as_ref()?;
        Field::parse(raw.get_ref())
            .map_err(|e| report.error(Some(raw.span()), self.key(key), e))
            .ok()
    }

    fn filter(
        &self,
        raw: &RawRoute,
        preset_ping: Option<&'static str>,
        knows_event: bool,
        report: &mut Reporter<'_>,
    ) -> Filter {
        if let Some(events) = &raw.events {
            if !knows_event {
                report.error(
                    Some(events.span()),
                    self.key("events"),
                    "the route has no event source: set `event_type` (e.g. \"header:X-Event-Type\")",
                );
            }
            if events.get_ref().is_empty() {
                report.error(
                    Some(events.span()),
                    self.key("events"),
                    "an empty allow-list would refuse every delivery; remove `events` to forward all",
                );
            }
        }
        if let Some(branches) = &raw.branches {
            if branches.get_ref().is_empty() {
                report.error(
                    Some(branches.span()),
                    self.key("branches"),
                    "an empty allow-list would refuse every push; remove `branches` to forward all",
                );
            }
        }
        let answer_ping = raw.answer_ping.as_ref().is_some_and(|a| *a.get_ref());
        if let (Some(flag), None) = (&raw.answer_ping, preset_ping) {
            if *flag.get_ref() {
                report.error(
                    Some(flag.span()),
                    self.key("answer_ping"),
                    "this provider has no test event to answer",
                );
            }
        }
        Filter {
            events: raw.events.as_ref().map(|e| e.get_ref().clone()),
            branches: raw
                .branches
                .as_ref()
                .map(|b| b.get_ref().iter().map(|s| BranchPattern::parse(s)).collect()),
            ping_event: preset_ping.filter(|_| answer_ping),
        }
    }

    fn dedup(&self, raw: &RawRoute, has_id: bool, limits: &RouteLimits, report: &mut Reporter<'_>) -> RouteDedup {
        let asked = raw.dedup.as_ref().map(|d| *d.get_ref());
        if let (Some(true), false) = (asked, has_id) {
            report.error(
                raw.dedup.as_ref().map(Spanned::span),
                self.key("dedup"),
                "the route has no delivery id source: set `delivery_id` (e.g. \"header:X-Request-Id\" or \"json:/id\")",
            );
        }
        if raw.require_delivery_id && !has_id {
            report.error(
                Some(raw.name.span()),
                self.key("require_delivery_id"),
                "the route has no delivery id source: set `delivery_id`",
            );
        }
        let enabled = asked.unwrap_or(has_id) && has_id;
        // The longest a forward can take: connect, write the request, read the answer.
        let longest = limits.connect_timeout + limits.upstream_timeout * 2;
        if enabled && self.in_flight_ttl <= longest {
            report.error(
                Some(raw.name.span()),
                self.key("upstream_timeout"),
                format!(
                    "[dedup] in_flight_ttl ({:?}) must exceed connect_timeout + 2 x upstream_timeout ({longest:?}), or a slow forward's claim expires and a retry is forwarded twice",
                    self.in_flight_ttl
                ),
            );
        }
        RouteDedup {
            enabled,
            policy: raw.dedup_policy.as_ref().map(|p| *p.get_ref()).unwrap_or_default(),
            require_id: raw.require_delivery_id,
            // Set once the verification is known (`Self::build`).
            digest_body: true,
        }
    }

    fn sign_forwarded(&self, raw: &Spanned<raw::RawSignForwarded>, report: &mut Reporter<'_>) -> Option<SignForwarded> {
        let errors_before = report.error_count();
        let built = sign_forwarded::build(raw, &|field| self.key(field), self.env, self.base, report);
        built.filter(|_| report.error_count() == errors_before)
    }
}

/// Whether every scheme of `verification` signs what `field` reads: a JSON
/// field of a signed body, or the header a scheme signs as `{id}`.
fn signs_field(verification: &Verification, field: &Field) -> bool {
    let Verification::Verified { verifier, .. } = verification else {
        return false;
    };
    verifier.schemes().iter().all(|scheme| match (scheme, field) {
        (Scheme::Signature(s), Field::Json(_)) => {
            s.signed.uses(&Part::Body) || s.signed.uses(&Part::FormParams) || s.body_digest_param.is_some()
        }
        (Scheme::Signature(s), Field::Header(name)) => s.signed.uses(&Part::Id) && s.id_header.as_ref() == Some(name),
        (Scheme::Token(_), _) => false,
    })
}

/// The headers a route reads: its credentials, what its schemes sign
/// besides the body (timestamp, id), and its header fields.
fn read_headers<'f>(
    verification: Option<&Verification>,
    credentials: &[HeaderName],
    fields: impl IntoIterator<Item = &'f Option<Field>>,
) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = credentials.to_vec();
    if let Some(Verification::Verified { verifier, .. }) = verification {
        for scheme in verifier.schemes() {
            if let Scheme::Signature(s) = scheme {
                if let Some(TimestampSource::Header(name)) = s.timestamp.as_ref().map(|t| &t.source) {
                    names.push(name.clone());
                }
                names.extend(s.id_header.clone());
            }
        }
    }
    for field in fields.into_iter().flatten() {
        if let Field::Header(name) = field {
            names.push(name.clone());
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    names
}

/// Where a route's credentials are presented: headers and query parameters
/// that `strip_credential` removes.
fn credential_locations(schemes: &[Scheme]) -> (Vec<http::header::HeaderName>, Vec<String>) {
    let mut headers = Vec::new();
    let mut query = Vec::new();
    for scheme in schemes {
        match scheme {
            Scheme::Signature(s) => headers.push(s.header.clone()),
            Scheme::Token(t) => match &t.source {
                TokenSource::Header(name) => headers.push(name.clone()),
                TokenSource::Query(param) => query.push(param.clone()),
                TokenSource::Basic | TokenSource::Bearer => headers.push(http::header::AUTHORIZATION),
            },
        }
    }
    headers.dedup();
    (headers, query)
}

/// The upstream URL: `http://` or `https://`, a host, an optional port and
/// path. Returns it with whether it speaks TLS (its TLS settings are built
/// by the caller).
fn parse_upstream(text: &str) -> Result<(Upstream, bool), String> {
    let uri: Uri = text.parse().map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    let (tls, default_port) = match uri.scheme_str() {
        Some("http") => (false, 80),
        Some("https") => (true, 443),
        _ => return Err(format!("`{text}` must be an http:// or https:// URL")),
    };
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
    let port = authority.port_u16().unwrap_or(default_port);
    let upstream = Upstream {
        address: host
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| std::net::SocketAddr::new(ip, port)),
        host,
        port,
        path,
        tls: None,
    };
    Ok((upstream, tls))
}
