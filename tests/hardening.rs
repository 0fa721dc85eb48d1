//! Hostile input, overload and faults, against the real binary: every abuse
//! gets the right status without reaching the upstream, memory stays bounded
//! under many slow uploads, and upstream or store failures never lose a
//! verified delivery (the claim is released, the retry forwarded).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use support::redis::RedisServer;
use support::{
    deliver_github, fresh_id, github_route, github_signature, Behaviour, Client, Hookfence, Response, Upstream,
};

const SECRET: &str = "hardening-secret";

fn route(upstream: &Upstream, extra: &str) -> String {
    github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", extra)
}

fn start(server: &str, upstream: &Upstream, extra: &str) -> Hookfence {
    Hookfence::start(server, &route(upstream, extra), &[("GH", SECRET)])
}

fn deliver_id(addr: std::net::SocketAddr, id: &str, body: &[u8]) -> Response {
    deliver_github(addr, "/hooks/github", SECRET, id, body)
}

fn signed_request(body: &[u8], extra_headers: &[u8], version: &str) -> Vec<u8> {
    let signature = github_signature(SECRET.as_bytes(), body);
    let mut bytes =
        format!("POST /hooks/github {version}\r\nHost: x\r\nX-Hub-Signature-256: {signature}\r\n").into_bytes();
    bytes.extend_from_slice(extra_headers);
    bytes.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn oversized_and_too_many_headers_are_refused() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start("", &upstream, "");
    let huge = format!("X-Padding: {}\r\n", "a".repeat(1 << 20));
    let many: String = (0..300).map(|i| format!("X-H{i}: v\r\n")).collect();
    for headers in [huge, many] {
        let mut client = Client::connect(hookfence.addr);
        client.send(&signed_request(b"{}", headers.as_bytes(), "HTTP/1.1"));
        // 431 (RFC 6585), if the answer arrives before the client's own
        // sending is cut off.
        if let Some(response) = client.try_response() {
            assert_eq!(response.status, 431, "{}", response.body_str());
            assert_eq!(response.json(), json!({ "error": "request header too large" }));
        }
        assert!(client.is_closed());
    }
    assert_eq!(upstream.connections(), 0);
}

#[test]
fn slow_headers_are_cut_off() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start("header_timeout = \"300ms\"", &upstream, "");
    let mut client = Client::connect(hookfence.addr);
    client.send(b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Sig");
    thread::sleep(Duration::from_millis(800));
    assert!(client.is_closed(), "a stalled header must be cut off");
    assert_eq!(upstream.connections(), 0);
}

#[test]
fn non_utf8_header_values_are_handled_as_bytes() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start("", &upstream, "");
    // A signature that is not even text: malformed, refused.
    let mut client = Client::connect(hookfence.addr);
    client.send(b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=\xff\xfe\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    let response = client.response();
    assert_eq!(response.status, 401);
    assert_eq!(response.json(), json!({ "error": "malformed X-Hub-Signature-256" }));
    assert_eq!(upstream.connections(), 0);
    // A genuine delivery with a non-UTF-8 header is forwarded with that header's exact bytes.
    let mut client = Client::connect(hookfence.addr);
    client.send(&signed_request(
        b"{}",
        b"X-Custom: caf\xe9\r\nConnection: close\r\n",
        "HTTP/1.1",
    ));
    assert_eq!(client.response().status, 200);
    assert_eq!(upstream.requests()[0].header("x-custom"), Some(&b"caf\xe9"[..]));
}

#[test]
fn http_1_0_and_pipelined_requests() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start("", &upstream, "");
    let mut client = Client::connect(hookfence.addr);
    client.send(&signed_request(b"{\"v\":10}", b"", "HTTP/1.0"));
    assert_eq!(client.response().status, 200);
    assert!(client.is_closed(), "HTTP/1.0 without keep-alive closes");

    // Two requests in one write: answered in order, each judged on its own.
    let mut pipelined = signed_request(b"{\"n\":1}", b"X-GitHub-Delivery: p1\r\n", "HTTP/1.1");
    let forged =
        b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: 2\r\n\r\n{}";
    pipelined.extend_from_slice(forged);
    pipelined.extend_from_slice(&signed_request(
        b"{\"n\":3}",
        b"X-GitHub-Delivery: p3\r\nConnection: close\r\n",
        "HTTP/1.1",
    ));
    let mut client = Client::connect(hookfence.addr);
    client.send(&pipelined);
    let statuses: Vec<u16> = (0..3).map(|_| client.response().status).collect();
    assert_eq!(statuses, [200, 401, 200]);
    let bodies: Vec<Vec<u8>> = upstream.wait_for_requests(3).into_iter().map(|r| r.body).collect();
    assert_eq!(
        bodies,
        [b"{\"v\":10}".to_vec(), b"{\"n\":1}".to_vec(), b"{\"n\":3}".to_vec()]
    );
}

#[test]
fn an_http2_preface_is_not_forwarded() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start("", &upstream, "");
    let mut client = Client::connect(hookfence.addr);
    client.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00");
    if let Some(response) = client.try_response() {
        assert!(response.status >= 400, "{}", response.status);
    }
    assert!(client.is_closed());
    assert_eq!(upstream.connections(), 0);
}

#[test]
fn more_requests_than_the_limit_get_503_with_retry_after() {
    let upstream = Upstream::start(Behaviour::Slow(200, Duration::from_millis(800)));
    let hookfence = start("max_connections = 2", &upstream, "");
    let responses: Vec<Response> = thread::scope(|scope| {
        let handles: Vec<_> = (0..5)
            .map(|i| {
                let addr = hookfence.addr;
                scope.spawn(move || {
                    thread::sleep(Duration::from_millis(30 * i));
                    deliver_id(addr, &fresh_id("hard"), b"{}")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let forwarded = responses.iter().filter(|r| r.status == 200).count();
    let refused: Vec<_> = responses.iter().filter(|r| r.status == 503).collect();
    assert_eq!(
        forwarded,
        2,
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(refused.len(), 3);
    for response in refused {
        assert_eq!(response.header("retry-after"), Some("1"));
        assert_eq!(response.json(), json!({ "error": "overloaded; retry later" }));
    }
    assert_eq!(upstream.requests().len(), 2);
    assert!(
        hookfence
            .wait_for_audit(5)
            .iter()
            .filter(|o| *o == "overloaded")
            .count()
            == 3
    );
}

/// Many concurrent slow uploads: the body budget refuses what does not fit
/// (503) instead of holding it, and resident memory stays bounded.
#[test]
fn slow_uploads_beyond_the_body_budget_are_refused_and_memory_stays_bounded() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(
        "max_in_flight_body = \"8MiB\"",
        &upstream,
        "max_body = \"1MiB\"\nbody_timeout = \"20s\"",
    );
    let baseline = hookfence.rss_kib();
    let stop = Arc::new(AtomicBool::new(false));
    // 64 uploads each declaring 1 MiB and trickling it: 64 MiB declared,
    // 8 MiB allowed.
    let uploads: Vec<_> = (0..64)
        .map(|_| {
            let addr = hookfence.addr;
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut client = Client::connect(addr);
                client.send(b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: 1048576\r\n\r\n");
                // A refused upload is answered before its body is wanted.
                if let Some(refused) = client.response_within(Duration::from_millis(3000)) {
                    return Some(refused);
                }
                let chunk = vec![b'x'; 16 * 1024];
                let mut sent = 0;
                while sent < (1 << 20) && !stop.load(Ordering::Relaxed) {
                    if !client.try_send(&chunk) {
                        break;
                    }
                    sent += chunk.len();
                    thread::sleep(Duration::from_millis(100));
                }
                client.try_response()
            })
        })
        .collect();
    // Peak memory while all of them are connected and the admitted ones trickle.
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        peak = peak.max(hookfence.rss_kib());
        thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let statuses: Vec<u16> = uploads
        .into_iter()
        .filter_map(|h| h.join().unwrap())
        .map(|r| r.status)
        .collect();
    let overloaded = statuses.iter().filter(|s| **s == 503).count();
    assert!(overloaded >= 48, "at most 8 of 64 uploads fit the budget: {statuses:?}");
    // The budget (8 MiB) plus 32 MiB of slack over the idle process.
    assert!(
        peak < baseline + 40 * 1024,
        "peak RSS {peak} KiB over a baseline of {baseline} KiB"
    );
    assert_eq!(upstream.connections(), 0, "nothing was complete, nothing was forwarded");
}

#[test]
fn upstream_faults_release_the_claim_so_the_retry_is_forwarded() {
    for (fault, status) in [
        (Behaviour::Close, 502),
        (Behaviour::Hang, 504),
        (Behaviour::Respond(503), 503),
    ] {
        let upstream = Upstream::start(fault);
        let hookfence = start("", &upstream, "upstream_timeout = \"500ms\"");
        let id = fresh_id("hard");
        assert_eq!(deliver_id(hookfence.addr, &id, b"{}").status, status, "{fault:?}");
        upstream.set_behaviour(Behaviour::Respond(200));
        let retry = deliver_id(hookfence.addr, &id, b"{}");
        assert_eq!(
            (retry.status, retry.body_str()),
            (200, "upstream says hi"),
            "{fault:?}: retry swallowed"
        );
        assert_eq!(
            deliver_id(hookfence.addr, &id, b"{}").json(),
            json!({ "status": "duplicate" })
        );
    }
}

/// Sends one signed delivery and returns every byte of the answer, read
/// until hookfence closes the connection.
fn raw_answer(hookfence: &Hookfence, request_head: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "{request_head}\r\nHost: x\r\nX-Hub-Signature-256: {}\r\nContent-Length: {}\r\n\r\n",
        github_signature(SECRET.as_bytes(), body),
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    Client::connect(hookfence.addr).send(&raw).read_until_closed()
}

#[test]
fn an_answer_the_upstream_cuts_off_reaches_the_client_cut_off() {
    // A chunked answer that stops after its first chunk: relaying it and
    // then finishing it would add the last chunk and make it look whole.
    let upstream = Upstream::start(Behaviour::Raw(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ));
    let hookfence = start("", &upstream, "dedup = false");
    let answer = raw_answer(&hookfence, "POST /hooks/github HTTP/1.1", b"{}");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("5\r\nhello\r\n"), "{text}");
    assert!(!text.contains("0\r\n\r\n"), "a truncated answer was completed: {text}");
}

#[test]
fn a_delivery_is_sent_again_only_if_the_upstream_answered_nothing() {
    for (fault, forwarded) in [
        // Closed without a byte: as a pooled connection the upstream had
        // closed looks, so the delivery goes out once more, on a new one.
        (Behaviour::Close, 2),
        // An interim answer, then the connection drops: the upstream has
        // the delivery, and sending it again would deliver it twice.
        (Behaviour::Raw(b"HTTP/1.1 102 Processing\r\n\r\n"), 1),
        // Half a status line is an answer too.
        (Behaviour::Raw(b"HTTP/1.1 2"), 1),
    ] {
        let upstream = Upstream::start(Behaviour::Respond(200));
        let hookfence = start("", &upstream, "dedup = false");
        // A first delivery leaves a pooled connection behind.
        let mut client = Client::connect(hookfence.addr);
        let body = b"{}";
        let keep_alive = format!(
            "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {}\r\nContent-Length: 2\r\n\r\n{{}}",
            github_signature(SECRET.as_bytes(), body)
        );
        assert_eq!(client.send(keep_alive.as_bytes()).response().status, 200);
        upstream.set_behaviour(fault);
        assert_eq!(client.send(keep_alive.as_bytes()).response().status, 502, "{fault:?}");
        assert_eq!(upstream.requests().len(), 1 + forwarded, "{fault:?}");
    }
}

#[test]
fn a_switch_of_protocols_or_endless_interim_answers_are_not_an_answer() {
    let endless: &'static [u8] = "HTTP/1.1 100 Continue\r\n\r\n".repeat(20).leak().as_bytes();
    for fault in [
        // What follows a 101 is another protocol, even if it reads like HTTP.
        Behaviour::RawThenHang(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ),
        // Interim answers without end: refused at once, not after the
        // upstream timeout (which would be a 504).
        Behaviour::RawThenHang(endless),
    ] {
        let upstream = Upstream::start(fault);
        let hookfence = start("", &upstream, "dedup = false\nupstream_timeout = \"5s\"");
        let response = deliver_id(hookfence.addr, &fresh_id("hard"), b"{}");
        assert_eq!(response.status, 502, "{fault:?}");
        assert_eq!(response.json(), json!({ "error": "upstream unavailable" }));
    }
}

#[test]
fn a_client_that_stops_reading_its_answer_is_cut_off() {
    // An answer far larger than the loopback socket buffers, to a client that
    // never reads: each write to it may wait `header_timeout`, then the
    // delivery ends (and frees its slot and body lease) instead of hanging.
    const SIZE: usize = 32 << 20;
    let mut answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n").into_bytes();
    answer.resize(answer.len() + SIZE, b'x');
    let upstream = Upstream::start(Behaviour::Raw(answer.leak()));
    let hookfence = start("header_timeout = \"1s\"", &upstream, "dedup = false");
    let body = b"{}";
    let signature = github_signature(SECRET.as_bytes(), body);
    let mut silent = Client::connect(hookfence.addr);
    silent.send(&support::request(
        "POST",
        "/hooks/github",
        &[("X-Hub-Signature-256", &signature)],
        body,
    ));
    let started = Instant::now();
    assert_eq!(hookfence.wait_for_outcomes(1), ["forwarded"]);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "ended before any write could time out"
    );
    drop(silent);
}

#[test]
fn an_http10_client_gets_a_chunked_answer_decoded_and_the_connection_closed() {
    let upstream = Upstream::start(Behaviour::Raw(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    ));
    let hookfence = start("", &upstream, "dedup = false");
    let answer = raw_answer(&hookfence, "POST /hooks/github HTTP/1.0", b"{}");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200"),
        "{text}"
    );
    assert!(!text.to_ascii_lowercase().contains("transfer-encoding"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello world"), "{text}");
}

#[test]
fn empty_lines_before_the_request_line_do_not_become_header_lines() {
    // RFC 9112 §2.2: a server may skip empty lines before the request line.
    // The line after them is the request line, never a header to forward
    // (this one has a colon, so it would pass for one).
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = Hookfence::start(
        "",
        &format!(
            "[[routes]]\nname = \"gitlab\"\npath = \"/hooks/gitlab\"\nupstream = \"{}\"\nprovider = \"gitlab\"\nsecrets = [\"env:GL\"]\nstrip_credential = true\ndedup = false\n",
            upstream.url()
        ),
        &[("GL", SECRET)],
    );
    let raw = format!(
        "\r\n\r\nPOST /hooks/gitlab?x=a:b HTTP/1.1\r\nHost: x\r\nX-Gitlab-Token: {SECRET}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    assert_eq!(
        Client::connect(hookfence.addr).send(raw.as_bytes()).response().status,
        200
    );
    let seen = &upstream.wait_for_requests(1)[0];
    assert_eq!(seen.target, "/hooks/gitlab?x=a:b");
    assert!(
        seen.headers
            .iter()
            .all(|(name, value)| !name.contains("post") && !String::from_utf8_lossy(value).contains(SECRET)),
        "{:?}",
        seen.headers
    );
}

#[test]
fn an_upstream_that_flaps_is_retried_until_it_answers() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let port = upstream.addr.port();
    // The route points at a port where nothing listens yet.
    let dead = support::free_port();
    let routes = route(&upstream, "").replace(&format!(":{port}"), &format!(":{dead}"));
    let hookfence = Hookfence::start("", &routes, &[("GH", SECRET)]);
    let id = fresh_id("hard");
    assert_eq!(deliver_id(hookfence.addr, &id, b"{}").status, 502);
    // The upstream comes up on that port: the sender's retry goes through.
    let listener = std::net::TcpListener::bind(("127.0.0.1", dead)).expect("bind the upstream's port");
    let served = thread::spawn(move || {
        use std::io::{BufRead, BufReader, Read, Write};
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        (&stream)
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nup")
            .unwrap();
        body
    });
    let retry = deliver_id(hookfence.addr, &id, b"{}");
    assert_eq!((retry.status, retry.body_str()), (200, "up"));
    assert_eq!(served.join().unwrap(), b"{}");
}

#[test]
fn a_slow_redis_is_an_unavailable_store() {
    let redis = RedisServer::start();
    let upstream = Upstream::start(Behaviour::Respond(200));
    let routes = format!(
        "[dedup]\nbackend = \"redis\"\nurl = \"{}\"\ncommand_timeout = \"200ms\"\n{}\ndedup_policy = \"fail_closed\"\n",
        redis.url(),
        route(&upstream, "")
    );
    let hookfence = Hookfence::start("", &routes, &[("GH", SECRET)]);
    assert_eq!(deliver_id(hookfence.addr, &fresh_id("hard"), b"{}").status, 200);
    // Redis busy for two seconds (DEBUG SLEEP blocks the server).
    let sleeper = {
        let port = redis.port;
        thread::spawn(move || {
            std::process::Command::new("redis-cli")
                .args(["-p", &port.to_string(), "DEBUG", "SLEEP", "2"])
                .output()
                .unwrap()
        })
    };
    thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let refused = deliver_id(hookfence.addr, &fresh_id("hard"), b"{}");
    assert_eq!(refused.status, 503, "{}", refused.body_str());
    assert!(refused.header("retry-after").is_some());
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the command timeout bounds the wait"
    );
    sleeper.join().unwrap();
    assert_eq!(
        deliver_id(hookfence.addr, &fresh_id("hard"), b"{}").status,
        200,
        "back to normal"
    );
    assert_eq!(upstream.requests().len(), 2);
}

#[test]
fn reloads_during_traffic_lose_nothing() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start("", &upstream, "");
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let addr = hookfence.addr;
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    statuses.push(deliver_id(addr, &fresh_id("hard"), b"{\"reload\":true}").status);
                }
                statuses
            })
        })
        .collect();
    for _ in 0..5 {
        thread::sleep(Duration::from_millis(150));
        hookfence.signal("HUP");
    }
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let statuses: Vec<u16> = senders.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert!(statuses.len() > 10, "traffic flowed: {}", statuses.len());
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(upstream.requests().len(), statuses.len());
    let metrics = hookfence.admin_get("/metrics");
    assert!(metrics
        .body_str()
        .contains(r#"hookfence_config_reloads_total{result="success"} 5"#));
}
