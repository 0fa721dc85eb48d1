//! The answers hookfence writes itself (a status line, a small JSON body and
//! its length), and the pieces shared with relayed answers: the status line
//! and what `Connection` says about the connection.

use bytes::{BufMut, BytesMut};
use http::StatusCode;

/// The invitation an `Expect: 100-continue` client waits for.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What an answer says about its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing: an HTTP/1.1 connection persists by default.
    Implied,
    /// `Connection: keep-alive`, which an HTTP/1.0 client needs to hear.
    KeepAlive,
    /// `Connection: close`: the connection ends after this answer.
    Close,
}

impl Persistence {
    /// For a connection that `persists`, with a client speaking HTTP/1.1 or not.
    pub fn of(persists: bool, http11: bool) -> Self {
        match (persists, http11) {
            (false, _) => Persistence::Close,
            (true, true) => Persistence::Implied,
            (true, false) => Persistence::KeepAlive,
        }
    }

    /// The header line that says so, if any.
    pub fn header_line(self) -> &'static [u8] {
        match self {
            Persistence::Implied => b"",
            Persistence::KeepAlive => b"Connection: keep-alive\r\n",
            Persistence::Close => b"Connection: close\r\n",
        }
    }
}

/// `HTTP/1.1 <status> <reason>\r\n`; the standard reason when `reason` is empty.
pub fn put_status_line(out: &mut BytesMut, status: u16, reason: &[u8]) {
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(itoa::Buffer::new().format(status).as_bytes());
    out.put_u8(b' ');
    if reason.is_empty() {
        let standard = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason());
        out.put_slice(standard.unwrap_or("").as_bytes());
    } else {
        out.put_slice(reason);
    }
    out.put_slice(b"\r\n");
}

/// One of hookfence's own answers to a request: `status`, a JSON `body`,
/// `Retry-After` when given, and the connection's fate.
#[derive(Debug, Clone, Copy)]
pub struct Own<'a> {
    pub status: u16,
    pub body: &'a [u8],
    pub retry_after: Option<u64>,
    pub persistence: Persistence,
    /// The answer to a `HEAD` request has the headers of the body, not the
    /// body: bytes after them would be read as the next answer.
    pub head_request: bool,
}

pub const JSON: &[u8] = b"application/json";
pub const TEXT: &[u8] = b"text/plain; charset=utf-8";

/// Serialises one of hookfence's own answers, as JSON.
pub fn json(answer: Own<'_>) -> BytesMut {
    typed(JSON, answer)
}

/// Serialises one of hookfence's own answers, of `content_type`.
pub fn typed(content_type: &[u8], answer: Own<'_>) -> BytesMut {
    let Own {
        status,
        body,
        retry_after,
        persistence,
        head_request,
    } = answer;
    let mut out = BytesMut::with_capacity(160 + body.len());
    put_status_line(&mut out, status, b"");
    out.put_slice(b"Content-Type: ");
    out.put_slice(content_type);
    out.put_slice(b"\r\n");
    if content_type == TEXT {
        // An echoed challenge is text, whatever a browser might guess.
        out.put_slice(b"X-Content-Type-Options: nosniff\r\n");
    }
    out.put_slice(b"Content-Length: ");
    out.put_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    out.put_slice(b"\r\n");
    if let Some(seconds) = retry_after {
        out.put_slice(b"Retry-After: ");
        out.put_slice(itoa::Buffer::new().format(seconds).as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(persistence.header_line());
    out.put_slice(b"\r\n");
    if !head_request {
        out.put_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_answers_are_complete_messages() {
        let own = |status, body, retry_after, persistence| Own {
            status,
            body,
            retry_after,
            persistence,
            head_request: false,
        };
        let answer = json(own(
            503,
            br#"{"error":"overloaded; retry later"}"#,
            Some(1),
            Persistence::Close,
        ));
        assert_eq!(
            &answer[..],
            &b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 35\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{\"error\":\"overloaded; retry later\"}"[..]
        );
        let kept = json(own(401, b"{}", None, Persistence::KeepAlive));
        assert!(kept.starts_with(b"HTTP/1.1 401 Unauthorized\r\n"));
        assert!(kept.ends_with(b"Content-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"));
        let head = json(Own {
            head_request: true,
            ..own(404, b"{}", None, Persistence::Implied)
        });
        assert!(head.ends_with(b"Content-Length: 2\r\n\r\n"), "no body for HEAD");
    }

    #[test]
    fn status_lines_keep_a_given_reason_and_know_the_standard_ones() {
        let line = |status, reason: &[u8]| {
            let mut out = BytesMut::new();
            put_status_line(&mut out, status, reason);
            out
        };
        assert_eq!(&line(200, b"Fine")[..], b"HTTP/1.1 200 Fine\r\n");
        assert_eq!(&line(431, b"")[..], b"HTTP/1.1 431 Request Header Fields Too Large\r\n");
        assert_eq!(&line(299, b"")[..], b"HTTP/1.1 299 \r\n");
        assert_eq!(Persistence::of(true, false), Persistence::KeepAlive);
        assert_eq!(Persistence::of(false, true), Persistence::Close);
    }
}
