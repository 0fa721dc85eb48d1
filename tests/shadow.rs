//! Shadow mode and what the backend is told. A shadow route (`enforce =
//! false`, opted into twice) verifies and records everything but forwards
//! what fails, marked `X-Hookfence-Verified: false` with the reason; every
//! forwarded delivery carries hookfence's own `X-Hookfence-*` marks and
//! never a client's copy of them.

mod support;

use serde_json::json;
use support::{
    fresh_id, github_route, github_signature, hookfence_command, post, sample, Behaviour, Hookfence, Recorded, Upstream,
};

const SECRET: &str = "shadow-secret";

/// A GitHub route in shadow mode, with `extra` lines.
fn shadow_route(upstream: &Upstream, extra: &str) -> String {
    github_route(
        "github",
        "/hooks/github",
        &upstream.url(),
        "\"env:GH\"",
        &format!("enforce = false\n{extra}"),
    )
}

fn github(hookfence: &Hookfence, id: &str, secret: &str, extra: &[(&str, &str)]) -> support::Response {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let signature = github_signature(secret.as_bytes(), body);
    let mut headers = vec![
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", id),
        ("X-Hub-Signature-256", signature.as_str()),
    ];
    headers.extend_from_slice(extra);
    post(hookfence.addr, "/hooks/github", &headers, body)
}

/// Every value of `name` the upstream received (names are lowercased).
fn all(request: &Recorded, name: &str) -> Vec<String> {
    request
        .headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect()
}

#[test]
fn a_shadow_route_needs_the_global_opt_in_and_a_signed_route() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookfence.toml");
    let check = |server: &str, route_extra: &str| {
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n{server}\n{}",
                github_route(
                    "github",
                    "/hooks/github",
                    "http://127.0.0.1:9",
                    "\"env:GH\"",
                    route_extra
                )
            ),
        )
        .unwrap();
        hookfence_command(&["check", "--config", config.to_str().unwrap()], &[("GH", SECRET)])
    };
    let (ok, _, stderr) = check("", "enforce = false");
    assert!(!ok);
    assert!(
        stderr.contains("routes[0].enforce: enforce = false also needs `allow_shadow = true` in [server]"),
        "{stderr}"
    );
    let (ok, _, stderr) = check("allow_shadow = true", "enforce = false");
    assert!(ok, "{stderr}");
    let unsigned = "enforce = false\nverify = \"none\"";
    let (ok, _, stderr) = check("allow_shadow = true\nallow_unsigned = true", unsigned);
    assert!(!ok);
    assert!(stderr.contains("an unsigned route verifies nothing"), "{stderr}");
}

#[test]
fn a_forged_delivery_on_a_shadow_route_is_forwarded_marked_and_counted_as_rejected() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = Hookfence::start("allow_shadow = true", &shadow_route(&upstream, ""), &[("GH", SECRET)]);
    assert!(hookfence.log().contains("shadow mode"), "{}", hookfence.log());
    let metrics = hookfence.admin_get("/metrics");
    assert_eq!(
        sample(metrics.body_str(), "hookfence_route_shadow_mode{route=\"github\"}"),
        Some(1.0)
    );

    let forged_id = fresh_id("forged");
    let sender_trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let answer = github(
        &hookfence,
        &forged_id,
        "not-the-secret",
        &[("X-Hookfence-Verified", "true"), ("traceparent", sender_trace)],
    );
    assert_eq!(
        (answer.status, answer.body_str()),
        (200, "upstream says hi"),
        "the sender gets the upstream's answer"
    );
    let genuine_id = fresh_id("genuine");
    assert_eq!(github(&hookfence, &genuine_id, SECRET, &[]).status, 200);

    let requests = upstream.requests();
    assert_eq!(requests.len(), 2, "both reached the upstream");
    let (forged, genuine) = (&requests[0], &requests[1]);
    assert_eq!(
        all(forged, "x-hookfence-verified"),
        ["false"],
        "the client's copy is gone, hookfence's says false"
    );
    assert_eq!(all(forged, "x-hookfence-unverified-reason"), ["rejected_bad_signature"]);
    let forwarded_trace = all(forged, "traceparent");
    assert_eq!(forwarded_trace.len(), 1);
    assert!(
        !forwarded_trace[0].contains("4bf92f3577b34da6a3ce929d0e0e4736"),
        "an unverified sender's trace is not continued: {forwarded_trace:?}"
    );
    assert_eq!(all(genuine, "x-hookfence-verified"), ["true"]);
    assert!(all(genuine, "x-hookfence-unverified-reason").is_empty());

    hookfence.wait_for_audit(2);
    let record = hookfence.listed("github", &forged_id);
    assert_eq!(record["outcome"], json!("rejected_bad_signature"));
    assert_eq!(record["shadow"], json!(true));
    assert_eq!(record["upstream_status"], json!(200));
    assert_eq!(hookfence.listed("github", &genuine_id)["outcome"], json!("forwarded"));
    let metrics = hookfence.admin_get("/metrics");
    let count = |outcome: &str| {
        sample(
            metrics.body_str(),
            &format!("hookfence_requests_total{{outcome=\"{outcome}\",provider=\"github\",route=\"github\"}}"),
        )
    };
    assert_eq!(count("rejected_bad_signature"), Some(1.0));
    assert_eq!(count("forwarded"), Some(1.0));
}

/// An unverified delivery is not remembered: a forger cannot burn the id
/// of a genuine delivery that arrives later.
#[test]
fn an_unverified_delivery_on_a_shadow_route_does_not_burn_its_id() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = Hookfence::start("allow_shadow = true", &shadow_route(&upstream, ""), &[("GH", SECRET)]);
    let id = fresh_id("burn");
    assert_eq!(github(&hookfence, &id, "not-the-secret", &[]).status, 200);
    let genuine = github(&hookfence, &id, SECRET, &[]);
    assert_eq!(genuine.body_str(), "upstream says hi", "not answered as a duplicate");
    assert_eq!(
        github(&hookfence, &id, SECRET, &[]).json(),
        json!({ "status": "duplicate" }),
        "the verified one is remembered"
    );
}

#[test]
fn every_forwarded_delivery_carries_hookfences_marks_and_never_a_clients() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = Hookfence::start(
        "",
        &github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
        &[("GH", SECRET)],
    );
    let id = fresh_id("marks");
    let spoofed = [
        ("X-Hookfence-Verified", "false"),
        ("x-hookfence-provider", "evil"),
        ("X-HOOKFENCE-EVENT", "deploy"),
        ("X-Hookfence-Delivery-Id", "someone-elses"),
        ("X-Hookfence-Delivery", "not-a-queue-id"),
        ("X-Hookfence-Anything", "x"),
    ];
    assert_eq!(github(&hookfence, &id, SECRET, &spoofed).status, 200);
    let received = &upstream.requests()[0];
    let marks: Vec<(String, String)> = received
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-hookfence-"))
        .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    assert_eq!(
        marks,
        [
            ("x-hookfence-verified".to_owned(), "true".to_owned()),
            ("x-hookfence-provider".to_owned(), "github".to_owned()),
            ("x-hookfence-event".to_owned(), "push".to_owned()),
            ("x-hookfence-delivery-id".to_owned(), id.clone()),
        ]
    );
    // A forged delivery on an enforcing route never gets that far.
    assert_eq!(github(&hookfence, &fresh_id("f"), "wrong", &spoofed).status, 401);
    assert_eq!(upstream.requests().len(), 1);
}

/// A value read from a (forged, on a shadow route) body that could start
/// a header line of its own is not written into a mark.
#[test]
fn a_mark_read_from_the_body_cannot_inject_a_header_line() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let route = format!(
        "[[routes]]\nname = \"stripe\"\npath = \"/hooks/stripe\"\nupstream = \"{}\"\nprovider = \"stripe\"\nsecrets = [\"env:ST\"]\nenforce = false\n",
        upstream.url()
    );
    let hookfence = Hookfence::start("allow_shadow = true", &route, &[("ST", "whsec_shadow")]);
    let body = br#"{"id":"evt_1","type":"charge.succeeded\r\nX-Evil: 1"}"#;
    let answer = post(
        hookfence.addr,
        "/hooks/stripe",
        &[("Stripe-Signature", "t=1,v1=00")],
        body,
    );
    assert_eq!(answer.status, 200);
    let received = &upstream.requests()[0];
    assert!(all(received, "x-evil").is_empty(), "{:?}", received.headers);
    assert!(all(received, "x-hookfence-event").is_empty());
    assert_eq!(all(received, "x-hookfence-delivery-id"), ["evt_1"]);
    assert_eq!(all(received, "x-hookfence-verified"), ["false"]);
}

/// Shadow mode relaxes verification only: a route that requires a delivery
/// id still refuses a delivery without one, verified or not.
#[test]
fn a_shadow_route_still_requires_its_delivery_id() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let route = shadow_route(&upstream, "require_delivery_id = true");
    let hookfence = Hookfence::start("allow_shadow = true", &route, &[("GH", SECRET)]);
    let body = b"{}";
    let forged = github_signature(b"not-the-secret", body);
    let answer = post(
        hookfence.addr,
        "/hooks/github",
        &[("X-Hub-Signature-256", &forged)],
        body,
    );
    assert_eq!(answer.status, 400);
    assert!(upstream.requests().is_empty());
}

/// An unverified delivery signed by `sign_forwarded` on a shadow route is
/// named by a fresh `webhook-id`, never the sender's id: a backend that
/// deduplicates on it cannot have a genuine id burnt by a forger.
#[test]
fn an_unverified_delivery_is_signed_under_a_fresh_id() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let route = shadow_route(
        &upstream,
        "sign_forwarded = { format = \"standard-webhooks\", secrets = [\"env:W\"] }",
    );
    let hookfence = Hookfence::start(
        "allow_shadow = true",
        &route,
        &[("GH", SECRET), ("W", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")],
    );
    let (forged_id, genuine_id) = (fresh_id("forged"), fresh_id("genuine"));
    assert_eq!(github(&hookfence, &forged_id, "not-the-secret", &[]).status, 200);
    assert_eq!(github(&hookfence, &genuine_id, SECRET, &[]).status, 200);
    let requests = upstream.requests();
    let forged = requests[0].header_str("webhook-id").expect("signed").to_owned();
    assert!(forged.starts_with("msg_") && forged != forged_id, "{forged}");
    assert_eq!(requests[1].header_str("webhook-id"), Some(genuine_id.as_str()));
}
