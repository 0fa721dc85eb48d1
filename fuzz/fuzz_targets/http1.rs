//! Arbitrary bytes through hookfence's HTTP/1 parsers: request and response
//! heads, and the chunked decoder fed in two pieces. None may panic; a
//! decoder never yields more than it is fed nor more than its limit.
#![no_main]

use bytes::BytesMut;
use hookfence::http1::chunked::ChunkedDecoder;
use hookfence::http1::{RequestHead, ResponseHead};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let _ = RequestHead::parse(&mut BytesMut::from(input));
    let _ = ResponseHead::parse(&mut BytesMut::from(input), split % 2 == 0);

    let limit = u64::from(split) * 16;
    let mut decoder = ChunkedDecoder::new(limit);
    let cut = usize::from(split).min(input.len());
    let mut decoded = 0usize;
    let mut consumed = 0usize;
    for piece in [&input[..cut], &input[cut..]] {
        if decoder.is_done() {
            break;
        }
        match decoder.feed(piece, |d| decoded += d.len()) {
            Ok(n) => {
                assert!(n <= piece.len());
                consumed += n;
            }
            Err(_) => return,
        }
    }
    assert!(decoded <= consumed, "decoded more than it was fed");
    assert!(decoded as u64 <= limit, "decoded past its limit");
});
