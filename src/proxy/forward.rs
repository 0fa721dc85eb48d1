//! Forwarding a verified delivery: one request to the route's upstream over a
//! pooled connection ([`super::pool`]), and the answer relayed to the client.

use std::io::IoSlice;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::header::TRANSFER_ENCODING;
use http::{Method, StatusCode, Version};
use pingora::protocols::http::v1::client::HttpSession as ClientSession;
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::stream::Stream as PlainStream;
use pingora::protocols::Stream;
use pingora::upstreams::peer::HttpPeer;
use pingora::{ErrorType, RetryType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::headers;
use super::pool::UpstreamPool;
use crate::config::{Route, Upstream};

/// How long an idle upstream connection stays in the pool.
pub const UPSTREAM_IDLE: Duration = Duration::from_secs(60);
/// A pooled connection the upstream closed meanwhile fails on first use;
/// such a failure (and only such) is retried, on another connection.
const MAX_ATTEMPTS: usize = 3;
/// Interim (1xx) answers accepted before the final one; an upstream that
/// sends more is broken, not slow.
const MAX_INTERIM_ANSWERS: usize = 8;
/// The first read of an answer: enough for a typical response head. On the
/// heap: a buffer held across an await would grow every connection's task,
/// idle ones included.
const FIRST_READ: usize = 1024;

/// Why forwarding failed.
#[derive(Debug)]
pub enum ForwardError {
    /// Refused, reset, unresolvable, or an invalid answer: nothing usable came back.
    Unreachable(Box<pingora::Error>),
    /// No connection or no answer within the route's timeouts.
    Timeout(Box<pingora::Error>),
    /// The upstream answered `status` but the client went away before the
    /// answer could be relayed.
    Downstream { status: u16, error: Box<pingora::Error> },
}

impl ForwardError {
    fn upstream(e: Box<pingora::Error>) -> Self {
        if matches!(
            e.etype(),
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
        ) {
            ForwardError::Timeout(e)
        } else {
            ForwardError::Unreachable(e)
        }
    }
}

/// What the upstream answered, once relayed to the client.
#[derive(Debug, Clone, Copy)]
pub struct Relayed {
    pub status: u16,
    /// Whether the answer reached the client whole. When the header went out
    /// but the body broke, the status is already the upstream's.
    pub complete: bool,
}

/// The upstream's answer, its header read and its body not yet relayed: the
/// caller settles the dedup claim on the status before the sender hears back,
/// so a sender retrying at once meets a released (or committed) claim.
pub struct Answer {
    upstream: Box<ClientSession>,
    peer: HttpPeer,
    pub status: u16,
    /// A HEAD request: the answer has no body whatever its headers say.
    head: bool,
}

/// Sends the delivery upstream and reads the response header.
pub async fn send(
    pool: &UpstreamPool,
    session: &ServerSession,
    route: &Route,
    body: Bytes,
) -> Result<Answer, ForwardError> {
    let client_ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
    let raw_header = session
        .as_http1()
        .map(|h1| h1.get_headers_raw_bytes())
        .ok_or_else(|| ForwardError::Unreachable(pingora::Error::new_str("only HTTP/1 requests are forwarded")))?;
    let request = session.req_header();
    let head = request.method == Method::HEAD;
    // Serialised once; each attempt writes the same bytes.
    let wire = headers::upstream_request(request, &raw_header, route, &body, client_ip).freeze();
    let peer = peer(&route.upstream, route).await?;
    // Only a failure before the upstream sent a single byte is retried: it
    // means a pooled connection the upstream had closed, which never saw the
    // delivery. After any byte of an answer (a 1xx included) the upstream has
    // the delivery, and sending it again would deliver it twice.
    let mut attempt = 0;
    let upstream = loop {
        attempt += 1;
        let (upstream, reused) = pool.checkout(&peer).await.map_err(ForwardError::upstream)?;
        match exchange(upstream, &wire, &body, route.limits.upstream_timeout).await {
            Ok(upstream) => break upstream,
            Err((mut e, upstream)) => {
                if let Some(mut upstream) = upstream {
                    upstream.shutdown().await;
                }
                e.retry.decide_reuse(reused);
                if !(e.retry() && attempt < MAX_ATTEMPTS) {
                    return Err(ForwardError::upstream(e));
                }
            }
        }
    };

    let Some(status) = upstream.resp_header().map(|h| h.status.as_u16()) else {
        return Err(ForwardError::Unreachable(pingora::Error::new_str(
            "upstream sent no response header",
        )));
    };
    Ok(Answer {
        upstream: Box::new(upstream),
        peer,
        status,
        head,
    })
}

impl Answer {
    /// Relays the answer to the client and returns the upstream connection
    /// to the pool if both sides finished cleanly.
    pub async fn relay(self, pool: &UpstreamPool, session: &mut ServerSession) -> Result<Relayed, ForwardError> {
        let Answer {
            mut upstream,
            peer,
            status,
            head,
        } = self;
        let Some(answer) = upstream.resp_header() else {
            return Err(ForwardError::Unreachable(pingora::Error::new_str(
                "upstream sent no response header",
            )));
        };
        let mut response = headers::downstream_response(answer);
        // An HTTP/1.0 client cannot read chunked framing (RFC 9112 §6.1):
        // the body is relayed decoded and ends with the connection.
        if session.req_header().version == Version::HTTP_10 && response.headers.contains_key(TRANSFER_ENCODING) {
            response.remove_header(&TRANSFER_ENCODING);
            session.set_keepalive(None);
        }
        session
            .write_response_header(Box::new(response))
            .await
            .map_err(|error| ForwardError::Downstream { status, error })?;
        if head {
            // Nothing follows a HEAD answer; the connection is not reused,
            // as pingora's reader cannot know the request was HEAD.
            upstream.shutdown().await;
            let complete = session.finish_body().await.is_ok();
            return Ok(Relayed { status, complete });
        }
        let complete = relay_body(&mut upstream, session).await;
        if complete {
            // `respect_keepalive` + `reuse` keep the connection only if the
            // answer was framed, complete, and not marked `Connection: close`.
            upstream.respect_keepalive();
            if let Some(stream) = upstream.reuse().await {
                pool.checkin(&peer, stream);
            }
        } else {
            upstream.shutdown().await;
        }
        Ok(Relayed { status, complete })
    }
}

/// Sends the request and reads the (final, non-1xx) response header.
///
/// The serialised header and the body leave in one vectored write (one
/// syscall, one segment for small deliveries, no copy of the body); pingora's
/// client would write and flush the header on its own, waking the upstream
/// twice per delivery. The first bytes of the answer are read here, to know
/// whether the upstream sent anything (see `send`); pingora's client session
/// then reads the answer, those bytes first.
async fn exchange(
    mut stream: Stream,
    wire: &[u8],
    body: &Bytes,
    timeout: Duration,
) -> Result<ClientSession, (Box<pingora::Error>, Option<ClientSession>)> {
    if let Err(e) = write_request(&mut stream, wire, body, timeout).await {
        return Err((e, None));
    }
    let stream = match first_bytes(stream, timeout).await {
        Ok(stream) => stream,
        Err(e) => return Err((e, None)),
    };
    let mut upstream = ClientSession::new(stream);
    // The connection was made with the connect timeout; reads are bounded here.
    upstream.read_timeout = Some(timeout);
    for _ in 0..=MAX_INTERIM_ANSWERS {
        if let Err(mut e) = upstream.read_response().await {
            // The upstream has answered something: never sent again.
            e.retry = RetryType::Decided(false);
            return Err((e, Some(upstream)));
        }
        match upstream.resp_header().map(|h| h.status) {
            // A delivery never asks to switch protocols (`Upgrade` is not
            // forwarded): a 101 is a broken answer, and what follows it is
            // not HTTP.
            Some(StatusCode::SWITCHING_PROTOCOLS) => break,
            Some(status) if status.is_informational() => continue,
            _ => return Ok(upstream),
        }
    }
    Err((
        pingora::Error::explain(ErrorType::InvalidHTTPHeader, "upstream sent no usable final answer"),
        Some(upstream),
    ))
}

/// Waits for the first bytes of the answer on a plain TCP connection, and
/// puts them back for pingora's reader. An error here means the upstream
/// sent nothing at all, which is worth a retry on a reused connection. TLS
/// streams cannot put bytes back: they are passed through untouched, and a
/// failure to read their answer is never retried.
async fn first_bytes(stream: Stream, timeout: Duration) -> pingora::Result<Stream> {
    if !stream.as_any().is::<PlainStream>() {
        return Ok(stream);
    }
    let Ok(mut plain) = stream.into_any().downcast::<PlainStream>() else {
        return Err(pingora::Error::explain(
            ErrorType::InternalError,
            "upstream stream type changed",
        ));
    };
    let mut first = vec![0u8; FIRST_READ];
    match tokio::time::timeout(timeout, plain.read(&mut first)).await {
        Ok(Ok(0)) => {
            let mut e = pingora::Error::explain(ErrorType::ConnectionClosed, "upstream closed before answering");
            e.retry = RetryType::ReusedOnly;
            Err(e)
        }
        Ok(Ok(n)) => {
            plain.rewind(&first[..n]);
            Ok(plain)
        }
        Ok(Err(io)) => {
            let mut e = pingora::Error::because(ErrorType::ReadError, "reading the answer", io);
            e.retry = RetryType::ReusedOnly;
            Err(e)
        }
        Err(_) => Err(pingora::Error::explain(
            ErrorType::ReadTimedout,
            "waiting for the answer",
        )),
    }
}

/// Writes `header` and `body` with vectored writes, then flushes, within `timeout`.
async fn write_request(stream: &mut Stream, header: &[u8], body: &[u8], timeout: Duration) -> pingora::Result<()> {
    let write = async {
        let (mut header, mut body) = (header, body);
        while !header.is_empty() || !body.is_empty() {
            let written = stream
                .write_vectored(&[IoSlice::new(header), IoSlice::new(body)])
                .await?;
            if written == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::WriteZero));
            }
            let from_header = written.min(header.len());
            header = &header[from_header..];
            body = &body[written - from_header..];
        }
        stream.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            let mut error = pingora::Error::because(ErrorType::WriteError, "writing the request", e);
            // A pooled connection the upstream closed fails here first: worth
            // one more try on a fresh connection, like pingora's own writes.
            error.retry = RetryType::ReusedOnly;
            Err(error)
        }
        Err(_) => Err(pingora::Error::explain(ErrorType::WriteTimedout, "writing the request")),
    }
}

/// Streams the upstream's body to the client; `false` if either side broke.
async fn relay_body(upstream: &mut ClientSession, session: &mut ServerSession) -> bool {
    loop {
        match upstream.read_body_bytes().await {
            Ok(Some(chunk)) => {
                if session.write_response_body(chunk, false).await.is_err() {
                    return false;
                }
            }
            Ok(None) => return session.finish_body().await.is_ok(),
            Err(_) => return false,
        }
    }
}

/// The pingora peer for a route, with the route's timeouts.
async fn peer(upstream: &Upstream, route: &Route) -> Result<HttpPeer, ForwardError> {
    // Resolving counts against the connect timeout: a stuck resolver is an
    // unreachable upstream.
    let address = match tokio::time::timeout(route.limits.connect_timeout, resolve(upstream)).await {
        Ok(address) => address?,
        Err(_) => {
            return Err(ForwardError::Timeout(pingora::Error::explain(
                ErrorType::ConnectTimedout,
                format!("resolving upstream {}", upstream.host),
            )))
        }
    };
    let mut peer = HttpPeer::new(address, false, String::new());
    let options = &mut peer.options;
    options.connection_timeout = Some(route.limits.connect_timeout);
    options.idle_timeout = Some(UPSTREAM_IDLE);
    Ok(peer)
}

/// IP literals are used as they are; names go through the system resolver on
/// each delivery so that a backend that moves (a container restart) is found.
async fn resolve(upstream: &Upstream) -> Result<SocketAddr, ForwardError> {
    if let Ok(ip) = upstream.host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, upstream.port));
    }
    let unresolved = |detail: String| {
        ForwardError::Unreachable(pingora::Error::explain(
            ErrorType::ConnectNoRoute,
            format!("cannot resolve upstream {}: {detail}", upstream.host),
        ))
    };
    tokio::net::lookup_host((upstream.host.as_str(), upstream.port))
        .await
        .map_err(|e| unresolved(e.to_string()))?
        .next()
        .ok_or_else(|| unresolved("no addresses".into()))
}
