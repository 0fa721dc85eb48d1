//! The contract every queue backend keeps.
//!
//! A route's queue holds entries ([`super::Entry`]) and the requests they
//! deliver. An entry is *pending* (waiting for its due time, or behind an
//! earlier delivery with the same ordering key), *claimed* (a worker is
//! attempting it) or *dead*. A backend guarantees:
//!
//! - `enqueue` returns only once the delivery is durable (as durable as
//!   the backend is configured to be), or refuses it: a full queue is an
//!   error, never a silent drop.
//! - `claim` hands out only pending deliveries that are due and are the
//!   oldest of their ordering key still waiting, and never the same one to
//!   two workers at once (short of a worker presumed dead, whose claims
//!   time out and are handed out again: at least once).
//! - A settled delivery is removed (delivered), rescheduled (retry) or kept
//!   as a dead letter; delivering or burying the oldest of a key lets the
//!   next of that key go.

use async_trait::async_trait;

use super::{Attempt, Entry, Stats};
use crate::upstream::Request;

/// The store could not do what was asked (unreachable, timed out, broken).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueueError(pub String);

impl From<crate::redis_connection::RedisFailure> for QueueError {
    fn from(failure: crate::redis_connection::RedisFailure) -> Self {
        QueueError(failure.0)
    }
}

/// Why a delivery was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    /// The route's queue is at `max_bytes` or `max_deliveries`.
    #[error("the queue is full ({0})")]
    Full(&'static str),
    #[error("the queue is unavailable: {0}")]
    Unavailable(QueueError),
}

impl From<QueueError> for EnqueueError {
    fn from(error: QueueError) -> Self {
        EnqueueError::Unavailable(error)
    }
}

/// A delivery handed to a worker.
#[derive(Debug)]
pub struct Claimed {
    pub entry: Entry,
    pub request: Request,
    /// The backend's handle on the claim.
    pub(crate) handle: ClaimHandle,
}

#[derive(Debug, Clone)]
pub(crate) enum ClaimHandle {
    /// The embedded store's sequence number of the entry.
    Sequence(u64),
    /// The Redis stream entry that carried the delivery.
    StreamEntry(String),
}

/// How a claimed delivery's attempt ended.
#[derive(Debug, Clone)]
pub enum Settlement {
    /// 2xx: remove it.
    Delivered(Attempt),
    /// Try again at `due_ms`.
    Retry { attempt: Attempt, due_ms: u64 },
    /// Give up: keep it as a dead letter.
    Dead { attempt: Attempt, reason: String },
    /// Not attempted (its route is not configured now): back to waiting
    /// until `due_ms`, nothing recorded.
    Postpone { due_ms: u64 },
}

/// What became of a request to change one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Done,
    NotFound,
    /// A worker is attempting it right now.
    Busy,
}

#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    /// `embedded` or `redis`, for metrics, logs and the admin API.
    fn backend(&self) -> &'static str;

    /// Stores a new pending delivery durably, due at once (or when its
    /// ordering key lets it); refuses it if the route's queue is full.
    async fn enqueue(&self, entry: Entry, request: &Request) -> Result<(), EnqueueError>;

    /// Up to `max` deliveries of `route` that are due, waiting at most
    /// `wait` for the first; an empty list when none came.
    async fn claim(&self, route: &str, max: usize, wait: std::time::Duration) -> Result<Vec<Claimed>, QueueError>;

    /// Records how the attempt at `claimed` ended.
    async fn settle(&self, claimed: &Claimed, settlement: Settlement) -> Result<(), QueueError>;

    /// Whether deliveries with ordering key `key` are waiting on `route`
    /// (a fallback route then queues behind them instead of overtaking).
    async fn key_waiting(&self, route: &str, key: &str) -> Result<bool, QueueError>;

    async fn stats(&self, route: &str) -> Result<Stats, QueueError>;

    /// Pending (or, with `dead`, dead) entries of `route`, oldest first.
    async fn list(&self, route: &str, dead: bool, limit: usize) -> Result<Vec<Entry>, QueueError>;

    /// One entry and its request.
    async fn get(&self, route: &str, id: &str) -> Result<Option<(Entry, Request)>, QueueError>;

    /// A dead letter back to pending, due now (behind its key's waiting
    /// deliveries); a pending delivery waiting for a retry, due now.
    async fn replay(&self, route: &str, id: &str) -> Result<Change, QueueError>;

    /// Every dead letter of `route` back to pending; how many.
    async fn replay_dead(&self, route: &str) -> Result<u64, QueueError>;

    /// Removes a dead letter, or a pending delivery nobody is attempting.
    async fn discard(&self, route: &str, id: &str) -> Result<Change, QueueError>;

    /// Removes `route`'s dead letters buried before `before_ms`; how many.
    async fn expire_dead(&self, route: &str, before_ms: u64) -> Result<u64, QueueError>;

    /// Routes that hold deliveries, whatever the config says now (a route
    /// taken out of the config keeps its queue until it comes back).
    async fn routes(&self) -> Result<Vec<String>, QueueError>;

    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), QueueError>;

    /// Puts on disk what was recorded without a flush of its own (before
    /// the process exits). Nothing to do where every write is already
    /// durable when it returns.
    async fn flush(&self) -> Result<(), QueueError> {
        Ok(())
    }
}
