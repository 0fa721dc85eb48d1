//! Durable delivery: a verified delivery written to a queue before the
//! sender is answered, then forwarded by workers with retries until the
//! upstream answers 2xx, or set aside as a dead letter an operator can
//! replay or discard.
//!
//! - [`store`]: the [`QueueStore`] contract; [`embedded`] (the default: a
//!   crash-safe file under `data_dir`, one process) and [`redis`] (Redis
//!   Streams with a consumer group, shared by any number of replicas).
//! - [`policy`]: when to try again (exponential backoff with full jitter,
//!   `Retry-After`), when to give up.
//! - [`worker`]: per route, the loop that claims due deliveries and
//!   forwards them through [`crate::upstream`].
//! - [`queue`]: what the proxy and the admin API hold: the store, made on
//!   first use, and the workers.
//!
//! Guarantees: a delivery acknowledged as queued is durable before the
//! sender hears 202, and stays until the upstream answers 2xx or an
//! operator discards its dead letter. Delivery is at least once: an attempt
//! whose answer was lost (a crash, a timeout after the request was sent) is
//! made again. Every attempt carries the same `X-Hookfence-Delivery` id and
//! its `X-Hookfence-Attempt` number, so the backend can be idempotent.
//! Deliveries that share an ordering key are attempted one at a time, in
//! arrival order; a failing one holds back only its own key. Only verified
//! deliveries are ever queued: this module does not know how a delivery was
//! verified, only that the proxy queues nothing else.

pub mod embedded;
pub mod id;
pub mod policy;
pub mod queue;
pub mod redis;
pub mod store;
pub mod worker;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use policy::RetryPolicy;
pub use queue::Queue;
pub use store::{Claimed, EnqueueError, QueueError, QueueStore, Settlement};

use crate::redis_connection::Target;
use crate::verify::field::Field;

/// How a route delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Forwarded at once; the sender gets the upstream's own answer.
    #[default]
    Direct,
    /// Stored, then the sender is answered; workers forward it.
    Queued,
    /// Forwarded at once; stored instead when the upstream cannot take it.
    Fallback,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Queued => "queued",
            Mode::Fallback => "fallback",
        }
    }

    /// Whether deliveries of this route may be queued.
    pub fn uses_queue(self) -> bool {
        self != Mode::Direct
    }
}

/// A route's delivery settings.
#[derive(Debug, Clone, Default)]
pub struct RouteDelivery {
    pub mode: Mode,
    /// The status a sender gets for a queued delivery (default 202).
    pub queued_status: u16,
    /// Deliveries with the same value here are delivered one at a time, in
    /// arrival order. A delivery without it is not ordered.
    pub ordering_key: Option<Field>,
    pub retry: RetryPolicy,
}

/// Where the queue lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueBackend {
    /// A redb file in this directory: one process, no setup.
    Embedded { data_dir: PathBuf },
    /// Redis Streams: several replicas share the queue.
    Redis(Target),
}

impl QueueBackend {
    pub fn name(&self) -> &'static str {
        match self {
            QueueBackend::Embedded { .. } => "embedded",
            QueueBackend::Redis(_) => "redis",
        }
    }
}

/// The validated `[queue]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    pub backend: QueueBackend,
    /// Redis keys start with it.
    pub key_prefix: String,
    /// Bytes a route's queue may hold (requests waiting and dead letters).
    pub max_bytes: u64,
    /// Deliveries a route's queue may hold (waiting and dead letters).
    pub max_deliveries: u64,
    /// Attempts a route's worker makes at once (per replica).
    pub workers: usize,
    /// Redis: a delivery claimed by a replica that has said nothing for
    /// this long is taken over by another (the replica is presumed dead).
    pub claim_timeout: Duration,
    /// How long a dead letter is kept.
    pub dead_letter_ttl: Duration,
    /// Upper bound on each store command.
    pub command_timeout: Duration,
}

pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;
pub const DEFAULT_MAX_DELIVERIES: u64 = 100_000;
pub const DEFAULT_WORKERS: usize = 8;
pub const DEFAULT_CLAIM_TIMEOUT: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_DEAD_LETTER_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_DATA_DIR: &str = "hookfence-data";
/// Attempts whose details are kept per delivery (the count is always kept).
pub const KEPT_ATTEMPTS: usize = 50;

/// One stored delivery's bookkeeping: who it is, where it stands, what
/// happened at each attempt. Small: the request itself is stored apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// hookfence's id for it, sent as `X-Hookfence-Delivery`.
    pub id: String,
    pub route: String,
    /// The sender's delivery id, when the route knows where it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// Milliseconds since the Unix epoch when the sender's request arrived.
    pub received_ms: u64,
    /// Bytes of the stored request.
    pub size: u64,
    /// Attempts made so far (including any not kept in `attempts`).
    pub attempt_count: u32,
    /// The last [`KEPT_ATTEMPTS`] attempts, oldest first.
    pub attempts: Vec<Attempt>,
    pub state: State,
    /// When an operator last replayed it: the retry policy's budget
    /// (`max_attempts`, `max_age`) counts afresh from then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed: Option<Replayed>,
}

/// A replay: when, and how many attempts had been made before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replayed {
    pub at_ms: u64,
    pub attempts_before: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Waiting to be attempted at `due_ms` (or as soon as its ordering key
    /// lets it).
    Pending { due_ms: u64 },
    /// Given up on: replay or discard it.
    Dead { since_ms: u64, reason: String },
}

/// One attempt to forward a queued delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub number: u32,
    pub at_ms: u64,
    pub duration_ms: u64,
    /// The upstream's status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong when it did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Entry {
    /// Records `attempt`, keeping the last [`KEPT_ATTEMPTS`].
    pub fn record(&mut self, attempt: Attempt) {
        self.attempt_count = self.attempt_count.max(attempt.number);
        self.attempts.push(attempt);
        if self.attempts.len() > KEPT_ATTEMPTS {
            let excess = self.attempts.len() - KEPT_ATTEMPTS;
            self.attempts.drain(..excess);
        }
    }

    pub fn is_dead(&self) -> bool {
        matches!(self.state, State::Dead { .. })
    }

    /// Back to pending, due now, its retry budget counted afresh.
    pub fn replay(&mut self, now_ms: u64) {
        self.state = State::Pending { due_ms: now_ms };
        self.replayed = Some(Replayed {
            at_ms: now_ms,
            attempts_before: self.attempt_count,
        });
    }

    /// What the retry policy counts: attempt `number` as the how-many-th
    /// since the budget started, and when it started (arrival or replay).
    pub fn budget(&self, number: u32) -> (u32, u64) {
        match self.replayed {
            Some(r) => (number.saturating_sub(r.attempts_before), r.at_ms),
            None => (number, self.received_ms),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, QueueError> {
        serde_json::from_slice(bytes).map_err(|e| QueueError(format!("stored entry is unreadable: {e}")))
    }
}

/// Milliseconds since the Unix epoch.
pub fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub fn now_ms() -> u64 {
    millis(SystemTime::now())
}

/// A queue's figures for one route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Deliveries waiting (for an attempt, a retry or their ordering key).
    pub pending: u64,
    /// Dead letters kept.
    pub dead: u64,
    /// Bytes held, waiting and dead alike.
    pub bytes: u64,
    /// When the oldest waiting delivery arrived (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_received_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            id: id::new(1_000),
            route: "r".into(),
            delivery_id: None,
            event: None,
            ordering_key: None,
            received_ms: 1_000,
            size: 10,
            attempt_count: 0,
            attempts: Vec::new(),
            state: State::Pending { due_ms: 1_000 },
            replayed: None,
        }
    }

    fn attempt(number: u32) -> Attempt {
        Attempt {
            number,
            at_ms: 2_000,
            duration_ms: 1,
            status: Some(503),
            error: None,
        }
    }

    #[test]
    fn only_the_last_attempts_are_kept_but_all_are_counted() {
        let mut entry = entry();
        for n in 1..=(KEPT_ATTEMPTS as u32 + 7) {
            entry.record(attempt(n));
        }
        assert_eq!(entry.attempt_count, KEPT_ATTEMPTS as u32 + 7);
        assert_eq!(entry.attempts.len(), KEPT_ATTEMPTS);
        assert_eq!(entry.attempts[0].number, 8, "the oldest went first");
        let stored = entry.encode();
        assert_eq!(Entry::decode(&stored).unwrap(), entry);
    }

    #[test]
    fn a_replay_gives_a_fresh_retry_budget() {
        let policy = RetryPolicy {
            max_attempts: 3,
            max_age: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let failed = policy::AttemptResult::Failed;
        let mut entry = entry();
        for n in 1..=3 {
            entry.record(attempt(n));
        }
        let (counted, since) = entry.budget(3);
        assert!(matches!(
            policy.decide(&failed, counted, since, 2_000, 0.5),
            policy::Decision::Dead { .. }
        ));
        // Replayed an hour later, past max_age and max_attempts both.
        let later = 3_600_000;
        entry.replay(later);
        assert_eq!(entry.state, State::Pending { due_ms: later });
        let (counted, since) = entry.budget(4);
        assert_eq!((counted, since), (1, later));
        assert!(matches!(
            policy.decide(&failed, counted, since, later + 10, 0.5),
            policy::Decision::Retry { .. }
        ));
    }
}
