//! Header rewriting at the proxy boundary: hop-by-hop headers are removed in
//! both directions (RFC 9110 §7.6.1), the upstream request is re-framed with a
//! `Content-Length` for the exact body bytes, and `X-Forwarded-For` is extended.
//! Everything else passes as it arrived: names in their case, in their order,
//! values byte for byte.

use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::config::{Route, Verification};
use crate::header_lines::names_equal;
use crate::http1::answer::{put_status_line, Persistence};
use crate::http1::framing::BodyRelay;
use crate::http1::head::connection_tokens;
use crate::http1::{RequestHead, ResponseHead};
use crate::proxy::context::DeliveryContext;
use crate::upstream::{put_header, Request};

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

/// Whether `name` is one of `names` (ASCII case-insensitive).
fn is_one_of<'a>(name: &[u8], names: impl IntoIterator<Item = &'a [u8]>) -> bool {
    names.into_iter().any(|n| names_equal(name, n))
}

fn listed(names: &'static [&'static str]) -> impl Iterator<Item = &'static [u8]> {
    names.iter().map(|n| n.as_bytes())
}

/// The request to send upstream, owned (the queue stores it): the
/// request line's method and target, the client's end-to-end header lines
/// as they arrived, `X-Forwarded-For` extended, and the exact body.
/// Hop-by-hop headers, framing headers (`Content-Length` is written from
/// the body when sent), `Expect` (answered by hookfence itself), the
/// route's `strip_credential` removals and any client copy of the header
/// `sign_forwarded` writes are left out. With a trace, the client's
/// `traceparent` is replaced by hookfence's, and its `tracestate` is
/// dropped when the trace was started here. Any `X-Hookfence-*` header the
/// client sent is dropped: only hookfence's own marks (see [`marks`]) reach
/// the upstream.
pub fn upstream_request(
    request: &RequestHead,
    route: &Route,
    body: Bytes,
    client_ip: Option<IpAddr>,
    ctx: &DeliveryContext<'_>,
) -> Request {
    let trace = ctx.trace.as_ref();
    let headers = request.headers();
    // Usually empty (no allocation): most senders list nothing beyond `close`.
    let named_by_connection: Vec<&[u8]> = if request.connection_names_headers {
        connection_tokens(headers).collect()
    } else {
        Vec::new()
    };
    // An absolute-form target's authority is the request's host (RFC 9112
    // §3.2.2), whatever `Host` said.
    let authority = request.authority();
    let dropped = |name: &[u8]| {
        if names_equal(name, b"host") {
            // Never dropped because `Connection` names it.
            return authority.is_some();
        }
        is_one_of(name, listed(&HOP_BY_HOP))
            || is_one_of(name, listed(&REWRITTEN))
            // `Connection` cannot take away what the route reads: a backend
            // that verifies again needs the same credential and ids.
            || (is_one_of(name, named_by_connection.iter().copied())
                && !is_one_of(name, route.read_headers.iter().map(|h| h.as_str().as_bytes())))
            || is_one_of(name, route.strip_headers.iter().map(|h| h.as_str().as_bytes()))
            || route.sign_forwarded.as_ref().is_some_and(|sign| sign.writes(name))
            || trace.is_some_and(|t| {
                names_equal(name, b"traceparent") || (t.started() && names_equal(name, b"tracestate"))
            })
            || name.get(..HOOKFENCE_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(HOOKFENCE_PREFIX))
    };

    // Room for hookfence's own lines: X-Forwarded-For, traceparent and the
    // marks (a reallocation here cost a tenth of this function).
    let mut lines = BytesMut::with_capacity(request_head_size(request) + 384);
    match authority {
        Some(authority) => put_header(&mut lines, b"Host", authority),
        // HTTP/1.0 may come without one; HTTP/1.1, which goes upstream, may not.
        None if !request.has_host => put_header(&mut lines, b"Host", route.upstream.address().as_bytes()),
        None => {}
    }
    for (name, value) in headers.iter() {
        if !dropped(name) {
            put_header(&mut lines, name, value);
        }
    }
    if let Some(ip) = client_ip {
        // Every earlier hop is kept, however many lines it came in.
        lines.put_slice(b"X-Forwarded-For: ");
        for previous in headers.get_all("x-forwarded-for") {
            lines.put_slice(previous);
            lines.put_slice(b", ");
        }
        put_ip(&mut lines, ip);
        lines.put_slice(b"\r\n");
    }
    if let Some(trace) = trace {
        put_header(&mut lines, b"traceparent", &trace.traceparent());
    }
    marks(&mut lines, route, ctx);
    Request {
        method: request.method.clone(),
        target: target(request, route),
        headers: lines.freeze(),
        body,
    }
}

/// The prefix of the headers only hookfence writes (compared without case).
const HOOKFENCE_PREFIX: &[u8] = b"x-hookfence-";

/// What hookfence tells the backend, the same for every provider:
/// `X-Hookfence-Verified: true` when the delivery passed the route's
/// checks, else `false` with `X-Hookfence-Unverified-Reason` (a shadow
/// route's refusal, e.g. `rejected_bad_signature`, or `unsigned_route`);
/// `X-Hookfence-Provider` (the preset, `custom` or `unsigned`);
/// `X-Hookfence-Event` and `X-Hookfence-Delivery-Id` when the route reads
/// them. (`X-Hookfence-Delivery` is the queue's own id, added per attempt.)
fn marks(lines: &mut BytesMut, route: &Route, ctx: &DeliveryContext<'_>) {
    let unverified = match (&route.verification, ctx.shadow) {
        (Verification::Unsigned, _) => Some("unsigned_route"),
        (_, Some(refusal)) => Some(refusal.as_str()),
        _ => None,
    };
    put_header(
        lines,
        b"X-Hookfence-Verified",
        if unverified.is_some() { b"false" } else { b"true" },
    );
    if let Some(reason) = unverified {
        put_header(lines, b"X-Hookfence-Unverified-Reason", reason.as_bytes());
    }
    put_header(lines, b"X-Hookfence-Provider", route.provider_label().as_bytes());
    for (name, value) in [
        (&b"X-Hookfence-Event"[..], &ctx.event),
        (&b"X-Hookfence-Delivery-Id"[..], &ctx.delivery_id),
    ] {
        // Read from the request (a JSON body, on a shadow route perhaps a
        // forged one): written only if it is a plain header value, so it
        // can never start a header line of its own.
        if let Some(value) = value.as_deref().filter(|v| is_plain_value(v.as_bytes())) {
            put_header(lines, name, value.as_bytes());
        }
    }
}

/// Visible ASCII and inner spaces, at most 256 bytes.
pub fn is_plain_value(value: &[u8]) -> bool {
    (1..=256).contains(&value.len())
        && value.iter().all(|b| matches!(b, 0x21..=0x7e | b' '))
        && value.first() != Some(&b' ')
        && value.last() != Some(&b' ')
}

/// Roughly the size of the request's head, to size the serialised copy.
fn request_head_size(request: &RequestHead) -> usize {
    request
        .headers()
        .iter()
        .map(|(n, v)| n.len() + v.len() + 4)
        .sum::<usize>()
        + request.target().len()
        + 32
}

/// Writes an address in its usual text form; IPv4, the common case,
/// without going through `Display` and the formatter.
fn put_ip(wire: &mut BytesMut, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    wire.put_u8(b'.');
                }
                wire.put_slice(digits.format(octet).as_bytes());
            }
        }
        IpAddr::V6(v6) => wire.put_slice(v6.to_string().as_bytes()),
    }
}

/// The client's target byte for byte, in origin form, without the query
/// parameters `strip_credential` removes. (A route's upstream path, if it
/// has one, replaces it when sent.)
fn target(request: &RequestHead, route: &Route) -> Bytes {
    let origin_form = request.origin_form().as_bytes();
    if route.strip_query.is_empty() {
        Bytes::copy_from_slice(origin_form)
    } else {
        Bytes::from(without_query_params(origin_form, &route.strip_query))
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

/// The head of the upstream's answer as relayed to the client: its status
/// and reason, its end-to-end headers as they arrived, and what hookfence
/// says about the client's connection.
pub fn client_response(answer: &ResponseHead, persistence: Persistence, relay: BodyRelay) -> BytesMut {
    let headers = answer.headers();
    let named_by_connection: Vec<&[u8]> = connection_tokens(headers)
        .filter(|t| !names_equal(t, b"close") && !names_equal(t, b"keep-alive"))
        .collect();
    let dropped = |name: &[u8]| {
        is_one_of(name, listed(&HOP_BY_HOP))
            || is_one_of(name, named_by_connection.iter().copied())
            || (relay == BodyRelay::Dechunked && names_equal(name, b"transfer-encoding"))
            // Framed both ways: the chunked framing is what is relayed.
            || (answer.length_and_encoding && names_equal(name, b"content-length"))
    };
    let size: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    let mut out = BytesMut::with_capacity(size + 64);
    put_status_line(&mut out, answer.status, answer.reason());
    for (name, value) in headers.iter() {
        if !dropped(name) {
            put_header(&mut out, name, value);
        }
    }
    if relay == BodyRelay::Rechunked {
        out.put_slice(b"Transfer-Encoding: chunked\r\n");
    }
    out.put_slice(persistence.header_line());
    out.put_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::path::Path;

    use super::*;
    use crate::config::Config;
    use crate::trace_context::TraceContext;

    fn no_context() -> DeliveryContext<'static> {
        DeliveryContext::new(String::new(), String::new())
    }

    fn config(extra: &str) -> Config {
        let source = format!(
            "[server]\nlisten = \"127.0.0.1:1\"\n[[routes]]\nname = \"r\"\npath = \"/hooks/*\"\nupstream = \"http://127.0.0.1:2\"\nprovider = \"gitlab\"\nsecrets = [\"env:T\"]\n{extra}"
        );
        Config::parse(Path::new("t.toml"), &source, &|_| Some("forward-secret".into())).unwrap()
    }

    fn request(raw: &[u8]) -> RequestHead {
        RequestHead::parse(&mut BytesMut::from(raw)).unwrap().unwrap()
    }

    #[test]
    fn the_upstream_request_keeps_end_to_end_header_lines_as_they_arrived() {
        let head = request(b"\r\nPOST /hooks/gl?token=t&x=1 HTTP/1.1\r\nHost: hooks.example.com\r\nX-Gitlab-Token: secret\r\nconnection: keep-alive, X-Hop\r\nX-Hop: gone\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\nX-CamelCase: Kept As Is\r\nX-Hookfence-Signature-256: forged\r\n\r\n");
        let config = config(
            "strip_credential = true\nsign_forwarded = { header = \"X-Hookfence-Signature-256\", secret = \"env:F\" }",
        );
        let route = &config.routes.routes()[0];
        let body = b"{}";
        let forwarded = upstream_request(
            &head,
            route,
            Bytes::from_static(body),
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9))),
            &no_context(),
        );
        let signature = route
            .sign_forwarded
            .as_ref()
            .unwrap()
            .header_lines(body, "id", std::time::SystemTime::now());
        let wire = forwarded.head_for(&route.upstream, &[(&signature[0].0, &signature[0].1)]);
        let text = String::from_utf8(wire.to_vec()).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines[0], "POST /hooks/gl?token=t&x=1 HTTP/1.1",
            "GitLab's credential is a header"
        );
        assert_eq!(lines[1], "Host: hooks.example.com");
        assert_eq!(lines[2], "X-CamelCase: Kept As Is", "case and value kept");
        assert_eq!(
            lines[3], "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 127.0.0.9",
            "every earlier hop kept"
        );
        assert_eq!(
            &lines[4..6],
            ["X-Hookfence-Verified: true", "X-Hookfence-Provider: gitlab"],
            "hookfence's marks, not the client's"
        );
        assert_eq!(lines[6], "Content-Length: 2");
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(b"forward-secret").unwrap();
        hmac::Mac::update(&mut mac, body);
        let expected = hmac::Mac::finalize(mac).into_bytes();
        assert_eq!(
            lines[7],
            format!("X-Hookfence-Signature-256: sha256={}", hex::encode(expected))
        );
        assert_eq!(&lines[8..], ["", ""], "{text}");
    }

    #[test]
    fn the_forwarded_host_is_the_one_the_request_names() {
        let config = config("");
        let route = &config.routes.routes()[0];
        let forwarded = |raw: &[u8]| {
            let forwarded = upstream_request(&request(raw), route, Bytes::new(), None, &no_context());
            String::from_utf8(forwarded.head_for(&route.upstream, &[]).to_vec()).unwrap()
        };
        // Absolute form: the target's authority wins over `Host`.
        let wire = forwarded(b"POST HTTP://hooks.example.com/hooks/a?b=1 HTTP/1.1\r\nHost: elsewhere\r\n\r\n");
        assert!(
            wire.starts_with("POST /hooks/a?b=1 HTTP/1.1\r\nHost: hooks.example.com\r\nX-Hookfence-Verified: true\r\n"),
            "{wire}"
        );
        // HTTP/1.0 without `Host` goes upstream as HTTP/1.1, which needs one.
        let wire = forwarded(b"POST /hooks/a HTTP/1.0\r\n\r\n");
        assert!(
            wire.starts_with("POST /hooks/a HTTP/1.1\r\nHost: 127.0.0.1:2\r\n"),
            "{wire}"
        );
        // `Connection` cannot take `Host` away.
        let wire = forwarded(b"POST /hooks/a HTTP/1.1\r\nHost: kept\r\nConnection: host, x-a\r\nX-A: 1\r\n\r\n");
        assert!(wire.contains("\r\nHost: kept\r\n") && !wire.contains("X-A"), "{wire}");
    }

    fn answer(raw: &[u8]) -> ResponseHead {
        ResponseHead::parse(&mut BytesMut::from(raw), false).unwrap().unwrap()
    }

    #[test]
    fn hop_by_hop_headers_of_the_answer_are_not_relayed() {
        let upstream = answer(b"HTTP/1.1 200 Fine\r\nContent-Type: application/json\r\nConnection: keep-alive, X-Upstream-Hop\r\nKeep-Alive: timeout=5\r\nX-Upstream-Hop: 1\r\nContent-Length: 2\r\nX-Request-Id: abc\r\n\r\n");
        let relayed = client_response(&upstream, Persistence::Implied, BodyRelay::AsFramed);
        assert_eq!(
            &relayed[..],
            &b"HTTP/1.1 200 Fine\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-Request-Id: abc\r\n\r\n"[..]
        );
        let closing = client_response(&upstream, Persistence::Close, BodyRelay::AsFramed);
        assert!(closing.ends_with(b"X-Request-Id: abc\r\nConnection: close\r\n\r\n"));
    }

    #[test]
    fn dechunked_and_doubly_framed_answers_lose_their_stale_framing_headers() {
        let chunked = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n");
        let relayed = client_response(&chunked, Persistence::Close, BodyRelay::Dechunked);
        assert_eq!(
            &relayed[..],
            &b"HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: close\r\n\r\n"[..]
        );
        let both = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
        let relayed = client_response(&both, Persistence::Implied, BodyRelay::AsFramed);
        assert_eq!(
            &relayed[..],
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..]
        );
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
    #[test]
    fn the_traceparent_forwarded_is_hookfences_and_a_restarted_trace_drops_tracestate() {
        let config = config("");
        let route = &config.routes.routes()[0];
        let forwarded = |raw: &[u8]| {
            let head = request(raw);
            let trace = TraceContext::of(head.headers());
            let mut ctx = no_context();
            ctx.trace = Some(trace);
            let wire = upstream_request(&head, route, Bytes::new(), None, &ctx);
            (trace, String::from_utf8(wire.headers.to_vec()).unwrap())
        };
        let sender = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (trace, lines) = forwarded(
            format!(
                "POST /hooks/a HTTP/1.1\r\nHost: h\r\ntraceparent: {sender}\r\ntracestate: congo=t61rcWkgMzE\r\n\r\n"
            )
            .as_bytes(),
        );
        assert!(!trace.started());
        assert_eq!(lines.matches("traceparent").count(), 1, "{lines}");
        let ours = format!(
            "traceparent: {}\r\n",
            std::str::from_utf8(&trace.traceparent()).unwrap()
        );
        assert!(lines.contains(&ours), "{lines}");
        assert!(ours.starts_with("traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(!ours.contains("00f067aa0ba902b7"), "hookfence's own span is the parent");
        assert!(lines.contains("tracestate: congo=t61rcWkgMzE\r\n"), "{lines}");

        let (trace, lines) = forwarded(
            b"POST /hooks/a HTTP/1.1\r\nHost: h\r\ntraceparent: garbage\r\ntracestate: congo=t61rcWkgMzE\r\n\r\n",
        );
        assert!(trace.started());
        assert_eq!(lines.matches("traceparent").count(), 1, "{lines}");
        assert!(
            !lines.contains("tracestate"),
            "the broken trace's state is dropped: {lines}"
        );
    }
}
