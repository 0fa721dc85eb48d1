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
//! and forwards it from there over pooled upstream connections
//! ([`crate::upstream`]).

mod body;
mod claim;
mod client;
mod context;
mod deliver;
mod headers;
mod relay;

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
use crate::trace_context::TraceContext;
use crate::upstream::{self, UpstreamPool};
use crate::verify::field::FieldReader;
use crate::verify::handshake::{QueryVerdict, Reply};
use crate::verify::Presented;
use body::BodyError;
use client::{Arrival, Client};
use context::DeliveryContext;

/// Heads up to this size are kept beside their delivery's record for the
/// console (an ordinary webhook head is 1–2 KiB): at most this much per
/// listed delivery, whoever sent it.
const KEPT_HEAD_LIMIT: usize = 8 * 1024;

/// The pingora application serving the public listener(s).
pub struct HookfenceApp {
    shared: Arc<Shared>,
    pool: UpstreamPool,
}

impl HookfenceApp {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            pool: UpstreamPool::new(upstream::UPSTREAM_IDLE),
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

/// An answer hookfence gives itself instead of delivering: a refusal, or an
/// acknowledgement (`ignored`, `duplicate`). Each step of the data path may
/// end the request with one.
pub struct EarlyAnswer {
    pub outcome: Outcome,
    pub status: u16,
    pub body: AnswerBody,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

/// What one of hookfence's own answers says.
pub enum AnswerBody {
    Json(serde_json::Value),
    /// Already serialised JSON (a handshake's exact bytes).
    JsonText(String),
    /// `text/plain`.
    Text(String),
}

impl EarlyAnswer {
    /// The outcome's own status with `body`.
    pub fn new(outcome: Outcome, body: serde_json::Value) -> Self {
        Self::with_body(outcome, AnswerBody::Json(body))
    }

    pub fn with_body(outcome: Outcome, body: AnswerBody) -> Self {
        Self {
            outcome,
            status: outcome.status(),
            body,
            retry_after: None,
        }
    }

    /// The outcome's own status with `{"error": message}`.
    pub fn error(outcome: Outcome, message: &str) -> Self {
        Self::new(outcome, json!({ "error": message }))
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 503 with `Retry-After` under load.
    fn overloaded() -> Self {
        Self::error(Outcome::Overloaded, "overloaded; retry later")
            .retry_after(crate::admission::OVERLOAD_RETRY_AFTER_SECS)
    }
}

#[async_trait]
impl ServerApp for HookfenceApp {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        // A SIGTERM exits once no connection is open (see `shutdown`).
        let _open = self.shared.activity.connection();
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
                    self.refuse_head(&mut client, problem, &live).await;
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
    /// A head that cannot be served: a JSON error, then the connection
    /// closes (whatever follows it cannot be trusted to be a next request).
    /// Counted and audited like any request, under no route.
    async fn refuse_head(&self, client: &mut Client, problem: HeadError, live: &Live) {
        let started = Instant::now();
        let mut ctx = DeliveryContext::new(String::new(), String::new());
        ctx.reason = Some(problem.to_string());
        let body = json!({ "error": problem.to_string() }).to_string();
        let answer = answer::json(Own {
            status: problem.status(),
            body: body.as_bytes(),
            retry_after: None,
            persistence: Persistence::Close,
            // The method is not known; the connection closes after the answer.
            head_request: false,
        });
        let written = client.write([&answer]).await.is_ok();
        let ending = Ending {
            outcome: Outcome::BadRequest,
            status: if written { problem.status() } else { 0 },
            persists: false,
            unread_body: false,
        };
        conclude(live, ctx, &ending, started);
    }

    async fn serve(&self, client: &mut Client, head: RequestHead, live: &Live, draining: bool) -> Ending {
        let started = Instant::now();
        let mut ctx = DeliveryContext::new(head.method.to_string(), head.path().to_owned());
        ctx.trace = Some(TraceContext::of(head.headers()));
        // Kept for the console's view of one delivery; without an admin
        // listener nobody could look.
        if live.config.server.admin_listen.is_some() {
            ctx.kept_head = head.copy_within(KEPT_HEAD_LIMIT);
        }
        let mut exchange = Exchange {
            persistent: head.persistent && !draining,
            client,
            head,
            body_read: false,
        };
        let ending = match self.shared.admission.try_enter() {
            Some(_admitted) => match self.steps(&mut exchange, &live.config, &mut ctx).await {
                Ok(ending) => ending,
                Err(early) => exchange.answer(early).await,
            },
            None => {
                ctx.reason = Some("too many requests at once".into());
                exchange.answer(EarlyAnswer::overloaded()).await
            }
        };
        conclude(live, ctx, &ending, started);
        ending
    }

    /// The data path, step by step; any step may end it with its own answer.
    async fn steps<'l>(
        &self,
        exchange: &mut Exchange<'_>,
        config: &'l Config,
        ctx: &mut DeliveryContext<'l>,
    ) -> Result<Ending, EarlyAnswer> {
        let route = match_route(&exchange.head, config, ctx)?;
        subscription_check(route, &exchange.head, ctx)?;
        // Header fields are cheap and help explain a refusal; body fields are
        // read only once the delivery is verified.
        ctx.read_fields(&FieldReader::new(exchange.head.headers(), &[], &route.body_fields));
        // Held until the delivery is answered: the body's memory is budgeted.
        let mut lease = self.shared.budget.lease();
        let limits = &route.limits;
        let body = body::read_body(
            exchange.client,
            &mut exchange.head,
            limits.max_body,
            limits.body_timeout,
            &mut lease,
        )
        .await
        .map_err(|e| body_refusal(e, ctx))?;
        exchange.body_read = true;
        ctx.body_bytes = body.len();
        if let Some(limit) = route.keep_bodies.filter(|_| config.server.admin_listen.is_some()) {
            // A copy, not a slice: a slice would hold the whole body's
            // buffer for as long as the delivery is listed.
            ctx.kept_body = Some(Bytes::copy_from_slice(&body[..body.len().min(limit)]));
        }
        verify(route, &exchange.head, &body, ctx)?;
        let fields = FieldReader::new(exchange.head.headers(), &body, &route.body_fields);
        ctx.read_fields(&fields);
        handshake(route, &fields, ctx)?;
        filter(route, &fields, ctx)?;
        if let Some(key) = &route.delivery.ordering_key {
            ctx.ordering_key = fields.get(key);
        }
        let claim = claim::claim(&self.shared.dedup, ctx, &body).await?;
        Ok(self.deliver(exchange, route, body, ctx, claim).await)
    }
}

/// The last step of every request: counted in the metrics, listed in
/// `/deliveries`, then written as the audit record — whoever has read a
/// delivery's audit record (a log pipeline, the test suite) then finds it
/// counted and listed.
fn conclude(live: &Live, ctx: DeliveryContext<'_>, ending: &Ending, started: Instant) {
    let telemetry = live.telemetry(ctx.route_name());
    let (body_bytes, upstream_status, upstream_duration) = (ctx.body_bytes, ctx.upstream_status, ctx.upstream_duration);
    let elapsed = started.elapsed();
    // A shadow route's unverified delivery counts as the refusal it would
    // have been (what an operator watches before enforcing), unless what
    // happened next is worse news (the upstream failed).
    let outcome = match (ctx.shadow, ending.outcome) {
        (Some(refusal), Outcome::Forwarded | Outcome::Queued | Outcome::Filtered) => refusal,
        _ => ending.outcome,
    };
    if let Some(position) = ctx.matched_key {
        telemetry.metrics.secret_matched(position);
    }
    let record = ctx.finish(outcome, ending.status, elapsed);
    telemetry
        .metrics
        .observe(outcome, elapsed, body_bytes, upstream_status, upstream_duration);
    telemetry.recent.record(outcome, record).emit();
}

/// The route for the request, and the keys it verifies it with.
fn match_route<'l>(
    head: &RequestHead,
    config: &'l Config,
    ctx: &mut DeliveryContext<'l>,
) -> Result<&'l Route, EarlyAnswer> {
    let (route, params) = match config.routes.find(&head.method, head.path()) {
        RouteMatch::Found { route, params } => (route, params),
        RouteMatch::MethodNotAllowed => return Err(EarlyAnswer::error(Outcome::RejectedMethod, "method not allowed")),
        RouteMatch::NotFound => return Err(EarlyAnswer::error(Outcome::NoRoute, "no route")),
    };
    ctx.route = Some(route);
    if !route.allow_encoded_path {
        if let Some(what) = crate::routing::path_ambiguity(head.path()) {
            ctx.reason = Some(format!("the path holds {what}, which decoders read differently"));
            return Err(EarlyAnswer::error(Outcome::BadRequest, "ambiguous request path"));
        }
    }
    if let Verification::Verified { keys, .. } = &route.verification {
        match keys.for_params(&params) {
            Some(keys) => ctx.keys = keys,
            None if !route.enforce => {
                ctx.signature_valid = Some(false);
                ctx.reason = Some("no secret for this tenant".into());
                ctx.unverified_in_shadow(Outcome::RejectedUnknownTenant);
            }
            None => {
                return Err(EarlyAnswer::error(
                    Outcome::RejectedUnknownTenant,
                    "no source for this app",
                ))
            }
        }
    }
    Ok(route)
}

/// The route's checks over the delivery as it arrived.
fn verify(route: &Route, head: &RequestHead, body: &[u8], ctx: &mut DeliveryContext<'_>) -> Result<(), EarlyAnswer> {
    let Verification::Verified { verifier, .. } = &route.verification else {
        return Ok(());
    };
    if ctx.shadow.is_some() {
        // A shadow route already found it unverifiable (no tenant secret).
        return Ok(());
    }
    let url = route
        .public_url
        .as_ref()
        .map(|base| format!("{base}{}", head.origin_form()));
    let presented = Presented {
        method: head.method.as_str(),
        headers: head.headers(),
        query: head.query(),
        url: url.as_deref(),
        body,
        now: SystemTime::now(),
    };
    match verifier.matching_key(&presented, ctx.keys) {
        Ok(key) => {
            ctx.signature_valid = Some(true);
            ctx.matched_key = Some(key);
            Ok(())
        }
        Err(rejection) => {
            ctx.signature_valid = Some(false);
            let outcome = Outcome::from(&rejection);
            let early = EarlyAnswer::error(outcome, &rejection.to_string());
            ctx.reason = Some(rejection.explain(ctx.keys.len()));
            if !route.enforce {
                // Shadow mode: recorded as the refusal it would have been,
                // forwarded anyway, marked unverified.
                ctx.unverified_in_shadow(outcome);
                return Ok(());
            }
            Err(early)
        }
    }
}

/// A `GET` subscription check (Meta's `hub.mode=subscribe`, Dropbox's
/// `challenge`, Okta's verification header): answered with the challenge (when the check carries a
/// token, only if it matches the route's `verify_token`: 403 if not); any
/// other `GET` on such a route is not a delivery.
fn subscription_check(route: &Route, head: &RequestHead, ctx: &mut DeliveryContext<'_>) -> Result<(), EarlyAnswer> {
    let Some((check, token)) = &route.subscription else {
        return Ok(());
    };
    if head.method != Method::GET {
        return Ok(());
    }
    match check.judge(head.query().unwrap_or_default(), head.headers(), token.as_ref()) {
        QueryVerdict::Answer(reply) => {
            ctx.reason = Some("subscription check answered".into());
            Err(EarlyAnswer::with_body(Outcome::Handshake, answer_body(reply)))
        }
        QueryVerdict::WrongToken => {
            ctx.signature_valid = Some(false);
            ctx.reason = Some("the subscription check's verify token does not match".into());
            Err(EarlyAnswer::error(Outcome::RejectedBadSignature, "verify token does not match").with_status(403))
        }
        QueryVerdict::NotACheck => {
            ctx.reason = Some("a GET that is not a subscription check".into());
            Err(EarlyAnswer::error(Outcome::RejectedMethod, "method not allowed"))
        }
    }
}

/// The sender's endpoint check, answered here and not forwarded: only a
/// verified one, with the key that verified it (Zoom's answer is an HMAC
/// under it), never on a shadow route's unverified request.
fn handshake(route: &Route, fields: &FieldReader<'_>, ctx: &mut DeliveryContext<'_>) -> Result<(), EarlyAnswer> {
    let Some(handshake) = &route.handshake else {
        return Ok(());
    };
    if ctx.shadow.is_some() {
        return Ok(());
    }
    let Some(key) = ctx.matched_key.and_then(|i| ctx.keys.get(i)) else {
        return Ok(());
    };
    let read = |name: &str| handshake.field(name).and_then(|field| fields.get(field));
    let Some(reply) = handshake.spec.answer(read, key) else {
        return Ok(());
    };
    ctx.reason = Some("endpoint handshake answered".into());
    Err(EarlyAnswer::with_body(Outcome::Handshake, answer_body(reply)))
}

fn answer_body(reply: Reply) -> AnswerBody {
    match reply {
        Reply::Json(text) => AnswerBody::JsonText(text),
        Reply::Text(text) => AnswerBody::Text(text),
    }
}

/// The route's event and branch lists, and its test-event answer.
fn filter(route: &Route, fields: &FieldReader<'_>, ctx: &mut DeliveryContext<'_>) -> Result<(), EarlyAnswer> {
    match route.filter.decide(ctx.event.as_deref(), fields) {
        Decision::Forward => Ok(()),
        Decision::Pong => {
            ctx.reason = Some("test event answered".into());
            Err(EarlyAnswer::new(Outcome::Filtered, json!({ "status": "pong" })).with_status(200))
        }
        Decision::Ignore(reason) => {
            ctx.reason = Some(reason);
            Err(EarlyAnswer::new(Outcome::Filtered, json!({ "status": "ignored" })))
        }
    }
}

/// Why a body was not read, as an answer.
fn body_refusal(error: BodyError, ctx: &mut DeliveryContext<'_>) -> EarlyAnswer {
    match error {
        BodyError::TooLarge => EarlyAnswer::error(Outcome::RejectedBodyTooLarge, "body too large"),
        BodyError::Timeout => EarlyAnswer::error(Outcome::RejectedTimeout, "body not received in time"),
        BodyError::BadFraming(what) => EarlyAnswer::error(Outcome::BadRequest, what),
        BodyError::Overloaded => {
            ctx.reason = Some("no room in the in-flight body budget".into());
            EarlyAnswer::overloaded()
        }
        // The client is gone or broke the connection mid-body: nobody to
        // answer (status 0 writes nothing).
        BodyError::Client(e) => {
            ctx.reason = Some(e.to_string());
            EarlyAnswer::error(Outcome::BadRequest, "").with_status(0)
        }
    }
}

impl Exchange<'_> {
    /// Whether request bytes may still be unread: a body that was not read.
    fn unread_body(&self) -> bool {
        !self.body_read && self.head.has_body()
    }

    /// Answers with one of hookfence's own JSON answers (status 0: none,
    /// the client is gone). The connection persists only if nothing of the
    /// request is left unread.
    async fn answer(&mut self, early: EarlyAnswer) -> Ending {
        let EarlyAnswer {
            outcome,
            status,
            body,
            retry_after,
        } = early;
        if status == 0 {
            return Ending {
                outcome,
                status,
                persists: false,
                unread_body: false,
            };
        }
        let unread_body = self.unread_body();
        let persists = self.persistent && !unread_body;
        let (content_type, body) = match body {
            AnswerBody::Json(value) => (answer::JSON, value.to_string()),
            AnswerBody::JsonText(text) => (answer::JSON, text),
            AnswerBody::Text(text) => (answer::TEXT, text),
        };
        let bytes = answer::typed(
            content_type,
            Own {
                status,
                body: body.as_bytes(),
                retry_after,
                persistence: Persistence::of(persists, self.head.version == Version::Http11),
                head_request: self.head.method == Method::HEAD,
            },
        );
        let written = self.client.write([&bytes]).await.is_ok();
        Ending {
            outcome,
            status,
            persists: persists && written,
            unread_body,
        }
    }
}
