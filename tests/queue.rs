//! Durable delivery through the real binary: deliveries acknowledged as
//! queued reach a real upstream — byte for byte, in order per ordering key,
//! across an upstream outage, a `kill -9` of hookfence, and the death of a
//! replica sharing a real `redis-server` (AOF, fsync always). Every test
//! asserts what the upstream received and how often.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use support::redis::RedisServer;
use support::{
    deliver_github, free_port, github_route, github_signature, post, sample, wait_until, Behaviour, Hookfence,
    Recorded, Response, Upstream,
};

const SECRET: &str = "queue-secret";
/// The admin token of the tests that set one.
const TOKEN: Option<&str> = Some("let-me-in");
/// Fast retries, so that tests do not wait out production backoffs.
const FAST_RETRY: &str = r#"retry = { base = "50ms", cap = "300ms" }"#;

/// A loopback address nothing listens on yet: an upstream that is down.
fn down_upstream() -> SocketAddr {
    format!("127.0.0.1:{}", free_port()).parse().unwrap()
}

fn queued_route(upstream: &str, extra: &str) -> String {
    github_route(
        "github",
        "/hooks/github",
        upstream,
        "\"env:GH\"",
        &format!("delivery = \"queued\"\n{extra}"),
    )
}

/// Where a test's queue lives: each test runs on both stores.
enum Store {
    Embedded,
    /// A real `redis-server` with AOF, fsynced on every write.
    Redis(RedisServer),
}

impl Store {
    fn embedded() -> Self {
        Store::Embedded
    }

    fn redis() -> Self {
        Store::Redis(RedisServer::start_durable())
    }

    /// The `[queue]` table for this store, with `extra` keys.
    fn table(&self, extra: &str) -> String {
        match self {
            Store::Embedded => format!("[queue]\n{extra}"),
            Store::Redis(redis) => format!("[queue]\nbackend = \"redis\"\nurl = \"{}\"\n{extra}", redis.url()),
        }
    }

    /// hookfence with this store, `server` keys and `routes`.
    fn start(&self, server: &str, queue: &str, routes: &str) -> Hookfence {
        self.start_with(server, queue, routes, &[])
    }

    fn start_with(&self, server: &str, queue: &str, routes: &str, env: &[(&str, &str)]) -> Hookfence {
        let mut all_env = vec![("GH", SECRET)];
        all_env.extend_from_slice(env);
        Hookfence::start(&format!("{server}\n{}", self.table(queue)), routes, &all_env)
    }
}

/// Runs each named test once per store.
macro_rules! on_each_store {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[test]
                fn embedded() {
                    super::$test(&super::Store::embedded());
                }

                #[test]
                fn redis() {
                    super::$test(&super::Store::redis());
                }
            }
        )*
    };
}

on_each_store!(
    deliveries_wait_out_a_down_upstream_and_arrive_exact_and_in_order,
    a_killed_hookfence_loses_no_acknowledged_delivery,
    a_refused_delivery_is_a_dead_letter_until_replayed_with_every_attempt_audited,
    a_full_queue_refuses_with_503_and_delivers_only_what_it_acknowledged,
    one_failing_ordering_key_holds_back_only_itself,
    forged_deliveries_never_enter_the_queue,
    a_fallback_route_forwards_while_it_can_and_queues_when_it_cannot,
);

/// A signed delivery with a fresh id; the queue id it was given (202).
fn queue_one(hookfence: &Hookfence, body: &[u8]) -> String {
    let response = deliver_github(hookfence.addr, "/hooks/github", SECRET, &support::fresh_id("q"), body);
    queued_id(&response)
}

/// The id of a `{"status":"queued","id":…}` answer.
fn queued_id(response: &Response) -> String {
    assert_eq!(response.status, 202, "{}", response.body_str());
    let answer = response.json();
    assert_eq!(answer["status"], "queued", "{answer}");
    answer["id"].as_str().expect("an id").to_owned()
}

/// The requests the upstream accepted (answered 2xx), in arrival order.
fn delivered(upstream: &Upstream, accepted: impl Fn(&Recorded) -> bool) -> Vec<Recorded> {
    upstream.requests().into_iter().filter(|r| accepted(r)).collect()
}

/// Once the queue is empty (and a moment more, for any stray attempt): the
/// `X-Hookfence-Delivery` id of every request the upstream received.
fn ids_once_drained(hookfence: &Hookfence, upstream: &Upstream) -> Vec<String> {
    wait_until("the queue to empty", || queue_figures(hookfence)["pending"] == 0);
    thread::sleep(Duration::from_millis(300));
    upstream
        .requests()
        .iter()
        .map(|r| {
            r.header_str("x-hookfence-delivery")
                .expect("delivery id header")
                .to_owned()
        })
        .collect()
}

fn queue_figures(hookfence: &Hookfence) -> Value {
    queue_figures_with(hookfence, None)
}

/// The first route's queue figures, read with `token` if the admin API wants one.
fn queue_figures_with(hookfence: &Hookfence, token: Option<&str>) -> Value {
    let overview = hookfence.admin_request("GET", "/queue", token);
    assert_eq!(overview.status, 200, "{}", overview.body_str());
    overview.json()["routes"][0].clone()
}

/// A distinct JSON body that re-serialising would change: odd spacing,
/// CRLFs, escapes, non-ASCII text, a duplicated key.
fn exact_body(key: &str, n: usize) -> Vec<u8> {
    let body = format!(
        r#"{{ "repository" :{{"full_name":"{key}"}},{crlf}	"n": {n}.0, "text":"h\u00e9llo \u0000 \"q\" é ✓ 𝄞", "n":{n} }}"#,
        crlf = "\r\n"
    );
    body.into_bytes()
}

fn deliveries_wait_out_a_down_upstream_and_arrive_exact_and_in_order(store: &Store) {
    let address = down_upstream();
    let hookfence = store.start(
        "",
        "",
        &queued_route(
            &format!("http://{address}"),
            &format!("ordering_key = \"json:/repository/full_name\"\n{FAST_RETRY}"),
        ),
    );
    // Interleaved keys: each key's deliveries must arrive in this order.
    let sent: Vec<(String, Vec<u8>)> = (0..8)
        .map(|n| {
            let key = if n % 2 == 0 { "acme/api" } else { "acme/web" };
            let body = exact_body(key, n);
            (queue_one(&hookfence, &body), body)
        })
        .collect();
    assert_eq!(queue_figures(&hookfence)["pending"], 8);

    let upstream = Upstream::start_at(address, Behaviour::Respond(200));
    let received = upstream.wait_for_requests(8);
    assert_eq!(received.len(), 8, "every queued delivery arrives");
    wait_until("the queue to empty", || queue_figures(&hookfence)["pending"] == 0);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(upstream.requests().len(), 8, "each exactly once");

    let by_id: HashMap<&str, &Recorded> = received
        .iter()
        .map(|r| (r.header_str("x-hookfence-delivery").expect("delivery id header"), r))
        .collect();
    for (id, body) in &sent {
        let request = by_id.get(id.as_str()).unwrap_or_else(|| panic!("{id} never arrived"));
        assert_eq!(&request.body, body, "byte for byte");
        assert_eq!(
            request.header("x-hub-signature-256"),
            Some(github_signature(SECRET.as_bytes(), body).as_bytes()),
            "the sender's signature goes along"
        );
        assert!(request.header_str("x-hookfence-attempt").is_some());
    }
    for key in ["acme/api", "acme/web"] {
        let order: Vec<&str> = received
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains(key))
            .map(|r| r.header_str("x-hookfence-delivery").unwrap())
            .collect();
        let expected: Vec<&str> = sent
            .iter()
            .filter(|(_, b)| String::from_utf8_lossy(b).contains(key))
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(order, expected, "{key} in arrival order");
    }
}

fn a_killed_hookfence_loses_no_acknowledged_delivery(store: &Store) {
    let address = down_upstream();
    // On Redis, what the dead process held is taken over after
    // claim_timeout (the restarted process is a new consumer): short here.
    let (queue, timeouts) = match store {
        Store::Embedded => ("", ""),
        Store::Redis(_) => (
            "claim_timeout = \"3s\"",
            "connect_timeout = \"200ms\"\nupstream_timeout = \"500ms\"\n",
        ),
    };
    let mut hookfence = store.start(
        "",
        queue,
        &queued_route(&format!("http://{address}"), &format!("{timeouts}{FAST_RETRY}")),
    );
    let addr = hookfence.addr;
    let sent: Vec<(String, Vec<u8>)> = thread::scope(|scope| {
        let senders: Vec<_> = (0..24)
            .map(|n| {
                scope.spawn(move || {
                    let body = format!(r#"{{"n":{n}}}"#).into_bytes();
                    let response = deliver_github(addr, "/hooks/github", SECRET, &support::fresh_id("kill"), &body);
                    (queued_id(&response), body)
                })
            })
            .collect();
        senders.into_iter().map(|s| s.join().unwrap()).collect()
    });
    // Every sender has its 202: now the process dies without a goodbye.
    hookfence.kill();
    hookfence.restart();
    let upstream = Upstream::start_at(address, Behaviour::Respond(204));
    let received = upstream.wait_for_requests_within(24, Duration::from_secs(20));
    thread::sleep(Duration::from_millis(300));
    let received_now = upstream.requests();
    assert_eq!(received_now.len(), 24, "none lost, none twice: {}", received.len());
    for (id, body) in &sent {
        let copies: Vec<&Recorded> = received_now
            .iter()
            .filter(|r| r.header_str("x-hookfence-delivery") == Some(id.as_str()))
            .collect();
        assert_eq!(copies.len(), 1, "{id}");
        assert_eq!(&copies[0].body, body);
    }
    wait_until("the queue to empty", || queue_figures(&hookfence)["pending"] == 0);
}

fn a_refused_delivery_is_a_dead_letter_until_replayed_with_every_attempt_audited(store: &Store) {
    let upstream = Upstream::start(Behaviour::Respond(400));
    let hookfence = store.start_with(
        "admin_token = \"env:ADMIN\"",
        "",
        &queued_route(&upstream.url(), FAST_RETRY),
        &[("ADMIN", "let-me-in")],
    );
    let body = br#"{"action":"opened"}"#;
    let id = queue_one(&hookfence, body);
    upstream.wait_for_requests(1);
    wait_until("the dead letter", || queue_figures_with(&hookfence, TOKEN)["dead"] == 1);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(upstream.requests().len(), 1, "a 400 is not retried");

    assert_eq!(
        hookfence.admin_get("/queue/github?state=dead").status,
        401,
        "with a token set, reading the queue needs it too"
    );
    let dead = hookfence.admin_request("GET", "/queue/github?state=dead", TOKEN).json();
    let letter = &dead["deliveries"][0];
    assert_eq!(letter["id"], id.as_str());
    assert_eq!(letter["attempts"][0]["status"], 400);
    assert!(letter["state"]["reason"].as_str().unwrap().contains("400"), "{letter}");

    // State changes need the token.
    let replay = format!("/queue/github/{id}/replay");
    assert_eq!(hookfence.admin_request("POST", &replay, None).status, 401);
    assert_eq!(hookfence.admin_request("POST", &replay, Some("guess")).status, 401);
    upstream.set_behaviour(Behaviour::Respond(200));
    let replayed = hookfence.admin_request("POST", &replay, TOKEN);
    assert_eq!(replayed.status, 200, "{}", replayed.body_str());

    let received = upstream.wait_for_requests(2);
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].body, body);
    assert_eq!(received[1].header_str("x-hookfence-delivery"), Some(id.as_str()));
    assert_eq!(received[1].header_str("x-hookfence-attempt"), Some("2"));
    wait_until("the queue to empty", || {
        let figures = queue_figures_with(&hookfence, TOKEN);
        figures["dead"] == 0 && figures["pending"] == 0
    });

    // One audit record per attempt, and one for the sender's request.
    wait_until("both attempts audited", || {
        hookfence
            .log()
            .lines()
            .filter(|l| l.contains("record=\"attempt\"") && l.contains(&id))
            .count()
            == 2
    });
    let log = hookfence.log();
    let attempts: Vec<&str> = log.lines().filter(|l| l.contains("record=\"attempt\"")).collect();
    assert!(attempts[0].contains("result=\"dead_letter\"") && attempts[0].contains("upstream_status=400"));
    assert!(attempts[1].contains("result=\"delivered\"") && attempts[1].contains("attempt=2"));
    assert!(log.contains("outcome=\"queued\" status=202 route=\"github\""));
    let metrics = hookfence.admin_get("/metrics");
    let series = |s: &str| sample(metrics.body_str(), s);
    assert_eq!(
        series(r#"hookfence_queue_attempts_total{result="dead_letter",route="github"}"#),
        Some(1.0)
    );
    assert_eq!(
        series(r#"hookfence_queue_attempts_total{result="delivered",route="github"}"#),
        Some(1.0)
    );
    assert_eq!(
        series(r#"hookfence_delivery_delay_seconds_count{route="github"}"#),
        Some(1.0)
    );

    // A second dead letter, discarded instead.
    upstream.set_behaviour(Behaviour::Respond(422));
    let doomed = queue_one(&hookfence, br#"{"action":"closed"}"#);
    wait_until("the second dead letter", || {
        queue_figures_with(&hookfence, TOKEN)["dead"] == 1
    });
    let discarded = hookfence.admin_request("DELETE", &format!("/queue/github/{doomed}"), TOKEN);
    assert_eq!(discarded.status, 200, "{}", discarded.body_str());
    assert_eq!(queue_figures_with(&hookfence, TOKEN)["dead"], 0);
    assert_eq!(
        hookfence
            .admin_request("DELETE", &format!("/queue/github/{doomed}"), TOKEN)
            .status,
        404
    );
}

fn a_full_queue_refuses_with_503_and_delivers_only_what_it_acknowledged(store: &Store) {
    let address = down_upstream();
    let hookfence = store.start(
        "",
        "max_deliveries = 3",
        &queued_route(&format!("http://{address}"), FAST_RETRY),
    );
    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    for n in 0..5 {
        let delivery_id = support::fresh_id("full");
        let body = format!(r#"{{"n":{n}}}"#);
        let response = deliver_github(hookfence.addr, "/hooks/github", SECRET, &delivery_id, body.as_bytes());
        match response.status {
            202 => acknowledged.push(queued_id(&response)),
            503 => {
                assert_eq!(response.json()["error"], "delivery queue full; retry later");
                assert!(response.header("retry-after").is_some(), "Retry-After");
                refused.push((delivery_id, body));
            }
            other => panic!("unexpected {other}: {}", response.body_str()),
        }
    }
    assert_eq!((acknowledged.len(), refused.len()), (3, 2));
    assert_eq!(queue_figures(&hookfence)["pending"], 3);
    assert_eq!(
        hookfence
            .wait_for_outcomes(5)
            .iter()
            .filter(|o| *o == "queue_full")
            .count(),
        2
    );

    let upstream = Upstream::start_at(address, Behaviour::Respond(200));
    upstream.wait_for_requests(3);
    let ids = ids_once_drained(&hookfence, &upstream);
    let (mut ids, mut acknowledged_sorted) = (ids, acknowledged.clone());
    ids.sort();
    acknowledged_sorted.sort();
    assert_eq!(ids, acknowledged_sorted, "exactly what was acknowledged, nothing else");

    // The sender's retry of a refused delivery is not taken for a duplicate.
    let (delivery_id, body) = &refused[0];
    let retry = deliver_github(hookfence.addr, "/hooks/github", SECRET, delivery_id, body.as_bytes());
    queued_id(&retry);
    upstream.wait_for_requests(4);
    let again = deliver_github(hookfence.addr, "/hooks/github", SECRET, delivery_id, body.as_bytes());
    assert_eq!(again.json(), json!({ "status": "duplicate" }), "queued counts as taken");
}

fn one_failing_ordering_key_holds_back_only_itself(store: &Store) {
    // Key A's deliveries fail until the upstream is fixed; key B's succeed.
    let upstream = Upstream::start(Behaviour::StatusIfBodyHas(b"\"key\":\"A\"", 503));
    let hookfence = store.start(
        "",
        "",
        &queued_route(&upstream.url(), &format!("ordering_key = \"json:/key\"\n{FAST_RETRY}")),
    );
    let mut ids = HashMap::new();
    for n in 1..=3 {
        for key in ["A", "B"] {
            let body = format!(r#"{{"key":"{key}","n":{n}}}"#);
            ids.insert(format!("{key}{n}"), queue_one(&hookfence, body.as_bytes()));
        }
    }
    let key_of = |r: &Recorded| {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        format!("{}{}", body["key"].as_str().unwrap(), body["n"])
    };
    wait_until("key B delivered", || {
        delivered(&upstream, |r| key_of(r).starts_with('B')).len() == 3
    });
    // Meanwhile A1 was tried again and again; A2 and A3 were never sent.
    wait_until("A1 retried", || delivered(&upstream, |r| key_of(r) == "A1").len() >= 3);
    let seen: Vec<String> = upstream.requests().iter().map(key_of).collect();
    assert!(
        !seen.contains(&"A2".to_owned()) && !seen.contains(&"A3".to_owned()),
        "{seen:?}"
    );
    let b_order: Vec<String> = seen.iter().filter(|k| k.starts_with('B')).cloned().collect();
    assert_eq!(b_order, ["B1", "B2", "B3"]);

    upstream.set_behaviour(Behaviour::Respond(200));
    wait_until("key A delivered", || {
        let keys: Vec<String> = upstream.requests().iter().map(key_of).collect();
        keys.contains(&"A3".to_owned())
    });
    wait_until("the queue to empty", || queue_figures(&hookfence)["pending"] == 0);
    let seen: Vec<String> = upstream.requests().iter().map(key_of).collect();
    let a_order: Vec<&String> = seen.iter().filter(|k| k.starts_with('A')).collect();
    let last_a1 = a_order.iter().rposition(|k| *k == "A1").unwrap();
    assert_eq!(a_order[last_a1 + 1..], ["A2", "A3"], "{a_order:?}");
    assert_eq!(a_order.len(), last_a1 + 3, "A2 and A3 once each");
}

fn forged_deliveries_never_enter_the_queue(store: &Store) {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = store.start("", "", &queued_route(&upstream.url(), ""));
    let body = br#"{"forged":true}"#;
    let forged = post(
        hookfence.addr,
        "/hooks/github",
        &[
            ("X-GitHub-Delivery", "f1"),
            ("X-Hub-Signature-256", &github_signature(b"not-the-secret", body)),
        ],
        body,
    );
    assert_eq!(forged.status, 401);
    let unsigned = post(hookfence.addr, "/hooks/github", &[("X-GitHub-Delivery", "f2")], body);
    assert_eq!(unsigned.status, 401);
    assert_eq!(
        hookfence.wait_for_outcomes(2),
        ["rejected_bad_signature", "rejected_missing_signature"]
    );
    let figures = queue_figures(&hookfence);
    assert_eq!(
        (
            figures["pending"].as_u64(),
            figures["dead"].as_u64(),
            figures["bytes"].as_u64()
        ),
        (Some(0), Some(0), Some(0))
    );
    thread::sleep(Duration::from_millis(300));
    assert_eq!(upstream.connections(), 0, "not even a connection");
}

fn a_fallback_route_forwards_while_it_can_and_queues_when_it_cannot(store: &Store) {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let routes = github_route(
        "github",
        "/hooks/github",
        &upstream.url(),
        "\"env:GH\"",
        &format!("delivery = \"fallback\"\n{FAST_RETRY}"),
    );
    let hookfence = store.start("", "", &routes);
    let healthy = deliver_github(hookfence.addr, "/hooks/github", SECRET, &support::fresh_id("fb"), b"{}");
    assert_eq!(
        (healthy.status, healthy.body_str()),
        (200, "upstream says hi"),
        "the upstream's own answer"
    );

    upstream.set_behaviour(Behaviour::Respond(503));
    let body = br#"{"during":"deploy"}"#;
    let queued = deliver_github(hookfence.addr, "/hooks/github", SECRET, &support::fresh_id("fb"), body);
    let id = queued_id(&queued);
    let first = upstream.wait_for_requests(2);
    assert_eq!(first[1].header_str("x-hookfence-delivery"), Some(id.as_str()));
    assert_eq!(
        first[1].header_str("x-hookfence-attempt"),
        Some("1"),
        "the direct attempt is the first"
    );

    upstream.set_behaviour(Behaviour::Respond(200));
    wait_until("the queued delivery to arrive", || {
        upstream.requests().last().is_some_and(|r| {
            r.header_str("x-hookfence-delivery") == Some(id.as_str()) && r.body == body && {
                r.header_str("x-hookfence-attempt").is_some_and(|n| n != "1")
            }
        })
    });
    wait_until("the queue to empty", || queue_figures(&hookfence)["pending"] == 0);

    // A 404 is the upstream's to give: relayed, not queued.
    upstream.set_behaviour(Behaviour::Respond(404));
    let refused = deliver_github(hookfence.addr, "/hooks/github", SECRET, &support::fresh_id("fb"), b"{}");
    assert_eq!(refused.status, 404);
    assert_eq!(queue_figures(&hookfence)["pending"], 0);

    // The direct attempt's Retry-After holds for the queued delivery too.
    upstream.set_behaviour(Behaviour::Raw(
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n",
    ));
    let seen = upstream.requests().len();
    let id = queued_id(&deliver_github(
        hookfence.addr,
        "/hooks/github",
        SECRET,
        &support::fresh_id("fb"),
        b"{}",
    ));
    let asked_at = std::time::Instant::now();
    upstream.set_behaviour(Behaviour::Respond(200));
    let received = upstream.wait_for_requests(seen + 2);
    let waited = asked_at.elapsed();
    assert_eq!(received[seen + 1].header_str("x-hookfence-delivery"), Some(id.as_str()));
    assert!(
        waited >= Duration::from_millis(1900),
        "the second attempt came {waited:?} after the 503 that asked for 2 s"
    );
}

/// Two replicas on one durable Redis: a delivery queued through either is
/// delivered once; deliveries held by a replica that is killed mid-attempt
/// are taken over by the other after `claim_timeout`.
#[test]
fn a_replica_that_dies_holding_deliveries_is_taken_over_by_the_other() {
    let store = Store::redis();
    let upstream = Upstream::start(Behaviour::Respond(200));
    let route = queued_route(
        &upstream.url(),
        &format!("connect_timeout = \"200ms\"\nupstream_timeout = \"2s\"\n{FAST_RETRY}"),
    );
    let mut first = store.start("", "claim_timeout = \"8s\"", &route);
    let second = store.start("", "claim_timeout = \"8s\"", &route);

    // Shared: queued through either, delivered once.
    let shared: Vec<String> = (0..6)
        .map(|n| {
            let replica = if n % 2 == 0 { &first } else { &second };
            queue_one(replica, format!(r#"{{"shared":{n}}}"#).as_bytes())
        })
        .collect();
    upstream.wait_for_requests(6);
    let ids = ids_once_drained(&first, &upstream);
    assert_eq!(ids.len(), 6, "each once");
    for id in &shared {
        assert!(ids.contains(id), "{id}");
    }

    // The upstream now takes requests and never answers; the second replica
    // goes away so that the first takes them all, and is then killed while
    // it holds them.
    drop(second);
    upstream.set_behaviour(Behaviour::Hang);
    let held: Vec<(String, Vec<u8>)> = (0..4)
        .map(|n| {
            let body = format!(r#"{{"held":{n}}}"#).into_bytes();
            (queue_one(&first, &body), body)
        })
        .collect();
    upstream.wait_for_requests(6 + 4);
    first.kill();
    let before = upstream.requests().len();
    upstream.set_behaviour(Behaviour::Respond(200));

    let survivor = store.start("", "claim_timeout = \"8s\"", &route);
    let received = upstream.wait_for_requests_within(before + 4, Duration::from_secs(30));
    let taken_over: Vec<&Recorded> = received[before..].iter().collect();
    assert_eq!(
        taken_over.len(),
        4,
        "all held deliveries delivered by the survivor:\n{}",
        survivor.log()
    );
    for (id, body) in &held {
        let copy = taken_over
            .iter()
            .find(|r| r.header_str("x-hookfence-delivery") == Some(id.as_str()))
            .unwrap_or_else(|| panic!("{id} was not taken over"));
        assert_eq!(&copy.body, body);
    }
    wait_until("the queue to empty", || queue_figures(&survivor)["pending"] == 0);
    assert!(survivor.log().contains("took over deliveries a silent replica held"));
}

/// SIGTERM stops the workers claiming; an attempt in progress finishes
/// within the shutdown grace and is settled, so nothing is sent twice.
#[test]
fn sigterm_lets_an_attempt_in_progress_finish() {
    let upstream = Upstream::start(Behaviour::Slow(200, Duration::from_millis(1500)));
    let mut hookfence = Store::embedded().start(
        "shutdown_grace = \"4s\"",
        "",
        &queued_route(&upstream.url(), FAST_RETRY),
    );
    let id = queue_one(&hookfence, br#"{"graceful":true}"#);
    upstream.wait_for_requests(1);
    hookfence.signal("TERM");
    assert!(
        hookfence.wait_exit(Duration::from_secs(20)).is_some(),
        "hookfence exits"
    );
    assert!(
        hookfence.log().contains("result=\"delivered\""),
        "the attempt finished and was settled:\n{}",
        hookfence.log()
    );
    hookfence.restart();
    wait_until("the restarted worker", || {
        hookfence.log().matches("delivery worker started").count() == 2
    });
    thread::sleep(Duration::from_millis(500));
    assert_eq!(upstream.requests().len(), 1, "{id} was not sent again");
    assert_eq!(queue_figures(&hookfence)["pending"], 0);
}

/// A queued request's head, as the admin API shows it, never holds a
/// credential: header tokens and signatures, query tokens and anything
/// named like a secret are shown as `…`.
#[test]
fn the_admin_api_shows_queued_requests_without_their_credentials() {
    let address = down_upstream();
    let routes = format!(
        r#"
[[routes]]
name = "gitlab"
path = "/hooks/gitlab"
upstream = "http://{address}"
provider = "gitlab"
secrets = ["env:GL"]
delivery = "queued"

[[routes]]
name = "tokened"
path = "/hooks/tokened"
upstream = "http://{address}"
secrets = ["env:QT"]
delivery = "queued"
[routes.custom]
kind = "token"
query = "token"
"#
    );
    let hookfence = Hookfence::start(
        "",
        &routes,
        &[("GL", "gitlab-shared-token"), ("QT", "query-shared-token")],
    );
    let gitlab = post(
        hookfence.addr,
        "/hooks/gitlab",
        &[
            ("X-Gitlab-Token", "gitlab-shared-token"),
            ("X-Gitlab-Event", "Push Hook"),
            ("X-Api-Key", "an-api-key-value"),
        ],
        br#"{"object_kind":"push"}"#,
    );
    let tokened = post(
        hookfence.addr,
        "/hooks/tokened?token=query-shared-token&keep=1",
        &[],
        br#"{"n":1}"#,
    );
    for (route, response) in [("gitlab", &gitlab), ("tokened", &tokened)] {
        let id = queued_id(response);
        let shown = hookfence.admin_get(&format!("/queue/{route}/{id}"));
        assert_eq!(shown.status, 200, "{}", shown.body_str());
        let text = shown.body_str();
        for secret in ["gitlab-shared-token", "query-shared-token", "an-api-key-value"] {
            assert!(!text.contains(secret), "{secret} shown for {route}: {text}");
        }
        let view = shown.json();
        assert_eq!(view["id"], id.as_str());
        assert_eq!(view["request"]["body_bytes"], response_body_len(route));
        assert!(view["request"].get("body").is_none(), "bodies are never shown");
        let listed = hookfence.admin_get(&format!("/queue/{route}")).body_str().to_owned();
        assert!(!listed.contains("shared-token"), "{listed}");
    }
    let gitlab_view = hookfence
        .admin_get(&format!("/queue/gitlab/{}", queued_id(&gitlab)))
        .json();
    let headers = gitlab_view["request"]["headers"].as_array().unwrap().clone();
    assert!(headers.contains(&json!(["X-Gitlab-Token", "…"])), "{headers:?}");
    assert!(
        headers.contains(&json!(["X-Gitlab-Event", "Push Hook"])),
        "other headers as they came"
    );
    let tokened_view = hookfence
        .admin_get(&format!("/queue/tokened/{}", queued_id(&tokened)))
        .json();
    assert_eq!(tokened_view["request"]["target"], "/hooks/tokened?token=…&keep=1");
}

fn response_body_len(route: &str) -> usize {
    match route {
        "gitlab" => br#"{"object_kind":"push"}"#.len(),
        _ => br#"{"n":1}"#.len(),
    }
}

/// On a Redis Cluster, each route's queue lives on the shard of its hash
/// tag: several routes spread over the shards, and every script runs on one.
#[test]
fn a_redis_cluster_queue_keeps_each_route_on_one_shard() {
    let cluster = support::redis::RedisCluster::start(3);
    let address = down_upstream();
    let nodes: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let routes: String = (0..6)
        .map(|n| {
            github_route(
                &format!("r{n}"),
                &format!("/hooks/r{n}"),
                &format!("http://{address}"),
                "\"env:GH\"",
                &format!("delivery = \"queued\"\nordering_key = \"json:/key\"\n{FAST_RETRY}"),
            )
        })
        .collect();
    let hookfence = Hookfence::start(
        &format!("[queue]\nbackend = \"redis\"\ncluster = [{}]", nodes.join(", ")),
        &routes,
        &[("GH", SECRET)],
    );
    let mut sent = Vec::new();
    for n in 0..6 {
        for k in 0..3 {
            let body = format!(r#"{{"key":"k","route":{n},"k":{k}}}"#);
            let response = deliver_github(
                hookfence.addr,
                &format!("/hooks/r{n}"),
                SECRET,
                &support::fresh_id("cl"),
                body.as_bytes(),
            );
            sent.push((queued_id(&response), body));
        }
    }
    let holding: Vec<usize> = cluster.nodes.iter().map(RedisServer::dbsize).collect();
    assert!(
        holding.iter().filter(|n| **n > 0).count() >= 2,
        "six routes' queues spread over the shards: {holding:?}"
    );
    let upstream = Upstream::start_at(address, Behaviour::Respond(200));
    let received = upstream.wait_for_requests(sent.len());
    assert_eq!(received.len(), sent.len());
    for (id, body) in &sent {
        assert!(
            received
                .iter()
                .any(|r| r.header_str("x-hookfence-delivery") == Some(id.as_str()) && r.body == body.as_bytes()),
            "{id}"
        );
    }
    for n in 0..6 {
        let order: Vec<String> = received
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains(&format!("\"route\":{n},")))
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        let expected: Vec<String> = (0..3)
            .map(|k| format!(r#"{{"key":"k","route":{n},"k":{k}}}"#))
            .collect();
        assert_eq!(order, expected, "route r{n} in order");
    }
}

/// A config without a queued or fallback route never makes the embedded
/// store: no `hookfence-data` directory appears next to it, even after the
/// workers' periodic housekeeping and a delivery.
#[test]
fn a_config_without_queued_routes_makes_no_queue_files() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = Hookfence::start(
        "",
        &github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
        &[("GH", SECRET)],
    );
    let response = deliver_github(hookfence.addr, "/hooks/github", SECRET, &support::fresh_id("nq"), b"{}");
    assert_eq!(response.status, 200);
    // The workers' first round (where the store used to be made) runs as
    // they start, before the listener does; give it time all the same.
    thread::sleep(Duration::from_millis(300));
    assert!(
        !hookfence.dir().join("hookfence-data").exists(),
        "the queue's data_dir was made for a config that does not use it"
    );
}
