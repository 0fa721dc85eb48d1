//! Verification cost next to its floor, a bare HMAC-SHA256 of the same bytes.
//! Run: `cargo bench --bench verify`. Figures go in BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;
use std::hint::black_box;

use hookfence::secret::Secret;
use hookfence::verify::{presets, Delivery, Verifier};

const SECRET: &[u8] = b"bench-secret";
const SIZES: [usize; 4] = [1 << 10, 8 << 10, 64 << 10, 1 << 20];

fn bare_hmac(body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("any key length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn verification(c: &mut Criterion) {
    let github = Verifier::new(
        presets::find("github").expect("preset").schemes(false),
        vec![Secret::new(SECRET)],
    );
    let mut group = c.benchmark_group("github");
    for size in SIZES {
        let body = vec![b'x'; size];
        let mut headers = HeaderMap::new();
        let signature = format!("sha256={}", hex::encode(bare_hmac(&body)));
        headers.insert("x-hub-signature-256", HeaderValue::from_str(&signature).expect("ascii"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("bare_hmac_sha256", size), &body, |b, body| {
            b.iter(|| bare_hmac(black_box(body)))
        });
        group.bench_with_input(BenchmarkId::new("verify", size), &body, |b, body| {
            b.iter(|| {
                github
                    .verify(black_box(&Delivery {
                        headers: &headers,
                        body,
                    }))
                    .expect("valid")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);
