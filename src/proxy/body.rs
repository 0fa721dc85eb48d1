//! Reading the whole request body before anything else happens, bounded in
//! size and time.
//!
//! A declared `Content-Length` above the route's limit is refused before a
//! single body byte is read; chunked bodies are counted as they arrive. The
//! body is kept as received (no decoding of any kind) in one buffer: the first
//! chunk is kept as-is and only a multi-chunk body is gathered into a buffer
//! pre-sized from `Content-Length`.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use http::HeaderMap;
use pingora::protocols::http::ServerSession;

use super::admission::{Lease, BUDGET_WAIT};

#[derive(Debug)]
pub enum BodyError {
    /// Declared or actual size above the route's limit.
    TooLarge,
    /// The body did not arrive within the route's body timeout.
    Timeout,
    /// Ambiguous framing (request smuggling attempts land here).
    BadFraming(&'static str),
    /// The client broke the connection or sent an unreadable body.
    Client(Box<pingora::Error>),
    /// No room in the global body budget within the wait.
    Overloaded,
}

/// The smallest step a chunked body's lease grows by.
const MIN_GROWTH: u64 = 64 * 1024;

/// The declared `Content-Length`, refusing framing that two HTTP parsers could
/// read differently.
pub fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, BodyError> {
    let mut lengths = headers.get_all(CONTENT_LENGTH).iter();
    let Some(first) = lengths.next() else {
        return Ok(None);
    };
    if lengths.next().is_some() {
        return Err(BodyError::BadFraming("multiple Content-Length headers"));
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        return Err(BodyError::BadFraming("both Content-Length and Transfer-Encoding"));
    }
    let text = first
        .to_str()
        .map_err(|_| BodyError::BadFraming("invalid Content-Length"))?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BodyError::BadFraming("invalid Content-Length"));
    }
    text.parse()
        .map(Some)
        .map_err(|_| BodyError::BadFraming("invalid Content-Length"))
}

/// A request that carried both `Content-Length` and `Transfer-Encoding`.
/// pingora resolves that per RFC 9112 (chunked wins, `Content-Length` is
/// dropped), but two parsers along the way may not: it is refused (400)
/// rather than guessed at. Found from the raw header block, since the parsed
/// headers no longer show the `Content-Length`.
pub fn smuggling_framing(session: &ServerSession) -> Option<&'static str> {
    if !session.req_header().headers.contains_key(TRANSFER_ENCODING) {
        return None;
    }
    let raw = session.as_http1()?.get_headers_raw_bytes();
    let name = CONTENT_LENGTH.as_str().as_bytes();
    let has_content_length = super::headers::header_lines(&raw).any(|line| {
        line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name)
            && line[name.len()..].trim_ascii_start().starts_with(b":")
    });
    has_content_length.then_some("both Content-Length and Transfer-Encoding")
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads the complete body of the current request into memory leased from
/// the global budget (`lease` keeps it until the delivery is answered).
pub async fn read_body(
    session: &mut ServerSession,
    max: u64,
    timeout: Duration,
    lease: &mut Lease,
) -> Result<Bytes, BodyError> {
    let headers = &session.req_header().headers;
    let declared = declared_length(headers)?;
    if declared.is_some_and(|len| len > max) {
        return Err(BodyError::TooLarge);
    }
    // The declared body is allocated at once: lease it first. Only then,
    // with the size acceptable and the memory ours, invite the client to
    // send it.
    if let Some(len) = declared {
        lease
            .grow_to(held_for(len), Instant::now() + BUDGET_WAIT)
            .await
            .map_err(|_| BodyError::Overloaded)?;
    }
    if expects_continue(headers) {
        session.write_continue_response().await.map_err(BodyError::Client)?;
    }
    match tokio::time::timeout(timeout, gather(session, max, declared, lease)).await {
        Ok(result) => result,
        Err(_) => Err(BodyError::Timeout),
    }
}

/// pingora reads a body through a read buffer of its own (64 KiB at most,
/// never more than the body) and copies each chunk out of it.
const PINGORA_READ_BUFFER: u64 = 64 * 1024;

/// Memory a body of `len` bytes occupies while it is read: our buffer plus
/// pingora's read buffer. This is what the lease covers, so the budget
/// bounds real memory.
fn held_for(len: u64) -> u64 {
    len + len.min(PINGORA_READ_BUFFER)
}

/// Reads the body chunks. One chunk is kept as it came; several are
/// gathered into one buffer, pre-sized from `Content-Length` or grown in
/// doublings (each covered by the lease first) for a chunked body.
async fn gather(
    session: &mut ServerSession,
    max: u64,
    declared: Option<u64>,
    lease: &mut Lease,
) -> Result<Bytes, BodyError> {
    let mut body = Gathered::Empty;
    let mut total: u64 = 0;
    // The buffer size the lease covers: the declared length, or for a
    // chunked body a doubling ahead of what arrived.
    let mut capacity = declared.unwrap_or(0);
    while let Some(chunk) = session.read_request_body().await.map_err(BodyError::Client)? {
        total += chunk.len() as u64;
        if total > max {
            return Err(BodyError::TooLarge);
        }
        if declared.is_some_and(|len| total > len) {
            return Err(BodyError::BadFraming("body longer than Content-Length"));
        }
        if total > capacity {
            capacity = total.max(capacity.saturating_mul(2)).max(MIN_GROWTH).min(max);
            lease
                .grow_to(held_for(capacity), Instant::now() + BUDGET_WAIT)
                .await
                .map_err(|_| BodyError::Overloaded)?;
        }
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
        body = match body {
            Gathered::Empty => Gathered::One(chunk),
            Gathered::One(head) => {
                let mut buf = BytesMut::with_capacity(capacity.max(head.len() + chunk.len()));
                buf.extend_from_slice(&head);
                buf.extend_from_slice(&chunk);
                Gathered::Many(buf)
            }
            Gathered::Many(mut buf) => {
                if buf.len() + chunk.len() > buf.capacity() {
                    buf.reserve(capacity.saturating_sub(buf.len()).max(chunk.len()));
                }
                buf.extend_from_slice(&chunk);
                Gathered::Many(buf)
            }
        };
    }
    Ok(match body {
        Gathered::Empty => Bytes::new(),
        Gathered::One(only) => only,
        Gathered::Many(buf) => buf.freeze(),
    })
}

/// A body being read: nothing yet, one chunk kept as it came, or several
/// gathered into one buffer.
enum Gathered {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn content_length_framing() {
        assert_eq!(declared_length(&headers(&[])).unwrap(), None);
        assert_eq!(
            declared_length(&headers(&[("content-length", "42")])).unwrap(),
            Some(42)
        );
        for bad in [
            headers(&[("content-length", "1"), ("content-length", "1")]),
            headers(&[("content-length", "1"), ("transfer-encoding", "chunked")]),
            headers(&[("content-length", "-1")]),
            headers(&[("content-length", "+1")]),
            headers(&[("content-length", "1, 1")]),
            headers(&[("content-length", "")]),
        ] {
            assert!(
                matches!(declared_length(&bad), Err(BodyError::BadFraming(_))),
                "{bad:?}"
            );
        }
    }
}
