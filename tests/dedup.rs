//! Deduplication end to end, with the real binary, a recording upstream and
//! real `redis-server` processes started by the tests: each delivery is
//! forwarded once, across replicas, and a retry of a *failed* delivery is
//! forwarded again, never swallowed.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use support::redis::{RedisCluster, RedisServer};
use support::{
    deliver_github, fresh_id, github_route, github_signature, post, Behaviour, Hookfence, Response, Upstream,
};

const SECRET: &str = "dedup-secret";

fn config(dedup: &str, upstream: &Upstream, route_extra: &str) -> String {
    let route = github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", route_extra);
    format!("{dedup}\n{route}")
}

fn redis_dedup(url: &str) -> String {
    format!("[dedup]\nbackend = \"redis\"\nurl = \"{url}\"\ncommand_timeout = \"300ms\"")
}

fn start(dedup: &str, upstream: &Upstream, route_extra: &str) -> Hookfence {
    Hookfence::start("", &config(dedup, upstream, route_extra), &[("GH", SECRET)])
}

fn deliver_to(addr: std::net::SocketAddr, path: &str, id: &str) -> Response {
    let body = format!(r#"{{"ref":"refs/heads/main","id":"{id}"}}"#);
    deliver_github(addr, path, SECRET, id, body.as_bytes())
}

fn deliver(hookfence: &Hookfence, id: &str) -> Response {
    deliver_to(hookfence.addr, "/hooks/github", id)
}

/// N copies of one delivery at once: exactly one reaches the upstream; every
/// other copy is told it is in flight (409, Retry-After) or a duplicate.
fn concurrent_copies_reach_the_upstream_once(dedup: &str) {
    let upstream = Upstream::start(Behaviour::Slow(200, Duration::from_millis(400)));
    let hookfence = start(dedup, &upstream, "");
    let id = fresh_id("concurrent");
    let responses: Vec<Response> = thread::scope(|scope| {
        let handles: Vec<_> = (0..8).map(|_| scope.spawn(|| deliver(&hookfence, &id))).collect();
        handles.into_iter().map(|h| h.join().expect("client thread")).collect()
    });
    assert_eq!(
        upstream.requests().len(),
        1,
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let forwarded = responses.iter().filter(|r| r.body_str() == "upstream says hi").count();
    assert_eq!(forwarded, 1);
    for response in responses.iter().filter(|r| r.body_str() != "upstream says hi") {
        match response.status {
            409 => assert!(response.header("retry-after").is_some(), "409 without Retry-After"),
            200 => assert_eq!(response.json(), json!({ "status": "duplicate" })),
            other => panic!("unexpected {other}: {}", response.body_str()),
        }
    }
}

/// 500 → the claim is released and the retry forwarded; after its 2xx, a
/// third copy is a duplicate.
fn failed_delivery_is_retried_then_deduplicated(dedup: &str) {
    let upstream = Upstream::start(Behaviour::Respond(500));
    let hookfence = start(dedup, &upstream, "");
    let id = fresh_id("retry");
    assert_eq!(deliver(&hookfence, &id).status, 500);
    upstream.set_behaviour(Behaviour::Respond(200));
    let retry = deliver(&hookfence, &id);
    assert_eq!(
        (retry.status, retry.body_str()),
        (200, "upstream says hi"),
        "the retry was swallowed"
    );
    let third = deliver(&hookfence, &id);
    assert_eq!(third.status, 200);
    assert_eq!(third.json(), json!({ "status": "duplicate" }));
    assert_eq!(upstream.requests().len(), 2);
    assert_eq!(hookfence.wait_for_outcomes(3), ["duplicate", "forwarded", "forwarded"]);
}

#[test]
fn memory_concurrent_copies_reach_the_upstream_once() {
    concurrent_copies_reach_the_upstream_once("");
}

#[test]
fn memory_failed_delivery_is_retried_then_deduplicated() {
    failed_delivery_is_retried_then_deduplicated("");
}

#[test]
fn redis_concurrent_copies_reach_the_upstream_once() {
    let redis = RedisServer::start();
    concurrent_copies_reach_the_upstream_once(&redis_dedup(&redis.url()));
}

#[test]
fn redis_failed_delivery_is_retried_then_deduplicated() {
    let redis = RedisServer::start();
    failed_delivery_is_retried_then_deduplicated(&redis_dedup(&redis.url()));
}

#[test]
fn upstream_unreachable_releases_the_claim() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let dead = format!("http://127.0.0.1:{}", support::free_port());
    let routes = config("", &upstream, "").replace(&upstream.url(), &dead);
    let hookfence = Hookfence::start("", &routes, &[("GH", SECRET)]);
    let id = fresh_id("unreachable");
    assert_eq!(deliver(&hookfence, &id).status, 502);
    assert_eq!(
        deliver(&hookfence, &id).status,
        502,
        "the retry must be tried, not called a duplicate"
    );
}

#[test]
fn two_replicas_share_one_redis() {
    let redis = RedisServer::start();
    let upstream = Upstream::start(Behaviour::Respond(200));
    let dedup = redis_dedup(&redis.url());
    let (a, b) = (start(&dedup, &upstream, ""), start(&dedup, &upstream, ""));
    for i in 0..5 {
        let id = fresh_id(&format!("replicas{i}"));
        let (first, second) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        assert_eq!(deliver(first, &id).body_str(), "upstream says hi");
        assert_eq!(deliver(second, &id).json(), json!({ "status": "duplicate" }));
    }
    assert_eq!(upstream.requests().len(), 5);
}

/// Redis killed during traffic: fail_open forwards, fail_closed answers 503
/// with Retry-After; Redis back (same port, empty) and deduplication resumes
/// without restarting hookfence.
#[test]
fn redis_outage_follows_each_policy_and_recovers() {
    let mut redis = RedisServer::start();
    let upstream = Upstream::start(Behaviour::Respond(200));
    let routes = format!(
        r#"
{}
[[routes]]
name = "open"
path = "/open"
upstream = "{up}"
provider = "github"
secrets = ["env:GH"]

[[routes]]
name = "closed"
path = "/closed"
upstream = "{up}"
provider = "github"
secrets = ["env:GH"]
dedup_policy = "fail_closed"
"#,
        redis_dedup(&redis.url()),
        up = upstream.url()
    );
    let hookfence = Hookfence::start("", &routes, &[("GH", SECRET)]);
    let id = fresh_id("before");
    assert_eq!(
        deliver_to(hookfence.addr, "/closed", &id).body_str(),
        "upstream says hi"
    );
    assert_eq!(
        deliver_to(hookfence.addr, "/closed", &id).json(),
        json!({ "status": "duplicate" })
    );

    redis.kill();
    let open = deliver_to(hookfence.addr, "/open", &fresh_id("outage"));
    assert_eq!(
        (open.status, open.body_str()),
        (200, "upstream says hi"),
        "fail_open must forward"
    );
    let closed = deliver_to(hookfence.addr, "/closed", &fresh_id("outage"));
    assert_eq!(closed.status, 503, "{}", closed.body_str());
    assert!(closed.header("retry-after").is_some());
    let forwarded_during_outage = upstream.requests().len();

    redis.restart();
    // The first commands after the restart may still meet the dead
    // connection; within a few seconds the store answers again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let id = loop {
        let id = fresh_id("after");
        if deliver_to(hookfence.addr, "/closed", &id).status == 200 {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "deduplication did not resume after Redis came back"
        );
        thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        deliver_to(hookfence.addr, "/closed", &id).json(),
        json!({ "status": "duplicate" })
    );
    assert!(redis.dbsize() >= 1, "the claim lives in the restarted Redis");
    assert_eq!(upstream.requests().len(), forwarded_during_outage + 1);
    assert!(hookfence.audit_outcomes().contains(&"store_unavailable".to_owned()));
}

#[test]
fn redis_cluster_deduplicates_across_shards() {
    let cluster = RedisCluster::start(3);
    let upstream = Upstream::start(Behaviour::Respond(200));
    let nodes: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let dedup = format!("[dedup]\nbackend = \"redis\"\ncluster = [{}]", nodes.join(", "));
    let hookfence = start(&dedup, &upstream, "");
    let ids: Vec<String> = (0..30).map(|i| fresh_id(&format!("cluster{i}"))).collect();
    for id in &ids {
        assert_eq!(deliver(&hookfence, id).body_str(), "upstream says hi", "{id}");
    }
    for id in &ids {
        assert_eq!(deliver(&hookfence, id).json(), json!({ "status": "duplicate" }), "{id}");
    }
    assert_eq!(upstream.requests().len(), ids.len());
    let per_node: Vec<usize> = cluster.nodes.iter().map(RedisServer::dbsize).collect();
    assert_eq!(per_node.iter().sum::<usize>(), ids.len(), "{per_node:?}");
    assert!(
        per_node.iter().all(|n| *n > 0),
        "keys should spread over every shard: {per_node:?}"
    );
}

#[test]
fn memory_ttl_expires_a_delivered_id() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start("[dedup]\nttl = \"1s\"", &upstream, "");
    let id = fresh_id("ttl");
    assert_eq!(deliver(&hookfence, &id).body_str(), "upstream says hi");
    assert_eq!(deliver(&hookfence, &id).json(), json!({ "status": "duplicate" }));
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        deliver(&hookfence, &id).body_str(),
        "upstream says hi",
        "the id should have expired"
    );
}

#[test]
fn deliveries_without_an_id_are_forwarded_or_refused_as_the_route_says() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let without_id = |hookfence: &Hookfence| {
        let body = br#"{"zen":"no id"}"#;
        let signature = github_signature(SECRET.as_bytes(), body);
        post(
            hookfence.addr,
            "/hooks/github",
            &[("X-Hub-Signature-256", &signature)],
            body,
        )
    };
    let lenient = start("", &upstream, "");
    assert_eq!(without_id(&lenient).body_str(), "upstream says hi");
    assert_eq!(without_id(&lenient).body_str(), "upstream says hi");
    let strict = start("", &upstream, "require_delivery_id = true");
    let refused = without_id(&strict);
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json(), json!({ "error": "missing delivery id" }));
    assert_eq!(upstream.requests().len(), 2);
}

#[test]
fn dedup_can_be_turned_off_per_route() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start("", &upstream, "dedup = false");
    let id = fresh_id("off");
    assert_eq!(deliver(&hookfence, &id).body_str(), "upstream says hi");
    assert_eq!(deliver(&hookfence, &id).body_str(), "upstream says hi");
}

/// A delivery id given twice is one id when the copies agree (two lines, or
/// a list), and refused when they do not: neither "no id" (which would skip
/// deduplication) nor one of the two picked.
#[test]
fn a_delivery_id_given_twice_is_read_only_when_the_copies_agree() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start("", &upstream, "");
    let body = br#"{"ref":"refs/heads/main"}"#;
    let signature = github_signature(SECRET.as_bytes(), body);
    let send = |ids: &[&str]| {
        let mut headers = vec![("X-Hub-Signature-256", signature.as_str())];
        headers.extend(ids.iter().map(|id| ("X-GitHub-Delivery", *id)));
        post(hookfence.addr, "/hooks/github", &headers, body)
    };
    let id = fresh_id("twice");
    let listed = format!("{id}, {id}");
    assert_eq!(send(&[&listed]).body_str(), "upstream says hi");
    assert_eq!(send(&[&id]).json(), json!({ "status": "duplicate" }), "the same id");
    assert_eq!(
        send(&[&id, &id]).json(),
        json!({ "status": "duplicate" }),
        "two lines alike"
    );
    let other = fresh_id("twice");
    for conflicting in [vec![format!("{other}, {id}")], vec![other.clone(), id.clone()]] {
        let ids: Vec<&str> = conflicting.iter().map(String::as_str).collect();
        let answer = send(&ids);
        assert_eq!(answer.status, 400, "{conflicting:?}");
        assert_eq!(answer.json(), json!({ "error": "conflicting delivery ids" }));
    }
    assert_eq!(upstream.requests().len(), 1);
}
