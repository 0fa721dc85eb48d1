//! hookfence's HTTP/1 request framing against hyper's HTTP/1 server, over
//! the corpus of interesting inputs kept from fuzzing (tests/corpus/http1,
//! from the `http1_diff` target of scripts/fuzz.sh) and a few written by
//! hand: both must frame a request alike, and hookfence may only ever be
//! the stricter. The corpus files are named by what each parser did with
//! them when kept: `both-…` (framed alike), `hyper-only-…` (hookfence
//! refused), `hookfence-only-…` (a documented difference), and the two
//! findings by what they found (SECURITY.md, "The differential target").

#[path = "../fuzz/differential.rs"]
mod differential;

use std::path::Path;

/// Hand-written cases of the kinds the fuzzer found worth keeping.
const CASES: [&[u8]; 10] = [
    b"POST /h HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /h HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"POST /h HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: v\r\n\r\n",
    b"POST /h HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /h HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    b"POST /h HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nPOST /x HTTP/1.1\r\n\r\n",
    b"\r\n\r\nPOST /h HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    b"POST http://a/h?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /h HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}POST /next HTTP/1.0\r\n\r\n",
    b"POST /h HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
];

#[test]
fn hookfence_and_hyper_frame_requests_alike() {
    for case in CASES {
        if let Err(difference) = differential::compare(case) {
            panic!("{difference}\ninput: {:?}", String::from_utf8_lossy(case));
        }
    }
    // Both take the plain cases: the comparison is not vacuous.
    assert!(differential::hookfence(CASES[0]).is_some() && differential::hyper(CASES[0]).is_some());
    assert_eq!(differential::hookfence(CASES[1]).unwrap().body, b"hello");
    assert_eq!(differential::hyper(CASES[1]).unwrap().body, b"hello");
}

#[test]
fn the_fuzzers_corpus_still_agrees() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/http1");
    let mut checked = 0;
    for entry in std::fs::read_dir(&corpus).expect("tests/corpus/http1") {
        let path = entry.expect("a corpus file").path();
        let input = std::fs::read(&path).expect("readable");
        if let Err(difference) = differential::compare(&input) {
            panic!("{}: {difference}", path.display());
        }
        checked += 1;
    }
    assert!(checked > 0, "the corpus is empty");
}
