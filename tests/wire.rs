//! hookfence's own HTTP/1 handling against the real binary, on the edges the
//! other suites do not reach: bodies that trickle in, pipelining after a
//! chunked body, framing hookfence refuses, answers delimited by the
//! upstream closing, HEAD, HTTP/1.0 (keep-alive, no `Host`, chunked
//! answers), and closing a connection whose body was never read without
//! resetting the client.

mod support;

use std::thread;
use std::time::Duration;

use serde_json::json;

use support::{github_signature, Behaviour, Client, Hookfence, Upstream};

const SECRET: &str = "wire-secret";

fn start(upstream: &Upstream, extra: &str) -> Hookfence {
    let routes = format!(
        "[[routes]]\nname = \"github\"\npath = \"/hooks/github\"\nupstream = \"{}\"\nprovider = \"github\"\nsecrets = [\"env:GH\"]\ndedup = false\n{extra}\n",
        upstream.url()
    );
    Hookfence::start("", &routes, &[("GH", SECRET)])
}

/// A signed delivery's head (ending in its empty line) for `body`, with
/// `extra` header lines.
fn head(body: &[u8], extra: &str) -> String {
    format!(
        "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {}\r\nContent-Length: {}\r\n{extra}\r\n",
        github_signature(SECRET.as_bytes(), body),
        body.len()
    )
}

#[test]
fn a_body_that_trickles_in_after_its_head_arrives_whole() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "");
    let body: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let mut client = Client::connect(hookfence.addr);
    client.send(head(&body, "").as_bytes());
    for part in body.chunks(7_000) {
        thread::sleep(Duration::from_millis(30));
        client.send(part);
    }
    assert_eq!(client.response().status, 200);
    assert_eq!(upstream.requests()[0].body, body);
}

#[test]
fn a_head_that_trickles_in_is_read_whole() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "");
    let body = b"{}";
    let mut bytes = format!("\r\n{}", head(body, "")).into_bytes();
    bytes.extend_from_slice(body);
    let mut client = Client::connect(hookfence.addr);
    // Split inside the request line, inside a header, and inside the final
    // empty line.
    for part in [
        &bytes[..9],
        &bytes[9..40],
        &bytes[40..bytes.len() - 3],
        &bytes[bytes.len() - 3..],
    ] {
        client.send(part);
        thread::sleep(Duration::from_millis(30));
    }
    assert_eq!(client.response().status, 200);
    assert_eq!(upstream.requests()[0].body, body);
}

#[test]
fn pipelined_requests_after_a_chunked_body_are_served_in_order() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "");
    let first = b"{\"n\":1}";
    let mut bytes = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {}\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\n{{\"n\r\n4\r\n\":1}}\r\n0\r\nX-Trailer: dropped\r\n\r\n",
        github_signature(SECRET.as_bytes(), first)
    )
    .into_bytes();
    let second = b"{\"n\":2}";
    bytes.extend_from_slice(head(second, "Connection: close\r\n").as_bytes());
    bytes.extend_from_slice(second);
    let mut client = Client::connect(hookfence.addr);
    client.send(&bytes);
    assert_eq!([client.response().status, client.response().status], [200, 200]);
    let seen = upstream.wait_for_requests(2);
    assert_eq!(seen[0].body, first);
    assert_eq!(seen[0].header("x-trailer"), None, "trailers are not forwarded");
    assert_eq!(seen[1].body, second);
    assert!(client.is_closed());
}

#[test]
fn requests_without_exactly_one_host_are_refused() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "");
    for hosts in ["", "Host: a\r\nHost: b\r\n"] {
        let mut client = Client::connect(hookfence.addr);
        client.send(format!("POST /hooks/github HTTP/1.1\r\n{hosts}Content-Length: 2\r\n\r\n{{}}").as_bytes());
        let response = client.response();
        assert_eq!(response.status, 400, "{hosts:?}");
        assert_eq!(response.json(), json!({ "error": "missing or repeated Host header" }));
        assert!(client.is_closed());
    }
    assert_eq!(upstream.connections(), 0);
}

#[test]
fn transfer_codings_other_than_chunked_alone_are_refused() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "");
    for (coding, status, error) in [
        ("gzip, chunked", 501, "unsupported Transfer-Encoding"),
        ("chunked, gzip", 400, "invalid Transfer-Encoding"),
        ("identity", 400, "invalid Transfer-Encoding"),
    ] {
        let mut client = Client::connect(hookfence.addr);
        client.send(
            format!(
                "POST /hooks/github HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {coding}\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
            )
            .as_bytes(),
        );
        let response = client.response();
        assert_eq!(
            (response.status, response.json()),
            (status, json!({ "error": error })),
            "{coding}"
        );
        assert!(client.is_closed(), "{coding}");
    }
    assert_eq!(upstream.connections(), 0);
}

#[test]
fn a_client_still_sending_a_refused_body_is_not_reset() {
    // hookfence refuses a body it will not read (too large) and closes the
    // connection. A client that writes its whole body before it reads the
    // answer (many HTTP libraries do) would see its writes fail with a reset
    // — and report that, not the 413 — if the socket were closed with its
    // bytes unread. hookfence reads and drops what the client still sends
    // for a while (up to 2 s and 1 MiB) before closing.
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "max_body = \"1KiB\"");
    let body = vec![b'x'; 512 * 1024];
    let mut client = Client::connect(hookfence.addr);
    let head = head(&body, "");
    client.send(head.as_bytes());
    let response = client.response();
    assert_eq!(response.status, 413);
    assert_eq!(response.header("connection"), Some("close"));
    // The body the client started goes out without a reset, then the
    // connection ends cleanly.
    for part in body.chunks(64 * 1024) {
        assert!(client.try_send(part), "the client was reset while sending its body");
        thread::sleep(Duration::from_millis(10));
    }
    assert!(client.is_closed());
    assert_eq!(upstream.connections(), 0);
}

#[test]
fn an_answer_delimited_by_the_upstream_closing_reaches_http11_clients_chunked() {
    // No length: the upstream ends the answer by closing. An HTTP/1.1 client
    // gets it chunked, so that it sees where it ends and keeps its
    // connection; the interim answer before it is not relayed.
    let upstream = Upstream::start(Behaviour::Raw(
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\nHTTP/1.1 200 OK\r\nX-Kind: close-delimited\r\n\r\nevery byte until the end",
    ));
    let hookfence = start(&upstream, "");
    let body = b"{}";
    let mut client = Client::connect(hookfence.addr);
    let mut bytes = head(body, "").into_bytes();
    bytes.extend_from_slice(body);
    let response = client.send(&bytes).response();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(response.header("x-kind"), Some("close-delimited"));
    assert_eq!(response.body_str(), "every byte until the end");
    // The connection is still good for the next delivery.
    upstream.set_behaviour(Behaviour::Respond(200));
    assert_eq!(client.send(&bytes).response().status, 200);
}

#[test]
fn an_answer_delimited_by_the_upstream_closing_reaches_http10_clients_as_it_is() {
    let upstream = Upstream::start(Behaviour::Raw(b"HTTP/1.1 200 OK\r\n\r\nevery byte until the end"));
    let hookfence = start(&upstream, "");
    let body = b"{}";
    let mut bytes = head(body, "").replace("HTTP/1.1", "HTTP/1.0").into_bytes();
    bytes.extend_from_slice(body);
    let answer = Client::connect(hookfence.addr).send(&bytes).read_until_closed();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Connection: close\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nevery byte until the end"), "{text}");
}

#[test]
fn an_http10_client_is_not_handed_undecodable_codings() {
    // Chunked framing is removed for an HTTP/1.0 client; a gzip coding
    // under it would reach the client unannounced, so the answer is refused.
    let upstream = Upstream::start(Behaviour::Raw(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\n\x1f\x8b\x08\r\n0\r\n\r\n",
    ));
    let hookfence = start(&upstream, "");
    let body = b"{}";
    let mut bytes = head(body, "").replace("HTTP/1.1", "HTTP/1.0").into_bytes();
    bytes.extend_from_slice(body);
    let response = Client::connect(hookfence.addr).send(&bytes).response();
    assert_eq!(
        (response.status, response.json()),
        (502, json!({ "error": "upstream unavailable" }))
    );
}

#[test]
fn own_answers_to_head_requests_have_no_body() {
    // A body after the head of a HEAD answer would be read as the start of
    // the next answer on the connection.
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "");
    let mut client = Client::connect(hookfence.addr);
    client.send(
        b"HEAD /nowhere HTTP/1.1\r\nHost: x\r\n\r\nPOST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(client.status_line(), Some(404), "HEAD answered");
    let next = client.response();
    assert_eq!(
        (next.status, next.json()),
        (404, json!({ "error": "no route" })),
        "and nothing else"
    );
}

#[test]
fn heads_with_bare_line_feeds_are_refused() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "");
    let mut client = Client::connect(hookfence.addr);
    client.send(b"POST /hooks/github HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}");
    let response = client.response();
    assert_eq!(
        (response.status, response.json()),
        (400, json!({ "error": "malformed request" }))
    );
    assert_eq!(upstream.connections(), 0);
}

#[test]
fn an_http10_request_without_host_reaches_the_upstream_with_one() {
    // It goes upstream as HTTP/1.1, which needs a `Host`: the upstream's own.
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "");
    let body = b"{}";
    let mut bytes = head(body, "")
        .replace("HTTP/1.1", "HTTP/1.0")
        .replace("Host: x\r\n", "")
        .into_bytes();
    bytes.extend_from_slice(body);
    assert_eq!(Client::connect(hookfence.addr).send(&bytes).response().status, 200);
    let seen = &upstream.requests()[0];
    assert_eq!(seen.header_str("host"), Some(upstream.addr.to_string().as_str()));
}

#[test]
fn an_http10_client_may_keep_its_connection() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "");
    let mut client = Client::connect(hookfence.addr);
    for n in 0..2 {
        let body = format!("{{\"n\":{n}}}");
        let mut bytes = head(body.as_bytes(), "Connection: keep-alive\r\n")
            .replace("HTTP/1.1", "HTTP/1.0")
            .into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        let response = client.send(&bytes).response();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("connection"), Some("keep-alive"));
    }
    assert_eq!(upstream.requests().len(), 2);
}
