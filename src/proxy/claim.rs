//! The dedup step of the data path: claim a verified delivery's id before
//! forwarding, settle the claim afterwards (commit on 2xx, release on
//! anything else), and turn the store's answers — and its silences — into
//! outcomes according to the route's policy.

use std::sync::{Arc, OnceLock};

use crate::config::{Backend, DedupSettings, Route};
use crate::dedup::memory::MemoryStore;
use crate::dedup::redis::RedisStore;
use crate::dedup::{Dedup, DedupStore, Policy, Reservation, StoreError, StoreObserver, Token};
use crate::outcome::Outcome;
use crate::telemetry::AuditRecord;

/// The store, made on first use: a Redis connection must be made inside the
/// runtime that will drive it.
pub struct LazyDedup {
    settings: DedupSettings,
    observer: Arc<dyn StoreObserver>,
    store: OnceLock<Result<Dedup, StoreError>>,
}

impl LazyDedup {
    pub fn new(settings: DedupSettings, observer: Arc<dyn StoreObserver>) -> Self {
        Self {
            settings,
            observer,
            store: OnceLock::new(),
        }
    }

    /// The settings the store is (or will be) made from.
    pub fn settings(&self) -> &DedupSettings {
        &self.settings
    }

    pub fn get(&self) -> Result<&Dedup, StoreError> {
        self.store
            .get_or_init(|| {
                let s = &self.settings;
                let store: Arc<dyn DedupStore> = match &s.backend {
                    Backend::Memory { capacity } => Arc::new(MemoryStore::new(*capacity)),
                    Backend::Redis(target) => Arc::new(RedisStore::new(target, s.command_timeout)?),
                };
                let dedup = Dedup::new(store, s.ttl, s.in_flight_ttl, s.command_timeout, &s.key_prefix);
                Ok(dedup.observed_by(Arc::clone(&self.observer)))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// A claim to settle after forwarding.
pub struct Claim<'d> {
    dedup: &'d Dedup,
    key: String,
    token: Token,
}

/// What the dedup step decided.
pub enum Gate<'d> {
    /// Forward; settle the claim (if any) with the upstream's answer.
    Forward(Option<Claim<'d>>),
    /// Answer without forwarding.
    Answer(Refusal),
}

/// An answer hookfence gives itself instead of forwarding.
pub struct Refusal {
    pub outcome: Outcome,
    pub body: serde_json::Value,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

/// How long a sender refused for an unavailable store should wait.
const STORE_RETRY_AFTER_SECS: u64 = 5;

pub async fn claim<'d>(dedup: &'d LazyDedup, route: &Route, record: &mut AuditRecord) -> Gate<'d> {
    if !route.dedup.enabled {
        return Gate::Forward(None);
    }
    let Some(id) = record.delivery_id.clone() else {
        if route.dedup.require_id {
            return Gate::Answer(Refusal {
                outcome: Outcome::RejectedNoDeliveryId,
                body: serde_json::json!({ "error": "missing delivery id" }),
                retry_after: None,
            });
        }
        record.dedup = Some("no delivery id: forwarded without deduplication");
        return Gate::Forward(None);
    };
    let (dedup, reservation) = match dedup.get() {
        Ok(dedup) => {
            let key = dedup.key(&route.name, &id);
            let token = Token::new();
            match dedup.reserve(&key, token).await {
                Ok(Reservation::Reserved) => return Gate::Forward(Some(Claim { dedup, key, token })),
                Ok(other) => (dedup, Ok(other)),
                Err(e) => (dedup, Err(e)),
            }
        }
        Err(e) => return unavailable(route, record, e),
    };
    match reservation {
        Ok(Reservation::Duplicate) => Gate::Answer(Refusal {
            outcome: Outcome::Duplicate,
            body: serde_json::json!({ "status": "duplicate" }),
            retry_after: None,
        }),
        Ok(_) => Gate::Answer(Refusal {
            outcome: Outcome::InFlight,
            body: serde_json::json!({ "error": "this delivery is being forwarded; retry later" }),
            retry_after: Some(dedup.in_flight_ttl.as_secs().max(1)),
        }),
        Err(e) => unavailable(route, record, e),
    }
}

fn unavailable<'d>(route: &Route, record: &mut AuditRecord, error: StoreError) -> Gate<'d> {
    record.reason = Some(format!("dedup store unavailable: {error}"));
    match route.dedup.policy {
        Policy::FailOpen => {
            record.dedup = Some("store unavailable: forwarded without deduplication (fail_open)");
            Gate::Forward(None)
        }
        Policy::FailClosed => Gate::Answer(Refusal {
            outcome: Outcome::StoreUnavailable,
            body: serde_json::json!({ "error": "deduplication store unavailable; retry later" }),
            retry_after: Some(STORE_RETRY_AFTER_SECS),
        }),
    }
}

impl Claim<'_> {
    /// Commits after a 2xx, releases otherwise. A failed settle is logged in
    /// the record; the claim then expires with its in-flight TTL.
    pub async fn settle(self, delivered: bool, record: &mut AuditRecord) {
        let result = if delivered {
            self.dedup.commit(&self.key, self.token).await
        } else {
            self.dedup.release(&self.key, self.token).await
        };
        if let Err(e) = result {
            let action = if delivered { "commit" } else { "release" };
            record.dedup = Some(if delivered {
                "commit failed: a retry may be forwarded again"
            } else {
                "release failed: retries get 409 until the claim expires"
            });
            tracing::warn!(route = record.route.as_deref(), error = %e, "dedup {action} failed");
        }
    }
}
