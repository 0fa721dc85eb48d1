//! The workers: per route, a loop that claims due deliveries from the
//! queue and forwards each through [`crate::upstream`], at most
//! `[queue] workers` at once, then settles it by the route's
//! [`super::RetryPolicy`]. Each attempt is counted and written as an audit
//! record (`record="attempt"`).
//!
//! A route's loop runs while the route delivers through the queue, and
//! also while its queue still holds deliveries after the route went back to
//! `direct` (they are still delivered). Each attempt uses the route as
//! configured at that moment: a reload that moves the upstream or rotates
//! the `sign_forwarded` secret applies to the next attempt.
//!
//! On shutdown the loops stop claiming and wait for the attempts in flight
//! (each bounded by its route's timeouts); whatever is cut short by the
//! end of the process stays in the queue and is attempted again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::policy::{AttemptResult, Decision};
use super::store::{Claimed, QueueStore, Settlement};
use super::{now_ms, Attempt, Queue};
use crate::config::{Config, Route};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::queue_metrics::{AttemptLabel, QueueRouteMetrics};
use crate::upstream::{self, Response, UpstreamPool, UPSTREAM_IDLE};

/// How often the set of route loops is brought in line with the config.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// How often expired dead letters are removed.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(60);
/// How long one claim waits for a due delivery before the loop looks
/// around again (a stop, a reload).
const CLAIM_WAIT: Duration = Duration::from_secs(1);
/// An answer's body is read and dropped up to this size (so that the
/// connection can be reused); a longer one closes it.
const DRAIN_LIMIT: usize = 1 << 20;
/// A delivery whose route is not configured now waits this long.
const ROUTE_GONE_DELAY_MS: u64 = 30_000;
/// After a store error, a loop waits this long before claiming again.
const STORE_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// The header carrying hookfence's id of a queued delivery.
pub const DELIVERY_HEADER: &[u8] = b"X-Hookfence-Delivery";
/// The header carrying the attempt's number (1 for the first).
pub const ATTEMPT_HEADER: &[u8] = b"X-Hookfence-Attempt";

/// What the workers read of the configuration in force.
pub trait LiveConfig: Send + Sync + 'static {
    fn config(&self) -> Arc<Config>;
}

pub struct Workers {
    queue: Arc<Queue>,
    live: Arc<dyn LiveConfig>,
    metrics: Arc<Metrics>,
    pool: UpstreamPool,
}

struct RouteLoop {
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

impl Workers {
    pub fn new(queue: Arc<Queue>, live: Arc<dyn LiveConfig>, metrics: Arc<Metrics>) -> Self {
        Self {
            queue,
            live,
            metrics,
            pool: UpstreamPool::new(UPSTREAM_IDLE),
        }
    }

    /// Runs route loops until `shutdown` turns true, then stops them and
    /// waits for their attempts in flight.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut loops: HashMap<String, RouteLoop> = HashMap::new();
        // Loops told to stop (their route left the queue) may still be
        // finishing an attempt: waited for at shutdown like the others.
        let mut retired: Vec<tokio::task::JoinHandle<()>> = Vec::new();
        let mut last_expiry: Option<Instant> = None;
        while !*shutdown.borrow() {
            let wanted = self.wanted_routes().await;
            let (keep, stop): (HashMap<_, _>, HashMap<_, _>) = loops
                .into_iter()
                .partition(|(name, running)| wanted.contains(name) && !running.done.is_finished());
            loops = keep;
            for (_, running) in stop {
                let _ = running.stop.send(true);
                retired.push(running.done);
            }
            retired.retain(|done| !done.is_finished());
            for name in &wanted {
                if !loops.contains_key(name) {
                    let (stop, stopped) = watch::channel(false);
                    let done = tokio::spawn(Arc::clone(&self).route_loop(name.clone(), stopped));
                    loops.insert(name.clone(), RouteLoop { stop, done });
                }
            }
            if last_expiry.is_none_or(|at| at.elapsed() >= EXPIRY_INTERVAL) {
                last_expiry = Some(Instant::now());
                self.expire_dead_letters(&wanted).await;
            }
            tokio::select! {
                () = tokio::time::sleep(SYNC_INTERVAL) => {}
                _ = shutdown.changed() => {}
            }
        }
        for running in loops.values() {
            let _ = running.stop.send(true);
        }
        for done in loops.into_values().map(|running| running.done).chain(retired) {
            let _ = done.await;
        }
    }

    /// Routes configured now that deliver through the queue, and those
    /// whose queue still holds deliveries.
    async fn wanted_routes(&self) -> Vec<String> {
        let config = self.live.config();
        let configured = config.routes.routes();
        let mut wanted: Vec<String> = configured
            .iter()
            .filter(|r| r.delivery.mode.uses_queue())
            .map(|r| r.name.clone())
            .collect();
        // The store is not opened for a config that has no use for it.
        if wanted.is_empty() && !self.queue.is_open() {
            return wanted;
        }
        match self.queue.store() {
            Ok(store) => match store.routes().await {
                Ok(holding) => {
                    for name in holding {
                        if !wanted.contains(&name) && configured.iter().any(|r| r.name == name) {
                            wanted.push(name);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "the queue cannot list its routes"),
            },
            Err(e) => tracing::error!(error = %e, "the delivery queue is unavailable"),
        }
        wanted
    }

    async fn expire_dead_letters(&self, routes: &[String]) {
        // No routes: the store may not be open, and must not be made for this.
        if routes.is_empty() {
            return;
        }
        let Ok(store) = self.queue.store() else { return };
        let ttl = u64::try_from(self.queue.settings().dead_letter_ttl.as_millis()).unwrap_or(u64::MAX);
        let before = now_ms().saturating_sub(ttl);
        for route in routes {
            match store.expire_dead(route, before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(route, expired = n, "dead letters past dead_letter_ttl removed"),
                Err(e) => tracing::warn!(route, error = %e, "dead letters could not be expired"),
            }
        }
    }

    /// Claims and attempts `route`'s deliveries until told to stop.
    async fn route_loop(self: Arc<Self>, route: String, mut stop: watch::Receiver<bool>) {
        let store = match self.queue.store() {
            Ok(store) => Arc::clone(store),
            Err(e) => {
                tracing::error!(route, error = %e, "the delivery queue is unavailable");
                return;
            }
        };
        let metrics = Arc::new(self.metrics.queue.route(&route));
        let permits = Arc::new(Semaphore::new(self.queue.settings().workers));
        let mut attempts = JoinSet::new();
        tracing::info!(route, backend = store.backend(), "delivery worker started");
        while !*stop.borrow() {
            while attempts.try_join_next().is_some() {}
            let first = tokio::select! {
                permit = Arc::clone(&permits).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                _ = stop.changed() => break,
            };
            let mut held = vec![first];
            while let Ok(permit) = Arc::clone(&permits).try_acquire_owned() {
                held.push(permit);
            }
            // Not raced against `stop`: a claim must not be dropped half
            // made. It waits at most CLAIM_WAIT.
            match store.claim(&route, held.len(), CLAIM_WAIT).await {
                Ok(batch) => {
                    for (claimed, permit) in batch.into_iter().zip(held) {
                        let worker = Arc::clone(&self);
                        let (store, metrics) = (Arc::clone(&store), Arc::clone(&metrics));
                        attempts.spawn(async move {
                            worker.attempt(&*store, &metrics, claimed).await;
                            drop(permit);
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(route, error = %e, "claiming queued deliveries failed");
                    tokio::time::sleep(STORE_ERROR_PAUSE).await;
                }
            }
        }
        while attempts.join_next().await.is_some() {}
        tracing::info!(route, "delivery worker stopped");
    }

    /// One attempt at a claimed delivery, settled and recorded.
    async fn attempt(&self, store: &dyn QueueStore, metrics: &QueueRouteMetrics, claimed: Claimed) {
        let config = self.live.config();
        let entry = &claimed.entry;
        let Some(route) = config.routes.routes().iter().find(|r| r.name == entry.route) else {
            let due_ms = now_ms() + ROUTE_GONE_DELAY_MS;
            if let Err(e) = store.settle(&claimed, Settlement::Postpone { due_ms }).await {
                tracing::warn!(route = entry.route, error = %e, "a delivery could not be put back");
            }
            return;
        };
        let number = entry.attempt_count + 1;
        let at_ms = now_ms();
        let started = Instant::now();
        let (result, status, error, response) = self.forward(route, &claimed, number).await;
        let attempt = Attempt {
            number,
            at_ms,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            status,
            error,
        };
        let (counted, since_ms) = entry.budget(number);
        let decision = route
            .delivery
            .retry
            .decide(&result, counted, since_ms, now_ms(), fastrand::f64());
        let (label, settlement, note) = match decision {
            Decision::Delivered => (AttemptLabel::Delivered, Settlement::Delivered(attempt.clone()), None),
            Decision::Retry { due_ms } => (
                AttemptLabel::Retry,
                Settlement::Retry {
                    attempt: attempt.clone(),
                    due_ms,
                },
                Some(format!("next attempt in {} ms", due_ms.saturating_sub(now_ms()))),
            ),
            Decision::Dead { reason } => (
                AttemptLabel::DeadLetter,
                Settlement::Dead {
                    attempt: attempt.clone(),
                    reason: reason.clone(),
                },
                Some(reason),
            ),
        };
        let settled = store.settle(&claimed, settlement).await;
        // Settled first: reading the rest of the answer does not count
        // against the claim.
        if let Some(response) = response {
            response.drain(&self.pool, DRAIN_LIMIT).await;
        }
        let delay = now_ms().saturating_sub(entry.received_ms) as f64 / 1000.0;
        metrics.attempt(label, delay);
        if let Err(e) = &settled {
            tracing::error!(route = entry.route, queue_id = entry.id, error = %e, "an attempt's result could not be stored; the delivery will be attempted again");
        }
        tracing::info!(
            target: "hookfence::audit",
            record = "attempt",
            route = entry.route,
            queue_id = entry.id,
            delivery_id = entry.delivery_id.as_deref(),
            event = entry.event.as_deref(),
            attempt = attempt.number,
            result = label.as_str(),
            upstream_status = attempt.status,
            error = attempt.error.as_deref(),
            duration_us = attempt.duration_ms.saturating_mul(1000),
            note = note.as_deref(),
            "queued delivery attempt"
        );
    }

    /// Sends the delivery; how it went, the status and the error, if any,
    /// and the answer whose body is still to be read.
    async fn forward(
        &self,
        route: &Route,
        claimed: &Claimed,
        number: u32,
    ) -> (AttemptResult, Option<u16>, Option<String>, Option<Response>) {
        let request = &claimed.request;
        let number_text = itoa::Buffer::new().format(number).to_owned();
        // Signed with the queue's id: the same for every attempt.
        let signature = route.sign_forwarded.as_ref().map_or_else(Vec::new, |s| {
            s.header_lines(&request.body, &claimed.entry.id, std::time::SystemTime::now())
        });
        let mut extra: Vec<(&[u8], &[u8])> = vec![
            (DELIVERY_HEADER, claimed.entry.id.as_bytes()),
            (ATTEMPT_HEADER, number_text.as_bytes()),
        ];
        extra.extend(
            signature
                .iter()
                .map(|(name, value)| (name.as_slice(), value.as_slice())),
        );
        match upstream::send(&self.pool, &route.upstream, &route.limits, request, &extra).await {
            Ok(response) => {
                let status = response.status();
                let retry_after = response.retry_after(std::time::SystemTime::now());
                (
                    AttemptResult::Answered { status, retry_after },
                    Some(status),
                    None,
                    Some(response),
                )
            }
            Err(e) => (AttemptResult::Failed, None, Some(e.reason), None),
        }
    }
}
