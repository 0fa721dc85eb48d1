//! The last step for a verified delivery, by the route's `delivery` mode:
//!
//! - `direct`: forwarded now; the sender gets the upstream's answer.
//! - `queued`: stored durably, then the sender is answered (202 by
//!   default, `{"status":"queued","id":…}`); workers forward it.
//! - `fallback`: forwarded now; if the upstream cannot take it (no
//!   connection, a reset or timeout, 429, 502, 503, 504) it is stored
//!   instead and the sender gets the queued answer. A request that was
//!   written whole but got no answer may have reached the upstream: it is
//!   queued all the same (at least once; the same `X-Hookfence-Delivery` id
//!   lets the backend tell). A delivery whose ordering key already has
//!   deliveries waiting is queued behind them, not sent ahead.
//!
//! The dedup claim is committed once the delivery is taken — forwarded
//! with a 2xx, or queued — and released otherwise, so that the sender's
//! retry of a refused delivery is not a silent duplicate.

use std::time::{Instant, SystemTime};

use serde_json::json;

use super::claim::Claim;
use super::context::DeliveryContext;
use super::relay::{self, RelayError};
use super::{headers, EarlyAnswer, Ending, Exchange, HookfenceApp};
use crate::config::Route;
use crate::delivery::policy::{AttemptResult, Decision};
use crate::delivery::worker::{ATTEMPT_HEADER, DELIVERY_HEADER};
use crate::delivery::{id, millis, now_ms, Attempt, EnqueueError, Entry, Mode, State};
use crate::outcome::Outcome;
use crate::upstream::{self, FailureKind, ForwardError, Request, Response};

/// How long a sender refused by a full queue should wait.
const QUEUE_FULL_RETRY_AFTER_SECS: u64 = 30;
/// How long a sender refused by an unavailable queue should wait.
const QUEUE_UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;
/// Answers a fallback route queues instead of relaying.
const FALLBACK_STATUSES: [u16; 4] = [429, 502, 503, 504];
/// Of a fallback answer not relayed, the body read to keep the connection.
const DRAIN_LIMIT: usize = 64 * 1024;

impl HookfenceApp {
    pub(super) async fn deliver(
        &self,
        exchange: &mut Exchange<'_>,
        route: &Route,
        body: bytes::Bytes,
        ctx: &mut DeliveryContext<'_>,
        claim: Option<Claim<'_>>,
    ) -> Ending {
        let request = headers::upstream_request(&exchange.head, route, body, exchange.client.ip, ctx);
        match route.delivery.mode {
            Mode::Direct => {
                let forwarding = Instant::now();
                let response = self.send(route, &request, None, trusted_id(ctx)).await;
                self.relay(exchange, response, ctx, claim, forwarding).await
            }
            Mode::Queued => self.enqueue(exchange, route, &request, ctx, claim, None).await,
            Mode::Fallback => self.forward_or_enqueue(exchange, route, &request, ctx, claim).await,
        }
    }

    /// Sends `request` upstream with the headers made for this attempt: the
    /// `sign_forwarded` signature, and on a fallback route the queue's
    /// delivery id and attempt number 1. The signature names the delivery
    /// by the queue's id, else the sender's (when it is a plain header
    /// value), else a fresh one.
    async fn send(
        &self,
        route: &Route,
        request: &Request,
        queue_id: Option<&str>,
        sender_id: Option<&str>,
    ) -> Result<Response, ForwardError> {
        let signature = route.sign_forwarded.as_ref().map_or_else(Vec::new, |s| {
            let id = queue_id
                .map(str::to_owned)
                .or_else(|| {
                    sender_id
                        .filter(|id| headers::is_plain_value(id.as_bytes()))
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| format!("msg_{:032x}", fastrand::u128(..)));
            s.header_lines(&request.body, &id, std::time::SystemTime::now())
        });
        let mut extra: Vec<(&[u8], &[u8])> = Vec::with_capacity(5);
        if let Some(id) = queue_id {
            extra.push((DELIVERY_HEADER, id.as_bytes()));
            extra.push((ATTEMPT_HEADER, b"1"));
        }
        extra.extend(
            signature
                .iter()
                .map(|(name, value)| (name.as_slice(), value.as_slice())),
        );
        upstream::send(&self.pool, &route.upstream, &route.limits, request, &extra).await
    }

    /// Settles the claim on the upstream's answer, then relays it to the
    /// sender (or says why there is none).
    async fn relay(
        &self,
        exchange: &mut Exchange<'_>,
        response: Result<Response, ForwardError>,
        ctx: &mut DeliveryContext<'_>,
        claim: Option<Claim<'_>>,
        forwarding: Instant,
    ) -> Ending {
        if let Some(claim) = claim {
            let delivered = response.as_ref().is_ok_and(|r| (200..300).contains(&r.status()));
            claim.settle(delivered, ctx).await;
        }
        let relayed = match response {
            Ok(response) => {
                relay::relay(
                    response,
                    &self.pool,
                    exchange.client,
                    &exchange.head,
                    exchange.persistent,
                )
                .await
            }
            Err(e) => {
                ctx.upstream_duration = Some(forwarding.elapsed());
                ctx.reason = Some(e.reason);
                let early = match e.kind {
                    FailureKind::Timeout => EarlyAnswer::error(Outcome::UpstreamTimeout, "upstream timed out"),
                    FailureKind::Unreachable => EarlyAnswer::error(Outcome::UpstreamError, "upstream unavailable"),
                };
                return exchange.answer(early).await;
            }
        };
        ctx.upstream_duration = Some(forwarding.elapsed());
        match relayed {
            Ok(relayed) => {
                ctx.upstream_status = Some(relayed.status);
                if !relayed.complete {
                    ctx.reason = Some("the answer broke off before it was relayed whole".into());
                }
                Ending {
                    outcome: Outcome::Forwarded,
                    status: relayed.status,
                    persists: relayed.complete && relayed.persists,
                    unread_body: false,
                }
            }
            Err(RelayError::Unrelayable(reason)) => {
                ctx.reason = Some(reason);
                exchange
                    .answer(EarlyAnswer::error(Outcome::UpstreamError, "upstream unavailable"))
                    .await
            }
            Err(RelayError::Client { status, error }) => {
                ctx.upstream_status = Some(status);
                ctx.reason = Some(format!("the client did not take the answer: {error}"));
                Ending {
                    outcome: Outcome::Forwarded,
                    status,
                    persists: false,
                    unread_body: false,
                }
            }
        }
    }

    /// A fallback route: forwarded now unless its ordering key has
    /// deliveries waiting; queued when the upstream cannot take it.
    async fn forward_or_enqueue(
        &self,
        exchange: &mut Exchange<'_>,
        route: &Route,
        request: &Request,
        ctx: &mut DeliveryContext<'_>,
        claim: Option<Claim<'_>>,
    ) -> Ending {
        if let Some(key) = ctx.ordering_key.clone() {
            let waiting = match self.shared.queue.store() {
                Ok(store) => store.key_waiting(&route.name, &key).await,
                Err(e) => Err(e),
            };
            match waiting {
                Ok(true) => {
                    ctx.reason = Some("deliveries with the same ordering key are waiting: queued behind them".into());
                    return self.enqueue(exchange, route, request, ctx, claim, None).await;
                }
                Ok(false) => {}
                // Unknown: forwarding now could overtake; queuing cannot
                // work either. The sender retries.
                Err(e) => {
                    ctx.reason = Some(format!("the queue is unavailable: {e}"));
                    return self
                        .refuse_unqueued(exchange, claim, ctx, EnqueueError::Unavailable(e))
                        .await;
                }
            }
        }
        let queue_id = new_queue_id(ctx);
        let forwarding = Instant::now();
        let at_ms = now_ms();
        let response = self
            .send(route, request, Some(&queue_id), ctx.delivery_id.as_deref())
            .await;
        let (result, status, error) = match &response {
            Ok(r) if !FALLBACK_STATUSES.contains(&r.status()) => {
                return self.relay(exchange, response, ctx, claim, forwarding).await
            }
            Ok(r) => (
                AttemptResult::Answered {
                    status: r.status(),
                    retry_after: r.retry_after(SystemTime::now()),
                },
                Some(r.status()),
                None,
            ),
            Err(e) => (AttemptResult::Failed, None, Some(e.reason.clone())),
        };
        let attempt = Attempt {
            number: 1,
            at_ms,
            duration_ms: u64::try_from(forwarding.elapsed().as_millis()).unwrap_or(u64::MAX),
            status,
            error,
        };
        let due_ms = match route
            .delivery
            .retry
            .decide(&result, 1, millis(ctx.received), now_ms(), fastrand::f64())
        {
            Decision::Retry { due_ms } => due_ms,
            // The policy allows no second attempt: the sender hears the
            // failure as on a direct route, and may retry itself.
            Decision::Delivered | Decision::Dead { .. } => {
                return self.relay(exchange, response, ctx, claim, forwarding).await
            }
        };
        ctx.upstream_duration = Some(forwarding.elapsed());
        ctx.upstream_status = status;
        ctx.reason = Some(match (&attempt.status, &attempt.error) {
            (Some(status), _) => format!("the upstream answered {status}: queued"),
            (None, Some(error)) => format!("{error}: queued"),
            (None, None) => "queued".into(),
        });
        if let Ok(response) = response {
            response.drain(&self.pool, DRAIN_LIMIT).await;
        }
        self.enqueue(exchange, route, request, ctx, claim, Some((attempt, due_ms)))
            .await
    }

    /// Stores the delivery (with the fallback's first attempt, if one was
    /// made), then answers the sender.
    async fn enqueue(
        &self,
        exchange: &mut Exchange<'_>,
        route: &Route,
        request: &Request,
        ctx: &mut DeliveryContext<'_>,
        claim: Option<Claim<'_>>,
        first: Option<(Attempt, u64)>,
    ) -> Ending {
        let store = match self.shared.queue.store() {
            Ok(store) => store,
            Err(e) => {
                return self
                    .refuse_unqueued(exchange, claim, ctx, EnqueueError::Unavailable(e))
                    .await
            }
        };
        let id = new_queue_id(ctx);
        let mut entry = Entry {
            id: id.clone(),
            route: route.name.clone(),
            delivery_id: ctx.delivery_id.clone(),
            event: ctx.event.clone(),
            ordering_key: ctx.ordering_key.clone(),
            received_ms: millis(ctx.received),
            size: request.size() as u64,
            attempt_count: 0,
            attempts: Vec::new(),
            state: State::Pending { due_ms: now_ms() },
            replayed: None,
        };
        if let Some((attempt, due_ms)) = first {
            entry.record(attempt);
            entry.state = State::Pending { due_ms };
        }
        match store.enqueue(entry, request).await {
            Ok(()) => {
                if let Some(claim) = claim {
                    claim.settle(true, ctx).await;
                }
                let answer = EarlyAnswer::new(Outcome::Queued, json!({ "status": "queued", "id": id }))
                    .with_status(route.delivery.queued_status);
                exchange.answer(answer).await
            }
            Err(e) => self.refuse_unqueued(exchange, claim, ctx, e).await,
        }
    }

    /// A delivery the queue could not take: 503 with `Retry-After`; the
    /// claim is released so that the sender's retry is not a duplicate.
    async fn refuse_unqueued(
        &self,
        exchange: &mut Exchange<'_>,
        claim: Option<Claim<'_>>,
        ctx: &mut DeliveryContext<'_>,
        error: EnqueueError,
    ) -> Ending {
        if let Some(claim) = claim {
            claim.settle(false, ctx).await;
        }
        // Nothing was stored: the id named nothing.
        ctx.queue_id = None;
        let early = match &error {
            EnqueueError::Full(_) => EarlyAnswer::error(Outcome::QueueFull, "delivery queue full; retry later")
                .retry_after(QUEUE_FULL_RETRY_AFTER_SECS),
            EnqueueError::Unavailable(_) => {
                EarlyAnswer::error(Outcome::QueueUnavailable, "delivery queue unavailable; retry later")
                    .retry_after(QUEUE_UNAVAILABLE_RETRY_AFTER_SECS)
            }
        };
        let reason = error.to_string();
        ctx.reason = Some(match ctx.reason.take() {
            Some(before) => format!("{before}; not queued: {reason}"),
            None => reason,
        });
        tracing::warn!(route = ctx.route_name(), error = %error, "a verified delivery was refused: not queued");
        exchange.answer(early).await
    }
}

/// The delivery's queue id, made once per delivery.
fn new_queue_id(ctx: &mut DeliveryContext<'_>) -> String {
    ctx.queue_id
        .get_or_insert_with(|| id::new(millis(ctx.received)))
        .clone()
}

/// The sender's delivery id, if it may name the delivery to the backend:
/// not for one a shadow route forwards unverified (a forger's id, signed by
/// `sign_forwarded`, could burn a genuine one at a backend that
/// deduplicates on it).
fn trusted_id<'c>(ctx: &'c DeliveryContext<'_>) -> Option<&'c str> {
    ctx.delivery_id.as_deref().filter(|_| ctx.shadow.is_none())
}
