//! Differential: the same bytes to hookfence's HTTP/1 request framing and
//! to hyper's HTTP/1 server (fuzz/differential.rs). Fails when both take a
//! request and frame it differently, or when hyper refuses what hookfence
//! accepts.
#![no_main]

#[path = "../differential.rs"]
mod differential;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(difference) = differential::compare(data) {
        panic!("{difference}\ninput: {:?}", String::from_utf8_lossy(data));
    }
});
