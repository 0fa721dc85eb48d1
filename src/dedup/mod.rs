//! Deduplication of deliveries by (route, delivery id), across replicas.
//!
//! The protocol never turns a legitimate retry into a silent duplicate:
//!
//! 1. **reserve** before forwarding: atomically claim the key with a unique
//!    token and a short in-flight TTL. A key already committed is a
//!    duplicate; a key held by another in-flight delivery is "in flight".
//! 2. **commit** when the upstream answers 2xx: the key is kept for the long
//!    TTL (default 72 h), so replays are answered `duplicate`.
//! 3. **release** when the upstream fails (connect error, timeout, any
//!    non-2xx): compare-and-delete by token, so the sender's retry is
//!    forwarded — and a late release can never delete another delivery's claim.
//!
//! A reservation whose holder dies (crash, kill) expires with the in-flight
//! TTL. Backends: [`memory`] (embedded, the default) and [`redis`]
//! (standalone or cluster, for several replicas). This module knows nothing
//! of HTTP.

pub mod memory;
pub mod redis;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;

use crate::deadline::within;
use crate::redis_connection::{RedisFailure, Target};
use memory::MemoryStore;
use redis::RedisStore;

/// A body's digest for a dedup key: xxh3, 128 bits.
pub fn body_digest(body: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(body)
}

/// What a reservation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The key is ours: forward, then commit or release.
    Reserved,
    /// The delivery was already forwarded successfully.
    Duplicate,
    /// Another copy of the delivery is being forwarded right now.
    InFlight,
}

/// Identifies one reservation, unique across processes and replicas, so a
/// release or commit only ever acts on its own claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token(u128);

impl Token {
    /// A fresh token: this process's random instance id and a counter.
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        Token((u128::from(instance_id()) << 64) | u128::from(count))
    }
}

impl Default for Token {
    fn default() -> Self {
        Self::new()
    }
}

impl Token {
    /// The token's 32 lowercase hex digits, as stores write it.
    pub fn hex(self) -> [u8; 32] {
        crate::lower_hex::of_u128(self.0)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.hex()).unwrap_or_default())
    }
}

/// 64 random bits per process, from the standard library's randomly seeded
/// hasher: tokens of two replicas never collide.
fn instance_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static ID: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *ID.get_or_init(|| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.finish()
    })
}

/// The store could not answer (unreachable, timed out, full).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

impl From<RedisFailure> for StoreError {
    fn from(failure: RedisFailure) -> Self {
        StoreError(failure.0)
    }
}

/// A dedup backend. Keys are opaque strings; each operation touches one key
/// and is atomic on its own.
#[async_trait]
pub trait DedupStore: Send + Sync + 'static {
    /// Claims `key` for `token` for `in_flight`, unless it is committed or claimed.
    async fn reserve(&self, key: &str, token: Token, in_flight: Duration) -> Result<Reservation, StoreError>;
    /// Marks `key` delivered for `ttl`. Also when the claim expired meanwhile:
    /// the delivery *was* forwarded, and a retry must now be a duplicate.
    async fn commit(&self, key: &str, token: Token, ttl: Duration) -> Result<(), StoreError>;
    /// Deletes `key` if `token` still holds it in flight.
    async fn release(&self, key: &str, token: Token) -> Result<(), StoreError>;
    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
    /// `memory` or `redis`, for metrics and logs.
    fn backend(&self) -> &'static str;
    /// Keys evicted to stay within capacity (memory backend), since start.
    fn evictions(&self) -> u64 {
        0
    }
}

/// Receives every store operation's result and latency (metrics).
pub trait StoreObserver: Send + Sync {
    fn observe(&self, backend: &'static str, operation: &'static str, result: &'static str, elapsed: Duration);
}

/// What to do when the store cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Forward without deduplication (and count it): a duplicate is better
    /// than a lost delivery from a sender that never retries (GitHub).
    #[default]
    FailOpen,
    /// Refuse with 503 and `Retry-After`: for backends where a duplicate does
    /// harm and the sender retries.
    FailClosed,
}

/// The validated `[dedup]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupSettings {
    pub backend: Backend,
    /// How long a delivered id is remembered.
    pub ttl: Duration,
    /// How long a claim lives if its holder never commits or releases it.
    pub in_flight_ttl: Duration,
    /// Upper bound on each store command; slower counts as unavailable.
    pub command_timeout: Duration,
    pub key_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Memory { capacity: usize },
    Redis(Target),
}

impl Backend {
    /// `memory` or `redis`, for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Memory { .. } => "memory",
            Backend::Redis(_) => "redis",
        }
    }
}

/// The configured store with its timings; what the proxy talks to. The
/// store itself is made on first use: a Redis connection must be made
/// inside the runtime that will drive it.
pub struct Dedup {
    settings: DedupSettings,
    observer: Option<Arc<dyn StoreObserver>>,
    store: OnceLock<Result<Arc<dyn DedupStore>, StoreError>>,
}

impl Dedup {
    pub fn new(settings: DedupSettings) -> Self {
        Self {
            settings,
            observer: None,
            store: OnceLock::new(),
        }
    }

    /// Reports every operation to `observer`.
    pub fn observed_by(mut self, observer: Arc<dyn StoreObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn settings(&self) -> &DedupSettings {
        &self.settings
    }

    /// The store, made now if it was not yet.
    fn store(&self) -> Result<&Arc<dyn DedupStore>, StoreError> {
        self.store
            .get_or_init(|| {
                let s = &self.settings;
                Ok(match &s.backend {
                    Backend::Memory { capacity } => Arc::new(MemoryStore::new(*capacity)),
                    Backend::Redis(target) => Arc::new(RedisStore::new(target, s.command_timeout)?),
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    pub fn backend(&self) -> &'static str {
        self.settings.backend.name()
    }

    /// Ids evicted to stay within capacity, since start (0 before first use).
    pub fn evictions(&self) -> u64 {
        self.store
            .get()
            .and_then(|s| s.as_ref().ok())
            .map_or(0, |s| s.evictions())
    }

    /// How long a claim lives if its holder never settles it.
    pub fn in_flight_ttl(&self) -> Duration {
        self.settings.in_flight_ttl
    }

    /// The store key for a delivery. The braces are a Redis Cluster hash
    /// tag: everything about one delivery lives on one shard. With a
    /// `digest` of its body (for ids the sender does not sign), only the
    /// same delivery sent again is a duplicate, not another body under the
    /// same id.
    pub fn key(&self, route: &str, delivery_id: &str, digest: Option<u128>) -> String {
        // `prefix:{route:id}[:digest]`, without the formatter (it is built
        // for every deduplicated delivery).
        let prefix = &self.settings.key_prefix;
        let mut key = String::with_capacity(prefix.len() + route.len() + delivery_id.len() + 37);
        for part in [prefix.as_str(), ":{", route, ":", delivery_id, "}"] {
            key.push_str(part);
        }
        if let Some(digest) = digest {
            key.push(':');
            let hex = crate::lower_hex::of_u128(digest);
            key.push_str(std::str::from_utf8(&hex).unwrap_or_default());
        }
        key
    }

    pub async fn reserve(&self, key: &str, token: Token) -> Result<Reservation, StoreError> {
        let reserve = async { self.store()?.reserve(key, token, self.settings.in_flight_ttl).await };
        self.run("reserve", reserve, |r| match r {
            Reservation::Reserved => "reserved",
            Reservation::Duplicate => "duplicate",
            Reservation::InFlight => "in_flight",
        })
        .await
    }

    pub async fn commit(&self, key: &str, token: Token) -> Result<(), StoreError> {
        let commit = async { self.store()?.commit(key, token, self.settings.ttl).await };
        self.run("commit", commit, |_| "ok").await
    }

    pub async fn release(&self, key: &str, token: Token) -> Result<(), StoreError> {
        let release = async { self.store()?.release(key, token).await };
        self.run("release", release, |_| "ok").await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run("ping", async { self.store()?.ping().await }, |_| "ok").await
    }

    /// Runs one store operation within the command timeout and reports its
    /// result (`label` of the value, or `error`) and latency to the observer.
    async fn run<T>(
        &self,
        operation: &'static str,
        op: impl std::future::Future<Output = Result<T, StoreError>>,
        label: fn(&T) -> &'static str,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        // The memory store answers at once: no timer for it.
        let timeout = self.settings.command_timeout;
        let result = within(timeout, op)
            .await
            .unwrap_or_else(|| Err(StoreError(format!("{operation}: no answer within {timeout:?}"))));
        if let Some(observer) = &self.observer {
            let outcome = result.as_ref().map_or("error", label);
            observer.observe(self.backend(), operation, outcome, started.elapsed());
        }
        result
    }
}

impl fmt::Debug for Dedup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dedup").field("settings", &self.settings).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_keys_hash_tagged() {
        let (a, b) = (Token::new(), Token::new());
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 32);
        let dedup = Dedup::new(DedupSettings {
            backend: Backend::Memory { capacity: 10 },
            ttl: Duration::from_secs(1),
            in_flight_ttl: Duration::from_secs(1),
            command_timeout: Duration::from_secs(1),
            key_prefix: "hookfence".into(),
        });
        assert_eq!(dedup.key("github", "abc", None), "hookfence:{github:abc}");
        assert_eq!(
            dedup.key("github", "abc", Some(0x0123_4567_89ab_cdef_0000_0000_0000_00ff)),
            "hookfence:{github:abc}:0123456789abcdef00000000000000ff"
        );
        assert_ne!(body_digest(b"{}"), body_digest(b"{ }"));
    }
}
