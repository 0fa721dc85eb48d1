//! Header rewriting at the proxy boundary: hop-by-hop headers are removed in
//! both directions (RFC 9110 §7.6.1), the upstream request is re-framed with a
//! `Content-Length` for the exact body bytes, and `X-Forwarded-For` is extended.
//! Everything else passes as it arrived.

use std::net::IpAddr;

use bytes::BytesMut;
use http::header::{
    HeaderName, CONNECTION, CONTENT_LENGTH, EXPECT, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};
use http::HeaderMap;
use pingora::http::{RequestHeader, ResponseHeader};

use crate::config::Route;
use crate::verify::display_header_name;
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
    HOP_BY_HOP.iter().cloned().chain(connection_listed(headers)).collect()
}

/// Header names a `Connection` header lists as hop-by-hop.
fn connection_listed(headers: &HeaderMap) -> impl Iterator<Item = HeaderName> + '_ {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
}

/// The request sent upstream, serialised: the request line, the client's
/// end-to-end header lines exactly as they arrived (name case and order
/// kept), then the body's exact length and the route's additions
/// (`sign_forwarded`, `X-Forwarded-For`). Hop-by-hop headers, framing
/// headers, `Expect` (answered by hookfence itself) and the route's
/// `strip_credential` removals are left out.
///
/// Built from pingora's raw header block rather than by cloning and editing
/// a header map: one buffer, no per-header allocation.
pub fn upstream_request(
    downstream: &RequestHeader,
    raw_header: &[u8],
    route: &Route,
    body: &[u8],
    client_ip: Option<IpAddr>,
) -> BytesMut {
    let signature = route.sign_forwarded.as_ref().and_then(|sign| {
        let inputs = Inputs {
            body,
            ..Inputs::default()
        };
        // `sign_forwarded` is always an HMAC scheme, which always signs.
        sign.scheme
            .sign(&sign.secret, &inputs)
            .map(|value| (&sign.scheme.header, value))
    });
    let listed: Vec<HeaderName> = connection_listed(&downstream.headers).collect();
    let dropped = |name: &[u8]| {
        let is = |h: &HeaderName| name.eq_ignore_ascii_case(h.as_str().as_bytes());
        HOP_BY_HOP.iter().any(is)
            || [CONTENT_LENGTH, TRANSFER_ENCODING, EXPECT, X_FORWARDED_FOR]
                .iter()
                .any(is)
            || listed.iter().any(is)
            || route.strip_headers.iter().any(is)
            || signature.as_ref().is_some_and(|(h, _)| is(h))
    };

    let mut wire = BytesMut::with_capacity(raw_header.len() + 128);
    wire.extend_from_slice(downstream.method.as_str().as_bytes());
    wire.extend_from_slice(b" ");
    wire.extend_from_slice(&target(downstream, route));
    wire.extend_from_slice(b" HTTP/1.1\r\n");
    // The first line of the raw block is the request line.
    for line in raw_header.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if !dropped(&line[..colon]) {
            wire.extend_from_slice(line);
            wire.extend_from_slice(b"\r\n");
        }
    }
    let mut add = |name: &[u8], value: &[u8]| {
        wire.extend_from_slice(name);
        wire.extend_from_slice(b": ");
        wire.extend_from_slice(value);
        wire.extend_from_slice(b"\r\n");
    };
    add(b"Content-Length", body.len().to_string().as_bytes());
    if let Some(ip) = client_ip {
        let previous = downstream.headers.get(&X_FORWARDED_FOR).map(|v| v.as_bytes());
        let forwarded = match previous {
            Some(previous) => [previous, b", ", ip.to_string().as_bytes()].concat(),
            None => ip.to_string().into_bytes(),
        };
        add(b"X-Forwarded-For", &forwarded);
    }
    if let Some((name, value)) = &signature {
        add(display_header_name(name.as_str()).as_bytes(), value.as_bytes());
    }
    wire.extend_from_slice(b"\r\n");
    wire
}

/// The upstream request target: the route's upstream path if it has one;
/// else the client's target byte for byte, in origin form, without the
/// query parameters `strip_credential` removes.
fn target(downstream: &RequestHeader, route: &Route) -> Vec<u8> {
    if let Some(path) = &route.upstream.path {
        return path.as_bytes().to_vec();
    }
    let raw = downstream.raw_path();
    // Absolute-form targets (`POST http://host/path`) become origin-form.
    let origin = if raw.starts_with(b"/") {
        raw.to_vec()
    } else {
        downstream
            .uri
            .path_and_query()
            .map_or(b"/".to_vec(), |pq| pq.as_str().as_bytes().to_vec())
    };
    if route.strip_query.is_empty() {
        origin
    } else {
        without_query_params(&origin, &route.strip_query)
    }
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
    use std::net::Ipv4Addr;
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn config(extra: &str) -> Config {
        let source = format!(
            "[server]\nlisten = \"127.0.0.1:1\"\n[[routes]]\nname = \"r\"\npath = \"/hooks/*\"\nupstream = \"http://127.0.0.1:2\"\nprovider = \"gitlab\"\nsecrets = [\"env:T\"]\n{extra}"
        );
        Config::parse(Path::new("t.toml"), &source, &|_| Some("forward-secret".into())).unwrap()
    }

    #[test]
    fn the_upstream_request_keeps_end_to_end_header_lines_as_they_arrived() {
        let raw = b"POST /hooks/gl?token=t&x=1 HTTP/1.1\r\nHost: hooks.example.com\r\nX-Gitlab-Token: secret\r\nconnection: keep-alive, X-Hop\r\nX-Hop: gone\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 10.0.0.1\r\nX-CamelCase: Kept As Is\r\nX-Hookfence-Signature-256: forged\r\n\r\n";
        let mut downstream = RequestHeader::build("POST", b"/hooks/gl?token=t&x=1", None).unwrap();
        for line in raw.split(|&b| b == b'\n').skip(1) {
            let line = std::str::from_utf8(line).unwrap().trim_end();
            if let Some((name, value)) = line.split_once(": ") {
                downstream.append_header(name.to_owned(), value).unwrap();
            }
        }
        let config = config(
            "strip_credential = true\nsign_forwarded = { header = \"X-Hookfence-Signature-256\", secret = \"env:F\" }",
        );
        let route = &config.routes.routes()[0];
        let body = b"{}";
        let wire = upstream_request(
            &downstream,
            raw,
            route,
            body,
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9))),
        );
        let text = String::from_utf8(wire.to_vec()).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "POST /hooks/gl?token=t&x=1 HTTP/1.1");
        assert_eq!(lines[1], "Host: hooks.example.com");
        assert_eq!(lines[2], "X-CamelCase: Kept As Is", "case and value kept");
        assert_eq!(lines[3], "Content-Length: 2");
        assert_eq!(lines[4], "X-Forwarded-For: 10.0.0.1, 127.0.0.9");
        let expected = crate::verify::algorithm::Algorithm::Sha256.mac_bytes(b"forward-secret", body);
        assert_eq!(
            lines[5],
            format!("X-Hookfence-Signature-256: sha256={}", hex::encode(expected.as_bytes()))
        );
        assert_eq!(&lines[6..], ["", ""], "{text}");
    }
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
