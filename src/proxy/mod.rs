//! The data path: route → body → verify → forward → outcome, on pingora.
//!
//! hookfence implements pingora's [`HttpServerApp`] rather than `ProxyHttp`:
//! `ProxyHttp` streams the request body to the upstream *after* connecting, and
//! a body consumed in `request_filter` is not forwarded at all (pingora issues
//! #349 and #575; its retry buffer keeps only 64 KiB). hookfence must hold the
//! whole body and verify it before the upstream sees a single byte — not even a
//! connection — so it reads the request with pingora's server session and
//! forwards it over pooled upstream connections ([`forward`], [`pool`]).

mod admission;
mod body;
mod claim;
mod forward;
mod headers;
mod pool;

pub use admission::{BodyBudget, ConcurrencyLimit};
pub use claim::LazyDedup;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use pingora::ErrorType;

use serde_json::json;

use crate::config::{Config, Route, Verification};
use crate::filter::Decision;
use crate::outcome::Outcome;
use crate::routing::RouteMatch;
use crate::state::Shared;
use crate::telemetry::AuditRecord;
use crate::verify::field::FieldReader;
use crate::verify::Delivery;
use body::BodyError;
use claim::{Claim, Gate};
use forward::ForwardError;
use pool::UpstreamPool;

/// The pingora application serving the public listener(s).
pub struct HookfenceApp {
    shared: Arc<Shared>,
    pool: UpstreamPool,
}

impl HookfenceApp {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            pool: UpstreamPool::new(forward::UPSTREAM_IDLE),
        }
    }
}

/// How a delivery ended, as far as the connection is concerned.
struct Ending {
    outcome: Outcome,
    status: u16,
    /// Whether the connection may serve another request: false when the body
    /// was left unread or the answer broke off.
    reusable: bool,
    /// The answer started but did not reach the client whole: the connection
    /// is dropped without finishing it, so that the client sees it end early
    /// (finishing would write a chunked answer's last chunk and make a
    /// truncated answer look complete).
    cut_off: bool,
}

impl Ending {
    fn new(outcome: Outcome, status: u16, reusable: bool) -> Self {
        Self {
            outcome,
            status,
            reusable,
            cut_off: false,
        }
    }

    fn cut_off(outcome: Outcome, status: u16) -> Self {
        Self {
            outcome,
            status,
            reusable: false,
            cut_off: true,
        }
    }
}

#[async_trait]
impl HttpServerApp for HookfenceApp {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        // Pipelined requests (RFC 9112 §9.3.2) are served one after the
        // other, each read, verified and answered on its own, in order.
        session.set_pipelining_enabled(true);
        // The config in force when the request arrives governs it to the end.
        let live = self.shared.live();
        let config = &live.config;
        match tokio::time::timeout(config.server.header_timeout, session.read_request()).await {
            Ok(Ok(true)) => {}
            // Clean close between requests.
            Ok(Ok(false)) => return None,
            Ok(Err(e)) => {
                if e.etype() == &ErrorType::InvalidHTTPHeader {
                    session.set_keepalive(None);
                    let _ = respond_json(&mut session, 400, &json!({ "error": "malformed request" })).await;
                }
                session.shutdown().await;
                return None;
            }
            // Slow or stalled headers: cut the connection off.
            Err(_) => {
                session.shutdown().await;
                return None;
            }
        }
        if *shutdown.borrow() {
            session.set_keepalive(None);
        }
        // A client that stops reading its answer must not hold a slot and a
        // body lease for ever: each write gets the header timeout.
        session.set_write_timeout(Some(config.server.header_timeout));

        let started = Instant::now();
        let header = session.req_header();
        let mut record = AuditRecord::new(header.method.to_string(), header.uri.path().to_owned());
        let ending = match self.shared.admission.try_enter() {
            Some(_admitted) => self.handle(&mut session, config, &mut record).await,
            None => {
                record.reason = Some("too many requests at once".into());
                overloaded(&mut session).await
            }
        };

        let telemetry = live.telemetry(record.route.as_deref());
        let (body_bytes, upstream_status, upstream_duration) =
            (record.body_bytes, record.upstream_status, record.upstream_duration);
        let elapsed = started.elapsed();
        let delivery = record.finish(ending.outcome, ending.status, elapsed);
        delivery.emit();
        telemetry.recent.record(delivery);
        telemetry
            .metrics
            .observe(ending.outcome, elapsed, body_bytes, upstream_status, upstream_duration);

        if ending.cut_off {
            session.shutdown().await;
            return None;
        }
        if !ending.reusable {
            session.set_keepalive(None);
        }
        let persistent = HttpPersistentSettings::for_session(&session);
        match session.finish().await {
            Ok(stream) => stream.map(|s| ReusedHttpStream::from_reusable_stream(s, persistent)),
            Err(_) => None,
        }
    }
}

impl HookfenceApp {
    async fn handle(&self, session: &mut ServerSession, config: &Config, record: &mut AuditRecord) -> Ending {
        if let Some(problem) = body::smuggling_framing(session) {
            return reject(session, Outcome::BadRequest, problem, false).await;
        }
        let header = session.req_header();
        let (route, keys) = match config.routes.find(&header.method, header.uri.path()) {
            RouteMatch::Found { route, params } => match &route.verification {
                Verification::Verified { keys, .. } => match keys.for_params(&params) {
                    Some(keys) => (route, keys),
                    None => {
                        record.route = Some(route.name.clone());
                        return reject(session, Outcome::RejectedUnknownTenant, "no source for this app", false).await;
                    }
                },
                Verification::Unsigned => (route, &[][..]),
            },
            RouteMatch::MethodNotAllowed => {
                return reject(session, Outcome::RejectedMethod, "method not allowed", false).await
            }
            RouteMatch::NotFound => return reject(session, Outcome::NoRoute, "no route", false).await,
        };
        record.route = Some(route.name.clone());
        // Header fields are cheap and help explain a refusal; body fields are
        // read only once the delivery is verified.
        record.read_fields(&route.fields, &FieldReader::new(&header.headers, &[]));

        // Held until the delivery is answered: the body's memory is budgeted.
        let mut lease = self.shared.budget.lease();
        let body = match body::read_body(session, route.limits.max_body, route.limits.body_timeout, &mut lease).await {
            Ok(body) => body,
            Err(e) => return reject_body(session, e, record).await,
        };
        record.body_bytes = body.len();

        let header = session.req_header();
        if let Verification::Verified { verifier, .. } = &route.verification {
            let url = route.public_url.as_ref().map(|base| {
                let target = header.uri.path_and_query().map_or("/", |pq| pq.as_str());
                format!("{base}{target}")
            });
            let delivery = Delivery {
                headers: &header.headers,
                query: header.uri.query(),
                url: url.as_deref(),
                body: &body,
                now: SystemTime::now(),
            };
            if let Err(rejection) = verifier.verify(&delivery, keys) {
                record.signature_valid = Some(false);
                let message = rejection.to_string();
                record.reason = Some(message.clone());
                return reject(session, Outcome::from(&rejection), &message, true).await;
            }
            record.signature_valid = Some(true);
        }

        let fields = FieldReader::new(&header.headers, &body);
        record.read_fields(&route.fields, &fields);
        match route.filter.decide(record.event.as_deref(), &fields) {
            Decision::Forward => {}
            Decision::Pong => {
                record.reason = Some("test event answered".into());
                return answer(session, Outcome::Filtered, 200, &json!({ "status": "pong" }), None).await;
            }
            Decision::Ignore(reason) => {
                record.reason = Some(reason);
                return answer(session, Outcome::Filtered, 202, &json!({ "status": "ignored" }), None).await;
            }
        }

        let claim = match claim::claim(&self.shared.dedup, route, record).await {
            Gate::Forward(claim) => claim,
            Gate::Answer(refusal) => {
                let status = refusal.outcome.status();
                return answer(session, refusal.outcome, status, &refusal.body, refusal.retry_after).await;
            }
        };
        self.forward(session, route, body, record, claim).await
    }

    async fn forward(
        &self,
        session: &mut ServerSession,
        route: &Route,
        body: Bytes,
        record: &mut AuditRecord,
        claim: Option<Claim<'_>>,
    ) -> Ending {
        let forwarding = Instant::now();
        let answer = forward::send(&self.pool, session, route, body).await;
        if let Some(claim) = claim {
            let delivered = answer.as_ref().is_ok_and(|a| (200..300).contains(&a.status));
            claim.settle(delivered, record).await;
        }
        let relayed = match answer {
            Ok(answer) => answer.relay(&self.pool, session).await,
            Err(e) => Err(e),
        };
        record.upstream_duration = Some(forwarding.elapsed());
        match relayed {
            Ok(relayed) => {
                record.upstream_status = Some(relayed.status);
                if relayed.complete {
                    Ending::new(Outcome::Forwarded, relayed.status, true)
                } else {
                    record.reason = Some("the answer broke off before it was relayed whole".into());
                    Ending::cut_off(Outcome::Forwarded, relayed.status)
                }
            }
            Err(ForwardError::Timeout(e)) => {
                record.reason = Some(e.to_string());
                reject(session, Outcome::UpstreamTimeout, "upstream timed out", true).await
            }
            Err(ForwardError::Unreachable(e)) => {
                record.reason = Some(e.to_string());
                reject(session, Outcome::UpstreamError, "upstream unavailable", true).await
            }
            Err(ForwardError::Downstream { status, error }) => {
                record.upstream_status = Some(status);
                record.reason = Some(error.to_string());
                Ending::cut_off(Outcome::Forwarded, status)
            }
        }
    }
}

async fn reject_body(session: &mut ServerSession, error: BodyError, record: &mut AuditRecord) -> Ending {
    match error {
        BodyError::TooLarge => reject(session, Outcome::RejectedBodyTooLarge, "body too large", false).await,
        BodyError::Timeout => reject(session, Outcome::RejectedTimeout, "body not received in time", false).await,
        BodyError::BadFraming(what) => reject(session, Outcome::BadRequest, what, false).await,
        BodyError::Overloaded => {
            record.reason = Some("no room in the in-flight body budget".into());
            overloaded(session).await
        }
        // The client is gone or sent garbage mid-body: nobody to answer.
        BodyError::Client(e) => {
            record.reason = Some(e.to_string());
            Ending::new(Outcome::BadRequest, 0, false)
        }
    }
}

/// Answers with the outcome's status and a JSON error. `body_read` tells
/// whether the request body was consumed (the connection may be kept).
async fn reject(session: &mut ServerSession, outcome: Outcome, message: &str, body_read: bool) -> Ending {
    let status = outcome.status();
    if !body_read {
        session.set_keepalive(None);
    }
    let written = respond_json(session, status, &json!({ "error": message }))
        .await
        .is_ok();
    Ending::new(outcome, status, body_read && written)
}

/// 503 with `Retry-After` under load; the connection closes (the body, if
/// any, was not read).
async fn overloaded(session: &mut ServerSession) -> Ending {
    session.set_keepalive(None);
    let body = json!({ "error": "overloaded; retry later" });
    let written = respond(session, 503, &body, Some(admission::OVERLOAD_RETRY_AFTER_SECS))
        .await
        .is_ok();
    Ending::new(Outcome::Overloaded, if written { 503 } else { 0 }, false)
}

/// Answers a verified delivery that is not forwarded (the body was read).
async fn answer(
    session: &mut ServerSession,
    outcome: Outcome,
    status: u16,
    body: &serde_json::Value,
    retry_after: Option<u64>,
) -> Ending {
    let written = respond(session, status, body, retry_after).await.is_ok();
    Ending::new(outcome, status, written)
}

async fn respond_json(session: &mut ServerSession, status: u16, body: &serde_json::Value) -> pingora::Result<()> {
    respond(session, status, body, None).await
}

async fn respond(
    session: &mut ServerSession,
    status: u16,
    body: &serde_json::Value,
    retry_after: Option<u64>,
) -> pingora::Result<()> {
    let body = Bytes::from(body.to_string());
    let mut response = ResponseHeader::build(status, Some(3))?;
    response.insert_header(CONTENT_TYPE, "application/json")?;
    response.insert_header(CONTENT_LENGTH, body.len())?;
    if let Some(seconds) = retry_after {
        response.insert_header(RETRY_AFTER, seconds)?;
    }
    session.write_response_header(Box::new(response)).await?;
    session.write_response_body(body, true).await?;
    Ok(())
}
