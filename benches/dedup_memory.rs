//! What the memory dedup store costs per remembered id, in resident memory
//! and in CPU, with the store already full (the steady state: every new id
//! evicts the oldest).
//!
//!   cargo bench --bench dedup_memory            # 1M and 10M ids
//!   cargo bench --bench dedup_memory -- 2000000 # other sizes
//!
//! Each size runs in a fresh process (this one, re-executed), so that one
//! size's freed memory does not count against the next. Keys look like the
//! proxy's: `hookfence:{github:<uuid>}`.

use std::process::Command;
use std::time::{Duration, Instant};

use hookfence::dedup::memory::MemoryStore;
use hookfence::dedup::{DedupStore, Reservation, Token};

const TTL: Duration = Duration::from_secs(72 * 3600);

#[path = "support/rss.rs"]
mod rss;
use rss::rss_kib;

fn key(i: u64) -> String {
    format!(
        "hookfence:{{github:{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}}}",
        i,
        i & 0xffff,
        i & 0xfff,
        i & 0xfff,
        i
    )
}

fn measure(ids: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime.block_on(async {
        let before = rss_kib("self");
        let store = MemoryStore::new(ids as usize);
        for i in 0..ids {
            let token = Token::new();
            let k = key(i);
            if store.reserve(&k, token, TTL).await == Ok(Reservation::Reserved) {
                store.commit(&k, token, TTL).await.expect("commit");
            }
        }
        let filled = rss_kib("self");
        // Steady state: the store is full, each new id evicts the oldest.
        let rounds = 1_000_000;
        let started = Instant::now();
        for i in ids..ids + rounds {
            let token = Token::new();
            let k = key(i);
            if store.reserve(&k, token, TTL).await == Ok(Reservation::Reserved) {
                store.commit(&k, token, TTL).await.expect("commit");
            }
        }
        let per_delivery = started.elapsed().as_nanos() as f64 / rounds as f64;
        // Lookups of ids remembered: a sender's retry.
        let started = Instant::now();
        for i in ids + rounds - 100_000..ids + rounds {
            assert_eq!(
                store.reserve(&key(i), Token::new(), TTL).await,
                Ok(Reservation::Duplicate)
            );
        }
        let per_duplicate = started.elapsed().as_nanos() as f64 / 100_000.0;
        // What making the key and the token costs alone, to subtract.
        let started = Instant::now();
        let mut sink = 0usize;
        for i in 0..rounds {
            std::hint::black_box(Token::new());
            sink = sink.wrapping_add(key(i).len());
        }
        std::hint::black_box(sink);
        let per_key = started.elapsed().as_nanos() as f64 / rounds as f64;
        println!(
            "| {ids} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {} |",
            (filled - before) as f64 / 1024.0,
            (filled - before) as f64 * 1024.0 / ids as f64,
            per_delivery,
            per_duplicate,
            per_key,
            store.evictions(),
        );
    });
}

fn main() {
    let sizes: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    match sizes.as_slice() {
        [one] => measure(*one),
        _ => {
            let sizes = if sizes.is_empty() {
                vec![1_000_000, 10_000_000]
            } else {
                sizes
            };
            println!("| ids | RSS growth MiB | bytes per id | ns per new delivery (reserve + commit) | ns per duplicate (reserve) | ns to make a key and token (included before) | evictions |");
            println!("|---:|---:|---:|---:|---:|---:|---:|");
            let me = std::env::current_exe().expect("this program");
            for ids in sizes {
                let status = Command::new(&me).arg(ids.to_string()).status().expect("run a size");
                assert!(status.success());
            }
        }
    }
}
