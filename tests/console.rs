//! The deliveries console (`GET /` on the admin listener), driven in a real
//! headless browser: Debian's `chromium` through `chromium-driver`, by
//! selenium (tests/console/drive.py, from the pinned test tools). Signed,
//! forged, stale and token-in-the-query deliveries go through a running
//! hookfence; the page must show them as a person would read them, with
//! every credential redacted, and replay a dead letter to the upstream.
//! The screenshots land in `target/tmp/console/` (README's comes from there).
//!
//! The admin API's own guarantees are checked here too, without a browser:
//! state changes and delivery heads need the token, and no secret,
//! signature or token comes back from any endpoint the console reads.

mod support;

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use support::{deliver_github, github_signature, post, tool, wait_until, Behaviour, Hookfence, Upstream};

const OLD_SECRET: &str = "console-old-secret";
const NEW_SECRET: &str = "console-new-secret";
const STRIPE_SECRET: &str = "whsec_console_stripe";
const QUERY_TOKEN: &str = "console-query-token-123";
const ADMIN_TOKEN: &str = "console-admin-token";

fn stripe_header(body: &[u8], timestamp: u64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(STRIPE_SECRET.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

struct Scene {
    hookfence: Hookfence,
    direct: Upstream,
    queued: Upstream,
    signed_id: String,
    forged_id: String,
    query_id: String,
    dead_id: String,
    dead_delivery_id: String,
    dead_body: Vec<u8>,
    /// Credentials that must never come back from the admin listener.
    forbidden: Vec<String>,
}

fn scene() -> Scene {
    let direct = Upstream::start(Behaviour::Respond(200));
    // Refuses with 400 (not retried: a dead letter at once) until told otherwise.
    let queued = Upstream::start(Behaviour::Respond(400));
    let routes = format!(
        r#"
[queue]

[[routes]]
name = "github"
path = "/hooks/github"
upstream = "{direct}"
provider = "github"
secrets = ["env:GH_OLD", "env:GH_NEW"]
keep_bodies = true

[[routes]]
name = "stripe"
path = "/hooks/stripe"
upstream = "{direct}"
provider = "stripe"
secrets = ["env:STRIPE"]

[[routes]]
name = "tokened"
path = "/hooks/tokened"
upstream = "{direct}"
secrets = ["env:QT"]
delivery_id = "header:x-request-id"
[routes.custom]
kind = "token"
query = "key"

[[routes]]
name = "queued"
path = "/hooks/queued"
upstream = "{queued}"
provider = "github"
secrets = ["env:GH_NEW"]
delivery = "queued"
"#,
        direct = direct.url(),
        queued = queued.url(),
    );
    let hookfence = Hookfence::start(
        "admin_token = \"env:ADMIN\"",
        &routes,
        &[
            ("GH_OLD", OLD_SECRET),
            ("GH_NEW", NEW_SECRET),
            ("STRIPE", STRIPE_SECRET),
            ("QT", QUERY_TOKEN),
            ("ADMIN", ADMIN_TOKEN),
        ],
    );
    let addr = hookfence.addr;
    let mut forbidden = vec![
        OLD_SECRET.to_owned(),
        NEW_SECRET.to_owned(),
        STRIPE_SECRET.to_owned(),
        QUERY_TOKEN.to_owned(),
        ADMIN_TOKEN.to_owned(),
    ];

    let signed_id = support::fresh_id("console-signed");
    let body = br#"{"action":"opened","number":7}"#;
    let response = deliver_github(addr, "/hooks/github", NEW_SECRET, &signed_id, body);
    assert_eq!(response.status, 200, "{}", response.body_str());
    forbidden.push(github_signature(NEW_SECRET.as_bytes(), body));

    let forged_id = support::fresh_id("console-forged");
    let response = deliver_github(addr, "/hooks/github", "not-the-secret", &forged_id, body);
    assert_eq!(response.status, 401);
    forbidden.push(github_signature(b"not-the-secret", body));

    // A refused delivery's body is not read: its id and event stay unknown.
    let stripe_body = r#"{"id":"evt_console_stale","type":"invoice.paid"}"#;
    let stale = stripe_header(stripe_body.as_bytes(), now() - 412);
    let response = post(
        addr,
        "/hooks/stripe",
        &[("Stripe-Signature", stale.as_str())],
        stripe_body.as_bytes(),
    );
    assert_eq!(response.status, 401);
    forbidden.push(stale.split("v1=").nth(1).expect("v1").to_owned());

    let query_id = support::fresh_id("console-query");
    let response = post(
        addr,
        &format!("/hooks/tokened?key={QUERY_TOKEN}&n=1"),
        &[("X-Request-Id", query_id.as_str())],
        b"{}",
    );
    assert_eq!(response.status, 200, "{}", response.body_str());

    let dead_body = br#"{"action":"closed","number":8}"#.to_vec();
    let dead_delivery_id = support::fresh_id("console-dead");
    let response = deliver_github(addr, "/hooks/queued", NEW_SECRET, &dead_delivery_id, &dead_body);
    assert_eq!(response.status, 202, "{}", response.body_str());
    let dead_id = response.json()["id"].as_str().expect("the queue id").to_owned();
    wait_until("the dead letter", || {
        let dead = hookfence.admin_request("GET", "/queue/queued?state=dead", Some(ADMIN_TOKEN));
        dead.json()["deliveries"][0]["id"] == dead_id.as_str()
    });
    Scene {
        hookfence,
        direct,
        queued,
        signed_id,
        forged_id,
        query_id,
        dead_id,
        dead_delivery_id,
        dead_body,
        forbidden,
    }
}

/// The newest delivery's number on `route`.
fn seq_of(hookfence: &Hookfence, route: &str) -> u64 {
    let listed = hookfence
        .admin_get(&format!("/deliveries?route={route}&limit=1"))
        .json();
    listed["deliveries"][0]["seq"].as_u64().expect("seq")
}

#[test]
fn the_console_shows_deliveries_as_a_person_reads_them_and_replays_a_dead_letter() {
    let scene = scene();
    let hookfence = &scene.hookfence;
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let row = |route: &str, id: Option<&str>| {
        let filter = id.map_or(String::new(), |id| format!("&id={id}"));
        let listed = hookfence
            .admin_get(&format!("/deliveries?route={route}{filter}&limit=1"))
            .json();
        let seq = listed["deliveries"][0]["seq"].as_u64().expect("seq");
        json!({ "seq": seq, "title": id.map_or(format!("#{seq}"), str::to_owned) })
    };
    let args = json!({
        "admin": format!("http://{}", hookfence.admin),
        "token": ADMIN_TOKEN,
        "signed": row("github", Some(&scene.signed_id)),
        "forged": row("github", Some(&scene.forged_id)),
        "stale": row("stripe", None),
        "query": row("tokened", Some(&scene.query_id)),
        "dead_row": row("queued", Some(&scene.dead_delivery_id)),
        "dead": scene.dead_id,
        "late": { "url": format!("http://{}/hooks/github", hookfence.addr), "id": support::fresh_id("console-late") },
        "forbidden": scene.forbidden,
        "shots": shots,
    });
    // Replayed from the page, the dead letter must now get through.
    scene.queued.set_behaviour(Behaviour::Respond(200));
    let before = scene.queued.requests().len();
    let output = Command::new(tool("python"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/console/drive.py"))
        .arg(args.to_string())
        .output()
        .expect("run the browser driver");
    assert!(
        output.status.success(),
        "the console test in Chromium failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let replayed = scene.queued.wait_for_requests(before + 1);
    let last = replayed.last().expect("the replayed delivery");
    assert_eq!(
        last.body, scene.dead_body,
        "the upstream received the dead letter as sent"
    );
    assert_eq!(last.header_str("x-hookfence-delivery"), Some(scene.dead_id.as_str()));
    for shot in [
        "console.png",
        "console-delivery.png",
        "console-dark.png",
        "console-phone.png",
    ] {
        assert!(shots.join(shot).exists(), "{shot}");
    }
    assert!(
        scene.direct.requests().len() >= 2,
        "the signed and the tokened deliveries were forwarded"
    );
}

#[test]
fn state_changes_and_delivery_heads_need_the_token_and_nothing_secret_is_ever_answered() {
    let scene = scene();
    let hookfence = &scene.hookfence;
    let replay = format!("/queue/queued/{}/replay", scene.dead_id);
    for (method, target) in [
        ("POST", replay.as_str()),
        ("POST", "/queue/queued/replay"),
        ("DELETE", &format!("/queue/queued/{}", scene.dead_id)),
    ] {
        assert_eq!(
            hookfence.admin_request(method, target, None).status,
            401,
            "{method} {target}"
        );
        assert_eq!(
            hookfence.admin_request(method, target, Some("a-guess")).status,
            401,
            "{method} {target}"
        );
    }
    assert_eq!(
        scene.queued.requests().len(),
        1,
        "nothing was replayed without the token"
    );

    let listed = hookfence.admin_get("/deliveries?limit=1000").json();
    let seqs: Vec<u64> = listed["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter_map(|d| d["seq"].as_u64())
        .collect();
    assert!(seqs.len() >= 5, "{listed}");
    for seq in &seqs {
        assert_eq!(
            hookfence.admin_get(&format!("/deliveries/{seq}")).status,
            401,
            "a delivery's head needs the token"
        );
    }

    // Everything the console reads, with the token: no credential in any of it.
    let mut answers: Vec<(String, String)> = Vec::new();
    let mut read = |target: String| {
        let response = hookfence.admin_request("GET", &target, Some(ADMIN_TOKEN));
        assert_eq!(response.status, 200, "{target}: {}", response.body_str());
        answers.push((target, response.body_str().to_owned()));
    };
    read("/".into());
    read("/console.js".into());
    read("/routes".into());
    read("/deliveries?limit=1000".into());
    for seq in &seqs {
        read(format!("/deliveries/{seq}"));
    }
    read("/queue".into());
    read("/queue/queued?state=dead".into());
    read(format!("/queue/queued/{}", scene.dead_id));
    for (target, body) in &answers {
        for secret in &scene.forbidden {
            assert!(!body.contains(secret.as_str()), "{target} answers {secret:?}:\n{body}");
        }
    }
    let forged: Value = answers
        .iter()
        .filter(|(t, _)| t.starts_with("/deliveries/"))
        .map(|(_, b)| serde_json::from_str::<Value>(b).expect("JSON"))
        .find(|d| d["delivery_id"] == scene.forged_id.as_str())
        .expect("the forged delivery");
    assert_eq!(forged["reason"], "signature does not match any of the 2 secrets");
    let shown: Vec<&Value> = forged["request"]["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .filter(|h| {
            h[0].as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("x-hub-signature-256"))
        })
        .collect();
    assert_eq!(shown, [&json!(["X-Hub-Signature-256", "…"])]);

    // The page itself may not be framed and runs only its own script.
    let page = hookfence.admin_get("/");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let policy = page.header("content-security-policy").expect("CSP");
    assert!(
        policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    assert!(
        page.header("access-control-allow-origin").is_none(),
        "no other origin may read the API"
    );
}

#[test]
fn deliveries_filter_by_route_outcome_event_id_and_time() {
    let scene = scene();
    let hookfence = &scene.hookfence;
    let ids = |target: &str| -> Vec<String> {
        let response = hookfence.admin_get(target);
        assert_eq!(response.status, 200, "{target}: {}", response.body_str());
        response.json()["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .map(|d| d["delivery_id"].as_str().unwrap_or("-").to_owned())
            .collect()
    };
    assert_eq!(
        ids("/deliveries?route=github"),
        [scene.forged_id.as_str(), scene.signed_id.as_str()],
        "newest first"
    );
    assert_eq!(
        ids("/deliveries?outcome=rejected_bad_signature"),
        [scene.forged_id.as_str()]
    );
    assert_eq!(ids("/deliveries?class=rejected"), ["-", scene.forged_id.as_str()]);
    assert_eq!(
        ids("/deliveries?event=push"),
        [
            scene.dead_delivery_id.as_str(),
            scene.forged_id.as_str(),
            scene.signed_id.as_str()
        ],
        "a header's event is known even for a refused delivery"
    );
    assert_eq!(
        ids(&format!("/deliveries?id={}", scene.signed_id)),
        [scene.signed_id.as_str()]
    );
    assert!(ids("/deliveries?since=2999-01-01T00:00:00Z").is_empty());
    assert_eq!(ids("/deliveries?until=2000-01-01T00:00:00Z").len(), 0);
    assert_eq!(ids("/deliveries?since=2000-01-01T00:00:00Z").len(), 5);
    assert_eq!(
        ids("/deliveries?route=tokened"),
        [scene.query_id.as_str()],
        "a route's own delivery id field"
    );
    let newest = seq_of(hookfence, "queued");
    assert!(ids(&format!("/deliveries?after={newest}")).is_empty());
    for (bad, message) in [
        ("outcome=nope", "`nope` is not an outcome"),
        ("class=nope", "class must be `accepted`, `rejected` or `failed`"),
        (
            "since=yesterday",
            "since must be an RFC 3339 time (2026-12-02T14:00:00Z)",
        ),
        ("limit=x", "limit must be a number"),
    ] {
        let response = hookfence.admin_get(&format!("/deliveries?{bad}"));
        assert_eq!(response.status, 400, "{bad}");
        assert_eq!(response.json()["error"], message, "{bad}");
    }
    assert_eq!(hookfence.admin_get("/deliveries?route=nope").status, 404);
    assert_eq!(hookfence.admin_get("/deliveries/999999").status, 401, "the token first");
    let missing = hookfence.admin_request("GET", "/deliveries/999999", Some(ADMIN_TOKEN));
    assert_eq!(missing.status, 404);

    // The overview counts what happened, by route.
    let routes = hookfence.admin_get("/routes").json();
    let github = routes["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["name"] == "github")
        .expect("github")
        .clone();
    assert_eq!(github["last_5m"]["total"], 2, "{github}");
    assert_eq!(github["last_5m"]["outcomes"]["forwarded"], 1);
    assert_eq!(github["last_1h"]["outcomes"]["rejected_bad_signature"], 1);
    assert_eq!(github["upstream_error_rate"], 0.0);
    assert_eq!(github["enforce"], true);
    assert_eq!(github["delivery"], "direct");
    assert!(
        github["last_1h"]["p99_ms"].as_f64().is_some_and(|p| p > 0.0),
        "{github}"
    );
    let chart = github["per_minute"].as_array().expect("per_minute");
    assert_eq!(chart.len(), 60);
    let counted: u64 = chart
        .iter()
        .map(|m| m["accepted"].as_u64().unwrap_or(0) + m["rejected"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, 2);
    let queued = routes["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["name"] == "queued")
        .expect("queued")
        .clone();
    assert_eq!(queued["queue"]["dead"], 1, "{queued}");
}
