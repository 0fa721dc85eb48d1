//! The last N deliveries per route, for the admin API's `/deliveries`.
//!
//! Writing must not take a lock on the data path: each route has a ring of
//! slots written round-robin with an atomic cursor and swapped in with
//! `arc-swap` (one allocation per delivery, no lock). Reading (rare) copies
//! the slots and sorts them by when each delivery arrived: they finish in
//! any order (a fast refusal overtakes a slow forward).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwapOption;

use super::audit::AuditRecord;

struct Ring {
    slots: Box<[ArcSwapOption<(u64, AuditRecord)>]>,
    cursor: AtomicUsize,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        Self {
            slots: (0..capacity.max(1)).map(|_| ArcSwapOption::empty()).collect(),
            cursor: AtomicUsize::new(0),
        }
    }

    fn push(&self, delivery: AuditRecord) -> Recorded {
        let n = self.cursor.fetch_add(1, Ordering::Relaxed);
        let slot = &self.slots[n % self.slots.len()];
        let entry = Arc::new((n as u64, delivery));
        slot.store(Some(Arc::clone(&entry)));
        Recorded(entry)
    }

    /// Newest first, by arrival (ties, if any, by completion).
    fn snapshot(&self) -> Vec<AuditRecord> {
        let mut held: Vec<Arc<(u64, AuditRecord)>> = self.slots.iter().filter_map(ArcSwapOption::load_full).collect();
        held.sort_by_key(|entry| std::cmp::Reverse((entry.1.received, entry.0)));
        held.iter().map(|entry| entry.1.clone()).collect()
    }
}

/// Rings per route name, plus one for requests that matched no route.
pub struct RecentDeliveries {
    capacity: usize,
    /// Written only when a route is seen for the first time (config load or
    /// reload), read on every delivery without contention.
    rings: RwLock<HashMap<String, Arc<Ring>>>,
}

/// The ring of deliveries that matched no route.
pub const UNROUTED: &str = "";

impl RecentDeliveries {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            rings: RwLock::new(HashMap::new()),
        }
    }

    /// The recorder for `route`, made on first use; the proxy keeps it per
    /// route so recording needs no map lookup.
    pub fn recorder(&self, route: &str) -> Recorder {
        if let Some(ring) = self.rings.read().unwrap_or_else(|p| p.into_inner()).get(route) {
            return Recorder(Arc::clone(ring));
        }
        let mut rings = self.rings.write().unwrap_or_else(|p| p.into_inner());
        let ring = rings
            .entry(route.to_owned())
            .or_insert_with(|| Arc::new(Ring::new(self.capacity)));
        Recorder(Arc::clone(ring))
    }

    /// The route's recent deliveries, newest first; `None` for a route never seen.
    pub fn list(&self, route: &str) -> Option<Vec<AuditRecord>> {
        let rings = self.rings.read().unwrap_or_else(|p| p.into_inner());
        rings.get(route).map(|ring| ring.snapshot())
    }
}

/// Appends to one route's ring.
#[derive(Clone)]
pub struct Recorder(Arc<Ring>);

impl Recorder {
    /// Lists the delivery and hands it back (for its audit record), so that
    /// it is not cloned.
    pub fn record(&self, delivery: AuditRecord) -> Recorded {
        self.0.push(delivery)
    }
}

/// A delivery as listed.
pub struct Recorded(Arc<(u64, AuditRecord)>);

impl std::ops::Deref for Recorded {
    type Target = AuditRecord;

    fn deref(&self) -> &AuditRecord {
        &self.0 .1
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
        }
    }

    fn listed_ids(recent: &RecentDeliveries) -> Vec<String> {
        let listed = recent.list("r").unwrap_or_default();
        listed.into_iter().filter_map(|d| d.delivery_id).collect()
    }

    #[test]
    fn keeps_the_last_n_newest_first() {
        let recent = RecentDeliveries::new(3);
        let recorder = recent.recorder("r");
        for i in 0..5 {
            recorder.record(delivery(i));
        }
        assert_eq!(listed_ids(&recent), ["4", "3", "2"]);
        // Listed by arrival, not by when they finished.
        let recent = RecentDeliveries::new(3);
        let recorder = recent.recorder("r");
        for i in [2, 0, 1] {
            recorder.record(delivery(i));
        }
        assert_eq!(listed_ids(&recent), ["2", "1", "0"]);
        assert!(recent.list("other").is_none());
        assert_eq!(recent.recorder("r").0.slots.len(), 3, "the same ring is reused");
    }
}
