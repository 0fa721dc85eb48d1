//! The admin listener (default `127.0.0.1:9090`, never the public one):
//!
//! - `GET /metrics`: Prometheus text format;
//! - `GET /healthz`: the process is alive;
//! - `GET /readyz`: config loaded, public listeners accepting, the dedup
//!   store answering when some route fails closed without it, and the
//!   delivery queue answering when some route uses it;
//! - `GET /deliveries[?route=NAME&…]`: recent deliveries, newest first,
//!   filtered ([`deliveries`]; the audit records, no body, no secret), and
//!   `GET /deliveries/SEQ`: one, with its head (credentials as `…`);
//! - `GET /routes`: per route, its last 5 minutes and hour ([`console`]);
//! - `/queue…`: the delivery queue, read and operated ([`queue`]);
//! - `GET /`: the deliveries console, a page over the endpoints above.
//!
//! Endpoints that change state (`POST`, `DELETE`) need
//! `Authorization: Bearer <server.admin_token>` when a token is set, and are
//! refused outright without one unless the listener is on loopback. The
//! token travels in a header, never a cookie: a page elsewhere cannot make
//! a browser act with it. Reading what an operator alone should see (a
//! delivery's head, a queued delivery) follows the same rule. The rest
//! (`/metrics`, `/healthz`, `/readyz`, `/routes`, `/deliveries`, the page)
//! holds no credential and stays open, for probes and scrapers.
//!
//! Browsers get two more checks ([`browser_guard`]), because a page on
//! another site can make them send requests here: a request marked as a
//! browser's (`Sec-Fetch-Site` or `Origin`) must name this listener by an
//! IP address, `localhost` or one of `server.admin_hosts` (a DNS-rebinding
//! page names it by its own host), and one that changes state must come
//! from the console's own origin (cross-site forms and `fetch` are
//! refused). No response allows another origin to read it (no CORS), and
//! the console may not be framed.

mod console;
mod deliveries;
mod queue;
mod redact;

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::Method;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use serde_json::json;

use crate::dedup::Policy;
use crate::state::Shared;

const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Sent with every admin response: the console runs only its own script,
/// talks only to this listener, and may not be framed (clickjacking) or
/// leak its URL; nothing is cached (deliveries change, tokens must not
/// linger on disk).
const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
];
const JSON: &str = "application/json";
/// How long `/readyz` waits for a listener to accept.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

pub struct AdminApp {
    shared: Arc<Shared>,
}

impl AdminApp {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// What the admin API answers.
pub(crate) struct Reply {
    status: u16,
    content_type: &'static str,
    body: Cow<'static, str>,
}

impl Reply {
    pub(crate) fn json(status: u16, value: serde_json::Value) -> Self {
        Self {
            status,
            content_type: JSON,
            body: value.to_string().into(),
        }
    }

    pub(crate) fn error(status: u16, message: impl std::fmt::Display) -> Self {
        Self::json(status, json!({ "error": message.to_string() }))
    }
}

#[async_trait]
impl HttpServerApp for AdminApp {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        _shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        match tokio::time::timeout(Duration::from_secs(10), session.read_request()).await {
            Ok(Ok(true)) => {}
            _ => return None,
        }
        let reply = self.reply(&session).await;
        let written = write(&mut session, reply).await.is_ok();
        if !written {
            return None;
        }
        let persistent = HttpPersistentSettings::for_session(&session);
        match session.finish().await {
            Ok(stream) => stream.map(|s| ReusedHttpStream::from_reusable_stream(s, persistent)),
            Err(_) => None,
        }
    }
}

impl AdminApp {
    async fn reply(&self, session: &ServerSession) -> Reply {
        let header = session.req_header();
        let path = header.uri.path();
        let query = header.uri.query().unwrap_or("");
        if let Err(refusal) = browser_guard(header, &self.shared.live().config.server.admin_hosts) {
            return refusal;
        }
        if header.method != Method::GET {
            if let Err(refusal) = self.authorize(header) {
                return refusal;
            }
            return match queue::change(&self.shared, &header.method, path).await {
                Some(reply) => reply,
                None => Reply::error(405, "method not allowed"),
            };
        }
        if let Some(asset) = console::asset(path) {
            return Reply {
                status: 200,
                content_type: asset.content_type,
                body: Cow::Borrowed(asset.body),
            };
        }
        match path {
            "/metrics" => Reply {
                status: 200,
                content_type: PROMETHEUS_TEXT,
                body: self.metrics().await.into(),
            },
            "/healthz" => Reply::json(200, json!({ "status": "alive" })),
            "/readyz" => self.readiness().await,
            "/routes" => console::routes(&self.shared).await,
            "/deliveries" => deliveries::list(&self.shared, query),
            // A delivery's head and a queued delivery (ids, ordering key,
            // headers, a body preview) are for operators: with a token
            // set, reading them needs the token.
            _ if path.starts_with("/deliveries/") => match self.authorize_reading(header) {
                Ok(()) => deliveries::show(&self.shared, &path["/deliveries/".len()..]).await,
                Err(refusal) => refusal,
            },
            _ if path == "/queue" || path.starts_with("/queue/") => match self.authorize_reading(header) {
                Ok(()) => queue::read(&self.shared, path, query).await,
                Err(refusal) => refusal,
            },
            _ => Reply::error(
                404,
                "not found; try /, /metrics, /healthz, /readyz, /routes, /deliveries or /queue",
            ),
        }
    }

    /// Whether a read of what only operators should see may go ahead: the
    /// same rule as a change of state.
    fn authorize_reading(&self, header: &pingora::http::RequestHeader) -> Result<(), Reply> {
        self.authorize(header)
    }

    /// Whether a state-changing request may go ahead.
    fn authorize(&self, header: &pingora::http::RequestHeader) -> Result<(), Reply> {
        let live = self.shared.live();
        let server = &live.config.server;
        match &server.admin_token {
            Some(token) => {
                let presented = header
                    .headers
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
                match presented {
                    Some(presented) if token.token_matches(presented.trim_ascii()) => Ok(()),
                    _ => Err(Reply::error(
                        401,
                        "this endpoint is for operators: send Authorization: Bearer <server.admin_token>",
                    )),
                }
            }
            None if server.admin_listen.as_deref().is_some_and(on_loopback) => Ok(()),
            None => Err(Reply::error(
                403,
                "this endpoint needs server.admin_token when the admin API is not on loopback",
            )),
        }
    }

    async fn metrics(&self) -> String {
        self.shared.metrics.sync_evictions(self.shared.dedup.evictions());
        queue::refresh_gauges(&self.shared).await;
        self.shared.metrics.render()
    }

    async fn readiness(&self) -> Reply {
        let live = self.shared.live();
        let server = &live.config.server;
        let tls_listen = server.tls.iter().flat_map(|t| t.listen.iter());
        let mut listeners = Vec::new();
        for address in server.listen.iter().chain(tls_listen) {
            listeners.push((address.clone(), accepts(address).await));
        }
        let needs_store = live
            .config
            .routes
            .routes()
            .iter()
            .any(|r| r.dedup.enabled && r.dedup.policy == Policy::FailClosed);
        let store = if needs_store {
            Some(self.shared.dedup.ping().await.map_err(|e| e.to_string()))
        } else {
            None
        };
        let queue = if live.config.uses_queue() {
            let reachable = match self.shared.queue.store() {
                Ok(store) => store.ping().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            Some(reachable)
        } else {
            None
        };
        let ready = listeners.iter().all(|(_, up)| *up)
            && store.as_ref().is_none_or(Result::is_ok)
            && queue.as_ref().is_none_or(Result::is_ok);
        let body = json!({
            "ready": ready,
            "config": live.config.source.display().to_string(),
            "listeners": listeners.iter().map(|(a, up)| json!({ "address": a, "accepting": up })).collect::<Vec<_>>(),
            "dedup_store": match &store {
                None => json!("not required (no fail_closed route)"),
                Some(Ok(())) => json!("reachable"),
                Some(Err(e)) => json!(format!("unreachable: {e}")),
            },
            "queue": match &queue {
                None => json!("not used"),
                Some(Ok(())) => json!("reachable"),
                Some(Err(e)) => json!(format!("unreachable: {e}")),
            },
        });
        Reply::json(if ready { 200 } else { 503 }, body)
    }
}

/// The checks a browser's request must pass (see the module doc); other
/// clients do not mark their requests and are not concerned.
fn browser_guard(header: &pingora::http::RequestHeader, admin_hosts: &[String]) -> Result<(), Reply> {
    let text = |name: &str| header.headers.get(name).and_then(|v| v.to_str().ok());
    let fetch_site = text("sec-fetch-site");
    let origin = text("origin");
    if fetch_site.is_none() && origin.is_none() {
        return Ok(());
    }
    let host = text("host").unwrap_or_default();
    if !host_is_trusted(host, admin_hosts) {
        return Err(Reply::error(
            403,
            format!("browsers may use the admin listener by IP address, localhost or a name in server.admin_hosts, not `{host}`"),
        ));
    }
    let reads = header.method == Method::GET || header.method == Method::HEAD;
    let same_site = fetch_site.is_none_or(|site| site == "same-origin" || site == "none");
    let same_origin = origin.is_none_or(|origin| {
        ["http://", "https://"].iter().any(|scheme| {
            origin
                .strip_prefix(scheme)
                .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
        })
    });
    if reads || (same_site && same_origin) {
        Ok(())
    } else {
        Err(Reply::error(
            403,
            "a request from another site may not change state here",
        ))
    }
}

/// Whether `host` (a `Host` header: name or address, and maybe a port)
/// names this listener in a way no other site's page can: an IP address,
/// `localhost`, or a name the operator listed.
fn host_is_trusted(host: &str, admin_hosts: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`.
        Some(rest) => {
            return rest
                .split_once(']')
                .is_some_and(|(v6, _)| v6.parse::<Ipv6Addr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.parse::<Ipv4Addr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || admin_hosts.iter().any(|allowed| name.eq_ignore_ascii_case(allowed))
}

/// Whether a listener accepts connections (a wildcard address is probed on loopback).
async fn accepts(address: &str) -> bool {
    let Ok(mut addr) = address.parse::<SocketAddr>() else {
        return false;
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// Whether an admin listener address is on loopback.
fn on_loopback(address: &str) -> bool {
    address.parse::<SocketAddr>().is_ok_and(|a| a.ip().is_loopback())
}

async fn write(session: &mut ServerSession, reply: Reply) -> pingora::Result<()> {
    let body = match reply.body {
        Cow::Borrowed(text) => Bytes::from_static(text.as_bytes()),
        Cow::Owned(text) => Bytes::from(text),
    };
    let mut response = ResponseHeader::build(reply.status, Some(3 + SECURITY_HEADERS.len()))?;
    response.insert_header(CONTENT_TYPE, reply.content_type)?;
    for (name, value) in SECURITY_HEADERS {
        response.insert_header(name, value)?;
    }
    if reply.status == 401 {
        response.insert_header(http::header::WWW_AUTHENTICATE, "Bearer")?;
    }
    response.insert_header(CONTENT_LENGTH, body.len())?;
    session.write_response_header(Box::new(response)).await?;
    session.write_response_body(body, true).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, headers: &[(&str, &str)]) -> pingora::http::RequestHeader {
        let mut header = pingora::http::RequestHeader::build(method, b"/queue/r/replay", None).expect("head");
        for (name, value) in headers {
            header.insert_header(name.to_string(), *value).expect("header");
        }
        header
    }

    #[test]
    fn hosts_a_rebinding_page_cannot_use() {
        let listed = ["admin.internal".to_owned()];
        for trusted in [
            "127.0.0.1:9090",
            "127.0.0.1",
            "[::1]:9090",
            "[::1]",
            "localhost:9090",
            "LOCALHOST",
            "admin.internal:9090",
        ] {
            assert!(host_is_trusted(trusted, &listed), "{trusted}");
        }
        for untrusted in [
            "evil.example:9090",
            "evil.example",
            "",
            "[evil]:9090",
            "127.0.0.1.evil.example",
        ] {
            assert!(!host_is_trusted(untrusted, &listed), "{untrusted}");
        }
    }

    #[test]
    fn browsers_are_held_to_the_consoles_origin() {
        let allowed = |method, headers: &[(&str, &str)]| browser_guard(&request(method, headers), &[]).is_ok();
        // curl, Prometheus, kubelet: no browser marks.
        assert!(allowed("POST", &[("host", "hooks.internal:9090")]));
        // The console itself.
        assert!(allowed(
            "POST",
            &[
                ("host", "127.0.0.1:9090"),
                ("origin", "http://127.0.0.1:9090"),
                ("sec-fetch-site", "same-origin")
            ]
        ));
        assert!(allowed(
            "GET",
            &[("host", "localhost:9090"), ("sec-fetch-site", "none")]
        ));
        // CSRF: another site's page posting here.
        assert!(!allowed(
            "POST",
            &[
                ("host", "127.0.0.1:9090"),
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "cross-site")
            ]
        ));
        assert!(!allowed("DELETE", &[("host", "127.0.0.1:9090"), ("origin", "null")]));
        // DNS rebinding: the page's own host resolving here.
        assert!(!allowed(
            "GET",
            &[
                ("host", "evil.example:9090"),
                ("origin", "http://evil.example:9090"),
                ("sec-fetch-site", "same-origin")
            ]
        ));
    }
}
