//! Rotation you can see: which of a route's secrets verified each
//! delivery, by position and reference (never the value), in a metric and
//! in the audit record and `/deliveries`; `hookfence check` warns about
//! secrets that are all the same or look like placeholders.

mod support;

use serde_json::json;
use support::{deliver_github, fresh_id, github_route, hookfence_command, sample, Behaviour, Hookfence, Upstream};

const NEW: &str = "the-new-github-secret";
const OLD: &str = "the-old-github-secret";

#[test]
fn the_secret_that_matched_is_counted_and_recorded_by_position_and_reference() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = Hookfence::start(
        "",
        &github_route(
            "github",
            "/hooks/github",
            &upstream.url(),
            "\"env:GH_NEW\", \"env:GH_OLD\"",
            "",
        ),
        &[("GH_NEW", NEW), ("GH_OLD", OLD)],
    );
    let matches = |position: &str, secret: &str| {
        let metrics = hookfence.admin_get("/metrics");
        sample(
            metrics.body_str(),
            &format!("hookfence_secret_matches_total{{position=\"{position}\",route=\"github\",secret=\"{secret}\"}}"),
        )
    };
    assert_eq!(
        matches("2", "env:GH_OLD"),
        Some(0.0),
        "every secret's series exists from the start"
    );

    let by_old = fresh_id("old");
    assert_eq!(
        deliver_github(hookfence.addr, "/hooks/github", OLD, &by_old, b"{}").status,
        200
    );
    for _ in 0..2 {
        assert_eq!(
            deliver_github(hookfence.addr, "/hooks/github", NEW, &fresh_id("new"), b"{}").status,
            200
        );
    }
    assert_eq!(
        deliver_github(hookfence.addr, "/hooks/github", "forged", &fresh_id("f"), b"{}").status,
        401
    );
    hookfence.wait_for_audit(4);
    assert_eq!(matches("1", "env:GH_NEW"), Some(2.0));
    assert_eq!(matches("2", "env:GH_OLD"), Some(1.0));

    let record = hookfence.listed("github", &by_old);
    assert_eq!(record["secret_position"], json!(2));
    assert_eq!(record["secret"], json!("env:GH_OLD"));
    assert!(
        hookfence.log().contains("secret=\"env:GH_OLD\""),
        "the audit record says it too"
    );
    let listing = hookfence.admin_get("/deliveries?route=github");
    let text = listing.body_str();
    assert!(!text.contains(OLD) && !text.contains(NEW), "never a value: {text}");
}

#[test]
fn check_warns_about_secrets_that_rotate_nothing_or_look_like_placeholders() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookfence.toml");
    let check = |secrets: &str, env: &[(&str, &str)]| {
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n{}",
                github_route("github", "/hooks/github", "http://127.0.0.1:9", secrets, "")
            ),
        )
        .unwrap();
        hookfence_command(&["check", "--config", config.to_str().unwrap()], env)
    };
    let (ok, _, stderr) = check(
        "\"env:A\", \"env:B\"",
        &[("A", "same-value-twice"), ("B", "same-value-twice")],
    );
    assert!(ok, "a warning, not an error: {stderr}");
    assert!(
        stderr.contains("warning: ") && stderr.contains("routes[0].secrets: all the secrets are the same value"),
        "{stderr}"
    );
    assert!(stderr.contains("hookfence.toml:"), "with the file and line: {stderr}");
    let (ok, _, stderr) = check("\"env:A\"", &[("A", "changeme")]);
    assert!(ok);
    assert!(
        stderr.contains("routes[0].secrets[0]: the secret reads like a placeholder"),
        "{stderr}"
    );
    let (ok, _, stderr) = check("\"env:A\"", &[("A", "short")]);
    assert!(ok);
    assert!(stderr.contains("is shorter than 8 bytes"), "{stderr}");
    let (ok, _, stderr) = check(
        "\"env:A\", \"env:B\"",
        &[("A", "a-real-looking-secret"), ("B", "another-real-secret")],
    );
    assert!(ok);
    assert!(!stderr.contains("warning"), "{stderr}");
}
