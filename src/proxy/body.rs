//! Reading the whole request body before anything else happens, bounded in
//! size and time, into memory leased from the global body budget.
//!
//! A declared `Content-Length` above the route's limit is refused before a
//! single body byte is read. Otherwise the body is read once, into one buffer
//! of exactly its length: the bytes that came with the head are moved there,
//! the rest is read from the socket straight into place (a body that came
//! whole with its head is used where it lies). That buffer is what
//! is verified and what is forwarded. A chunked body is decoded as it
//! arrives into a buffer grown in doublings, each covered by the lease first.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use super::client::Client;
use crate::admission::{Lease, BUDGET_WAIT};
use crate::deadline::within;
use crate::http1::answer::CONTINUE;
use crate::http1::chunked::{ChunkError, ChunkedDecoder};
use crate::http1::{Framing, RequestHead};

#[derive(Debug)]
pub enum BodyError {
    /// Declared or actual size above the route's limit.
    TooLarge,
    /// The body did not arrive within the route's body timeout.
    Timeout,
    /// Broken chunked framing.
    BadFraming(&'static str),
    /// The client closed the connection or broke it mid-body.
    Client(std::io::Error),
    /// No room in the global body budget within the wait.
    Overloaded,
}

/// The smallest step a chunked body's buffer (and lease) grows by.
const MIN_GROWTH: u64 = 16 * 1024;

/// Reads the complete body of `head`'s request. The lease keeps the body's
/// memory counted until the delivery is answered.
pub async fn read_body(
    client: &mut Client,
    head: &mut RequestHead,
    max: u64,
    timeout: Duration,
    lease: &mut Lease,
) -> Result<Bytes, BodyError> {
    match head.framing {
        Framing::Empty | Framing::Length(0) | Framing::UntilClose => Ok(Bytes::new()),
        Framing::Length(length) => {
            if length > max {
                return Err(BodyError::TooLarge);
            }
            let length = usize::try_from(length).map_err(|_| BodyError::TooLarge)?;
            // The whole body is allocated at once: lease it first. Only then,
            // with the size acceptable and the memory ours, invite the client
            // to send it.
            lease
                .grow_to(length as u64, Instant::now() + BUDGET_WAIT)
                .await
                .map_err(|_| BodyError::Overloaded)?;
            // The usual delivery came whole with its head: no wait, no timer.
            let buffered = client.buffered();
            if buffered.len() >= length {
                return Ok(buffered.split_to(length).freeze());
            }
            // The read buffer holds the head and the start of the body; the
            // body gets a buffer of its own, and the read buffer is let go
            // for as long as the rest arrives (its memory would otherwise
            // be held twice, a tenth more for a 64 KiB body).
            head.detach();
            let start = client.take_buffered();
            invite(client, head, !start.is_empty()).await?;
            within(timeout, read_rest(client, start, length))
                .await
                .unwrap_or(Err(BodyError::Timeout))
        }
        Framing::Chunked => {
            let started = !client.buffered().is_empty();
            invite(client, head, started).await?;
            within(timeout, read_chunked(client, max, lease))
                .await
                .unwrap_or(Err(BodyError::Timeout))
        }
    }
}

/// Answers `Expect: 100-continue`, unless the body is already arriving.
async fn invite(client: &mut Client, head: &RequestHead, started: bool) -> Result<(), BodyError> {
    if head.expects_continue && !started {
        client.write([CONTINUE]).await.map_err(BodyError::Client)?;
    }
    Ok(())
}

/// `length` bytes, the first of which (`start`) came with the head,
/// gathered into one buffer of exactly that size.
async fn read_rest(client: &mut Client, start: BytesMut, length: usize) -> Result<Bytes, BodyError> {
    let mut body = BytesMut::with_capacity(length);
    body.extend_from_slice(&start);
    drop(start);
    while body.len() < length {
        match client.read_into(&mut body).await {
            Ok(0) => return Err(BodyError::Client(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => {}
            Err(e) => return Err(BodyError::Client(e)),
        }
    }
    Ok(body.freeze())
}

/// A chunked body, decoded as it arrives. What follows its end (a
/// pipelined request) stays in the client's buffer.
async fn read_chunked(client: &mut Client, max: u64, lease: &mut Lease) -> Result<Bytes, BodyError> {
    let mut decoder = ChunkedDecoder::new(max);
    let mut body = BytesMut::new();
    loop {
        let input = client.buffered();
        // Decoding never yields more bytes than it is fed, nor more than
        // `max` in all: covering that much first keeps the buffer within
        // the lease.
        let bound = ((body.len() + input.len()) as u64).min(max);
        if bound > body.capacity() as u64 {
            let capacity = bound
                .max((body.capacity() as u64).saturating_mul(2))
                .max(MIN_GROWTH)
                .min(max);
            // While the body moves to a buffer of exactly the new size
            // (`reserve` could round up), both exist: the lease covers both,
            // then only the new one.
            lease
                .grow_to(capacity + body.len() as u64, Instant::now() + BUDGET_WAIT)
                .await
                .map_err(|_| BodyError::Overloaded)?;
            let capacity_bytes = usize::try_from(capacity).map_err(|_| BodyError::TooLarge)?;
            let mut grown = BytesMut::with_capacity(capacity_bytes);
            grown.extend_from_slice(&body);
            body = grown;
            lease.shrink_to(capacity);
        }
        let input = client.buffered();
        let consumed = decoder
            .feed(input, |data| body.extend_from_slice(data))
            .map_err(|e| match e {
                ChunkError::TooLarge => BodyError::TooLarge,
                ChunkError::Invalid => BodyError::BadFraming("invalid chunked framing"),
            })?;
        input.advance(consumed);
        if decoder.is_done() {
            return Ok(body.freeze());
        }
        match client.fill().await {
            Ok(0) => return Err(BodyError::Client(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => {}
            Err(e) => return Err(BodyError::Client(e)),
        }
    }
}
