//! The last N deliveries per route, for the admin API's `/deliveries`, and
//! the route's last hour in counts ([`Timeline`]) for the console.
//!
//! Writing must not take a lock on the data path: each route has a ring of
//! slots written round-robin with an atomic cursor and swapped in with
//! `arc-swap` (one allocation per delivery, no lock). Reading (rare) copies
//! the slots and sorts them by when each delivery arrived: they finish in
//! any order (a fast refusal overtakes a slow forward).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwapOption;
use serde::Serialize;

use super::audit::AuditRecord;
use super::timeline::Timeline;
use crate::outcome::Outcome;

/// A delivery as listed: its record, numbered.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// Unique among every route's deliveries since start, increasing in
    /// the order they were recorded: how `/deliveries/SEQ` finds one.
    pub seq: u64,
    #[serde(flatten)]
    pub record: AuditRecord,
}

struct Ring {
    slots: Box<[ArcSwapOption<Listed>]>,
    cursor: AtomicUsize,
    timeline: Timeline,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        Self {
            slots: (0..capacity.max(1)).map(|_| ArcSwapOption::empty()).collect(),
            cursor: AtomicUsize::new(0),
            timeline: Timeline::default(),
        }
    }

    fn push(&self, seq: u64, record: AuditRecord) -> Recorded {
        let n = self.cursor.fetch_add(1, Ordering::Relaxed);
        let slot = &self.slots[n % self.slots.len()];
        let entry = Arc::new(Listed { seq, record });
        slot.store(Some(Arc::clone(&entry)));
        Recorded(entry)
    }

    fn held(&self) -> impl Iterator<Item = Arc<Listed>> + '_ {
        self.slots.iter().filter_map(ArcSwapOption::load_full)
    }
}

/// Newest first, by arrival (ties, if any, by when recorded). The records
/// are shared, not copied: a listing filters before it serialises.
fn newest_first(mut held: Vec<Arc<Listed>>) -> Vec<Arc<Listed>> {
    held.sort_by_key(|entry| std::cmp::Reverse((entry.record.received, entry.seq)));
    held
}

/// Rings per route name, plus one for requests that matched no route.
pub struct RecentDeliveries {
    capacity: usize,
    /// Written only when a route is seen for the first time (config load or
    /// reload), read on every delivery without contention.
    rings: RwLock<HashMap<String, Arc<Ring>>>,
    next_seq: Arc<AtomicU64>,
}

/// The ring of deliveries that matched no route.
pub const UNROUTED: &str = "";

impl RecentDeliveries {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            rings: RwLock::new(HashMap::new()),
            next_seq: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The recorder for `route`, made on first use; the proxy keeps it per
    /// route so recording needs no map lookup.
    pub fn recorder(&self, route: &str) -> Recorder {
        let next_seq = Arc::clone(&self.next_seq);
        if let Some(ring) = self.rings.read().unwrap_or_else(|p| p.into_inner()).get(route) {
            return Recorder {
                ring: Arc::clone(ring),
                next_seq,
            };
        }
        let mut rings = self.rings.write().unwrap_or_else(|p| p.into_inner());
        let ring = rings
            .entry(route.to_owned())
            .or_insert_with(|| Arc::new(Ring::new(self.capacity)));
        Recorder {
            ring: Arc::clone(ring),
            next_seq,
        }
    }

    fn ring(&self, route: &str) -> Option<Arc<Ring>> {
        let rings = self.rings.read().unwrap_or_else(|p| p.into_inner());
        rings.get(route).cloned()
    }

    /// The route's recent deliveries, newest first; `None` for a route never seen.
    pub fn list(&self, route: &str) -> Option<Vec<Arc<Listed>>> {
        self.ring(route).map(|ring| newest_first(ring.held().collect()))
    }

    /// Every route's recent deliveries (and those that matched none), newest first.
    pub fn list_all(&self) -> Vec<Arc<Listed>> {
        let rings: Vec<Arc<Ring>> = {
            let rings = self.rings.read().unwrap_or_else(|p| p.into_inner());
            rings.values().cloned().collect()
        };
        newest_first(rings.iter().flat_map(|ring| ring.held()).collect())
    }

    /// The delivery numbered `seq`, while it is still kept.
    pub fn find(&self, seq: u64) -> Option<Arc<Listed>> {
        let rings = self.rings.read().unwrap_or_else(|p| p.into_inner());
        rings
            .values()
            .find_map(|ring| ring.held().find(|entry| entry.seq == seq))
    }

    /// The route's minute-by-minute counts; `None` for a route never seen.
    pub fn with_timeline<T>(&self, route: &str, read: impl FnOnce(&Timeline) -> T) -> Option<T> {
        self.ring(route).map(|ring| read(&ring.timeline))
    }
}

/// Appends to one route's ring.
#[derive(Clone)]
pub struct Recorder {
    ring: Arc<Ring>,
    next_seq: Arc<AtomicU64>,
}

impl Recorder {
    /// Lists the delivery, counts it in the route's timeline, and hands it
    /// back (for its audit record), so that it is not cloned.
    pub fn record(&self, outcome: Outcome, record: AuditRecord) -> Recorded {
        let duration = std::time::Duration::from_micros(record.duration_us);
        self.ring.timeline.record(outcome, record.received, duration);
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        self.ring.push(seq, record)
    }
}

/// A delivery as listed.
pub struct Recorded(Arc<Listed>);

impl std::ops::Deref for Recorded {
    type Target = AuditRecord;

    fn deref(&self) -> &AuditRecord {
        &self.0.record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: usize) -> AuditRecord {
        AuditRecord {
            received: std::time::UNIX_EPOCH + std::time::Duration::from_secs(id as u64),
            route: Some("r".into()),
            method: "POST".into(),
            path: "/".into(),
            delivery_id: Some(id.to_string()),
            event: None,
            signature_valid: Some(true),
            outcome: "forwarded",
            status: 200,
            reason: None,
            body_bytes: 0,
            upstream_status: Some(200),
            upstream_duration_us: None,
            duration_us: 1,
            dedup: None,
            queue_id: None,
            trace_id: None,
            shadow: false,
            secret_position: None,
            secret: None,
            head: None,
            body_preview: None,
        }
    }

    fn listed_ids(recent: &RecentDeliveries) -> Vec<String> {
        let listed = recent.list("r").unwrap_or_default();
        listed.iter().filter_map(|d| d.record.delivery_id.clone()).collect()
    }

    #[test]
    fn keeps_the_last_n_newest_first() {
        let recent = RecentDeliveries::new(3);
        let recorder = recent.recorder("r");
        for i in 0..5 {
            recorder.record(Outcome::Forwarded, delivery(i));
        }
        assert_eq!(listed_ids(&recent), ["4", "3", "2"]);
        // Listed by arrival, not by when they finished.
        let recent = RecentDeliveries::new(3);
        let recorder = recent.recorder("r");
        for i in [2, 0, 1] {
            recorder.record(Outcome::Forwarded, delivery(i));
        }
        assert_eq!(listed_ids(&recent), ["2", "1", "0"]);
        assert!(recent.list("other").is_none());
        assert_eq!(recent.recorder("r").ring.slots.len(), 3, "the same ring is reused");
    }
}
