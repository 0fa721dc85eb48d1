//! The client side of a connection: one read buffer per connection that
//! request heads are split off (bytes of a pipelined request stay for the
//! next one), answers written with a deadline, and a lingering close.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::IpAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use pingora::protocols::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::deadline::within;
use crate::http1::head::MAX_HEAD;
use crate::http1::{HeadError, RequestHead};

/// A connection's read buffer: room for a typical delivery's head and a
/// small body in one read. Larger bodies are read into a buffer of their own.
const READ_BUFFER: usize = 8 * 1024;
/// A read is only started with at least this much room.
const MIN_READ: usize = 1024;
/// How long a closing connection keeps reading (and discarding) what the
/// client still sends, and how much of it at most.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

pub struct Client {
    stream: Stream,
    /// Bytes read and not yet consumed: a head being read, the start of a
    /// body, or a pipelined request.
    buf: BytesMut,
    /// The client's address, for `X-Forwarded-For`.
    pub ip: Option<IpAddr>,
    write_timeout: Duration,
}

/// What arrived when a request was awaited.
pub enum Arrival {
    Request(RequestHead),
    /// A head that cannot be served; the connection must close after the answer.
    Refused(HeadError),
    /// The client closed (or broke) the connection between requests, or the
    /// server is shutting down and the connection was idle.
    Closed,
    /// No complete head within the header timeout.
    TimedOut,
}

impl Client {
    pub fn new(stream: Stream, write_timeout: Duration) -> Self {
        let ip = stream
            .get_socket_digest()
            .and_then(|digest| digest.peer_addr().and_then(|addr| addr.as_inet()).map(|addr| addr.ip()));
        Self {
            stream,
            buf: BytesMut::new(),
            ip,
            write_timeout,
        }
    }

    pub fn set_write_timeout(&mut self, timeout: Duration) {
        self.write_timeout = timeout;
    }

    /// Waits up to `timeout` for the next request's head (an idle keep-alive
    /// connection gets no longer). `stopping` completes when the server
    /// shuts down: that closes a connection that has not started sending
    /// its next request.
    pub async fn next_request(&mut self, timeout: Duration, stopping: Pin<&mut impl Future<Output = ()>>) -> Arrival {
        let idle = self.buf.is_empty();
        tokio::select! {
            biased;
            arrival = within(timeout, self.read_head()) => arrival.unwrap_or(Arrival::TimedOut),
            () = stopping, if idle => Arrival::Closed,
        }
    }

    async fn read_head(&mut self) -> Arrival {
        // Where the search for the head's end resumes: the head is parsed
        // once it is whole, not again after every read (a head sent a byte
        // at a time would cost quadratic time).
        let mut searched = 0;
        loop {
            // RFC 9112 §2.2: empty lines before a request line are skipped.
            let blank = leading_empty_lines(&self.buf);
            if blank > 0 {
                self.buf.advance(blank);
                searched = 0;
            }
            if ends_head(&self.buf, searched) || self.buf.len() >= MAX_HEAD {
                match RequestHead::parse(&mut self.buf) {
                    Ok(Some(head)) => return Arrival::Request(head),
                    Ok(None) => {}
                    Err(e) => return Arrival::Refused(e),
                }
            }
            searched = self.buf.len();
            match self.fill().await {
                Ok(0) | Err(_) => return Arrival::Closed,
                Ok(_) => {}
            }
        }
    }

    /// Reads what the client sent next into the buffer; `Ok(0)` at its end.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < MIN_READ {
            // Reclaims the buffer's own space once what was split off it is
            // gone; a buffer still shared is replaced by a fresh one.
            self.buf
                .reserve(MIN_READ.max(READ_BUFFER.saturating_sub(self.buf.len())));
        }
        self.stream.read_buf(&mut self.buf).await
    }

    /// The bytes read and not consumed yet.
    pub fn buffered(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Lets the read buffer go if it holds nothing: an idle keep-alive
    /// connection then costs no buffer (8 KiB each otherwise), and the next
    /// request starts a fresh one.
    pub fn release_idle_buffer(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
    }

    /// Takes the bytes read and not consumed yet, and with them the read
    /// buffer: the next read starts a fresh one.
    pub fn take_buffered(&mut self) -> BytesMut {
        std::mem::take(&mut self.buf)
    }

    /// Reads straight into `into`, at most up to its capacity (it must have
    /// room: the caller sized it for the body).
    pub async fn read_into(&mut self, into: &mut BytesMut) -> io::Result<usize> {
        let room = into.capacity() - into.len();
        (&mut self.stream).take(room as u64).read_buf(into).await
    }

    /// Writes `parts` in order (one vectored write when the socket takes
    /// them all), within the write timeout: a client that stops reading must
    /// not hold its delivery's resources for ever.
    pub async fn write<const N: usize>(&mut self, parts: [&[u8]; N]) -> io::Result<()> {
        let stream = &mut self.stream;
        let write = async move {
            let mut slices = parts.map(IoSlice::new);
            let mut remaining = &mut slices[..];
            IoSlice::advance_slices(&mut remaining, 0);
            while !remaining.is_empty() {
                let written = stream.write_vectored(remaining).await?;
                if written == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                IoSlice::advance_slices(&mut remaining, written);
            }
            // TLS streams hold records until flushed; plain TCP writes through.
            stream.flush().await
        };
        within(self.write_timeout, write)
            .await
            .unwrap_or_else(|| Err(io::ErrorKind::TimedOut.into()))
    }

    /// Ends the connection. With `linger`, the client may still be sending a
    /// request body nobody read: what it sends is read and dropped for a
    /// while after the answer, since closing a socket with unread data resets
    /// it, and a reset can destroy the answer before the client reads it
    /// (RFC 9112 §9.6).
    pub async fn close(mut self, linger: bool) {
        let deadline = Instant::now() + LINGER_TIME;
        let _ = tokio::time::timeout(LINGER_TIME, AsyncWriteExt::shutdown(&mut self.stream)).await;
        if !linger {
            return;
        }
        let mut discarded = 0;
        let mut scratch = vec![0u8; 16 * 1024];
        while discarded < LINGER_BYTES {
            match tokio::time::timeout_at(deadline.into(), self.stream.read(&mut scratch)).await {
                Ok(Ok(n)) if n > 0 => discarded += n,
                _ => break,
            }
        }
    }
}

/// Bytes of complete empty lines (CRLF) at the start of `buf`.
fn leading_empty_lines(buf: &[u8]) -> usize {
    buf.chunks_exact(2).take_while(|pair| *pair == b"\r\n").count() * 2
}

/// Whether `buf` holds the empty line that ends a head, looking only at
/// line ends from `from` on (and the bytes just before them). A bare LF
/// counts here, so that such a head is parsed, and refused, at once.
fn ends_head(buf: &[u8], from: usize) -> bool {
    let from = from.saturating_sub(2);
    memchr::memchr_iter(b'\n', &buf[from..]).any(|at| {
        let before = &buf[..from + at];
        before.ends_with(b"\n\r") || before.ends_with(b"\n")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_a_head_is_found_wherever_the_reads_split_it() {
        let head = b"POST / HTTP/1.1\r\nHost: x\r\n\r\nbody";
        let end = head.len() - 4;
        for cut in 0..head.len() {
            let seen_first = ends_head(&head[..cut], 0);
            assert_eq!(seen_first, cut >= end, "first read of {cut} bytes");
            // Not in the first read: then in the bytes read after it.
            assert!(seen_first || ends_head(head, cut), "resumed at {cut}");
        }
        assert!(ends_head(b"POST / HTTP/1.1\nHost: x\n\n", 0), "bare LFs end it too");
        assert!(!ends_head(b"POST / HTTP/1.1\r\nHost: x\r\n", 0));
    }

    #[test]
    fn only_whole_empty_lines_are_skipped() {
        assert_eq!(leading_empty_lines(b"\r\n\r\nPOST"), 4);
        assert_eq!(leading_empty_lines(b"\r\n\r"), 2, "half a line waits");
        assert_eq!(leading_empty_lines(b"\nPOST"), 0, "a bare LF is left to the parser");
        assert_eq!(leading_empty_lines(b"POST"), 0);
    }
}
