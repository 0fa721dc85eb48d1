//! Operating hookfence: the admin API (metrics after known traffic, recent
//! deliveries, health and readiness), hot reload on SIGHUP (a rotated secret,
//! a broken file), graceful shutdown with a delivery in flight, the TLS
//! listener, and `hookfence sign` checked by hookfence itself.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde_json::json;

use support::{
    deliver_github, fresh_id, github_route, github_signature, hookfence_command, post, request, sample, wait_until,
    Behaviour, Client, Hookfence, Upstream,
};

#[test]
fn metrics_count_every_outcome_of_known_traffic() {
    let upstream = Upstream::start(Behaviour::Respond(201));
    let hookfence = Hookfence::start(
        "",
        &github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
        &[("GH", "s3cret")],
    );
    let body = br#"{"ref":"refs/heads/main"}"#;
    let id = fresh_id("op");
    assert_eq!(
        deliver_github(hookfence.addr, "/hooks/github", "s3cret", &id, body).status,
        201
    );
    assert_eq!(
        deliver_github(hookfence.addr, "/hooks/github", "s3cret", &fresh_id("op"), body).status,
        201
    );
    assert_eq!(
        deliver_github(hookfence.addr, "/hooks/github", "s3cret", &id, body).status,
        200,
        "duplicate"
    );
    assert_eq!(
        deliver_github(hookfence.addr, "/hooks/github", "forged", &fresh_id("op"), body).status,
        401
    );
    assert_eq!(post(hookfence.addr, "/hooks/github", &[], body).status, 401);
    assert_eq!(post(hookfence.addr, "/nowhere", &[], body).status, 404);
    hookfence.wait_for_audit(6);

    let response = hookfence.admin_get("/metrics");
    assert_eq!(response.status, 200);
    assert!(response
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")));
    let metrics = response.body_str();
    let requests = |outcome: &str| {
        sample(
            metrics,
            &format!(r#"hookfence_requests_total{{outcome="{outcome}",provider="github",route="github"}}"#),
        )
    };
    assert_eq!(requests("forwarded"), Some(2.0), "{metrics}");
    assert_eq!(requests("duplicate"), Some(1.0));
    assert_eq!(requests("rejected_bad_signature"), Some(1.0));
    assert_eq!(requests("rejected_missing_signature"), Some(1.0));
    assert_eq!(
        requests("rejected_stale_timestamp"),
        Some(0.0),
        "every outcome exists from the start"
    );
    assert_eq!(
        sample(
            metrics,
            r#"hookfence_requests_total{outcome="no_route",provider="",route=""}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            metrics,
            r#"hookfence_upstream_responses_total{class="2xx",route="github"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(metrics, r#"hookfence_request_duration_seconds_count{route="github"}"#),
        Some(5.0)
    );
    assert_eq!(
        sample(
            metrics,
            r#"hookfence_dedup_operations_total{backend="memory",operation="reserve",result="duplicate"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            metrics,
            r#"hookfence_dedup_operations_total{backend="memory",operation="commit",result="ok"}"#
        ),
        Some(2.0)
    );
    assert!(metrics.contains("hookfence_build_info{version=\""));
    // Label values come from the config and fixed sets, never from requests.
    assert!(!metrics.contains("/nowhere") && !metrics.contains(&id));
}

/// Requests refused while their head is read are the attack shapes an
/// operator most wants to see: each is answered, counted under no route and
/// audited.
#[test]
fn refusals_at_the_head_are_counted_and_audited() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = Hookfence::start(
        "",
        &github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
        &[("GH", "s3cret")],
    );
    let smuggling =
        b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let too_large = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let no_host = b"POST /hooks/github HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    let statuses: Vec<u16> = [&smuggling[..], too_large.as_bytes(), &no_host[..]]
        .into_iter()
        .map(|raw| Client::connect(hookfence.addr).send(raw).response().status)
        .collect();
    assert_eq!(statuses, [400, 431, 400]);
    assert_eq!(hookfence.wait_for_outcomes(3), ["bad_request"; 3]);
    let metrics = hookfence.admin_get("/metrics");
    assert_eq!(
        sample(
            metrics.body_str(),
            r#"hookfence_requests_total{outcome="bad_request",provider="",route=""}"#
        ),
        Some(3.0),
        "{}",
        metrics.body_str()
    );
    let log = hookfence.log();
    assert!(log.contains("status=431"), "{log}");
    assert!(upstream.requests().is_empty(), "nothing was forwarded");
}

#[test]
fn recent_deliveries_are_listed_newest_first_without_secrets() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = Hookfence::start(
        "",
        &github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
        &[("GH", "s3cret")],
    );
    let body = br#"{"ref":"refs/heads/main","payload":"private"}"#;
    let (first, second) = (fresh_id("op"), fresh_id("op"));
    deliver_github(hookfence.addr, "/hooks/github", "s3cret", &first, body);
    deliver_github(hookfence.addr, "/hooks/github", "guess", &second, body);
    hookfence.wait_for_audit(2);

    let response = hookfence.admin_get("/deliveries?route=github");
    assert_eq!(response.status, 200);
    let listing = response.json();
    let deliveries = listing["deliveries"].as_array().expect("a list");
    assert_eq!(deliveries.len(), 2);
    let (newest, oldest) = (&deliveries[0], &deliveries[1]);
    assert_eq!(newest["delivery_id"], json!(second));
    assert_eq!(newest["outcome"], json!("rejected_bad_signature"));
    assert_eq!(newest["signature_valid"], json!(false));
    assert_eq!(newest["status"], json!(401));
    assert_eq!(oldest["delivery_id"], json!(first));
    assert_eq!(oldest["outcome"], json!("forwarded"));
    assert_eq!(oldest["event"], json!("push"));
    assert_eq!(oldest["upstream_status"], json!(200));
    assert!(oldest["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(oldest["duration_us"].as_u64().is_some());
    let text = response.body_str();
    assert!(
        !text.contains("s3cret") && !text.contains("private") && !text.contains("sha256="),
        "{text}"
    );

    let limited = hookfence.admin_get("/deliveries?route=github&limit=1").json();
    assert_eq!(limited["deliveries"].as_array().map(Vec::len), Some(1));
    assert_eq!(hookfence.admin_get("/deliveries?route=nope").status, 404);
    // Without a route: every route's, with the routes named.
    let all = hookfence.admin_get("/deliveries");
    assert_eq!(all.status, 200);
    assert_eq!(all.json()["routes"], json!(["github"]));
    assert_eq!(all.json()["deliveries"], listing["deliveries"]);
}

#[test]
fn health_and_readiness() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = Hookfence::start(
        "",
        &github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
        &[("GH", "s3cret")],
    );
    assert_eq!(hookfence.admin_get("/healthz").json(), json!({ "status": "alive" }));
    let ready = hookfence.admin_get("/readyz");
    assert_eq!(ready.status, 200, "{}", ready.body_str());
    assert_eq!(ready.json()["listeners"][0]["accepting"], json!(true));

    // A fail_closed route whose Redis is unreachable makes the process unready.
    let nobody = support::free_port();
    let routes = format!(
        "[dedup]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:{nobody}\"\n{}\ndedup_policy = \"fail_closed\"\n",
        github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", "")
    );
    let strict = Hookfence::start("", &routes, &[("GH", "s3cret")]);
    let unready = strict.admin_get("/readyz");
    assert_eq!(unready.status, 503, "{}", unready.body_str());
    assert!(unready.json()["dedup_store"]
        .as_str()
        .is_some_and(|s| s.starts_with("unreachable")));
}

#[test]
fn sighup_reloads_a_rotated_secret_and_keeps_serving_through_a_broken_file() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("github.secret"), "old-secret\n").unwrap();
    let hookfence = Hookfence::start_in(
        dir,
        "",
        &github_route("github", "/hooks/github", &upstream.url(), "\"file:github.secret\"", ""),
        &[],
    );
    let body = b"{}";
    assert_eq!(
        deliver_github(hookfence.addr, "/hooks/github", "old-secret", &fresh_id("op"), body).status,
        200
    );

    // Rotate: the file now holds the new secret only.
    std::fs::write(hookfence.dir().join("github.secret"), "new-secret\n").unwrap();
    hookfence.signal("HUP");
    wait_until("the new secret to be accepted", || {
        deliver_github(hookfence.addr, "/hooks/github", "new-secret", &fresh_id("op"), body).status == 200
    });
    assert_eq!(
        deliver_github(hookfence.addr, "/hooks/github", "old-secret", &fresh_id("op"), body).status,
        401
    );

    // A broken config is refused; the running one keeps serving.
    let config = std::fs::read_to_string(hookfence.config_path()).unwrap();
    std::fs::write(
        hookfence.config_path(),
        config.replace("provider = \"github\"", "provider = \"githubb\""),
    )
    .unwrap();
    hookfence.signal("HUP");
    wait_until("the failed reload to be counted", || {
        let metrics = hookfence.admin_get("/metrics");
        sample(
            metrics.body_str(),
            r#"hookfence_config_reloads_total{result="failure"}"#,
        ) == Some(1.0)
    });
    assert_eq!(
        deliver_github(hookfence.addr, "/hooks/github", "new-secret", &fresh_id("op"), body).status,
        200
    );
    let metrics = hookfence.admin_get("/metrics");
    assert_eq!(
        sample(
            metrics.body_str(),
            r#"hookfence_config_reloads_total{result="success"}"#
        ),
        Some(1.0)
    );
    assert!(
        hookfence.log().contains("unknown provider `githubb`"),
        "{}",
        hookfence.log()
    );
}

/// The grace period in these tests: far longer than any of them may take,
/// so an exit before it shows that hookfence did not wait it out.
const LONG_GRACE: &str = "shutdown_grace = \"60s\"";

/// A delivery in flight at SIGTERM is answered; then hookfence exits at
/// once, not at the end of the grace period.
#[test]
fn sigterm_lets_a_delivery_in_flight_finish_then_exits() {
    let upstream = Upstream::start(Behaviour::Slow(200, Duration::from_millis(1500)));
    let mut hookfence = Hookfence::start(
        LONG_GRACE,
        &github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
        &[("GH", "s3cret")],
    );
    let addr = hookfence.addr;
    let in_flight = thread::spawn(move || deliver_github(addr, "/hooks/github", "s3cret", &fresh_id("op"), b"{}"));
    wait_until("the delivery to reach the upstream", || upstream.requests().len() == 1);
    hookfence.signal("TERM");
    let response = in_flight.join().expect("client thread");
    assert_eq!((response.status, response.body_str()), (200, "upstream says hi"));
    let status = hookfence
        .wait_exit(Duration::from_secs(15))
        .expect("hookfence exits once the delivery is done, long before the grace period ends");
    assert_eq!(status.code(), Some(0), "{}", hookfence.log());
    assert!(hookfence.log().contains("drained"), "{}", hookfence.log());
}

/// Nothing in flight, a keep-alive connection idle: SIGTERM closes it and
/// exits without waiting for the grace period.
#[test]
fn sigterm_exits_without_waiting_when_idle() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let mut hookfence = Hookfence::start(
        LONG_GRACE,
        &github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
        &[("GH", "s3cret")],
    );
    let body = b"{}";
    let signature = github_signature(b"s3cret", body);
    let id = fresh_id("idle");
    let mut idle = Client::connect(hookfence.addr);
    let answer = idle
        .send(&request(
            "POST",
            "/hooks/github",
            &[("X-Hub-Signature-256", &signature), ("X-GitHub-Delivery", &id)],
            body,
        ))
        .response();
    assert_eq!(answer.status, 200);
    hookfence.signal("TERM");
    let status = hookfence
        .wait_exit(Duration::from_secs(10))
        .expect("an idle hookfence exits long before the grace period ends");
    assert_eq!(status.code(), Some(0), "{}", hookfence.log());
    assert!(idle.is_closed(), "the idle keep-alive connection was closed");
}

/// During the drain, a second SIGTERM or a SIGINT stops hookfence at once,
/// even with a delivery still waiting for its upstream; the exit status
/// says something was cut off.
#[test]
fn a_second_sigterm_or_a_sigint_during_the_drain_stops_at_once() {
    for second in ["TERM", "INT"] {
        let upstream = Upstream::start(Behaviour::Hang);
        let mut hookfence = Hookfence::start(
            LONG_GRACE,
            &github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
            &[("GH", "s3cret")],
        );
        let addr = hookfence.addr;
        let _in_flight =
            thread::spawn(move || deliver_github(addr, "/hooks/github", "s3cret", &fresh_id("cut"), b"{}"));
        wait_until("the delivery to reach the upstream", || upstream.requests().len() == 1);
        hookfence.signal("TERM");
        assert!(
            hookfence.wait_exit(Duration::from_millis(500)).is_none(),
            "SIGTERM alone waits for the delivery in flight"
        );
        hookfence.signal(second);
        let status = hookfence
            .wait_exit(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("SIG{second} during the drain stops hookfence at once"));
        assert_eq!(status.code(), Some(1), "SIG{second}: {}", hookfence.log());
        assert!(hookfence.log().contains("stopping at once"), "{}", hookfence.log());
    }
}

/// When `shutdown_grace` runs out with a delivery still waiting for its
/// upstream, hookfence stops (within about a second more) and its exit
/// status says a request was cut off.
#[test]
fn when_the_grace_period_runs_out_the_exit_status_says_a_request_was_cut_off() {
    let upstream = Upstream::start(Behaviour::Hang);
    let mut hookfence = Hookfence::start(
        "shutdown_grace = \"1s\"",
        &github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
        &[("GH", "s3cret")],
    );
    let addr = hookfence.addr;
    let _in_flight = thread::spawn(move || deliver_github(addr, "/hooks/github", "s3cret", &fresh_id("late"), b"{}"));
    wait_until("the delivery to reach the upstream", || upstream.requests().len() == 1);
    hookfence.signal("TERM");
    let status = hookfence
        .wait_exit(Duration::from_secs(10))
        .expect("hookfence stops when the grace period is over");
    assert_eq!(status.code(), Some(1), "{}", hookfence.log());
    assert!(
        hookfence.log().contains("shutdown_grace ran out"),
        "{}",
        hookfence.log()
    );
}

/// A self-signed certificate for `localhost` and its key, as PEM.
fn certificate() -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

#[test]
fn tls_listener_serves_verified_deliveries() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let (cert_pem, key_pem) = certificate();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("tls.key"), &key_pem).unwrap();
    let tls_port = support::free_port();
    let server = format!("tls_listen = \"127.0.0.1:{tls_port}\"\ntls_cert = \"tls.crt\"\ntls_key = \"tls.key\"");
    let hookfence = Hookfence::start_in(
        dir,
        &server,
        &github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
        &[("GH", "s3cret")],
    );

    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject as _;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("PEM");
    roots.add(der).expect("trust the test certificate");
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", tls_port)).expect("connect to the TLS listener");
    tcp.set_read_timeout(Some(support::IO_TIMEOUT)).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);

    let body = b"{\"over\":\"tls\"}";
    let signature = github_signature(b"s3cret", body);
    let request = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: localhost\r\nX-GitHub-Delivery: {}\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        fresh_id("op"),
        body.len()
    );
    tls.write_all(request.as_bytes()).unwrap();
    tls.write_all(body).unwrap();
    let mut status_line = String::new();
    BufReader::new(&mut tls)
        .read_line(&mut status_line)
        .expect("an answer over TLS");
    assert!(status_line.starts_with("HTTP/1.1 200"), "{status_line}");
    assert_eq!(upstream.requests()[0].body, body);
    drop(hookfence);
}

#[test]
fn sign_makes_deliveries_that_hookfence_accepts() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let routes = format!(
        r#"
{}
[[routes]]
name = "stripe"
path = "/hooks/stripe"
upstream = "{up}"
provider = "stripe"
secrets = ["env:STRIPE"]

[[routes]]
name = "sw"
path = "/hooks/sw"
upstream = "{up}"
provider = "standard-webhooks"
secrets = ["env:SW"]
"#,
        github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
        up = upstream.url()
    );
    let env = [
        ("GH", "gh-secret"),
        ("STRIPE", "whsec_stripe"),
        ("SW", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ];
    let hookfence = Hookfence::start("", &routes, &env);
    let body_file = hookfence.dir().join("body.json");
    std::fs::write(&body_file, br#"{"hello":"from sign"}"#).unwrap();
    let body = body_file.to_str().unwrap();
    let url = |path: &str| format!("http://{}{path}", hookfence.addr);

    // A preset and a secret reference.
    let (ok, out, err) = hookfence_command(
        &[
            "sign",
            "--provider",
            "github",
            "--secret",
            "env:GH",
            "--body",
            body,
            "--event",
            "push",
            "--send",
            &url("/hooks/github"),
        ],
        &env,
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("upstream says hi"), "{out}");
    // The same with a wrong secret is refused.
    let (_, out, _) = hookfence_command(
        &[
            "sign",
            "--provider",
            "github",
            "--secret",
            "not-it",
            "--body",
            body,
            "--send",
            &url("/hooks/github"),
        ],
        &[],
    );
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");

    // A route of the running config: timestamped schemes included.
    let config = hookfence.config_path().to_str().unwrap().to_owned();
    for (route, path) in [("stripe", "/hooks/stripe"), ("sw", "/hooks/sw")] {
        let (ok, out, err) = hookfence_command(
            &[
                "sign",
                "--config",
                &config,
                "--route",
                route,
                "--body",
                body,
                "--send",
                &url(path),
            ],
            &env,
        );
        assert!(ok && out.starts_with("HTTP/1.1 200"), "{route}: {out}{err}");
    }
    assert_eq!(upstream.requests().len(), 3);
    let delivered = &upstream.requests()[0];
    assert_eq!(delivered.body, br#"{"hello":"from sign"}"#);
    assert_eq!(delivered.header_str("x-github-event"), Some("push"));
    assert!(delivered
        .header_str("x-github-delivery")
        .is_some_and(|id| id.starts_with("hookfence-test-")));

    // Headers and curl output.
    let (ok, out, _) = hookfence_command(
        &["sign", "--provider", "github", "--secret", "gh-secret", "--body", body],
        &[],
    );
    assert!(ok);
    let expected = github_signature(b"gh-secret", br#"{"hello":"from sign"}"#);
    assert!(out.contains(&format!("X-Hub-Signature-256: {expected}\n")), "{out}");
    let (ok, out, _) = hookfence_command(
        &[
            "sign",
            "--provider",
            "github",
            "--secret",
            "gh-secret",
            "--body",
            body,
            "--curl",
            "https://hooks.example.com/x",
        ],
        &[],
    );
    assert!(
        ok && out.starts_with("curl -sS -i -X POST 'https://hooks.example.com/x'"),
        "{out}"
    );
    assert!(
        out.contains(&format!("-H 'X-Hub-Signature-256: {expected}'"))
            && out.contains(&format!("--data-binary '@{body}'"))
    );

    // Ed25519 cannot be signed without the private key: said plainly.
    let (ok, _, err) = hookfence_command(
        &[
            "sign",
            "--provider",
            "discord",
            "--secret",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "--body",
            body,
        ],
        &[],
    );
    assert!(!ok && err.contains("private key"), "{err}");
}
