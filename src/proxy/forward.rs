//! Forwarding a verified delivery: one request to the route's upstream over a
//! pooled connection ([`super::pool`]), its answer read with hookfence's own
//! HTTP/1 parser ([`crate::http1`]), then relayed to the client.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use pingora::protocols::Stream;
use pingora::ErrorType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::client::Client;
use super::headers::{self, BodyRelay};
use super::pool::UpstreamPool;
use crate::config::{Route, Upstream};
use crate::deadline::within;
use crate::http1::answer::Persistence;
use crate::http1::chunked::ChunkedDecoder;
use crate::http1::{Framing, HeadError, RequestHead, ResponseHead, Version};

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
const RELAY_BUFFER: usize = 64 * 1024;

/// Why forwarding failed.
#[derive(Debug)]
pub enum ForwardError {
    /// Refused, reset, unresolvable, or an invalid answer: nothing usable came back.
    Unreachable(String),
    /// No connection or no answer within the route's timeouts.
    Timeout(String),
    /// The upstream answered `status`, but the answer could not be written
    /// to the client (gone, or not reading).
    Downstream { status: u16, error: std::io::Error },
}

/// What the upstream answered, once relayed to the client.
#[derive(Debug, Clone, Copy)]
pub struct Relayed {
    pub status: u16,
    /// The answer reached the client whole. When it did not, the upstream
    /// broke off mid-body and the client connection must end without a
    /// proper ending, so that the client sees the answer cut short.
    pub complete: bool,
    /// The client connection may serve another request.
    pub persists: bool,
}

/// The upstream's answer, its head read and its body not yet relayed: the
/// caller settles the dedup claim on the status before the sender hears back,
/// so a sender retrying at once meets a released (or committed) claim.
pub struct Answer {
    upstream: Stream,
    address: SocketAddr,
    head: ResponseHead,
    /// What was read after the head: the start of the body.
    rest: BytesMut,
    timeout: Duration,
}

/// One exchange's failure, and whether the upstream may never have seen the
/// delivery (then sending it again on a fresh connection is safe).
struct Failure {
    error: ForwardError,
    unanswered: bool,
}

impl Failure {
    fn unanswered(what: String) -> Self {
        Self {
            error: ForwardError::Unreachable(what),
            unanswered: true,
        }
    }

    fn answered(what: String) -> Self {
        Self {
            error: ForwardError::Unreachable(what),
            unanswered: false,
        }
    }

    /// No answer in time. Never retried: the upstream may be working on it.
    fn timeout() -> Self {
        Self {
            error: ForwardError::Timeout("no answer within the upstream timeout".into()),
            unanswered: false,
        }
    }
}

/// Sends the delivery (`wire`, the serialised head, then `body`) upstream
/// and reads the head of the final answer.
pub async fn send(
    pool: &UpstreamPool,
    route: &Route,
    wire: &[u8],
    body: &[u8],
    head_request: bool,
) -> Result<Answer, ForwardError> {
    let address = address(&route.upstream, route.limits.connect_timeout).await?;
    let timeout = route.limits.upstream_timeout;
    // Only a failure before the upstream sent a single byte is retried: on a
    // reused connection it means one the upstream had closed, which never saw
    // the delivery. After any byte of an answer (a 1xx included) the upstream
    // has the delivery, and sending it again would deliver it twice.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (stream, reused) = pool
            .checkout(address, route.limits.connect_timeout)
            .await
            .map_err(connect_error)?;
        // One deadline for the upstream to take the request and answer it.
        let exchanged = within(timeout, exchange(stream, wire, body, head_request))
            .await
            .unwrap_or_else(|| Err(Failure::timeout()));
        match exchanged {
            Ok((upstream, head, rest)) => {
                return Ok(Answer {
                    upstream,
                    address,
                    head,
                    rest,
                    timeout,
                })
            }
            Err(failure) if failure.unanswered && reused && attempt < MAX_ATTEMPTS => continue,
            Err(failure) => return Err(failure.error),
        }
    }
}

/// Writes the request and reads the (final, non-1xx) answer's head.
async fn exchange(
    mut stream: Stream,
    wire: &[u8],
    body: &[u8],
    head_request: bool,
) -> Result<(Stream, ResponseHead, BytesMut), Failure> {
    write_request(&mut stream, wire, body).await?;
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
        return Err(if received {
            Failure::answered(format!("{what} mid-answer"))
        } else {
            Failure::unanswered(format!("{what} before answering"))
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
        .map_err(|e| Failure::unanswered(format!("writing the request: {e}")))
}

impl Answer {
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// Relays the answer to the client of `request`, keeping the client's
    /// connection if `keep_client` and the answer's framing allow, and
    /// returns the upstream connection to the pool if the answer ended
    /// cleanly.
    pub async fn relay(
        self,
        pool: &UpstreamPool,
        client: &mut Client,
        request: &RequestHead,
        keep_client: bool,
    ) -> Result<Relayed, ForwardError> {
        let Answer {
            mut upstream,
            address,
            head,
            rest,
            timeout,
        } = self;
        let status = head.status;
        let http11 = request.version == Version::Http11;
        let (relay, persists) = match head.framing {
            // An HTTP/1.0 client cannot read chunked framing (RFC 9112
            // §6.1): it gets the body decoded, ending with the connection —
            // unless other codings sit under the chunks, which it would
            // then take for the body itself.
            Framing::Chunked if !http11 && head.other_codings => {
                return Err(ForwardError::Unreachable(
                    "an answer with transfer codings beyond chunked cannot reach an HTTP/1.0 client".into(),
                ))
            }
            Framing::Chunked if !http11 => (BodyRelay::Dechunked, false),
            // An answer the upstream ends by closing reaches an HTTP/1.1
            // client chunked: its end is then seen (and a break is too), and
            // the client's connection may stay.
            Framing::UntilClose if http11 && !head.other_codings => (BodyRelay::Rechunked, keep_client),
            Framing::UntilClose => (BodyRelay::AsFramed, false),
            _ => (BodyRelay::AsFramed, keep_client),
        };
        let answer_head = headers::client_response(&head, Persistence::of(persists, http11), relay);
        let mut body = BodyFramer::new(head.framing);
        let mut pending = rest;
        let mut decoded = BytesMut::new();
        let mut head_sent = false;
        loop {
            decoded.clear();
            let progress = match body.take(&pending, |data| {
                if relay == BodyRelay::Dechunked {
                    decoded.extend_from_slice(data);
                }
            }) {
                Ok(progress) => progress,
                Err(_) if !head_sent => {
                    return Err(ForwardError::Unreachable(
                        "invalid chunked framing in the answer".into(),
                    ))
                }
                Err(_) => return Ok(cut_off(status)),
            };
            let part: &[u8] = match relay {
                BodyRelay::Dechunked => &decoded,
                BodyRelay::AsFramed | BodyRelay::Rechunked => &pending[..progress.consumed],
            };
            let head_part: &[u8] = if head_sent { b"" } else { &answer_head };
            head_sent = true;
            let written = match relay {
                BodyRelay::Rechunked if !part.is_empty() => {
                    let size = format!("{:x}\r\n", part.len());
                    client.write([head_part, size.as_bytes(), part, b"\r\n"]).await
                }
                _ => client.write([head_part, part]).await,
            };
            if let Err(error) = written {
                return Err(ForwardError::Downstream { status, error });
            }
            if progress.done {
                // Reused only if the answer ended exactly where its framing
                // said: bytes after it would be read as the next answer.
                if head.persistent && progress.consumed == pending.len() {
                    pool.checkin(address, upstream);
                }
                return Ok(Relayed {
                    status,
                    complete: true,
                    persists,
                });
            }
            pending.clear();
            if pending.capacity() < RELAY_BUFFER {
                pending.reserve(RELAY_BUFFER);
            }
            match within(timeout, upstream.read_buf(&mut pending)).await {
                // The end of an answer delimited by the upstream closing
                // (only a clean end: a reset is a break).
                Some(Ok(0)) if head.framing == Framing::UntilClose => {
                    let ended = match relay {
                        BodyRelay::Rechunked => client.write([&b"0\r\n\r\n"[..]]).await,
                        _ => Ok(()),
                    };
                    if let Err(error) = ended {
                        return Err(ForwardError::Downstream { status, error });
                    }
                    return Ok(Relayed {
                        status,
                        complete: true,
                        persists,
                    });
                }
                Some(Ok(n)) if n > 0 => {}
                _ => return Ok(cut_off(status)),
            }
        }
    }
}

fn cut_off(status: u16) -> Relayed {
    Relayed {
        status,
        complete: false,
        persists: false,
    }
}

/// How much of what arrives belongs to the answer's body.
enum BodyFramer {
    Exact(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

struct Progress {
    /// Bytes of the input that are the body's.
    consumed: usize,
    /// The body ended.
    done: bool,
}

impl BodyFramer {
    fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty => BodyFramer::Exact(0),
            Framing::Length(n) => BodyFramer::Exact(n),
            Framing::Chunked => BodyFramer::Chunked(ChunkedDecoder::new(u64::MAX)),
            Framing::UntilClose => BodyFramer::UntilClose,
        }
    }

    /// Takes the body's part of `input`; decoded chunk data goes to `data`.
    fn take(&mut self, input: &[u8], data: impl FnMut(&[u8])) -> Result<Progress, crate::http1::chunked::ChunkError> {
        Ok(match self {
            BodyFramer::Exact(left) => {
                let take = usize::try_from(*left).map_or(input.len(), |left| left.min(input.len()));
                *left -= take as u64;
                Progress {
                    consumed: take,
                    done: *left == 0,
                }
            }
            BodyFramer::Chunked(decoder) => Progress {
                consumed: decoder.feed(input, data)?,
                done: decoder.is_done(),
            },
            BodyFramer::UntilClose => Progress {
                consumed: input.len(),
                done: false,
            },
        })
    }
}

fn connect_error(e: Box<pingora::Error>) -> ForwardError {
    if matches!(e.etype(), ErrorType::ConnectTimedout) {
        ForwardError::Timeout(e.to_string())
    } else {
        ForwardError::Unreachable(e.to_string())
    }
}

/// The upstream's address: an IP literal as it is; a name through the
/// system resolver, on each delivery so that a backend that moves (a
/// container restart) is found. Resolving counts against the connect
/// timeout: a stuck resolver is an unreachable upstream.
async fn address(upstream: &Upstream, connect_timeout: Duration) -> Result<SocketAddr, ForwardError> {
    if let Some(address) = upstream.address {
        return Ok(address);
    }
    let unresolved =
        |detail: String| ForwardError::Unreachable(format!("cannot resolve upstream {}: {detail}", upstream.host));
    let lookup = tokio::net::lookup_host((upstream.host.as_str(), upstream.port));
    match tokio::time::timeout(connect_timeout, lookup).await {
        Ok(Ok(mut addresses)) => addresses.next().ok_or_else(|| unresolved("no addresses".into())),
        Ok(Err(e)) => Err(unresolved(e.to_string())),
        Err(_) => Err(ForwardError::Timeout(format!(
            "resolving upstream {} timed out",
            upstream.host
        ))),
    }
}
