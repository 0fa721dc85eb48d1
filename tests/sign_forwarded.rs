//! `sign_forwarded` in the Standard Webhooks format, checked by the
//! Standard Webhooks reference library (the `standardwebhooks` package from
//! PyPI, run here): every one of several signing secrets verifies the
//! forwarded delivery, a stranger's does not, and the id is stable.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::{post, tool, Behaviour, Hookfence, Recorded, Upstream};

const CURRENT: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEXT: &str = "whsec_c2VjcmV0LWZvci10aGUtbmV4dC1yb3RhdGlvbg==";
const STRANGER: &str = "whsec_bm90LW9uZS1vZi1ob29rZmVuY2Vz";

/// What `standardwebhooks.Webhook(secret).verify(body, headers)` says of
/// the request the upstream received: `ok`, or the error.
fn reference_verify(secret: &str, request: &Recorded) -> String {
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers
        .iter()
        .filter(|(name, _)| name.starts_with("webhook-"))
        .map(|(name, value)| (name.clone(), String::from_utf8_lossy(value).into_owned().into()))
        .collect();
    let input = serde_json::json!({
        "secret": secret,
        "body": String::from_utf8_lossy(&request.body),
        "headers": headers,
    });
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
given = json.load(sys.stdin)
try:
    Webhook(given["secret"]).verify(given["body"], given["headers"])
    print("ok")
except Exception as e:
    print("refused: %s" % e)
"#;
    let mut child = Command::new(tool("python"))
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("python");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn standard_webhooks_signatures_verify_with_the_reference_library_under_every_secret() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let route = format!(
        "[[routes]]\nname = \"gitlab\"\npath = \"/hooks/gitlab\"\nupstream = \"{}\"\nprovider = \"gitlab\"\nsecrets = [\"env:GL\"]\nstrip_credential = true\nsign_forwarded = {{ format = \"standard-webhooks\", secrets = [\"env:CURRENT\", \"env:NEXT\"] }}\n",
        upstream.url()
    );
    let hookfence = Hookfence::start(
        "",
        &route,
        &[("GL", "gitlab-shared-token"), ("CURRENT", CURRENT), ("NEXT", NEXT)],
    );
    let body = br#"{"object_kind":"push","ref":"refs/heads/main"}"#;
    let forged_headers = [
        ("X-Gitlab-Token", "gitlab-shared-token"),
        ("Idempotency-Key", "5b4e2a1c-9a5e-4a0e-8a55-0d3c7b1e2f10"),
        ("webhook-signature", "v1,forged"),
    ];
    assert_eq!(post(hookfence.addr, "/hooks/gitlab", &forged_headers, body).status, 200);
    let received = &upstream.requests()[0];
    let signatures = received.header_str("webhook-signature").expect("signed");
    assert_eq!(
        signatures.split(' ').count(),
        2,
        "one signature per secret: {signatures}"
    );
    assert!(!signatures.contains("forged"), "the client's copy is gone");
    assert_eq!(
        received.header_str("webhook-id"),
        Some("5b4e2a1c-9a5e-4a0e-8a55-0d3c7b1e2f10"),
        "the sender's delivery id names the message"
    );
    assert_eq!(received.body, body, "the body, byte for byte");
    assert_eq!(reference_verify(CURRENT, received), "ok");
    assert_eq!(reference_verify(NEXT, received), "ok");
    assert!(reference_verify(STRANGER, received).starts_with("refused"));
}

#[test]
fn sign_forwarded_settings_that_cannot_work_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookfence.toml");
    let cases = [
        (
            "{ format = \"standard-webhooks\", header = \"X-Sig\", secrets = [\"env:W\"] }",
            "routes[0].sign_forwarded.header: Standard Webhooks writes",
        ),
        (
            "{ format = \"standard-webhooks\", secrets = [\"env:PLAIN\"] }",
            "routes[0].sign_forwarded.secrets[0]",
        ),
        (
            "{ format = \"jws\", secret = \"env:W\" }",
            "routes[0].sign_forwarded.format: unknown format `jws`",
        ),
        ("{ header = \"X-Sig\" }", "routes[0].sign_forwarded.secret: missing"),
    ];
    for (setting, expected) in cases {
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n[[routes]]\nname = \"gl\"\npath = \"/gl\"\nupstream = \"http://127.0.0.1:9\"\nprovider = \"gitlab\"\nsecrets = [\"env:GL\"]\nsign_forwarded = {setting}\n"
            ),
        )
        .unwrap();
        let (ok, _, stderr) = support::hookfence_command(
            &["check", "--config", config.to_str().unwrap()],
            &[("GL", "gitlab-token-value"), ("W", CURRENT), ("PLAIN", "not base64 !")],
        );
        assert!(!ok, "{setting}");
        assert!(stderr.contains(expected), "{setting}: {stderr}");
    }
}
