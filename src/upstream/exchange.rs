//! One request to an upstream over a pooled connection ([`super::pool`]),
//! and the head of its final answer, read with hookfence's own HTTP/1
//! parser ([`crate::http1`]). What happens to the answer's body is the
//! caller's: relayed to a client (direct delivery) or drained (the queue).

use std::io::IoSlice;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use pingora::protocols::Stream;
use pingora::ErrorType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::pool::{PoolKey, Unconnected, UpstreamPool};
use super::request::Request;
use crate::config::{RouteLimits, Upstream};
use crate::deadline::within;
use crate::header_lines::names_equal;
use crate::http1::framing::BodyFramer;
use crate::http1::{HeadError, ResponseHead};

/// How long an idle upstream connection stays in the pool.
pub const UPSTREAM_IDLE: Duration = Duration::from_secs(60);
/// A pooled connection the upstream closed meanwhile fails on first use;
/// such a failure (and only such) is retried, on another connection.
const MAX_ATTEMPTS: usize = 3;
/// Interim (1xx) answers accepted before the final one; an upstream that
/// sends more is broken, not slow.
const MAX_INTERIM_ANSWERS: usize = 8;
/// The first read of an answer: enough for a typical head and a small body
/// (held by every delivery waiting for its answer: kept small).
const ANSWER_BUFFER: usize = 2 * 1024;
/// Reads of a larger answer's body.
pub const BODY_BUFFER: usize = 64 * 1024;

/// Why a request got no usable answer.
#[derive(Debug)]
pub struct ForwardError {
    pub kind: FailureKind,
    pub reason: String,
    /// The request may have reached the upstream whole (it was written, or
    /// the deadline passed while it was), so the upstream may act on it
    /// though no complete answer came back. `false` when connecting or
    /// writing failed: then it certainly did not.
    pub maybe_delivered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Refused, reset, unresolvable, or an invalid answer.
    Unreachable,
    /// No connection or no answer within the route's timeouts.
    Timeout,
}

impl ForwardError {
    fn before_sending(kind: FailureKind, reason: String) -> Self {
        Self {
            kind,
            reason,
            maybe_delivered: false,
        }
    }
}

/// The upstream's final answer: its head read, its body not yet.
pub struct Response {
    stream: Stream,
    pool_key: PoolKey,
    head: ResponseHead,
    /// What was read after the head: the start of the body.
    rest: BytesMut,
    timeout: Duration,
}

/// A response taken apart, for a caller that reads its body itself.
pub struct ResponseParts {
    pub stream: Stream,
    /// Where the connection goes back to (`UpstreamPool::checkin`) when its
    /// answer ended cleanly.
    pub pool_key: PoolKey,
    pub head: ResponseHead,
    pub rest: BytesMut,
    /// How long each read of the body may wait.
    pub timeout: Duration,
}

/// One exchange's failure, and how far it got.
struct Failure {
    kind: FailureKind,
    reason: String,
    /// The request may have reached the upstream whole.
    maybe_delivered: bool,
    /// Some byte of an answer arrived.
    answered: bool,
}

impl Failure {
    fn writing(reason: String) -> Self {
        Self {
            kind: FailureKind::Unreachable,
            reason,
            maybe_delivered: false,
            answered: false,
        }
    }

    fn answered(reason: String) -> Self {
        Self {
            kind: FailureKind::Unreachable,
            reason,
            maybe_delivered: true,
            answered: true,
        }
    }

    /// No answer in time. Never retried: the upstream may be working on it.
    fn timeout() -> Self {
        Self {
            kind: FailureKind::Timeout,
            reason: "no answer within the upstream timeout".into(),
            maybe_delivered: true,
            answered: true,
        }
    }

    fn into_error(self) -> ForwardError {
        ForwardError {
            kind: self.kind,
            reason: self.reason,
            maybe_delivered: self.maybe_delivered,
        }
    }
}

/// Sends `request` to `upstream` (its head made with `extra` header lines,
/// then the body) and reads the head of the final answer.
pub async fn send(
    pool: &UpstreamPool,
    upstream: &Upstream,
    limits: &RouteLimits,
    request: &Request,
    extra: &[(&[u8], &[u8])],
) -> Result<Response, ForwardError> {
    let address = address(upstream, limits.connect_timeout).await?;
    let tls = upstream.tls.as_ref();
    let pool_key = PoolKey::new(address, tls);
    let timeout = limits.upstream_timeout;
    let head = request.head_for(upstream, extra);
    // Only a failure before the upstream sent a single byte is retried: on a
    // reused connection it means one the upstream had closed, which never saw
    // the delivery. After any byte of an answer (a 1xx included) the upstream
    // has the delivery, and sending it again would deliver it twice.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (stream, reused) = pool
            .checkout(pool_key, tls, limits.connect_timeout)
            .await
            .map_err(|e| connect_error(e, address))?;
        // One deadline for the upstream to take the request and answer it.
        let exchanged = within(timeout, exchange(stream, &head, &request.body, request.is_head()))
            .await
            .unwrap_or_else(|| Err(Failure::timeout()));
        match exchanged {
            Ok((stream, head, rest)) => {
                return Ok(Response {
                    stream,
                    pool_key,
                    head,
                    rest,
                    timeout,
                })
            }
            Err(failure) if !failure.answered && reused && attempt < MAX_ATTEMPTS => continue,
            Err(failure) => return Err(failure.into_error()),
        }
    }
}

/// Writes the request and reads the (final, non-1xx) answer's head.
async fn exchange(
    mut stream: Stream,
    head: &[u8],
    body: &[u8],
    head_request: bool,
) -> Result<(Stream, ResponseHead, BytesMut), Failure> {
    write_request(&mut stream, head, body).await?;
    let mut buf = BytesMut::with_capacity(ANSWER_BUFFER);
    let mut interim = 0;
    let mut received = false;
    loop {
        match ResponseHead::parse(&mut buf, head_request) {
            // A delivery never asks to switch protocols (`Upgrade` is not
            // forwarded): what follows a 101 is not HTTP, even if it reads
            // like it.
            Ok(Some(head)) if head.status == 101 => {
                return Err(Failure::answered("the upstream switched protocols".into()))
            }
            Ok(Some(head)) if head.is_interim() => {
                interim += 1;
                if interim > MAX_INTERIM_ANSWERS {
                    return Err(Failure::answered("the upstream sent no final answer".into()));
                }
                continue;
            }
            Ok(Some(head)) => return Ok((stream, head, buf)),
            Ok(None) => {}
            Err(e) => return Err(Failure::answered(format!("invalid answer: {}", answer_problem(e)))),
        }
        if buf.capacity() - buf.len() < ANSWER_BUFFER / 4 {
            buf.reserve(ANSWER_BUFFER);
        }
        let what = match stream.read_buf(&mut buf).await {
            Ok(n) if n > 0 => {
                received = true;
                continue;
            }
            Ok(_) => "the upstream closed the connection".to_owned(),
            Err(e) => format!("reading the answer: {e}"),
        };
        // Written whole, then closed or reset without a byte: on a reused
        // connection the upstream had closed it before it saw the request
        // (retried above); on a fresh one it may have taken it.
        return Err(if received {
            Failure::answered(format!("{what} mid-answer"))
        } else {
            Failure {
                kind: FailureKind::Unreachable,
                reason: format!("{what} before answering"),
                maybe_delivered: true,
                answered: false,
            }
        });
    }
}

fn answer_problem(e: HeadError) -> String {
    match e {
        HeadError::Malformed => "malformed head".into(),
        HeadError::TooLarge => "head too large".into(),
        other => other.to_string(),
    }
}

/// Writes `header` and `body` with vectored writes (one syscall, one
/// segment for a small delivery, no copy of the body), then flushes.
async fn write_request(stream: &mut Stream, header: &[u8], body: &[u8]) -> Result<(), Failure> {
    let write = async {
        let mut slices = [IoSlice::new(header), IoSlice::new(body)];
        let mut remaining = &mut slices[..];
        IoSlice::advance_slices(&mut remaining, 0);
        while !remaining.is_empty() {
            let written = stream.write_vectored(remaining).await?;
            if written == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::WriteZero));
            }
            IoSlice::advance_slices(&mut remaining, written);
        }
        stream.flush().await
    };
    // A pooled connection the upstream closed fails here first: worth one
    // more try on a fresh connection.
    write
        .await
        .map_err(|e| Failure::writing(format!("writing the request: {e}")))
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status
    }

    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// What `Retry-After` asks for (RFC 9110 §10.2.3): seconds, or an
    /// HTTP date measured from `now`. Absent or unreadable: `None`.
    pub fn retry_after(&self, now: SystemTime) -> Option<Duration> {
        let value = self
            .head
            .headers()
            .iter()
            .find(|(name, _)| names_equal(name, b"retry-after"))?
            .1;
        let text = std::str::from_utf8(value).ok()?.trim();
        if let Ok(seconds) = text.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        let date = httpdate::parse_http_date(text).ok()?;
        Some(date.duration_since(now).unwrap_or(Duration::ZERO))
    }

    pub fn into_parts(self) -> ResponseParts {
        ResponseParts {
            stream: self.stream,
            pool_key: self.pool_key,
            head: self.head,
            rest: self.rest,
            timeout: self.timeout,
        }
    }

    /// Reads the body and drops it, up to `max` bytes, then gives the
    /// connection back to the pool if the answer ended cleanly (a longer,
    /// broken or close-delimited answer closes it instead).
    pub async fn drain(self, pool: &UpstreamPool, max: usize) {
        let ResponseParts {
            mut stream,
            pool_key,
            head,
            rest,
            timeout,
        } = self.into_parts();
        let mut framer = BodyFramer::new(head.framing);
        let mut pending = rest;
        let mut seen = 0;
        loop {
            let Ok(progress) = framer.take(&pending, |_| {}) else {
                return;
            };
            seen += progress.consumed;
            if progress.done {
                if head.persistent && progress.consumed == pending.len() {
                    pool.checkin(pool_key, stream);
                }
                return;
            }
            if seen > max {
                return;
            }
            pending.clear();
            pending.reserve(BODY_BUFFER.min(max + 1));
            match within(timeout, stream.read_buf(&mut pending)).await {
                Some(Ok(n)) if n > 0 => {}
                _ => return,
            }
        }
    }
}

/// A failed connect, described by what went wrong at the bottom (`Connection
/// refused (os error 111)`, `invalid peer certificate: UnknownIssuer`), not
/// by pingora's chain of contexts.
fn connect_error(e: Unconnected, address: SocketAddr) -> ForwardError {
    let (kind, reason) = match e {
        Unconnected::Tcp(e) => {
            let kind = match e.etype() {
                ErrorType::ConnectTimedout => FailureKind::Timeout,
                _ => FailureKind::Unreachable,
            };
            let cause = e.root_cause().to_string();
            let cause = cause.trim();
            let cause = if cause.is_empty() { e.reason_str() } else { cause };
            (kind, format!("cannot connect to {address}: {cause}"))
        }
        Unconnected::Tls(reason) => (FailureKind::Unreachable, reason),
        Unconnected::TlsTimeout => (FailureKind::Timeout, format!("TLS handshake with {address} timed out")),
    };
    ForwardError::before_sending(kind, reason)
}

/// The upstream's address: an IP literal as it is; a name through the
/// system resolver, on each delivery so that a backend that moves (a
/// container restart) is found. Resolving counts against the connect
/// timeout: a stuck resolver is an unreachable upstream.
async fn address(upstream: &Upstream, connect_timeout: Duration) -> Result<SocketAddr, ForwardError> {
    if let Some(address) = upstream.address {
        return Ok(address);
    }
    let unresolved = |detail: String| {
        ForwardError::before_sending(
            FailureKind::Unreachable,
            format!("cannot resolve upstream {}: {detail}", upstream.host),
        )
    };
    let lookup = tokio::net::lookup_host((upstream.host.as_str(), upstream.port));
    match tokio::time::timeout(connect_timeout, lookup).await {
        Ok(Ok(mut addresses)) => addresses.next().ok_or_else(|| unresolved("no addresses".into())),
        Ok(Err(e)) => Err(unresolved(e.to_string())),
        Err(_) => Err(ForwardError::before_sending(
            FailureKind::Timeout,
            format!("resolving upstream {} timed out", upstream.host),
        )),
    }
}
