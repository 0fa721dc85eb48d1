//! Endpoint handshakes answered by hookfence, never forwarded: the exact
//! answer each sender documents, only for a verified challenge (a forged
//! one is refused like any forged delivery), with the audit outcome
//! `handshake`; turned off per route with `handshake = false`.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use support::{post, Behaviour, Hookfence, Response, Upstream};

fn hmac_hex(secret: &str, message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn route(provider: &str, upstream: &Upstream, extra: &str) -> String {
    format!(
        "[[routes]]\nname = \"{provider}\"\npath = \"/hooks/{provider}\"\nupstream = \"{}\"\nprovider = \"{provider}\"\nsecrets = [\"env:KEY\"]\n{extra}\n",
        upstream.url()
    )
}

/// `GET target` on a connection of its own.
fn get(hookfence: &Hookfence, target: &str) -> Response {
    support::Client::connect(hookfence.addr)
        .send(format!("GET {target} HTTP/1.1\r\nHost: hooks\r\nConnection: close\r\n\r\n").as_bytes())
        .response()
}

fn start(provider: &str, key: &str, upstream: &Upstream, extra: &str) -> Hookfence {
    Hookfence::start("", &route(provider, upstream, extra), &[("KEY", key)])
}

/// Slack's or Zoom's `v0=` signature over `v0:{timestamp}:{body}`.
fn v0_signed(hookfence: &Hookfence, provider: &str, headers: (&str, &str), secret: &str, body: &[u8]) -> Response {
    let ts = now().to_string();
    let message = [b"v0:", ts.as_bytes(), b":", body].concat();
    let signature = format!("v0={}", hmac_hex(secret, &message));
    post(
        hookfence.addr,
        &format!("/hooks/{provider}"),
        &[(headers.0, signature.as_str()), (headers.1, ts.as_str())],
        body,
    )
}

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// The request body of Slack's documented example
/// (https://api.slack.com/events/url_verification).
const SLACK_CHALLENGE: &[u8] = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
const SLACK_HEADERS: (&str, &str) = ("X-Slack-Signature", "X-Slack-Request-Timestamp");

#[test]
fn slack_url_verification_is_answered_with_the_challenge() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start("slack", SLACK_SECRET, &upstream, "");
    let answer = v0_signed(&hookfence, "slack", SLACK_HEADERS, SLACK_SECRET, SLACK_CHALLENGE);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    // The documented answer, byte for byte.
    assert_eq!(
        answer.body_str(),
        r#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#
    );
    assert_eq!(hookfence.wait_for_outcomes(1), vec!["handshake"]);

    let forged = v0_signed(&hookfence, "slack", SLACK_HEADERS, "not-the-secret", SLACK_CHALLENGE);
    assert_eq!(forged.status, 401, "a forged challenge is not answered");
    assert!(!forged.body_str().contains("3eZbrw1aBm2rZgRNFdxV"));

    let event = br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#;
    assert_eq!(
        v0_signed(&hookfence, "slack", SLACK_HEADERS, SLACK_SECRET, event).body_str(),
        "upstream says hi",
        "events are forwarded"
    );
    assert_eq!(upstream.requests().len(), 1, "the challenge never reached the upstream");
}

#[test]
fn zoom_url_validation_is_answered_with_the_tokens_under_the_key_that_verified_it() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    // Rotation: the second secret is the one Zoom uses.
    let route = format!(
        "[[routes]]\nname = \"zoom\"\npath = \"/hooks/zoom\"\nupstream = \"{}\"\nprovider = \"zoom\"\nsecrets = [\"env:OLD\", \"env:KEY\"]\n",
        upstream.url()
    );
    let secret = "zoom-secret-token";
    let hookfence = Hookfence::start("", &route, &[("OLD", "retired-token"), ("KEY", secret)]);
    // Zoom's documented request.
    let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let headers = ("x-zm-signature", "x-zm-request-timestamp");
    let answer = v0_signed(&hookfence, "zoom", headers, secret, body);
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json(),
        json!({
            "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
            "encryptedToken": hmac_hex(secret, b"qgg8vlvZRS6UYooatFL8Aw"),
        })
    );
    let forged = v0_signed(&hookfence, "zoom", headers, "guess", body);
    assert_eq!(forged.status, 401, "no HMAC is computed for a stranger");
    assert!(upstream.requests().is_empty());
}

#[test]
fn twitch_callback_verification_is_answered_with_the_raw_challenge() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let secret = "twitch-secret";
    let hookfence = start("twitch", secret, &upstream, "");
    let body = br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"1","cost":1,"condition":{"broadcaster_user_id":"12826"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}"#;
    let send = |secret: &str| {
        let id = "e76c6bd4-55c9-4987-8304-da1588d8988b";
        let ts = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let signature = format!(
            "sha256={}",
            hmac_hex(secret, &[id.as_bytes(), ts.as_bytes(), body].concat())
        );
        post(
            hookfence.addr,
            "/hooks/twitch",
            &[
                ("Twitch-Eventsub-Message-Id", id),
                ("Twitch-Eventsub-Message-Timestamp", &ts),
                ("Twitch-Eventsub-Message-Signature", &signature),
                ("Twitch-Eventsub-Message-Type", "webhook_callback_verification"),
                ("Twitch-Eventsub-Subscription-Type", "channel.follow"),
            ],
            body,
        )
    };
    let answer = send(secret);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(answer.body_str(), "pogchamp-kappa-360noscope-vohiyo");
    assert_eq!(send("guess").status, 401);
    assert!(upstream.requests().is_empty());
}

#[test]
fn a_discord_ping_is_answered_with_a_pong() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let seed: [u8; 32] = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        .unwrap()
        .try_into()
        .unwrap();
    let signing = SigningKey::from_bytes(&seed);
    let public = hex::encode(signing.verifying_key().to_bytes());
    let hookfence = start("discord", &public, &upstream, "replay_window = \"5m\"");
    let send = |key: &SigningKey, body: &[u8]| {
        let ts = now().to_string();
        let signature = hex::encode(key.sign(&[ts.as_bytes(), body].concat()).to_bytes());
        post(
            hookfence.addr,
            "/hooks/discord",
            &[("X-Signature-Ed25519", &signature), ("X-Signature-Timestamp", &ts)],
            body,
        )
    };
    let ping = br#"{"application_id":"123","id":"456","token":"t","type":1,"version":1}"#;
    let answer = send(&signing, ping);
    assert_eq!(
        (answer.status, answer.body_str()),
        (200, r#"{"type":1}"#),
        "PONG, as documented"
    );
    let stranger = SigningKey::from_bytes(&[7; 32]);
    assert_eq!(send(&stranger, ping).status, 401);
    let command = br#"{"id":"789","type":2,"data":{"name":"deploy"}}"#;
    assert_eq!(send(&signing, command).body_str(), "upstream says hi");
    // Discord's Webhook Events use type 1 for real events, with `event`.
    let webhook_event = br#"{"version":1,"application_id":"123","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{}}}"#;
    assert_eq!(
        send(&signing, webhook_event).body_str(),
        "upstream says hi",
        "a Webhook Events event is not taken for a PING"
    );
    assert_eq!(upstream.requests().len(), 2);
}

#[test]
fn a_route_can_leave_the_handshake_to_its_backend() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start("slack", SLACK_SECRET, &upstream, "handshake = false");
    let answer = v0_signed(&hookfence, "slack", SLACK_HEADERS, SLACK_SECRET, SLACK_CHALLENGE);
    assert_eq!(answer.body_str(), "upstream says hi");
    assert_eq!(upstream.requests().len(), 1);
    assert_eq!(hookfence.wait_for_outcomes(1), vec!["forwarded"]);
}

#[test]
fn handshake_on_a_provider_without_one_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookfence.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:0\"\n[[routes]]\nname = \"gh\"\npath = \"/gh\"\nupstream = \"http://127.0.0.1:9\"\nprovider = \"github\"\nsecrets = [\"env:KEY\"]\nhandshake = true\n",
    )
    .unwrap();
    let (ok, _, stderr) = support::hookfence_command(&["check", "--config", config.to_str().unwrap()], &[("KEY", "k")]);
    assert!(!ok);
    assert!(
        stderr.contains("routes[0].handshake: this route's provider has no endpoint handshake"),
        "{stderr}"
    );
}

/// Meta's subscription check: a GET with `hub.mode=subscribe`, the app's
/// verify token and a challenge, answered with the challenge (Meta's
/// documented example); a wrong token is 403, another GET is not a
/// delivery, and deliveries still come as POSTs signed with the app secret.
#[test]
fn metas_subscription_check_is_answered_when_the_verify_token_matches() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let app_secret = "meta-app-secret";
    let hookfence = Hookfence::start(
        "",
        &route("meta", &upstream, "verify_token = \"env:VERIFY\""),
        &[("KEY", app_secret), ("VERIFY", "meatyhamhock")],
    );
    let check = |query: &str| get(&hookfence, &format!("/hooks/meta?{query}"));
    let answer = check("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock");
    assert_eq!((answer.status, answer.body_str()), (200, "1158201444"));
    assert_eq!(answer.header("content-type"), Some("text/plain; charset=utf-8"));
    let wrong = check("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess");
    assert_eq!(wrong.status, 403);
    assert_eq!(wrong.json(), json!({ "error": "verify token does not match" }));
    assert_eq!(check("hello=world").status, 405);

    let body = br#"{"object":"page","entry":[]}"#;
    let signature = format!("sha256={}", hmac_hex(app_secret, body));
    let delivery = post(
        hookfence.addr,
        "/hooks/meta",
        &[("X-Hub-Signature-256", &signature)],
        body,
    );
    assert_eq!(delivery.body_str(), "upstream says hi");
    assert_eq!(upstream.requests().len(), 1, "only the delivery reached the upstream");
    assert_eq!(
        hookfence.wait_for_outcomes(4),
        vec!["forwarded", "handshake", "rejected_bad_signature", "rejected_method"]
    );
}

/// Dropbox's verification request: an unsigned GET with `challenge`,
/// answered with the challenge as text (`nosniff`), on by default; signed
/// notifications still come as POSTs.
#[test]
fn dropboxs_verification_request_is_answered_with_the_challenge() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let app_secret = "dropbox-app-secret";
    let hookfence = start("dropbox", app_secret, &upstream, "");
    let check = |query: &str| get(&hookfence, &format!("/hooks/dropbox?{query}"));
    let answer = check("challenge=kg4F8p2L9tQz");
    assert_eq!((answer.status, answer.body_str()), (200, "kg4F8p2L9tQz"));
    assert_eq!(answer.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(check("challenge=%3Cscript%3E").status, 405, "markup is not echoed");
    let body = br#"{"list_folder":{"accounts":["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]}}"#;
    let signature = hmac_hex(app_secret, body);
    let delivery = post(
        hookfence.addr,
        "/hooks/dropbox",
        &[("X-Dropbox-Signature", &signature)],
        body,
    );
    assert_eq!(delivery.body_str(), "upstream says hi");
    assert_eq!(upstream.requests().len(), 1);

    let off = start("dropbox", app_secret, &upstream, "handshake = false");
    let refused = get(&off, "/hooks/dropbox?challenge=abc");
    assert_eq!(refused.status, 405, "with handshake = false the route takes POSTs only");
}

#[test]
fn oktas_verification_request_is_answered_from_its_header() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let secret = "Bearer okta-event-hook-secret";
    let hookfence = start("okta", secret, &upstream, "");
    let check = |headers: &str| {
        support::Client::connect(hookfence.addr)
            .send(format!("GET /hooks/okta HTTP/1.1\r\nHost: hooks\r\n{headers}Connection: close\r\n\r\n").as_bytes())
            .response()
    };
    // https://developer.okta.com/docs/concepts/event-hooks/#one-time-verification-request
    let answer = check("X-Okta-Verification-Challenge: 8wTxu5RhPmyE4jC0OLC7ri7mWkkr3uCu\r\n");
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body_str(),
        r#"{"verification":"8wTxu5RhPmyE4jC0OLC7ri7mWkkr3uCu"}"#
    );
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(check("").status, 405, "a GET without the challenge is not a delivery");
    assert_eq!(
        check("X-Okta-Verification-Challenge: <script>\r\n").status,
        405,
        "markup is not echoed"
    );
    assert!(upstream.requests().is_empty(), "the check is never forwarded");

    let body = br#"{"eventType":"com.okta.event_hook","eventId":"b5a188b9-5ece-4636-b041-482ffda96311","data":{"events":[{"eventType":"user.session.start"}]}}"#;
    let delivery = post(hookfence.addr, "/hooks/okta", &[("Authorization", secret)], body);
    assert_eq!(delivery.body_str(), "upstream says hi");
    let forged = post(
        hookfence.addr,
        "/hooks/okta",
        &[("Authorization", "Bearer guess")],
        body,
    );
    assert_eq!(forged.status, 401);
    assert_eq!(upstream.requests().len(), 1);
}
