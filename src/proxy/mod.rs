//! The data path: route → body → verify → filter → dedup → forward →
//! outcome, for each request of each client connection.
//!
//! hookfence is a pingora [`ServerApp`]: pingora owns the listeners (TCP and
//! TLS), the worker threads, graceful shutdown and upgrades; hookfence reads
//! and writes HTTP/1 on the connection itself ([`crate::http1`]). pingora's
//! `ProxyHttp` streams a body to the upstream *after* connecting, and a body
//! consumed in `request_filter` is not forwarded at all (pingora issues #349
//! and #575); its HTTP sessions read a body only through a 64 KiB buffer of
//! their own, copying it out. hookfence must hold the whole body and verify it
//! before the upstream sees a single byte — not even a connection — so it
//! reads each body once into a buffer of its exact size, verifies it there,
//! and forwards it from there over pooled upstream connections ([`forward`],
//! [`pool`]).

mod admission;
mod body;
mod claim;
mod client;
mod forward;
mod headers;
mod pool;

pub use admission::{BodyBudget, ConcurrencyLimit};
pub use claim::LazyDedup;

use std::pin::pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http::Method;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use serde_json::json;

use crate::config::{Config, Route, Verification};
use crate::filter::Decision;
use crate::http1::answer::{self, Own, Persistence};
use crate::http1::{HeadError, RequestHead, Version};
use crate::outcome::Outcome;
use crate::routing::RouteMatch;
use crate::state::{Live, Shared};
use crate::telemetry::AuditRecord;
use crate::verify::field::FieldReader;
use crate::verify::Delivery;
use body::BodyError;
use claim::{Claim, Gate};
use client::{Arrival, Client};
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

/// How a request ended, as far as the connection is concerned.
struct Ending {
    outcome: Outcome,
    /// The status the client was answered with (0: no answer was written).
    status: u16,
    /// The connection may serve another request.
    persists: bool,
    /// Request bytes may still be on their way (a body left unread): they
    /// are drained for a moment before the connection closes, so that the
    /// answer is not lost to a reset.
    unread_body: bool,
}

#[async_trait]
impl ServerApp for HookfenceApp {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        // Waited on by idle connections; made once per connection, so that
        // its registration with the shutdown signal is too.
        let mut stopping = pin!(stopped(shutdown.clone()));
        let mut client = Client::new(stream, self.shared.live().config.server.header_timeout);
        // Whether the client may still be sending when the connection ends.
        let mut linger = false;
        // Pipelined requests (RFC 9112 §9.3.2) are served one after the
        // other, each read, verified and answered on its own, in order.
        loop {
            // The config in force when a request arrives governs it to the end.
            let live = self.shared.live();
            let timeout = live.config.server.header_timeout;
            // A client that stops reading its answer must not hold a slot
            // and a body lease for ever: each write gets the header timeout.
            client.set_write_timeout(timeout);
            let head = match client.next_request(timeout, stopping.as_mut()).await {
                Arrival::Request(head) => head,
                Arrival::Refused(problem) => {
                    refuse_head(&mut client, problem).await;
                    linger = true;
                    break;
                }
                // A client that stalled gets no more time.
                Arrival::Closed | Arrival::TimedOut => break,
            };
            let draining = *shutdown.borrow();
            // A client that meant to keep the connection may be sending its
            // next request already when hookfence decides to close.
            let wanted_more = head.persistent;
            let ending = self.serve(&mut client, head, &live, draining).await;
            if !ending.persists {
                linger = ending.unread_body || wanted_more;
                break;
            }
            client.release_idle_buffer();
        }
        let linger = linger || !client.buffered().is_empty();
        client.close(linger).await;
        None
    }
}

/// Completes once the server starts shutting down.
async fn stopped(mut shutdown: ShutdownWatch) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            // The signal is gone with the server: nothing more to wait for.
            std::future::pending::<()>().await;
        }
    }
}

/// A head that cannot be served: a JSON error, then the connection closes
/// (whatever follows it cannot be trusted to be a next request).
async fn refuse_head(client: &mut Client, problem: HeadError) {
    let body = json!({ "error": problem.to_string() }).to_string();
    let answer = answer::json(Own {
        status: problem.status(),
        body: body.as_bytes(),
        retry_after: None,
        persistence: Persistence::Close,
        // The method is not known; the connection closes after the answer.
        head_request: false,
    });
    let _ = client.write([&answer]).await;
}

/// One request on its connection, and what it may still do to it.
struct Exchange<'c> {
    client: &'c mut Client,
    head: RequestHead,
    /// The connection may persist after this request, as far as the client
    /// and a shutdown are concerned.
    persistent: bool,
    /// The body was read whole.
    body_read: bool,
}

impl HookfenceApp {
    async fn serve(&self, client: &mut Client, head: RequestHead, live: &Live, draining: bool) -> Ending {
        let started = Instant::now();
        let mut record = AuditRecord::new(head.method.to_string(), head.path().to_owned());
        let mut exchange = Exchange {
            persistent: head.persistent && !draining,
            client,
            head,
            body_read: false,
        };
        let ending = match self.shared.admission.try_enter() {
            Some(_admitted) => self.handle(&mut exchange, &live.config, &mut record).await,
            None => {
                record.reason = Some("too many requests at once".into());
                exchange.overloaded().await
            }
        };

        let telemetry = live.telemetry(record.route.as_deref());
        let (body_bytes, upstream_status, upstream_duration) =
            (record.body_bytes, record.upstream_status, record.upstream_duration);
        let elapsed = started.elapsed();
        let delivery = record.finish(ending.outcome, ending.status, elapsed);
        // The audit record last: whoever has read a delivery's audit record
        // (a log pipeline, the test suite) then finds it counted in the
        // metrics and listed in `/deliveries`.
        telemetry
            .metrics
            .observe(ending.outcome, elapsed, body_bytes, upstream_status, upstream_duration);
        telemetry.recent.record(delivery).emit();
        ending
    }

    async fn handle(&self, exchange: &mut Exchange<'_>, config: &Config, record: &mut AuditRecord) -> Ending {
        let head = &exchange.head;
        let (route, keys) = match config.routes.find(&head.method, head.path()) {
            RouteMatch::Found { route, params } => match &route.verification {
                Verification::Verified { keys, .. } => match keys.for_params(&params) {
                    Some(keys) => (route, keys),
                    None => {
                        record.route = Some(route.name.clone());
                        return exchange
                            .reject(Outcome::RejectedUnknownTenant, "no source for this app")
                            .await;
                    }
                },
                Verification::Unsigned => (route, &[][..]),
            },
            RouteMatch::MethodNotAllowed => {
                return exchange.reject(Outcome::RejectedMethod, "method not allowed").await
            }
            RouteMatch::NotFound => return exchange.reject(Outcome::NoRoute, "no route").await,
        };
        record.route = Some(route.name.clone());
        // Header fields are cheap and help explain a refusal; body fields are
        // read only once the delivery is verified.
        record.read_fields(
            &route.fields,
            &FieldReader::new(head.headers(), &[], &route.body_fields),
        );

        // Held until the delivery is answered: the body's memory is budgeted.
        let mut lease = self.shared.budget.lease();
        let limits = &route.limits;
        let body = match body::read_body(
            exchange.client,
            &mut exchange.head,
            limits.max_body,
            limits.body_timeout,
            &mut lease,
        )
        .await
        {
            Ok(body) => body,
            Err(e) => return exchange.reject_body(e, record).await,
        };
        exchange.body_read = true;
        record.body_bytes = body.len();

        let head = &exchange.head;
        if let Verification::Verified { verifier, .. } = &route.verification {
            let url = route
                .public_url
                .as_ref()
                .map(|base| format!("{base}{}", head.origin_form()));
            let delivery = Delivery {
                headers: head.headers(),
                query: head.query(),
                url: url.as_deref(),
                body: &body,
                now: SystemTime::now(),
            };
            if let Err(rejection) = verifier.verify(&delivery, keys) {
                record.signature_valid = Some(false);
                let message = rejection.to_string();
                record.reason = Some(message.clone());
                return exchange.reject(Outcome::from(&rejection), &message).await;
            }
            record.signature_valid = Some(true);
        }

        let fields = FieldReader::new(head.headers(), &body, &route.body_fields);
        record.read_fields(&route.fields, &fields);
        match route.filter.decide(record.event.as_deref(), &fields) {
            Decision::Forward => {}
            Decision::Pong => {
                record.reason = Some("test event answered".into());
                return exchange
                    .answer(Outcome::Filtered, 200, &json!({ "status": "pong" }), None)
                    .await;
            }
            Decision::Ignore(reason) => {
                record.reason = Some(reason);
                return exchange
                    .answer(Outcome::Filtered, 202, &json!({ "status": "ignored" }), None)
                    .await;
            }
        }

        let claim = match claim::claim(&self.shared.dedup, route, record).await {
            Gate::Forward(claim) => claim,
            Gate::Answer(refusal) => {
                let status = refusal.outcome.status();
                return exchange
                    .answer(refusal.outcome, status, &refusal.body, refusal.retry_after)
                    .await;
            }
        };
        self.forward(exchange, route, body, record, claim).await
    }

    async fn forward(
        &self,
        exchange: &mut Exchange<'_>,
        route: &Route,
        body: Bytes,
        record: &mut AuditRecord,
        claim: Option<Claim<'_>>,
    ) -> Ending {
        let forwarding = Instant::now();
        let head = &exchange.head;
        let wire = headers::upstream_request(head, route, &body, exchange.client.ip);
        let answer = forward::send(&self.pool, route, &wire, &body, head.method == Method::HEAD).await;
        if let Some(claim) = claim {
            let delivered = answer.as_ref().is_ok_and(|a| (200..300).contains(&a.status()));
            claim.settle(delivered, record).await;
        }
        let relayed = match answer {
            Ok(answer) => {
                answer
                    .relay(&self.pool, exchange.client, &exchange.head, exchange.persistent)
                    .await
            }
            Err(e) => Err(e),
        };
        record.upstream_duration = Some(forwarding.elapsed());
        match relayed {
            Ok(relayed) => {
                record.upstream_status = Some(relayed.status);
                if !relayed.complete {
                    record.reason = Some("the answer broke off before it was relayed whole".into());
                }
                Ending {
                    outcome: Outcome::Forwarded,
                    status: relayed.status,
                    persists: relayed.complete && relayed.persists,
                    unread_body: false,
                }
            }
            Err(ForwardError::Timeout(reason)) => {
                record.reason = Some(reason);
                exchange.reject(Outcome::UpstreamTimeout, "upstream timed out").await
            }
            Err(ForwardError::Unreachable(reason)) => {
                record.reason = Some(reason);
                exchange.reject(Outcome::UpstreamError, "upstream unavailable").await
            }
            Err(ForwardError::Downstream { status, error }) => {
                record.upstream_status = Some(status);
                record.reason = Some(format!("the client did not take the answer: {error}"));
                Ending {
                    outcome: Outcome::Forwarded,
                    status,
                    persists: false,
                    unread_body: false,
                }
            }
        }
    }
}

impl Exchange<'_> {
    /// Whether request bytes may still be unread: a body that was not read.
    fn unread_body(&self) -> bool {
        !self.body_read && self.head.has_body()
    }

    /// Answers with one of hookfence's own JSON answers. The connection
    /// persists only if nothing of the request is left unread.
    async fn answer(
        &mut self,
        outcome: Outcome,
        status: u16,
        body: &serde_json::Value,
        retry_after: Option<u64>,
    ) -> Ending {
        let unread_body = self.unread_body();
        let persists = self.persistent && !unread_body;
        let body = body.to_string();
        let bytes = answer::json(Own {
            status,
            body: body.as_bytes(),
            retry_after,
            persistence: Persistence::of(persists, self.head.version == Version::Http11),
            head_request: self.head.method == Method::HEAD,
        });
        let written = self.client.write([&bytes]).await.is_ok();
        Ending {
            outcome,
            status,
            persists: persists && written,
            unread_body,
        }
    }

    /// Answers with the outcome's status and a JSON error.
    async fn reject(&mut self, outcome: Outcome, message: &str) -> Ending {
        self.answer(outcome, outcome.status(), &json!({ "error": message }), None)
            .await
    }

    /// 503 with `Retry-After` under load.
    async fn overloaded(&mut self) -> Ending {
        let body = json!({ "error": "overloaded; retry later" });
        self.answer(
            Outcome::Overloaded,
            503,
            &body,
            Some(admission::OVERLOAD_RETRY_AFTER_SECS),
        )
        .await
    }

    async fn reject_body(&mut self, error: BodyError, record: &mut AuditRecord) -> Ending {
        match error {
            BodyError::TooLarge => self.reject(Outcome::RejectedBodyTooLarge, "body too large").await,
            BodyError::Timeout => self.reject(Outcome::RejectedTimeout, "body not received in time").await,
            BodyError::BadFraming(what) => self.reject(Outcome::BadRequest, what).await,
            BodyError::Overloaded => {
                record.reason = Some("no room in the in-flight body budget".into());
                self.overloaded().await
            }
            // The client is gone or broke the connection mid-body: nobody to answer.
            BodyError::Client(e) => {
                record.reason = Some(e.to_string());
                Ending {
                    outcome: Outcome::BadRequest,
                    status: 0,
                    persists: false,
                    unread_body: false,
                }
            }
        }
    }
}
