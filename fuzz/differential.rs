//! hookfence's HTTP/1 request framing against an established parser:
//! hyper's HTTP/1 server. The same bytes go to both; the first request each
//! takes from them is compared. They must agree on the method, the target,
//! the header lines and where the body ends (its decoded bytes); and when
//! hyper refuses a request, hookfence must refuse it too. hookfence may be
//! stricter than hyper (it refuses what two parsers could read two ways),
//! never more lenient.
//!
//! Shared by the fuzz target `http1_diff` (fuzz/fuzz_targets) and the
//! regression test over the corpus of interesting inputs
//! (tests/differential.rs, tests/corpus/http1).
//!
//! Differences that are hookfence's own, deliberate, and checked here
//! rather than reported:
//! - a higher minor version (`HTTP/1.2`) is read as HTTP/1.1 by hookfence
//!   (RFC 9112 §2.3) and refused by hyper's parser;
//! - a request target with bytes that `http::Uri` refuses but httparse
//!   admits (`"`, `{`, `|`, …): hyper answers 400 before its service sees
//!   the request; hookfence forwards the target byte for byte.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use hookfence::http1::chunked::ChunkedDecoder;
use hookfence::http1::{Framing, RequestHead};

/// One request as a parser framed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed {
    pub method: String,
    pub target: String,
    /// Header lines, names lowercased, sorted: the multiset of fields.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// The first request hookfence takes from `input`; `None` when it refuses
/// it or the input ends before it does.
pub fn hookfence(input: &[u8]) -> Option<Framed> {
    // As the connection does (`proxy::client`): empty lines first are skipped.
    let mut start = 0;
    while input[start..].starts_with(b"\r\n") {
        start += 2;
    }
    let mut buf = BytesMut::from(&input[start..]);
    let head = RequestHead::parse(&mut buf).ok()??;
    let body = match head.framing {
        Framing::Empty => Vec::new(),
        Framing::Length(n) => {
            let n = usize::try_from(n).ok()?;
            buf.get(..n)?.to_vec()
        }
        Framing::Chunked => {
            let mut decoder = ChunkedDecoder::new(u64::MAX);
            let mut body = Vec::new();
            decoder.feed(&buf, |data| body.extend_from_slice(data)).ok()?;
            if !decoder.is_done() {
                return None;
            }
            body
        }
        Framing::UntilClose => return None,
    };
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = head
        .headers()
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_vec()))
        .collect();
    headers.sort();
    Some(Framed {
        method: head.method.to_string(),
        target: head.target().to_owned(),
        headers,
        body,
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for hyper")
    })
}

/// The first request hyper's HTTP/1 server takes from `input` (its service
/// called and the body read whole); `None` when it refuses it or the input
/// ends before it does.
pub fn hyper(input: &[u8]) -> Option<Framed> {
    let first: Arc<Mutex<Option<Framed>>> = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&first);
    let input = input.to_vec();
    runtime().block_on(async move {
        let (mut client, server) = tokio::io::duplex(input.len() + 64 * 1024);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let seen = Arc::clone(&seen);
            async move {
                let (parts, body) = request.into_parts();
                if let Ok(body) = body.collect().await {
                    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = parts
                        .headers
                        .iter()
                        .map(|(name, value)| (name.as_str().as_bytes().to_vec(), value.as_bytes().to_vec()))
                        .collect();
                    headers.sort();
                    let mut first = seen.lock().unwrap_or_else(|p| p.into_inner());
                    first.get_or_insert(Framed {
                        method: parts.method.to_string(),
                        target: parts.uri.to_string(),
                        headers,
                        body: body.to_bytes().to_vec(),
                    });
                }
                Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            // The input ends with a half-close: the request before it is still served.
            .half_close(true)
            .max_buf_size(1 << 20)
            .max_headers(128)
            .serve_connection(TokioIo::new(server), service);
        let send = async move {
            use tokio::io::AsyncWriteExt;
            let _ = client.write_all(&input).await;
            let _ = client.shutdown().await;
            // Keeps reading what hyper answers, so that it never blocks.
            let mut sink = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut client, &mut sink).await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), async { tokio::join!(connection, send) }).await;
    });
    let framed = first.lock().unwrap_or_else(|p| p.into_inner()).clone();
    framed
}

/// Whether the request line asks for a higher HTTP/1 minor version, which
/// hookfence reads as 1.1 and hyper refuses.
fn higher_minor_version(mut input: &[u8]) -> bool {
    while let Some(rest) = input.strip_prefix(b"\r\n") {
        input = rest;
    }
    let line_end = input.iter().position(|&b| b == b'\n').unwrap_or(input.len());
    let line = input[..line_end].strip_suffix(b"\r").unwrap_or(&input[..line_end]);
    line.len() >= 8
        && line[line.len() - 8..line.len() - 1] == *b"HTTP/1."
        && (b'2'..=b'9').contains(&line[line.len() - 1])
}

/// A target with a byte `http::Uri` refuses though httparse admits it.
fn target_uri_refuses(framed: &Framed) -> bool {
    framed.target.parse::<http::Uri>().is_err()
}

/// `Ok` when the two parsers agree (or hookfence is the stricter), else
/// what differs.
pub fn compare(input: &[u8]) -> Result<(), String> {
    let ours = hookfence(input);
    let theirs = hyper(input);
    match (ours, theirs) {
        (None, _) => Ok(()),
        (Some(ours), Some(theirs)) => {
            // hyper writes an origin-form target as it came; an
            // absolute-form one as a URI. hookfence keeps the bytes.
            let same_target = ours.target == theirs.target
                || ours
                    .target
                    .parse::<http::Uri>()
                    .is_ok_and(|uri| uri.to_string() == theirs.target);
            if ours.method != theirs.method || !same_target {
                return Err(format!("request line: {ours:?} against {theirs:?}"));
            }
            if ours.headers != theirs.headers {
                return Err(format!("headers: {:?} against {:?}", ours.headers, theirs.headers));
            }
            if ours.body != theirs.body {
                return Err(format!("body: {:?} against {:?}", ours.body, theirs.body));
            }
            Ok(())
        }
        (Some(ours), None) if higher_minor_version(input) || target_uri_refuses(&ours) => Ok(()),
        (Some(ours), None) => Err(format!("hyper refuses what hookfence accepts: {ours:?}")),
    }
}
