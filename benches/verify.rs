//! Verification cost per scheme next to its floor, a bare HMAC-SHA256 of the
//! same bytes, at 1 KiB, 8 KiB, 64 KiB and 1 MiB. The floor is measured both
//! ways: keyed anew for every message, and cloned from a state keyed once
//! (as hookfence does, see `Secret::prepared`), so that a ratio below 1
//! against the first is not mistaken for free verification.
//! Run: `cargo bench --bench verify`. Figures go in BENCHMARKS.md.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use hookfence::header_lines::OwnedHeaderLines;
use hookfence::verify::presets;
use hookfence::verify::sign::Request;
use hookfence::verify::Presented;

const SIZES: [usize; 4] = [1 << 10, 8 << 10, 64 << 10, 1 << 20];
const URL: &str = "https://hooks.example.test/hooks";

/// One scheme per distinct shape of the engine: single header, base64,
/// timestamped pairs, id + timestamp list, template, form parameters, a
/// token; Ed25519 and a JSON-body timestamp are measured too.
const SCHEMES: [(&str, &str); 9] = [
    ("github", "bench-secret"),
    ("shopify", "bench-secret"),
    ("stripe", "whsec_bench-secret"),
    ("standard-webhooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ("slack", "bench-secret"),
    ("twilio", "bench-secret"),
    ("gitlab", "bench-secret"),
    ("linear", "bench-secret"),
    ("square", "bench-secret"),
];

/// The floor: one HMAC of the body and nothing else.
fn bare_hmac<M: Mac + hmac::digest::KeyInit>(body: &[u8]) -> M {
    let mut mac = <M as Mac>::new_from_slice(b"bench-secret").expect("any key length");
    mac.update(body);
    mac
}

/// A body of `size` bytes each scheme can sign: JSON with a fresh
/// `webhookTimestamp` (Linear reads it), or a form for Twilio.
fn body_for(preset: &str, size: usize, now: SystemTime) -> Vec<u8> {
    let ms = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let (head, tail) = if preset == "twilio" {
        ("Body=".to_owned(), String::new())
    } else {
        (format!(r#"{{"webhookTimestamp":{ms},"data":""#), r#""}"#.to_owned())
    };
    let mut body = head.into_bytes();
    body.resize(size.saturating_sub(tail.len()), b'x');
    body.extend_from_slice(tail.as_bytes());
    body
}

fn verification(c: &mut Criterion) {
    let now = SystemTime::now();
    for size in SIZES {
        let mut group = c.benchmark_group(format!("verify/{}KiB", size >> 10));
        group.throughput(Throughput::Bytes(size as u64));
        let plain = body_for("github", size, now);
        group.bench_with_input(BenchmarkId::from_parameter("bare-hmac-sha256"), &plain, |b, body| {
            b.iter(|| bare_hmac::<Hmac<Sha256>>(black_box(body)).finalize())
        });
        let prepared = <Hmac<Sha256> as Mac>::new_from_slice(b"bench-secret").expect("any key length");
        group.bench_with_input(
            BenchmarkId::from_parameter("bare-hmac-sha256-prepared-key"),
            &plain,
            |b, body| {
                b.iter(|| {
                    let mut mac = prepared.clone();
                    mac.update(black_box(body));
                    mac.finalize()
                })
            },
        );
        // Twilio's floor (it signs with SHA-1).
        group.bench_with_input(BenchmarkId::from_parameter("bare-hmac-sha1"), &plain, |b, body| {
            b.iter(|| bare_hmac::<Hmac<Sha1>>(black_box(body)).finalize())
        });
        for (name, key_text) in SCHEMES {
            let preset = presets::find(name).expect("preset");
            let verifier = preset.verifier(false).expect("builds");
            let keys = vec![preset.key(key_text).expect("key")];
            let body = body_for(name, size, now);
            let request = Request {
                body: &body,
                url: Some(URL),
                id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
                now,
            };
            let credentials = verifier.schemes()[0].sign(&keys[0], &request).expect("signable");
            let headers: OwnedHeaderLines = credentials
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            let query = credentials.query.map(|(k, v)| format!("{k}={v}"));
            group.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
                b.iter(|| {
                    verifier
                        .verify(
                            black_box(&Presented {
                                method: "POST",
                                headers: headers.lines(),
                                query: query.as_deref(),
                                url: Some(URL),
                                body,
                                now,
                            }),
                            &keys,
                        )
                        .expect("valid")
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, verification);
criterion_main!(benches);
