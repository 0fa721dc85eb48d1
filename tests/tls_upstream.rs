//! `https://` upstreams against a real TLS server with certificates made
//! in the test: the configured CA, SNI from the URL's host, pooled
//! connections, a client certificate (mTLS), and the refusals — a CA that
//! did not sign the upstream, an expired certificate, a server that wants
//! a client certificate hookfence does not have — each a 502 with its
//! reason in the audit record.

mod support;

use std::path::Path;

use support::tls::{Authority, Identity, TlsUpstream};
use support::{deliver_github, fresh_id, github_route, hookfence_command, wait_until, Hookfence};

const SECRET: &str = "tls-upstream-secret";

/// hookfence on a route to `upstream_url` with `upstream_tls` lines, the
/// files in `files` written next to its config first.
fn start(upstream_url: &str, upstream_tls: &str, files: &[(&str, &str)]) -> Hookfence {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).expect("write file");
    }
    let extra = if upstream_tls.is_empty() {
        String::new()
    } else {
        format!("[routes.upstream_tls]\n{upstream_tls}")
    };
    Hookfence::start_in(
        dir,
        "",
        &github_route("github", "/hooks/github", upstream_url, "\"env:GH\"", &extra),
        &[("GH", SECRET)],
    )
}

fn deliver(hookfence: &Hookfence) -> support::Response {
    deliver_github(
        hookfence.addr,
        "/hooks/github",
        SECRET,
        &fresh_id("tls"),
        br#"{"tls":true}"#,
    )
}

/// The reason of the last audit record.
fn last_reason(hookfence: &Hookfence) -> String {
    hookfence
        .log()
        .lines()
        .rev()
        .filter(|l| l.contains("hookfence::audit"))
        .find_map(|l| l.split("reason=\"").nth(1)?.split('"').next().map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn deliveries_reach_an_https_upstream_trusted_through_the_configured_ca() {
    let ca = Authority::new("upstream");
    let upstream = TlsUpstream::start(&ca.issue(&["localhost"], false), None);
    let hookfence = start(&upstream.url(), "ca = \"ca.pem\"", &[("ca.pem", &ca.cert_pem())]);
    for _ in 0..5 {
        let answer = deliver(&hookfence);
        assert_eq!((answer.status, answer.body_str()), (200, "tls upstream says hi"));
    }
    let requests = upstream.requests();
    assert_eq!(requests.len(), 5);
    assert_eq!(requests[0].body, br#"{"tls":true}"#, "the body, byte for byte");
    assert_eq!(
        requests[0].server_name.as_deref(),
        Some("localhost"),
        "SNI is the URL's host"
    );
    assert!(
        requests[0]
            .head
            .to_ascii_lowercase()
            .contains("x-hub-signature-256: sha256="),
        "{}",
        requests[0].head
    );
    // A connection goes back to the pool just after its answer is relayed,
    // so the next delivery may overtake that and open a second one; a
    // connection per delivery would be five.
    assert!(
        upstream.connections() <= 2,
        "TLS connections are pooled and reused: {} for 5 deliveries",
        upstream.connections()
    );
    assert_eq!(hookfence.wait_for_outcomes(5), vec!["forwarded"; 5]);
}

#[test]
fn an_upstream_signed_by_another_ca_is_refused_with_502_and_the_reason() {
    let (trusted, other) = (Authority::new("trusted"), Authority::new("other"));
    let upstream = TlsUpstream::start(&other.issue(&["localhost"], false), None);
    let hookfence = start(&upstream.url(), "ca = \"ca.pem\"", &[("ca.pem", &trusted.cert_pem())]);
    let answer = deliver(&hookfence);
    assert_eq!(answer.status, 502);
    assert_eq!(answer.json(), serde_json::json!({ "error": "upstream unavailable" }));
    assert_eq!(hookfence.wait_for_outcomes(1), vec!["upstream_error"]);
    let reason = last_reason(&hookfence);
    assert!(
        reason.contains("TLS handshake with localhost") && reason.contains("UnknownIssuer"),
        "{reason}"
    );
    assert!(upstream.requests().is_empty(), "nothing was sent to it");
}

#[test]
fn an_expired_upstream_certificate_is_refused_with_502_and_the_reason() {
    let ca = Authority::new("upstream");
    let upstream = TlsUpstream::start(&ca.issue(&["localhost"], true), None);
    let hookfence = start(&upstream.url(), "ca = \"ca.pem\"", &[("ca.pem", &ca.cert_pem())]);
    assert_eq!(deliver(&hookfence).status, 502);
    hookfence.wait_for_outcomes(1);
    let reason = last_reason(&hookfence);
    assert!(reason.contains("certificate expired"), "{reason}");
    assert!(upstream.requests().is_empty());
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let ca = Authority::new("upstream");
    let upstream = TlsUpstream::start(&ca.issue(&["backend.internal"], false), None);
    let hookfence = start(&upstream.url(), "ca = \"ca.pem\"", &[("ca.pem", &ca.cert_pem())]);
    assert_eq!(deliver(&hookfence).status, 502);
    hookfence.wait_for_outcomes(1);
    let reason = last_reason(&hookfence);
    assert!(reason.contains("certificate not valid for name"), "{reason}");
}

#[test]
fn without_a_configured_ca_the_system_roots_do_not_trust_a_private_ca() {
    let ca = Authority::new("private");
    let upstream = TlsUpstream::start(&ca.issue(&["localhost"], false), None);
    let hookfence = start(&upstream.url(), "", &[]);
    assert_eq!(deliver(&hookfence).status, 502);
    hookfence.wait_for_outcomes(1);
    assert!(
        last_reason(&hookfence).contains("UnknownIssuer"),
        "{}",
        last_reason(&hookfence)
    );
}

#[test]
fn a_client_certificate_is_shown_to_an_upstream_that_asks_for_one() {
    let (server_ca, client_ca) = (Authority::new("server"), Authority::new("clients"));
    let upstream = TlsUpstream::start(&server_ca.issue(&["localhost"], false), Some(&client_ca));
    let Identity { cert_pem, key_pem } = client_ca.issue(&["hookfence"], false);
    let files = [
        ("ca.pem", server_ca.cert_pem()),
        ("client.pem", cert_pem),
        ("client.key", key_pem),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, c)| (*n, c.as_str())).collect();

    let with = start(
        &upstream.url(),
        "ca = \"ca.pem\"\nclient_cert = \"client.pem\"\nclient_key = \"client.key\"",
        &files,
    );
    assert_eq!(deliver(&with).body_str(), "tls upstream says hi");
    assert!(upstream.requests()[0].client_certificate);

    let without = start(&upstream.url(), "ca = \"ca.pem\"", &files[..1]);
    assert_eq!(
        deliver(&without).status,
        502,
        "the upstream refuses a client without a certificate"
    );
    assert_eq!(upstream.requests().len(), 1);
    // The server notes its refusal just after it sends its alert.
    wait_until("the upstream to note the refused handshake", || {
        !upstream.handshake_failures().is_empty()
    });
}

/// Config errors name the file, line and key; `hookfence check` reports them.
#[test]
fn bad_upstream_tls_settings_are_config_errors() {
    let ca = Authority::new("check");
    let other = ca.issue(&["x"], false);
    let unrelated = ca.issue(&["y"], false);
    let cases: [(&str, &str, &str); 5] = [
        (
            "http://127.0.0.1:9",
            "ca = \"ca.pem\"",
            "routes[0].upstream_tls: only used with an https:// upstream",
        ),
        (
            "https://localhost:9",
            "ca = \"missing.pem\"",
            "routes[0].upstream_tls.ca",
        ),
        ("https://localhost:9", "ca = \"empty.pem\"", "holds no PEM certificate"),
        (
            "https://localhost:9",
            "client_cert = \"client.pem\"",
            "`client_cert` and `client_key` go together",
        ),
        (
            "https://localhost:9",
            "client_cert = \"client.pem\"\nclient_key = \"other.key\"",
            "routes[0].upstream_tls.client_key",
        ),
    ];
    for (url, settings, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, contents: &str| std::fs::write(dir.path().join(name), contents).unwrap();
        write("ca.pem", &ca.cert_pem());
        write("empty.pem", "not a certificate\n");
        write("client.pem", &other.cert_pem);
        write("other.key", &unrelated.key_pem);
        let config = dir.path().join("hookfence.toml");
        write(
            "hookfence.toml",
            &format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n{}[routes.upstream_tls]\n{settings}\n",
                github_route("github", "/hooks/github", url, "\"env:GH\"", "")
            ),
        );
        let (ok, _, stderr) = hookfence_command(&["check", "--config", path(&config)], &[("GH", SECRET)]);
        assert!(!ok, "{settings}");
        assert!(stderr.contains(expected), "{settings}: {stderr}");
        assert!(stderr.contains("hookfence.toml:"), "the file and line: {stderr}");
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// An upstream that takes the connection but never answers the TLS
/// handshake: the connect timeout covers the handshake, 504 as for TCP.
#[test]
fn a_handshake_that_never_ends_is_a_connect_timeout() {
    // Never accepted: the kernel completes the TCP handshake (the backlog),
    // and the ClientHello waits there unread.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://127.0.0.1:{}", silent.local_addr().expect("address").port());
    let routes = github_route(
        "github",
        "/hooks/github",
        &url,
        "\"env:GH\"",
        "connect_timeout = \"300ms\"",
    );
    let hookfence = Hookfence::start("", &routes, &[("GH", SECRET)]);
    let answer = deliver(&hookfence);
    assert_eq!(answer.status, 504);
    assert_eq!(answer.json(), serde_json::json!({ "error": "upstream timed out" }));
    assert_eq!(hookfence.wait_for_outcomes(1), vec!["upstream_timeout"]);
    assert!(
        last_reason(&hookfence).contains("TLS handshake with 127.0.0.1:"),
        "{}",
        last_reason(&hookfence)
    );
}
