//! Forwarding a verified delivery: one request to the route's upstream over
//! pingora's pooled connector, and the answer relayed to the client.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::protocols::http::client::HttpSession as ClientSession;
use pingora::protocols::http::ServerSession;
use pingora::upstreams::peer::HttpPeer;
use pingora::ErrorType;

use super::headers;
use crate::config::{Route, Upstream};

/// How long an idle upstream connection stays in the pool.
const UPSTREAM_IDLE: Duration = Duration::from_secs(60);
/// A pooled connection the upstream closed meanwhile fails on first use;
/// such a failure (and only such) is retried, on another connection.
const MAX_ATTEMPTS: usize = 3;

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
}

/// Sends the delivery upstream and reads the response header.
pub async fn send(
    connector: &Connector,
    session: &ServerSession,
    route: &Route,
    body: Bytes,
) -> Result<Answer, ForwardError> {
    let client_ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
    let request =
        headers::upstream_request(session.req_header(), route, &body, client_ip).map_err(ForwardError::Unreachable)?;
    let peer = peer(&route.upstream, route).await?;

    let mut attempt = 0;
    let upstream = loop {
        attempt += 1;
        let (mut upstream, reused) = connector
            .get_http_session(&peer)
            .await
            .map_err(ForwardError::upstream)?;
        // The connector applies only the connect timeouts; reads and writes
        // are bounded per session.
        upstream.set_read_timeout(Some(route.limits.upstream_timeout));
        upstream.set_write_timeout(Some(route.limits.upstream_timeout));
        match exchange(&mut upstream, &request, &body).await {
            Ok(()) => break upstream,
            Err(mut e) => {
                upstream.shutdown().await;
                e.retry.decide_reuse(reused);
                if !(e.retry() && attempt < MAX_ATTEMPTS) {
                    return Err(ForwardError::upstream(e));
                }
            }
        }
    };

    let Some(status) = upstream.response_header().map(|h| h.status.as_u16()) else {
        return Err(ForwardError::Unreachable(pingora::Error::new_str(
            "upstream sent no response header",
        )));
    };
    Ok(Answer {
        upstream: Box::new(upstream),
        peer,
        status,
    })
}

impl Answer {
    /// Relays the answer to the client and returns the upstream connection
    /// to the pool if both sides finished cleanly.
    pub async fn relay(self, connector: &Connector, session: &mut ServerSession) -> Result<Relayed, ForwardError> {
        let Answer {
            mut upstream,
            peer,
            status,
        } = self;
        let Some(answer) = upstream.response_header() else {
            return Err(ForwardError::Unreachable(pingora::Error::new_str(
                "upstream sent no response header",
            )));
        };
        let response = headers::downstream_response(answer);
        session
            .write_response_header(Box::new(response))
            .await
            .map_err(|error| ForwardError::Downstream { status, error })?;
        let complete = relay_body(&mut upstream, session).await;
        if complete {
            connector
                .release_http_session(*upstream, &peer, Some(UPSTREAM_IDLE))
                .await;
        } else {
            upstream.shutdown().await;
        }
        Ok(Relayed { status, complete })
    }
}

/// Sends the request and reads the (final, non-1xx) response header.
async fn exchange(upstream: &mut ClientSession, request: &RequestHeader, body: &Bytes) -> pingora::Result<()> {
    upstream.write_request_header(Box::new(request.clone())).await?;
    upstream.write_request_body(body.clone(), true).await?;
    upstream.finish_request_body().await?;
    loop {
        upstream.read_response_header().await?;
        let informational = upstream.response_header().is_some_and(|h| h.status.is_informational());
        if !informational {
            return Ok(());
        }
    }
}

/// Streams the upstream's body to the client; `false` if either side broke.
async fn relay_body(upstream: &mut ClientSession, session: &mut ServerSession) -> bool {
    loop {
        match upstream.read_response_body().await {
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
    let address = resolve(upstream).await?;
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
