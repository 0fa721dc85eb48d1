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
use crate::verify::template::Inputs;

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
        let inputs = Inputs {
            body,
            ..Inputs::default()
        };
        // `sign_forwarded` is always an HMAC scheme, which always signs.
        if let Some(value) = sign.scheme.sign(&sign.secret, &inputs) {
            req.insert_header(sign.scheme.header.clone(), value)?;
        }
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
        None if !route.strip_query.is_empty() => {
            let target = without_query_params(req.raw_path(), &route.strip_query);
            req.set_raw_path(&target)?;
        }
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

/// A request target (`/path?a=1&token=x`) without the named query
/// parameters; the rest is kept byte-for-byte.
fn without_query_params(target: &[u8], names: &[String]) -> Vec<u8> {
    let Some(question) = target.iter().position(|&b| b == b'?') else {
        return target.to_vec();
    };
    let (path, query) = (&target[..question], &target[question + 1..]);
    let kept: Vec<&[u8]> = query
        .split(|&b| b == b'&')
        .filter(|pair| {
            let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
            let decoded: String = form_urlencoded::parse(name).map(|(k, _)| k).collect();
            !names.contains(&decoded)
        })
        .collect();
    let mut out = path.to_vec();
    if !kept.is_empty() {
        out.push(b'?');
        out.extend_from_slice(&kept.join(&b'&'));
    }
    out
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

#[cfg(test)]
mod tests {
    use super::without_query_params;

    #[test]
    fn query_credentials_are_removed_and_the_rest_kept() {
        let names = ["token".to_owned()];
        let strip = |t: &str| String::from_utf8(without_query_params(t.as_bytes(), &names)).unwrap();
        assert_eq!(strip("/h?token=x"), "/h");
        assert_eq!(strip("/h?a=1&token=x&b=%20"), "/h?a=1&b=%20");
        assert_eq!(strip("/h?to%6Ben=x&a"), "/h?a", "an encoded name is still the token");
        assert_eq!(strip("/h"), "/h");
    }
}
