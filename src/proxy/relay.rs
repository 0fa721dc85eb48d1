//! Relaying the upstream's answer to the client that sent the delivery:
//! its head rewritten ([`super::headers::client_response`]), its body
//! passed on as it arrives, reframed where the client needs it
//! ([`BodyRelay`]).

use bytes::BytesMut;
use tokio::io::AsyncReadExt;

use super::client::Client;
use super::headers;
use crate::deadline::within;
use crate::http1::answer::Persistence;
use crate::http1::framing::{BodyFramer, BodyRelay};
use crate::http1::{Framing, RequestHead, Version};
use crate::upstream::{Response, ResponseParts, UpstreamPool, BODY_BUFFER};

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

/// Why an answer did not reach the client.
#[derive(Debug)]
pub enum RelayError {
    /// The answer cannot be relayed (broken framing before anything was
    /// sent, codings an HTTP/1.0 client cannot read): nothing was written.
    Unrelayable(String),
    /// The client is gone or not reading.
    Client { status: u16, error: std::io::Error },
}

/// Relays `response` to the client of `request`, keeping the client's
/// connection if `keep_client` and the answer's framing allow, and returns
/// the upstream connection to the pool if the answer ended cleanly.
pub async fn relay(
    response: Response,
    pool: &UpstreamPool,
    client: &mut Client,
    request: &RequestHead,
    keep_client: bool,
) -> Result<Relayed, RelayError> {
    let ResponseParts {
        mut stream,
        pool_key,
        head,
        rest,
        timeout,
    } = response.into_parts();
    let status = head.status;
    let http11 = request.version == Version::Http11;
    let (relay, persists) =
        BodyRelay::for_client(&head, http11, keep_client).map_err(|e| RelayError::Unrelayable(e.into()))?;
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
                return Err(RelayError::Unrelayable("invalid chunked framing in the answer".into()))
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
            return Err(RelayError::Client { status, error });
        }
        if progress.done {
            // Reused only if the answer ended exactly where its framing
            // said: bytes after it would be read as the next answer.
            if head.persistent && progress.consumed == pending.len() {
                pool.checkin(pool_key, stream);
            }
            return Ok(Relayed {
                status,
                complete: true,
                persists,
            });
        }
        pending.clear();
        if pending.capacity() < BODY_BUFFER {
            pending.reserve(BODY_BUFFER);
        }
        match within(timeout, stream.read_buf(&mut pending)).await {
            // The end of an answer delimited by the upstream closing
            // (only a clean end: a reset is a break).
            Some(Ok(0)) if head.framing == Framing::UntilClose => {
                let ended = match relay {
                    BodyRelay::Rechunked => client.write([&b"0\r\n\r\n"[..]]).await,
                    _ => Ok(()),
                };
                if let Err(error) = ended {
                    return Err(RelayError::Client { status, error });
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

fn cut_off(status: u16) -> Relayed {
    Relayed {
        status,
        complete: false,
        persists: false,
    }
}
