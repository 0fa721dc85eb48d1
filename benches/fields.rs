//! Reading JSON fields out of a body (`src/verify/json_pointer.rs`): one
//! field, and the two a Stripe route reads (its delivery id and event type,
//! found in one pass), at 1 KiB, 8 KiB and 64 KiB, for a body that is mostly
//! one long string and for a dense one (an event with many small fields, as
//! most providers send). For scale: serde_json's validating skip of the same
//! body (what reading one field cost before the scanner) and a bare
//! HMAC-SHA256 of it. Run: `cargo bench --bench fields`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use serde::de::IgnoredAny;
use sha2::Sha256;

use hookfence::verify::json_pointer::{lookup_all, lookup_one, Pointer};

const SIZES: [usize; 3] = [1 << 10, 8 << 10, 64 << 10];

/// `{"id":…,"type":…,"data":"xxx…"}` of `size` bytes.
fn sparse(size: usize) -> Vec<u8> {
    let head = r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","type":"invoice.paid","data":""#;
    let mut body = head.as_bytes().to_vec();
    body.resize(size.saturating_sub(2), b'x');
    body.extend_from_slice(br#""}"#);
    body
}

/// A Stripe-like event of about `size` bytes: invoice lines of short keys,
/// strings, numbers, booleans and nulls, the `type` last.
fn dense(size: usize) -> Vec<u8> {
    let mut body = String::from(
        r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","api_version":"2022-11-15","data":{"object":{"id":"in_1NG8Dt2eZvKYlo2C","lines":["#,
    );
    let mut line = 0;
    while body.len() + 300 < size {
        if line > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"id":"il_{line:08}","amount":{},"currency":"usd","description":"1 × Pro plan (at $19.00 / month)","discountable":true,"livemode":false,"period":{{"end":1686393600,"start":1683715200}},"proration":false,"quantity":1,"tax_rates":[],"metadata":{{}},"plan":null}}"#,
            1900 + line
        ));
        line += 1;
    }
    body.push_str(r#"]}},"livemode":false,"pending_webhooks":1,"type":"invoice.paid"}"#);
    body.into_bytes()
}

fn fields(c: &mut Criterion) {
    let id = Pointer::parse("/id").expect("pointer");
    let event = Pointer::parse("/type").expect("pointer");
    let both = [id, event.clone()];
    for (shape, make) in [("sparse", sparse as fn(usize) -> Vec<u8>), ("dense", dense)] {
        for size in SIZES {
            let body = make(size);
            let mut group = c.benchmark_group(format!("fields/{shape}/{}KiB", size >> 10));
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_with_input(BenchmarkId::from_parameter("serde-skip"), &body, |b, body| {
                b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(body)).is_ok())
            });
            group.bench_with_input(BenchmarkId::from_parameter("one-field"), &body, |b, body| {
                b.iter(|| lookup_one(black_box(body), &event).is_ok())
            });
            group.bench_with_input(BenchmarkId::from_parameter("two-fields"), &body, |b, body| {
                b.iter(|| lookup_all(black_box(body), &both).is_ok())
            });
            group.bench_with_input(BenchmarkId::from_parameter("bare-hmac-sha256"), &body, |b, body| {
                b.iter(|| {
                    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"bench-secret").expect("any key length");
                    mac.update(black_box(body));
                    mac.finalize()
                })
            });
            group.finish();
        }
    }
}

criterion_group!(benches, fields);
criterion_main!(benches);
