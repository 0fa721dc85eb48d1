//! Overload protection: a limit on requests handled at once, and a global
//! budget for request body bytes held in memory. Beyond either, a delivery is
//! answered 503 with `Retry-After` instead of growing memory without bound;
//! a body waits briefly for budget before being refused.
//!
//! A body's lease covers the buffer it is read into (pre-sized from
//! `Content-Length`, or grown in doublings for chunked bodies) until the
//! delivery is answered, so the budget bounds real memory, not a guess.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a body may wait for budget before the delivery gets 503.
pub const BUDGET_WAIT: Duration = Duration::from_secs(2);
/// `Retry-After` for deliveries refused under load.
pub const OVERLOAD_RETRY_AFTER_SECS: u64 = 1;
/// Leases are counted in KiB so that a 4 GiB budget fits the semaphore's
/// `u32` acquisitions.
const UNIT: u64 = 1024;

/// At most `max` requests handled at once.
pub struct ConcurrencyLimit {
    active: AtomicUsize,
    max: usize,
}

/// A request's place under the limit, given back on drop.
pub struct Admitted<'a>(&'a ConcurrencyLimit);

impl ConcurrencyLimit {
    pub fn new(max: usize) -> Self {
        Self {
            active: AtomicUsize::new(0),
            max,
        }
    }

    /// Requests being handled now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    pub fn try_enter(&self) -> Option<Admitted<'_>> {
        let previous = self.active.fetch_add(1, Ordering::AcqRel);
        if previous >= self.max {
            self.active.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Admitted(self))
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The global budget of body bytes in memory.
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    gauge: IntGauge,
}

/// Body bytes held by one delivery, returned to the budget on drop.
pub struct Lease {
    permit: Option<OwnedSemaphorePermit>,
    units: u64,
    budget: Arc<Semaphore>,
    gauge: IntGauge,
}

/// No budget left within [`BUDGET_WAIT`].
#[derive(Debug)]
pub struct Exhausted;

impl BodyBudget {
    pub fn new(bytes: u64, gauge: IntGauge) -> Self {
        let units = usize::try_from(bytes.div_ceil(UNIT)).unwrap_or(Semaphore::MAX_PERMITS);
        Self {
            permits: Arc::new(Semaphore::new(units.min(Semaphore::MAX_PERMITS))),
            gauge,
        }
    }

    /// An empty lease, to grow as the body arrives.
    pub fn lease(&self) -> Lease {
        Lease {
            permit: None,
            units: 0,
            budget: Arc::clone(&self.permits),
            gauge: self.gauge.clone(),
        }
    }
}

impl Lease {
    /// Bytes this lease holds.
    pub fn bytes(&self) -> u64 {
        self.units * UNIT
    }

    /// Grows the lease to cover at least `bytes`, waiting until `deadline`
    /// for budget freed by other deliveries.
    pub async fn grow_to(&mut self, bytes: u64, deadline: Instant) -> Result<(), Exhausted> {
        let wanted = bytes.div_ceil(UNIT);
        if wanted <= self.units {
            return Ok(());
        }
        let more = u32::try_from(wanted - self.units).map_err(|_| Exhausted)?;
        let permit = match Arc::clone(&self.budget).try_acquire_many_owned(more) {
            Ok(permit) => permit,
            Err(_) => {
                let wait = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(wait, Arc::clone(&self.budget).acquire_many_owned(more)).await {
                    Ok(Ok(permit)) => permit,
                    _ => return Err(Exhausted),
                }
            }
        };
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        self.units = wanted;
        self.gauge.add(i64::from(more) * UNIT as i64);
        Ok(())
    }

    /// Gives back what is held beyond `bytes`: memory covered only while a
    /// buffer was being replaced by a larger one.
    pub fn shrink_to(&mut self, bytes: u64) {
        let wanted = bytes.div_ceil(UNIT);
        if wanted >= self.units {
            return;
        }
        let excess = self.units - wanted;
        if let Some(held) = &mut self.permit {
            // Dropping the split-off part returns it to the budget.
            drop(held.split(usize::try_from(excess).unwrap_or(usize::MAX)));
        }
        self.units = wanted;
        self.gauge.sub((excess * UNIT) as i64);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.gauge.sub((self.units * UNIT) as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_admits_up_to_max() {
        let limit = ConcurrencyLimit::new(2);
        let a = limit.try_enter();
        let b = limit.try_enter();
        assert!(a.is_some() && b.is_some());
        assert!(limit.try_enter().is_none());
        drop(a);
        assert!(limit.try_enter().is_some());
    }

    #[tokio::test]
    async fn the_budget_bounds_leases_and_frees_them_on_drop() {
        let gauge = IntGauge::new("test_in_flight", "test").unwrap();
        let budget = BodyBudget::new(100 * UNIT, gauge.clone());
        let soon = || Instant::now() + Duration::from_millis(50);
        let mut first = budget.lease();
        first.grow_to(60 * UNIT, soon()).await.unwrap();
        assert_eq!(gauge.get(), 60 * UNIT as i64);
        let mut second = budget.lease();
        assert!(second.grow_to(50 * UNIT, soon()).await.is_err(), "only 40 KiB left");
        second.grow_to(40 * UNIT, soon()).await.unwrap();
        drop(first);
        assert_eq!(gauge.get(), 40 * UNIT as i64);
        second.grow_to(90 * UNIT, soon()).await.unwrap();
        assert_eq!(second.bytes(), 90 * UNIT);
        second.shrink_to(30 * UNIT);
        assert_eq!((second.bytes(), gauge.get()), (30 * UNIT, 30 * UNIT as i64));
        let mut third = budget.lease();
        third
            .grow_to(70 * UNIT, soon())
            .await
            .expect("what was given back is free again");
        drop((second, third));
        assert_eq!(gauge.get(), 0);
    }

    #[tokio::test]
    async fn a_waiting_lease_gets_budget_freed_meanwhile() {
        let budget = BodyBudget::new(10 * UNIT, IntGauge::new("t", "t").unwrap());
        let mut holder = budget.lease();
        holder.grow_to(10 * UNIT, Instant::now()).await.unwrap();
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(holder);
        });
        let mut waiter = budget.lease();
        waiter
            .grow_to(5 * UNIT, Instant::now() + Duration::from_secs(2))
            .await
            .unwrap();
        release.await.unwrap();
    }
}
