//! Route features through the real binary: event and branch allow-lists,
//! answering a ping, per-tenant secrets, a custom scheme declared in TOML, a
//! URL-signing provider behind `public_url`, and query tokens stripped
//! before forwarding. Each asserts what the upstream saw (or that it saw
//! nothing).

mod support;

use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use support::{github_signature, post, Behaviour, Hookfence, Upstream};

/// A GitHub delivery with a fresh delivery id (the same id twice is a
/// duplicate, which tests/dedup.rs covers).
fn github_delivery(secret: &str, event: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    vec![
        ("X-GitHub-Event", event.to_owned()),
        (
            "X-GitHub-Delivery",
            format!("delivery-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed)),
        ),
        ("X-Hub-Signature-256", github_signature(secret.as_bytes(), body)),
    ]
}

fn send(hookfence: &Hookfence, path: &str, headers: &[(&'static str, String)], body: &[u8]) -> support::Response {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    post(hookfence.addr, path, &headers, body)
}

#[test]
fn event_and_branch_allow_lists_acknowledge_without_forwarding() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let routes = format!(
        r#"
[[routes]]
name = "deploys"
path = "/hooks/github"
upstream = "{}"
provider = "github"
secrets = ["env:GH"]
events = ["push", "ping"]
branches = ["main", "release/*"]
"#,
        upstream.url()
    );
    let hookfence = Hookfence::start("", &routes, &[("GH", "s3cret")]);
    let push = |r: &str| format!(r#"{{"ref":"refs/heads/{r}","after":"abc"}}"#).into_bytes();

    for (event, body) in [
        ("issues", br#"{"action":"opened"}"#.to_vec()),
        ("push", push("feature/x")),
    ] {
        let response = send(
            &hookfence,
            "/hooks/github",
            &github_delivery("s3cret", event, &body),
            &body,
        );
        assert_eq!(response.status, 202, "{event}: {}", response.body_str());
        assert_eq!(response.json(), json!({ "status": "ignored" }));
    }
    assert_eq!(upstream.connections(), 0, "a filtered delivery reached the upstream");

    // A forged delivery of an ignored event is refused, not acknowledged.
    let body = br#"{"action":"opened"}"#;
    let response = send(
        &hookfence,
        "/hooks/github",
        &github_delivery("guess", "issues", body),
        body,
    );
    assert_eq!(response.status, 401);

    for branch in ["main", "release/2.1"] {
        let body = push(branch);
        let response = send(
            &hookfence,
            "/hooks/github",
            &github_delivery("s3cret", "push", &body),
            &body,
        );
        assert_eq!(response.status, 200, "{branch}: {}", response.body_str());
    }
    let seen = upstream.wait_for_requests(2);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].body, push("release/2.1"));
    assert_eq!(
        hookfence.wait_for_outcomes(5),
        [
            "filtered",
            "filtered",
            "forwarded",
            "forwarded",
            "rejected_bad_signature"
        ]
    );
}

#[test]
fn github_ping_is_answered_in_place_when_the_route_says_so() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let routes = format!(
        r#"
[[routes]]
name = "github"
path = "/hooks/github"
upstream = "{}"
provider = "github"
secrets = ["env:GH"]
answer_ping = true
"#,
        upstream.url()
    );
    let hookfence = Hookfence::start("", &routes, &[("GH", "s3cret")]);
    let body = br#"{"zen":"Design for failure.","hook_id":1}"#;
    let response = send(
        &hookfence,
        "/hooks/github",
        &github_delivery("s3cret", "ping", body),
        body,
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), json!({ "status": "pong" }));
    assert_eq!(upstream.connections(), 0);
    // Only a verified ping is answered.
    let response = send(
        &hookfence,
        "/hooks/github",
        &github_delivery("wrong", "ping", body),
        body,
    );
    assert_eq!(response.status, 401);
}

#[test]
fn per_tenant_secrets_by_path_parameter() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("apps.toml"),
        "# app id = secret (or a list during rotation)\n\"300\" = [\"app-300-new\", \"app-300-old\"]\n",
    )
    .unwrap();
    let routes = format!(
        r#"
[[routes]]
name = "github-apps"
path = "/v1/webhooks/github/{{app_id}}"
upstream = "{}"
provider = "github"
tenant_param = "app_id"
tenant_secrets_file = "apps.toml"
[routes.tenant_secrets]
"100" = "env:APP_100"
"200" = ["env:APP_200"]
"#,
        upstream.url()
    );
    let hookfence = Hookfence::start_in(dir, "", &routes, &[("APP_100", "app-100"), ("APP_200", "app-200")]);
    let body = br#"{"action":"created"}"#;
    for (app, secret) in [("100", "app-100"), ("200", "app-200"), ("300", "app-300-old")] {
        let path = format!("/v1/webhooks/github/{app}");
        let response = send(&hookfence, &path, &github_delivery(secret, "installation", body), body);
        assert_eq!(response.status, 200, "app {app}: {}", response.body_str());
    }
    // One tenant's secret does not open another tenant's route.
    let response = send(
        &hookfence,
        "/v1/webhooks/github/200",
        &github_delivery("app-100", "installation", body),
        body,
    );
    assert_eq!(response.status, 401);
    let response = send(
        &hookfence,
        "/v1/webhooks/github/999",
        &github_delivery("app-100", "installation", body),
        body,
    );
    assert_eq!(response.status, 404);
    assert_eq!(response.json(), json!({ "error": "no source for this app" }));
    assert_eq!(upstream.wait_for_requests(3).len(), 3);
    assert_eq!(upstream.requests().len(), 3, "refused deliveries reached the upstream");
}

#[test]
fn custom_scheme_declared_in_toml() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let routes = format!(
        r#"
[[routes]]
name = "cg"
path = "/hooks/cg"
upstream = "{}"
secrets = ["env:CG"]
[routes.custom]
header = "X-CG-Hook-Signature"
prefix = "sha256="
algorithm = "sha256"
encoding = "hex"
"#,
        upstream.url()
    );
    let hookfence = Hookfence::start("", &routes, &[("CG", "cg-secret")]);
    let body = b"{\"hello\":\"cg\"}";
    let good = github_signature(b"cg-secret", body);
    let response = post(hookfence.addr, "/hooks/cg", &[("X-CG-Hook-Signature", &good)], body);
    assert_eq!(response.status, 200, "{}", response.body_str());
    let response = post(hookfence.addr, "/hooks/cg", &[("X-CG-Hook-Signature", &good)], b"{}");
    assert_eq!(response.status, 401);
    let response = post(hookfence.addr, "/hooks/cg", &[], body);
    assert_eq!(response.json(), json!({ "error": "missing X-Cg-Hook-Signature" }));
    assert_eq!(upstream.requests().len(), 1);
}

/// Square signs the notification URL as registered, plus the body: the
/// route's `public_url` plus the request path must reproduce it.
#[test]
fn url_signing_provider_behind_public_url() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let routes = format!(
        r#"
[[routes]]
name = "square"
path = "/hooks/square"
upstream = "{}"
provider = "square"
secrets = ["env:SQ"]
public_url = "https://hooks.example.com"
"#,
        upstream.url()
    );
    let hookfence = Hookfence::start("", &routes, &[("SQ", "sq-key")]);
    let body = br#"{"event_id":"e1","type":"payment.updated"}"#;
    let sign = |url: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"sq-key").unwrap();
        mac.update(url.as_bytes());
        mac.update(body);
        B64.encode(mac.finalize().into_bytes())
    };
    let good = sign("https://hooks.example.com/hooks/square?v=2");
    let response = post(
        hookfence.addr,
        "/hooks/square?v=2",
        &[("x-square-hmacsha256-signature", &good)],
        body,
    );
    assert_eq!(response.status, 200, "{}", response.body_str());
    let other_host = sign("https://evil.example.com/hooks/square?v=2");
    let response = post(
        hookfence.addr,
        "/hooks/square?v=2",
        &[("x-square-hmacsha256-signature", &other_host)],
        body,
    );
    assert_eq!(response.status, 401);
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn query_token_is_checked_and_stripped_before_forwarding() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let routes = format!(
        r#"
[[routes]]
name = "jira"
path = "/hooks/jira"
upstream = "{}"
provider = "jira-token"
secrets = ["env:JT"]
strip_credential = true
"#,
        upstream.url()
    );
    let hookfence = Hookfence::start("", &routes, &[("JT", "a token/with+chars")]);
    let body = br#"{"webhookEvent":"jira:issue_created"}"#;
    let response = post(hookfence.addr, "/hooks/jira?user=1&token=wrong", &[], body);
    assert_eq!(response.status, 401);
    assert_eq!(response.json(), json!({ "error": "invalid token" }));
    let response = post(
        hookfence.addr,
        "/hooks/jira?user=1&token=a%20token%2Fwith%2Bchars",
        &[],
        body,
    );
    assert_eq!(response.status, 200, "{}", response.body_str());
    let seen = upstream.wait_for_requests(1);
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].target, "/hooks/jira?user=1",
        "the token must not reach the backend"
    );
}
