//! Hostile input, round two: each finding of an adversarial run against
//! the release binary, as raw bytes in, the answer and what the upstream
//! received (usually nothing) checked. Host values, path confusion under a
//! wildcard route, `Connection` naming what the backend needs, ids burnt by
//! a replayed body, trailers that would swallow a pipelined request, a
//! higher HTTP minor version, whitespace inside a signature.

mod support;

use serde_json::json;

use support::{fresh_id, github_route, github_signature, Behaviour, Client, Hookfence, Response, Upstream};

const SECRET: &str = "hostile-secret";

fn start(upstream: &Upstream, path: &str, extra: &str) -> Hookfence {
    Hookfence::start(
        "",
        &github_route("github", path, &upstream.url(), "\"env:GH\"", extra),
        &[("GH", SECRET)],
    )
}

/// A signed GitHub delivery's raw bytes: `target`, `host`, more header
/// lines, the body.
fn signed(target: &str, host: &str, extra: &str, id: &str, body: &[u8]) -> Vec<u8> {
    let signature = github_signature(SECRET.as_bytes(), body);
    let mut raw = format!(
        "POST {target} HTTP/1.1\r\nHost: {host}\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: {id}\r\nX-Hub-Signature-256: {signature}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

fn send(hookfence: &Hookfence, raw: &[u8]) -> Response {
    Client::connect(hookfence.addr).send(raw).response()
}

#[test]
fn invalid_host_values_are_refused_and_never_forwarded() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "/hooks/github", "");
    for host in [
        "a b",
        "evil/x",
        "user@evil",
        "a, b",
        "x:99999999",
        "a#b?c",
        "caf\u{e9}.example",
    ] {
        let answer = send(&hookfence, &signed("/hooks/github", host, "", &fresh_id("host"), b"{}"));
        assert_eq!(answer.status, 400, "{host:?}");
        assert_eq!(answer.json(), json!({ "error": "invalid Host" }), "{host:?}");
    }
    // The authority of an absolute-form target would be the forwarded Host.
    let answer = send(
        &hookfence,
        &signed("http://user:pw@evil/hooks/github", "fine", "", &fresh_id("host"), b"{}"),
    );
    assert_eq!(answer.status, 400);
    assert_eq!(hookfence.wait_for_outcomes(8), ["bad_request"; 8]);
    assert_eq!(upstream.connections(), 0, "nothing reached the upstream");

    // A good one still goes through, Host as sent.
    let answer = send(
        &hookfence,
        &signed("/hooks/github", "hooks.example.com:8443", "", &fresh_id("host"), b"{}"),
    );
    assert_eq!(answer.status, 200);
    assert_eq!(
        upstream.requests()[0].header_str("host"),
        Some("hooks.example.com:8443")
    );
}

#[test]
fn paths_that_decoders_read_differently_are_refused_under_a_wildcard() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "/hooks/*", "");
    for target in [
        "/hooks/..;/admin",
        "/hooks/%252e%252e/admin",
        "/hooks/x%2f..%2f..%2fadmin",
        "/hooks/%5c..%5cadmin",
        "/hooks/a%00b",
        "/hooks/x;jsessionid=1",
        "/hooks/x\\..\\..\\admin",
    ] {
        let answer = send(&hookfence, &signed(target, "h", "", &fresh_id("path"), b"{}"));
        assert_eq!(answer.status, 400, "{target}");
        assert_eq!(answer.json(), json!({ "error": "ambiguous request path" }), "{target}");
    }
    assert_eq!(upstream.connections(), 0, "nothing reached the upstream");
    assert!(hookfence.log().contains("which decoders read differently"));
    assert_eq!(hookfence.wait_for_outcomes(7), ["bad_request"; 7]);
}

#[test]
fn a_route_that_allows_encoded_paths_forwards_them_exactly_as_matched() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "/hooks/*", "allow_encoded_path = true");
    let target = "/hooks/files/a%2Fb;v=1?x=%252e";
    let answer = send(&hookfence, &signed(target, "h", "", &fresh_id("path"), b"{}"));
    assert_eq!(answer.status, 200);
    assert_eq!(upstream.requests()[0].target, target, "byte for byte");
}

#[test]
fn connection_cannot_strip_what_the_backend_needs_to_verify_again() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "/hooks/github", "");
    let body = br#"{"zen":"x"}"#;
    let id = fresh_id("conn");
    let raw = signed(
        "/hooks/github",
        "h",
        "Connection: X-Hub-Signature-256, X-GitHub-Delivery, X-GitHub-Event, X-Hop\r\nX-Hop: dropped\r\n",
        &id,
        body,
    );
    assert_eq!(send(&hookfence, &raw).status, 200);
    let forwarded = &upstream.wait_for_requests(1)[0];
    assert_eq!(
        forwarded.header_str("x-hub-signature-256"),
        Some(github_signature(SECRET.as_bytes(), body).as_str()),
        "the backend can verify again"
    );
    assert_eq!(forwarded.header_str("x-github-delivery"), Some(id.as_str()));
    assert_eq!(forwarded.header_str("x-github-event"), Some("push"));
    assert_eq!(
        forwarded.header("x-hop"),
        None,
        "other headers named hop-by-hop still go"
    );
}

#[test]
fn a_replayed_body_cannot_burn_the_id_of_a_genuine_delivery() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "/hooks/github", "");
    // A genuine delivery, captured by an attacker (GitHub signs the body,
    // not X-GitHub-Delivery).
    let captured = br#"{"ref":"refs/heads/main","after":"aaa"}"#;
    assert_eq!(
        send(&hookfence, &signed("/hooks/github", "h", "", "genuine-1", captured)).status,
        200
    );
    // Replayed under the id of a delivery GitHub has not sent yet.
    let replay = send(&hookfence, &signed("/hooks/github", "h", "", "genuine-2", captured));
    assert_eq!(
        replay.status, 200,
        "a verified body: forwarded, as GitHub's scheme allows"
    );
    // The genuine delivery with that id arrives: it is not a duplicate.
    let genuine = br#"{"ref":"refs/heads/main","after":"bbb"}"#;
    let answer = send(&hookfence, &signed("/hooks/github", "h", "", "genuine-2", genuine));
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body_str(),
        "upstream says hi",
        "forwarded, not answered duplicate"
    );
    let received = upstream.wait_for_requests(3);
    assert_eq!(received[2].body, genuine);
    // Its own retry is the duplicate.
    let retry = send(&hookfence, &signed("/hooks/github", "h", "", "genuine-2", genuine));
    assert_eq!(retry.json(), json!({ "status": "duplicate" }));
    assert_eq!(upstream.requests().len(), 3);
}

#[test]
fn a_trailer_line_without_a_colon_is_refused_not_swallowed() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "/hooks/github", "");
    let body = b"hello";
    let signature = github_signature(SECRET.as_bytes(), body);
    // The body misses its final empty line; a pipelined request follows,
    // which a lenient decoder reads as trailers.
    let raw = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: h\r\nX-Hub-Signature-256: {signature}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nPOST /hooks/github HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
    );
    let mut client = Client::connect(hookfence.addr);
    let answer = client.send(raw.as_bytes()).response();
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json(), json!({ "error": "invalid chunked framing" }));
    assert!(client.is_closed(), "nothing after it is read as a request");
    assert_eq!(upstream.connections(), 0);
}

#[test]
fn a_higher_minor_version_is_served_as_http_1_1() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "/hooks/github", "");
    let raw = signed("/hooks/github", "h", "", &fresh_id("v"), b"{}");
    let raw = String::from_utf8(raw).unwrap().replacen("HTTP/1.1", "HTTP/1.2", 1);
    let answer = send(&hookfence, raw.as_bytes());
    assert_eq!(answer.status, 200);
    assert_eq!(upstream.wait_for_requests(1).len(), 1);
}

#[test]
fn whitespace_inside_a_signature_is_malformed() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream, "/hooks/github", "");
    let body = b"{}";
    let signature = github_signature(SECRET.as_bytes(), body).replace("sha256=", "sha256= ");
    let raw = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: h\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    let answer = send(&hookfence, raw.as_bytes());
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json(), json!({ "error": "malformed X-Hub-Signature-256" }));
    assert_eq!(upstream.connections(), 0);
}
