//! Reading the whole request body before anything else happens, bounded in
//! size and time.
//!
//! A declared `Content-Length` above the route's limit is refused before a
//! single body byte is read; chunked bodies are counted as they arrive. The
//! body is kept as received (no decoding of any kind) in one buffer: the first
//! chunk is kept as-is and only a multi-chunk body is gathered into a buffer
//! pre-sized from `Content-Length`.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use http::HeaderMap;
use pingora::protocols::http::ServerSession;

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
}

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

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads the complete body of the current request.
pub async fn read_body(session: &mut ServerSession, max: u64, timeout: Duration) -> Result<Bytes, BodyError> {
    let headers = &session.req_header().headers;
    let declared = declared_length(headers)?;
    if declared.is_some_and(|len| len > max) {
        return Err(BodyError::TooLarge);
    }
    // Only now, with the size acceptable, invite the client to send the body.
    if expects_continue(headers) {
        session.write_continue_response().await.map_err(BodyError::Client)?;
    }
    let capacity = declared.unwrap_or(0).min(max);
    match tokio::time::timeout(timeout, gather(session, max, capacity)).await {
        Ok(result) => result,
        Err(_) => Err(BodyError::Timeout),
    }
}

async fn gather(session: &mut ServerSession, max: u64, capacity: u64) -> Result<Bytes, BodyError> {
    let mut first: Option<Bytes> = None;
    let mut gathered: Option<BytesMut> = None;
    let mut total: u64 = 0;
    while let Some(chunk) = session.read_request_body().await.map_err(BodyError::Client)? {
        total += chunk.len() as u64;
        if total > max {
            return Err(BodyError::TooLarge);
        }
        match (&mut first, &mut gathered) {
            (None, _) => first = Some(chunk),
            (Some(head), None) => {
                let size = usize::try_from(capacity)
                    .unwrap_or(usize::MAX)
                    .max(head.len() + chunk.len());
                let mut buf = BytesMut::with_capacity(size);
                buf.extend_from_slice(head);
                buf.extend_from_slice(&chunk);
                gathered = Some(buf);
            }
            (Some(_), Some(buf)) => buf.extend_from_slice(&chunk),
        }
    }
    Ok(match (gathered, first) {
        (Some(buf), _) => buf.freeze(),
        (None, Some(only)) => only,
        (None, None) => Bytes::new(),
    })
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
