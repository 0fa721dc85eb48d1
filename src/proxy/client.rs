//! The client side of a connection: one read buffer per connection that
//! request heads are split off (bytes of a pipelined request stay for the
//! next one), answers written with a deadline, and a lingering close.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::IpAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pingora::protocols::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::deadline::within;
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
        loop {
            if !self.buf.is_empty() {
                match RequestHead::parse(&mut self.buf) {
                    Ok(Some(head)) => return Arrival::Request(head),
                    Ok(None) => {}
                    Err(e) => return Arrival::Refused(e),
                }
            }
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
