//! The real binary against a real upstream: what is forwarded arrives
//! byte-identical, what is forged never reaches the upstream — not even as a
//! connection.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use support::{github_route, github_signature, post, request, Behaviour, Client, Hookfence, Upstream};

const SECRET: &str = "it's-a-secret";
const OLD_SECRET: &str = "the-previous-secret";

fn start_github(upstream: &Upstream, extra: &str) -> Hookfence {
    Hookfence::start(
        "",
        &github_route(
            "github",
            "/hooks/github",
            &upstream.url(),
            r#""env:GH_SECRET", "env:GH_SECRET_OLD""#,
            extra,
        ),
        &[("GH_SECRET", SECRET), ("GH_SECRET_OLD", OLD_SECRET)],
    )
}

/// Every byte value, including invalid UTF-8 and NUL.
fn binary_body() -> Vec<u8> {
    let mut body: Vec<u8> = (0..=255u8).collect();
    body.extend_from_slice(b"\r\n\r\n{\"not\":\"json\"}\xff\xfe");
    body
}

#[test]
fn valid_github_delivery_arrives_byte_identical() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start_github(&upstream, "");
    let body = binary_body();
    let signature = github_signature(SECRET.as_bytes(), &body);

    let response = post(
        hookfence.addr,
        "/hooks/github?installation=7",
        &[
            ("X-Hub-Signature-256", &signature),
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("Content-Type", "application/octet-stream"),
            ("Keep-Alive", "timeout=5"),
            ("Connection", "close, X-Hop-Private"),
            ("X-Hop-Private", "must not be forwarded"),
        ],
        &body,
    );

    assert_eq!(response.status, 200, "{}", response.body_str());
    assert_eq!(response.body_str(), "upstream says hi");
    assert_eq!(response.header("x-upstream"), Some("yes"));
    let requests = upstream.requests();
    assert_eq!(requests.len(), 1);
    let seen = &requests[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.target, "/hooks/github?installation=7");
    assert_eq!(seen.body, body, "body must be forwarded byte-for-byte");
    assert_eq!(seen.header_str("x-hub-signature-256"), Some(signature.as_str()));
    assert_eq!(seen.header_str("x-github-event"), Some("push"));
    assert_eq!(
        seen.header_str("x-github-delivery"),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    assert_eq!(seen.header_str("content-type"), Some("application/octet-stream"));
    assert_eq!(seen.header_str("host"), Some("hookfence.test"));
    assert_eq!(seen.header_str("content-length"), Some(body.len().to_string().as_str()));
    assert_eq!(seen.header_str("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("keep-alive"), None, "hop-by-hop header forwarded");
    assert_eq!(
        seen.header("x-hop-private"),
        None,
        "header named in Connection forwarded"
    );
    assert_eq!(hookfence.wait_for_audit(1), vec!["forwarded"]);
}

#[test]
fn forged_deliveries_are_refused_without_touching_the_upstream() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start_github(&upstream, "");
    let body = br#"{"ref":"refs/heads/main"}"#;
    let good = github_signature(SECRET.as_bytes(), body);
    let wrong_secret = github_signature(b"not-the-secret", body);
    let garbage = format!("sha256={}", "Z".repeat(64));
    let upper_hex_of_wrong = wrong_secret.to_ascii_uppercase().replacen("SHA256=", "sha256=", 1);
    let truncated = &good[..good.len() - 2];

    // (case, headers, body, expected error message)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a [u8], &'a str);
    let cases: Vec<Case> = vec![
        (
            "tampered body",
            vec![("X-Hub-Signature-256", &good)],
            b"{\"ref\":\"refs/heads/evil\"}",
            "invalid signature",
        ),
        (
            "wrong secret",
            vec![("X-Hub-Signature-256", &wrong_secret)],
            body,
            "invalid signature",
        ),
        ("missing header", vec![], body, "missing X-Hub-Signature-256"),
        (
            "uppercase garbage",
            vec![("X-Hub-Signature-256", &garbage)],
            body,
            "malformed X-Hub-Signature-256",
        ),
        (
            "uppercase hex, wrong MAC",
            vec![("X-Hub-Signature-256", &upper_hex_of_wrong)],
            body,
            "invalid signature",
        ),
        (
            "truncated MAC",
            vec![("X-Hub-Signature-256", truncated)],
            body,
            "invalid signature",
        ),
        (
            "no prefix",
            vec![("X-Hub-Signature-256", &good[7..])],
            body,
            "malformed X-Hub-Signature-256",
        ),
        (
            "empty signature",
            vec![("X-Hub-Signature-256", "")],
            body,
            "malformed X-Hub-Signature-256",
        ),
        (
            "duplicate headers, one valid",
            vec![("X-Hub-Signature-256", &wrong_secret), ("X-Hub-Signature-256", &good)],
            body,
            "duplicate X-Hub-Signature-256",
        ),
        (
            "legacy SHA-1 header not enabled",
            vec![("X-Hub-Signature", "sha1=0000000000000000000000000000000000000000")],
            body,
            "missing X-Hub-Signature-256",
        ),
    ];
    for (name, headers, body, error) in &cases {
        let response = post(hookfence.addr, "/hooks/github", headers, body);
        assert_eq!(response.status, 401, "{name}: {}", response.body_str());
        assert_eq!(response.header("content-type"), Some("application/json"), "{name}");
        assert_eq!(response.json(), serde_json::json!({ "error": error }), "{name}");
    }
    assert_eq!(upstream.connections(), 0, "a forged delivery reached the upstream");
    let outcomes = hookfence.wait_for_audit(cases.len());
    assert_eq!(outcomes.len(), cases.len());
    assert_eq!(
        outcomes.iter().filter(|o| *o == "rejected_missing_signature").count(),
        2
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "rejected_bad_signature").count(),
        cases.len() - 2
    );
}

#[test]
fn rotated_secret_and_uppercase_hex_verify() {
    let upstream = Upstream::start(Behaviour::Respond(202));
    let hookfence = start_github(&upstream, "");
    let body = b"signed with the old secret";
    let old = github_signature(OLD_SECRET.as_bytes(), body);
    let response = post(hookfence.addr, "/hooks/github", &[("X-Hub-Signature-256", &old)], body);
    assert_eq!(response.status, 202, "{}", response.body_str());

    let sig = github_signature(SECRET.as_bytes(), body);
    let upper_hex = format!("sha256={}", sig["sha256=".len()..].to_ascii_uppercase());
    assert_ne!(sig, upper_hex);
    let response = post(
        hookfence.addr,
        "/hooks/github",
        &[("X-Hub-Signature-256", &upper_hex)],
        body,
    );
    assert_eq!(response.status, 202, "hex is case-insensitive: {}", response.body_str());
    assert_eq!(upstream.requests().len(), 2);
}

#[test]
fn legacy_sha1_only_when_enabled_and_never_as_a_downgrade() {
    use hmac::{Hmac, Mac};
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start_github(&upstream, "allow_legacy_signature = true");
    let body = b"legacy";
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let sha1 = format!("sha1={}", hex::encode(mac.finalize().into_bytes()));

    let response = post(hookfence.addr, "/hooks/github", &[("X-Hub-Signature", &sha1)], body);
    assert_eq!(response.status, 200, "{}", response.body_str());

    // A valid SHA-1 cannot rescue an invalid SHA-256: the stronger header decides.
    let bad256 = github_signature(b"wrong", body);
    let response = post(
        hookfence.addr,
        "/hooks/github",
        &[("X-Hub-Signature-256", &bad256), ("X-Hub-Signature", &sha1)],
        body,
    );
    assert_eq!(response.status, 401);
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn gitlab_token_and_sign_forwarded() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let routes = format!(
        r#"
[[routes]]
name = "gitlab"
path = "/hooks/gitlab"
upstream = "{}"
provider = "gitlab"
secrets = ["env:GL_TOKEN"]
strip_credential = true
sign_forwarded = {{ header = "X-Hookfence-Signature-256", secret = "env:FWD" }}
"#,
        upstream.url()
    );
    let hookfence = Hookfence::start("", &routes, &[("GL_TOKEN", "gl-token-1"), ("FWD", "internal-hmac")]);
    let body = br#"{"object_kind":"push"}"#;

    for (token, error) in [
        ("gl-token-2", "invalid token"),
        ("gl-token-", "invalid token"),
        ("", "invalid token"),
    ] {
        let response = post(hookfence.addr, "/hooks/gitlab", &[("X-Gitlab-Token", token)], body);
        assert_eq!(response.status, 401, "token {token:?}");
        assert_eq!(response.json(), serde_json::json!({ "error": error }));
    }
    let response = post(hookfence.addr, "/hooks/gitlab", &[], body);
    assert_eq!(
        response.json(),
        serde_json::json!({ "error": "missing X-Gitlab-Token" })
    );
    assert_eq!(upstream.connections(), 0, "a wrong token reached the upstream");

    let response = post(
        hookfence.addr,
        "/hooks/gitlab",
        &[
            ("X-Gitlab-Token", "gl-token-1"),
            ("X-Hookfence-Signature-256", "sha256=forged-by-client"),
        ],
        body,
    );
    assert_eq!(response.status, 200, "{}", response.body_str());
    let seen = &upstream.requests()[0];
    assert_eq!(seen.body, body);
    assert_eq!(
        seen.header("x-gitlab-token"),
        None,
        "strip_credential must remove the token"
    );
    // The backend verifies the added header with its own HMAC code.
    let expected = github_signature(b"internal-hmac", body);
    assert_eq!(seen.header_str("x-hookfence-signature-256"), Some(expected.as_str()));
    assert_eq!(
        seen.headers
            .iter()
            .filter(|(n, _)| n == "x-hookfence-signature-256")
            .count(),
        1
    );
}

#[test]
fn chunked_request_body_is_verified_and_forwarded_whole() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start_github(&upstream, "");
    let chunks: [&[u8]; 3] = [b"{\"part\":", b"\"one-two-", b"three\"}\xff"];
    let body: Vec<u8> = chunks.concat();
    let signature = github_signature(SECRET.as_bytes(), &body);

    let mut client = Client::connect(hookfence.addr);
    client.send(
        format!(
            "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {signature}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    for chunk in chunks {
        client
            .send(format!("{:x}\r\n", chunk.len()).as_bytes())
            .send(chunk)
            .send(b"\r\n");
        thread::sleep(Duration::from_millis(20));
    }
    client.send(b"0\r\n\r\n");
    let response = client.response();
    assert_eq!(response.status, 200, "{}", response.body_str());
    let seen = &upstream.requests()[0];
    assert_eq!(seen.body, body);
    assert_eq!(seen.header("transfer-encoding"), None);
    assert_eq!(seen.header_str("content-length"), Some(body.len().to_string().as_str()));
}

#[test]
fn oversized_bodies_get_413_without_being_read() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start_github(&upstream, "max_body = \"1KiB\"");

    // Declared too large: answered from the headers alone, the body never sent.
    let mut client = Client::connect(hookfence.addr);
    client.send(
        b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: 10485760\r\n\r\n",
    );
    let started = Instant::now();
    let response = client.response();
    assert_eq!(response.status, 413);
    assert_eq!(response.json(), serde_json::json!({ "error": "body too large" }));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "413 must not wait for the body"
    );
    assert!(
        client.is_closed(),
        "the unread body must not be parsed as a next request"
    );

    // Chunked, counted as it arrives.
    let mut client = Client::connect(hookfence.addr);
    client.send(b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=00\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..3 {
        client.send(format!("{:x}\r\n{}\r\n", 512, "a".repeat(512)).as_bytes());
    }
    let response = client.response();
    assert_eq!(response.status, 413);

    // Exactly at the limit is fine.
    let body = vec![b'x'; 1024];
    let response = post(
        hookfence.addr,
        "/hooks/github",
        &[("X-Hub-Signature-256", &github_signature(SECRET.as_bytes(), &body))],
        &body,
    );
    assert_eq!(response.status, 200, "{}", response.body_str());
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn expect_100_continue() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start_github(&upstream, "max_body = \"1KiB\"");
    let body = b"continue me";
    let signature = github_signature(SECRET.as_bytes(), body);

    let mut client = Client::connect(hookfence.addr);
    client.send(
        format!("POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {signature}\r\nExpect: 100-continue\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
            .as_bytes(),
    );
    assert_eq!(client.status_line(), Some(100), "hookfence must invite the body");
    client.send(body);
    assert_eq!(client.response().status, 200);
    assert_eq!(upstream.requests()[0].header("expect"), None);

    // Too large: 413 straight away, no 100.
    let mut client = Client::connect(hookfence.addr);
    client.send(b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
    assert_eq!(client.status_line(), Some(413));
}

#[test]
fn slow_body_gets_408() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start_github(&upstream, "body_timeout = \"300ms\"");
    let mut client = Client::connect(hookfence.addr);
    client.send(b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b");
    let response = client.response();
    assert_eq!(response.status, 408);
    assert_eq!(
        response.json(),
        serde_json::json!({ "error": "body not received in time" })
    );
    assert_eq!(upstream.connections(), 0);
}

#[test]
fn routing_errors() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start_github(&upstream, "");
    let response = post(hookfence.addr, "/hooks/unknown", &[], b"{}");
    assert_eq!(
        (response.status, response.json()),
        (404, serde_json::json!({ "error": "no route" }))
    );
    let response = Client::connect(hookfence.addr)
        .send(&request("GET", "/hooks/github", &[], b""))
        .response();
    assert_eq!(
        (response.status, response.json()),
        (405, serde_json::json!({ "error": "method not allowed" }))
    );
    assert_eq!(upstream.connections(), 0);
}

#[test]
fn conflicting_content_lengths_are_refused() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start_github(&upstream, "");
    for lengths in [
        "Content-Length: 4\r\nContent-Length: 5",
        "Content-Length: 5\r\nContent-Length: 5",
        "Content-Length: 5, 5",
    ] {
        let mut client = Client::connect(hookfence.addr);
        client.send(format!("POST /hooks/github HTTP/1.1\r\nHost: x\r\n{lengths}\r\n\r\nabcde").as_bytes());
        let response = client.response();
        assert_eq!(response.status, 400, "{lengths}: {}", response.body_str());
        assert!(client.is_closed(), "{lengths}: the connection must close");
    }
    assert_eq!(upstream.connections(), 0);
}

#[test]
fn content_length_with_transfer_encoding_cannot_smuggle_a_request() {
    // RFC 9112 §6.3 lets a server reject a request framed both ways; two
    // parsers disagreeing on such framing is how smuggling works, so
    // hookfence refuses it, closes the connection, and never parses the
    // request hidden behind it.
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start_github(&upstream, "");
    let signature = github_signature(SECRET.as_bytes(), b"abc");
    let smuggled = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {}\r\nContent-Length: 5\r\n\r\nevil!",
        github_signature(SECRET.as_bytes(), b"evil!")
    );
    for framing in [
        "Content-Length: 4\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\ncontent-length: 4",
    ] {
        let mut client = Client::connect(hookfence.addr);
        client.send(
            format!(
                "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {signature}\r\n{framing}\r\n\r\n3\r\nabc\r\n0\r\n\r\n{smuggled}"
            )
            .as_bytes(),
        );
        let response = client.response();
        assert_eq!(response.status, 400, "{}", response.body_str());
        assert_eq!(
            response.json(),
            serde_json::json!({ "error": "both Content-Length and Transfer-Encoding" })
        );
        assert!(client.is_closed(), "the connection must close after a CL+TE request");
    }
    assert_eq!(upstream.connections(), 0, "nothing reached the upstream");
}

#[test]
fn upstream_failures_map_to_502_and_504() {
    // Nothing listens on a port we bound and released.
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    let hanging = Upstream::start(Behaviour::Hang);
    let routes = format!(
        r#"
[[routes]]
name = "down"
path = "/down"
upstream = "{closed}"
provider = "gitlab"
secrets = ["env:T"]

[[routes]]
name = "slow"
path = "/slow"
upstream = "{}"
provider = "gitlab"
secrets = ["env:T"]
upstream_timeout = "300ms"
"#,
        hanging.url()
    );
    let hookfence = Hookfence::start("", &routes, &[("T", "token")]);
    let response = post(hookfence.addr, "/down", &[("X-Gitlab-Token", "token")], b"{}");
    assert_eq!(
        (response.status, response.json()),
        (502, serde_json::json!({ "error": "upstream unavailable" }))
    );
    let response = post(hookfence.addr, "/slow", &[("X-Gitlab-Token", "token")], b"{}");
    assert_eq!(
        (response.status, response.json()),
        (504, serde_json::json!({ "error": "upstream timed out" }))
    );
    assert_eq!(hanging.requests().len(), 1);
    assert_eq!(
        hookfence.wait_for_outcomes(2),
        vec!["upstream_error", "upstream_timeout"]
    );
}

#[test]
fn upstream_path_replaces_the_request_path() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let routes = format!(
        r#"
[[routes]]
name = "tenant"
path = "/v1/webhooks/github/{{app_id}}"
upstream = "{}/internal/github?from=hookfence"
provider = "github"
secrets = ["env:S"]
"#,
        upstream.url()
    );
    let hookfence = Hookfence::start("", &routes, &[("S", SECRET)]);
    let body = b"{}";
    let sig = github_signature(SECRET.as_bytes(), body);
    let response = post(
        hookfence.addr,
        "/v1/webhooks/github/42",
        &[("X-Hub-Signature-256", &sig)],
        body,
    );
    assert_eq!(response.status, 200, "{}", response.body_str());
    assert_eq!(upstream.requests()[0].target, "/internal/github?from=hookfence");
    let response = post(
        hookfence.addr,
        "/v1/webhooks/github/",
        &[("X-Hub-Signature-256", &sig)],
        body,
    );
    assert_eq!(response.status, 404, "an empty {{app_id}} must not match");
}

#[test]
fn unsigned_route_forwards_only_when_opted_in_twice() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let routes = format!(
        "[[routes]]\nname = \"open\"\npath = \"/open\"\nupstream = \"{}\"\nverify = \"none\"\n",
        upstream.url()
    );
    let hookfence = Hookfence::start("allow_unsigned = true", &routes, &[]);
    let response = post(hookfence.addr, "/open", &[], b"anything");
    assert_eq!(response.status, 200);
    assert_eq!(upstream.requests()[0].body, b"anything");
}

#[test]
fn keep_alive_serves_several_deliveries_on_one_connection() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start_github(&upstream, "");
    let mut client = Client::connect(hookfence.addr);
    for i in 0..5 {
        let body = format!("delivery {i}");
        let sig = github_signature(SECRET.as_bytes(), body.as_bytes());
        let raw = format!(
            "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {sig}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(client.send(raw.as_bytes()).response().status, 200);
    }
    // A forged one on the same connection is refused and the connection survives.
    let raw = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    assert_eq!(client.send(raw.as_bytes()).response().status, 401);
    assert_eq!(upstream.requests().len(), 5);
    // hookfence reuses its upstream connections too: idle ones are kept per
    // worker thread (the harness runs two), so five deliveries need two at most.
    assert!(upstream.connections() <= 2, "{} connections", upstream.connections());
}
