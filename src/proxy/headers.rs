//! Header rewriting at the proxy boundary: hop-by-hop headers are removed in
//! both directions (RFC 9110 §7.6.1), the upstream request is re-framed with a
//! `Content-Length` for the exact body bytes, and `X-Forwarded-For` is extended.
//! Everything else passes as it arrived.

use std::net::IpAddr;

use bytes::BytesMut;
use http::header::{HeaderName, CONNECTION};
use http::HeaderMap;
use pingora::http::{RequestHeader, ResponseHeader};

use crate::config::Route;
use crate::verify::display_header_name;
use crate::verify::template::Inputs;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Headers that describe one connection, never the message (lowercase).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
];

/// Request headers hookfence writes itself (framing, `X-Forwarded-For`) or
/// answers itself (`Expect`): the client's are not forwarded (lowercase).
const REWRITTEN: [&str; 4] = ["content-length", "transfer-encoding", "expect", "x-forwarded-for"];

/// Whether `name` is one of `names` (ASCII case-insensitive). The length
/// check first: most names differ in length, which costs one compare.
fn is_one_of<'a>(name: &[u8], names: impl IntoIterator<Item = &'a str>) -> bool {
    names
        .into_iter()
        .any(|n| n.len() == name.len() && name.eq_ignore_ascii_case(n.as_bytes()))
}

/// The header lines of a raw request head, without their line ends: after
/// the request line and any empty lines before it (RFC 9112 §2.2 lets a
/// server skip those, and pingora's parser does, but its raw block keeps
/// them), up to the empty line that ends the head.
pub fn header_lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    let start = raw.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(raw.len());
    raw[start..]
        .split(|&b| b == b'\n')
        .skip(1)
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty())
}

/// Header names a `Connection` header lists as hop-by-hop, as written.
fn connection_listed(headers: &HeaderMap) -> impl Iterator<Item = &str> + '_ {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|token| !token.is_empty())
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
    // Usually empty (no allocation): most senders list nothing beyond `close`.
    let listed: Vec<&str> = connection_listed(&downstream.headers).collect();
    let dropped = |name: &[u8]| {
        is_one_of(name, HOP_BY_HOP)
            || is_one_of(name, REWRITTEN)
            || is_one_of(name, listed.iter().copied())
            || is_one_of(name, route.strip_headers.iter().map(HeaderName::as_str))
            || signature.as_ref().is_some_and(|(h, _)| is_one_of(name, [h.as_str()]))
    };

    let mut wire = BytesMut::with_capacity(raw_header.len() + 128);
    wire.extend_from_slice(downstream.method.as_str().as_bytes());
    wire.extend_from_slice(b" ");
    wire.extend_from_slice(&target(downstream, route));
    wire.extend_from_slice(b" HTTP/1.1\r\n");
    for line in header_lines(raw_header) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if !dropped(&line[..colon]) {
            wire.extend_from_slice(line);
            wire.extend_from_slice(b"\r\n");
        }
    }
    let add = |wire: &mut BytesMut, name: &[u8], value: &[u8]| {
        wire.extend_from_slice(name);
        wire.extend_from_slice(b": ");
        wire.extend_from_slice(value);
        wire.extend_from_slice(b"\r\n");
    };
    add(
        &mut wire,
        b"Content-Length",
        itoa::Buffer::new().format(body.len()).as_bytes(),
    );
    if let Some(ip) = client_ip {
        // Every earlier hop is kept, however many lines it came in.
        wire.extend_from_slice(b"X-Forwarded-For: ");
        for previous in downstream.headers.get_all(&X_FORWARDED_FOR) {
            wire.extend_from_slice(previous.as_bytes());
            wire.extend_from_slice(b", ");
        }
        put_ip(&mut wire, ip);
        wire.extend_from_slice(b"\r\n");
    }
    if let Some((name, value)) = &signature {
        add(
            &mut wire,
            display_header_name(name.as_str()).as_bytes(),
            value.as_bytes(),
        );
    }
    wire.extend_from_slice(b"\r\n");
    wire
}

/// Writes an address in its usual text form; IPv4, the common case,
/// without going through `Display` and the formatter (a tenth of the
/// header serialisation's instructions, by callgrind).
fn put_ip(wire: &mut BytesMut, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    wire.extend_from_slice(b".");
                }
                wire.extend_from_slice(digits.format(octet).as_bytes());
            }
        }
        IpAddr::V6(v6) => wire.extend_from_slice(v6.to_string().as_bytes()),
    }
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
    // Only the hop-by-hop headers actually present are removed: removing a
    // name hashes it, and an answer usually carries one (`Connection`).
    let listed: Vec<&str> = connection_listed(&upstream.headers).collect();
    for name in upstream.headers.keys() {
        let bytes = name.as_str().as_bytes();
        if is_one_of(bytes, HOP_BY_HOP) || is_one_of(bytes, listed.iter().copied()) {
            resp.remove_header(name);
        }
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
        // Empty lines before the request line may be skipped by a server (RFC 9112 §2.2).
        let raw = b"\r\nPOST /hooks/gl?token=t&x=1 HTTP/1.1\r\nHost: hooks.example.com\r\nX-Gitlab-Token: secret\r\nconnection: keep-alive, X-Hop\r\nX-Hop: gone\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\nX-CamelCase: Kept As Is\r\nX-Hookfence-Signature-256: forged\r\n\r\n";
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
        assert_eq!(
            lines[4], "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 127.0.0.9",
            "every earlier hop kept"
        );
        let expected = crate::verify::algorithm::Algorithm::Sha256.mac_bytes(b"forward-secret", body);
        assert_eq!(
            lines[5],
            format!("X-Hookfence-Signature-256: sha256={}", hex::encode(expected.as_bytes()))
        );
        assert_eq!(&lines[6..], ["", ""], "{text}");
    }
    #[test]
    fn hop_by_hop_headers_of_the_answer_are_not_relayed() {
        let mut upstream = ResponseHeader::build(200, None).unwrap();
        for (name, value) in [
            ("Content-Type", "application/json"),
            ("Connection", "keep-alive, X-Upstream-Hop"),
            ("Keep-Alive", "timeout=5"),
            ("X-Upstream-Hop", "1"),
            ("Content-Length", "2"),
            ("X-Request-Id", "abc"),
        ] {
            upstream.append_header(name, value).unwrap();
        }
        let relayed = downstream_response(&upstream);
        let mut names: Vec<&str> = relayed.headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-length", "content-type", "x-request-id"]);
        assert_eq!(relayed.status, 200);
    }

    #[test]
    fn addresses_are_written_in_their_usual_form() {
        for text in [
            "127.0.0.9",
            "0.0.0.0",
            "255.255.255.255",
            "10.20.3.100",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.1",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            let mut wire = BytesMut::new();
            put_ip(&mut wire, ip);
            assert_eq!(&wire[..], text.as_bytes());
        }
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
