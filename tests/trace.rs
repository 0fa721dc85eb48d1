//! W3C Trace Context across the hop: a sender's trace is continued into
//! the backend (same trace id, hookfence's span as the parent, tracestate
//! kept), a trace is started when none (or a broken one) came, and the
//! trace id is in the audit record and `/deliveries` — refusals included.

mod support;

use serde_json::json;
use support::{github_route, github_signature, post, Behaviour, Hookfence, Upstream};

const SECRET: &str = "trace-secret";
const SENDER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SENDER_PARENT: &str = "00f067aa0ba902b7";

fn start(upstream: &Upstream) -> Hookfence {
    Hookfence::start(
        "",
        &github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
        &[("GH", SECRET)],
    )
}

/// A signed delivery with `id` and the extra header lines.
fn deliver(hookfence: &Hookfence, id: &str, extra: &[(&str, &str)], secret: &str) -> support::Response {
    let body = br#"{"traced":true}"#;
    let signature = github_signature(secret.as_bytes(), body);
    let mut headers = vec![("X-GitHub-Delivery", id), ("X-Hub-Signature-256", signature.as_str())];
    headers.extend_from_slice(extra);
    post(hookfence.addr, "/hooks/github", &headers, body)
}

/// `00-<trace>-<parent>-<flags>` taken apart; panics unless well formed.
fn parts(traceparent: &str) -> (String, String, String) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    assert_eq!(fields[0], "00", "{traceparent}");
    assert_eq!((fields[1].len(), fields[2].len(), fields[3].len()), (32, 16, 2));
    let lower_hex = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    assert!(fields[1..].iter().all(|f| lower_hex(f)), "{traceparent}");
    assert_ne!(fields[1], "0".repeat(32));
    assert_ne!(fields[2], "0".repeat(16));
    (fields[1].to_owned(), fields[2].to_owned(), fields[3].to_owned())
}

#[test]
fn a_senders_trace_is_continued_into_the_backend_and_recorded() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream);
    let sent = format!("00-{SENDER_TRACE}-{SENDER_PARENT}-01");
    let answer = deliver(
        &hookfence,
        "traced-1",
        &[
            ("traceparent", &sent),
            ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        ],
        SECRET,
    );
    assert_eq!(answer.status, 200);
    let received = &upstream.requests()[0];
    let traceparents: Vec<_> = received
        .headers
        .iter()
        .filter(|(name, _)| name == "traceparent")
        .collect();
    assert_eq!(traceparents.len(), 1, "exactly one traceparent goes upstream");
    let (trace, parent, flags) = parts(received.header_str("traceparent").expect("traceparent"));
    assert_eq!(trace, SENDER_TRACE, "the same trace");
    assert_ne!(
        parent, SENDER_PARENT,
        "hookfence's own span is the parent the backend sees"
    );
    assert_eq!(flags, "01", "the sender's flags");
    assert_eq!(
        received.header_str("tracestate"),
        Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        "tracestate passes unchanged"
    );
    hookfence.wait_for_audit(1);
    assert_eq!(hookfence.listed("github", "traced-1")["trace_id"], json!(SENDER_TRACE));
    assert!(
        hookfence.log().contains(&format!("trace_id={SENDER_TRACE}")),
        "the audit record carries it"
    );
}

#[test]
fn a_trace_is_started_when_none_or_a_broken_one_came() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream);
    let broken = format!("00-{}-{SENDER_PARENT}-01", SENDER_TRACE.to_uppercase());
    assert_eq!(deliver(&hookfence, "untraced-1", &[], SECRET).status, 200);
    assert_eq!(
        deliver(
            &hookfence,
            "untraced-2",
            &[("traceparent", &broken), ("tracestate", "congo=t61rcWkgMzE")],
            SECRET
        )
        .status,
        200
    );
    let requests = upstream.requests();
    let (first, _, flags) = parts(requests[0].header_str("traceparent").expect("started"));
    let (second, _, _) = parts(requests[1].header_str("traceparent").expect("restarted"));
    assert_eq!(flags, "01", "a started trace is sampled");
    assert_ne!(first, second, "each delivery its own trace");
    assert_ne!(second, SENDER_TRACE.to_lowercase());
    assert_eq!(
        requests[1].header("tracestate"),
        None,
        "the broken trace's tracestate is not forwarded"
    );
    hookfence.wait_for_audit(2);
    assert_eq!(hookfence.listed("github", "untraced-1")["trace_id"], json!(first));
    assert_eq!(hookfence.listed("github", "untraced-2")["trace_id"], json!(second));
}

#[test]
fn a_refused_delivery_is_recorded_with_the_senders_trace() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let hookfence = start(&upstream);
    let sent = format!("00-{SENDER_TRACE}-{SENDER_PARENT}-00");
    let answer = deliver(&hookfence, "forged-1", &[("traceparent", &sent)], "not-the-secret");
    assert_eq!(answer.status, 401);
    hookfence.wait_for_audit(1);
    let record = hookfence.listed("github", "forged-1");
    assert_eq!(record["outcome"], json!("rejected_bad_signature"));
    assert_eq!(record["trace_id"], json!(SENDER_TRACE));
    assert!(upstream.requests().is_empty());
}
