//! Header rewriting at the proxy boundary: hop-by-hop headers are removed in
//! both directions (RFC 9110 §7.6.1), the upstream request is re-framed with a
//! `Content-Length` for the exact body bytes, and `X-Forwarded-For` is extended.

use std::net::IpAddr;

use http::header::{
    HeaderName, CONNECTION, CONTENT_LENGTH, EXPECT, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, Uri, Version};
use pingora::http::{RequestHeader, ResponseHeader};

use crate::config::Route;

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Headers that describe one connection, never the message.
const HOP_BY_HOP: [HeaderName; 8] = [
    CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    TE,
    TRAILER,
    UPGRADE,
    PROXY_AUTHORIZATION,
    PROXY_AUTHENTICATE,
];

/// Hop-by-hop headers plus those the `Connection` header names.
fn hop_by_hop(headers: &HeaderMap) -> Vec<HeaderName> {
    let listed = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok());
    HOP_BY_HOP.iter().cloned().chain(listed).collect()
}

/// The request sent upstream: the client's end-to-end headers, the body's exact
/// length, the route's additions (`sign_forwarded`, `X-Forwarded-For`) and
/// removals (`strip_credential`).
pub fn upstream_request(
    downstream: &RequestHeader,
    route: &Route,
    body: &[u8],
    client_ip: Option<IpAddr>,
) -> pingora::Result<RequestHeader> {
    let mut req = downstream.clone();
    for name in hop_by_hop(&downstream.headers) {
        req.remove_header(&name);
    }
    // The body is complete and its length known: re-frame it with
    // Content-Length. `Expect` was answered by hookfence itself.
    req.remove_header(&TRANSFER_ENCODING);
    req.remove_header(&EXPECT);
    req.insert_header(CONTENT_LENGTH, body.len())?;
    for name in &route.strip_headers {
        req.remove_header(name);
    }
    // Replaces any value the client sent under the same name.
    if let Some(sign) = &route.sign_forwarded {
        req.insert_header(sign.scheme.header.clone(), sign.scheme.sign(&sign.secret, body))?;
    }
    if let Some(ip) = client_ip {
        let forwarded = match downstream.headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(previous) => format!("{previous}, {ip}"),
            None => ip.to_string(),
        };
        req.insert_header(X_FORWARDED_FOR, forwarded)?;
    }
    req.set_version(Version::HTTP_11);
    match &route.upstream.path {
        Some(path) => req.set_raw_path(path.as_bytes())?,
        // Absolute-form targets (`POST http://host/path`) become origin-form;
        // origin-form targets are forwarded byte-for-byte.
        None if !req.raw_path().starts_with(b"/") => {
            let origin = req.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
            req.set_uri(origin.parse::<Uri>().map_err(|e| {
                pingora::Error::because(pingora::ErrorType::InvalidHTTPHeader, "rewriting request target", e)
            })?);
        }
        None => {}
    }
    Ok(req)
}

/// The upstream's response as relayed to the client. Framing headers
/// (`Content-Length`, `Transfer-Encoding`) stay: pingora frames the body from them.
pub fn downstream_response(upstream: &ResponseHeader) -> ResponseHeader {
    let mut resp = upstream.clone();
    for name in hop_by_hop(&upstream.headers) {
        resp.remove_header(&name);
    }
    resp
}
