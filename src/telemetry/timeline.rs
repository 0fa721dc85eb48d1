//! A route's last hour, minute by minute: deliveries by outcome and a
//! latency histogram, behind the console's routes overview ("last 5 min",
//! "last hour", p50/p99, the deliveries-per-minute chart).
//!
//! Prometheus has the same counts as totals since start; the console needs
//! windows without a Prometheus server next to it. Each minute is a slot of
//! atomic counters (written on the data path without a lock); a slot is
//! reused when its minute comes round again an hour later, zeroed by the
//! first delivery of the new minute, which marks it as being reset while it
//! zeroes it (readers skip it, writers do not count into it). A delivery
//! arriving in that instant is not counted: the windows are a display, the
//! Prometheus counters stay exact.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::outcome::{Class, Outcome};

/// Minutes kept.
pub const MINUTES: usize = 60;
/// Latency buckets: four per doubling from 1 µs, the last open-ended
/// (from 2^(127/4) µs, about an hour).
const BUCKETS: usize = 128;
const OUTCOMES: usize = Outcome::ALL.len();
/// A slot that holds no minute yet.
const UNUSED: u64 = u64::MAX;
/// A slot being zeroed for its new minute.
const RESETTING: u64 = u64::MAX - 1;

struct Slot {
    /// The minute (since the Unix epoch) the counters belong to.
    minute: AtomicU64,
    outcomes: [AtomicU32; OUTCOMES],
    latency: [AtomicU32; BUCKETS],
}

impl Slot {
    fn new() -> Self {
        Self {
            minute: AtomicU64::new(UNUSED),
            outcomes: std::array::from_fn(|_| AtomicU32::new(0)),
            latency: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }
}

pub struct Timeline {
    slots: Box<[Slot]>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            slots: (0..MINUTES).map(|_| Slot::new()).collect(),
        }
    }
}

fn minute_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 60)
}

/// The bucket of a duration: `floor(4 * log2(µs))`, computed from the
/// position of the leading bit and the two bits after it.
fn bucket(duration: Duration) -> usize {
    let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX).max(1);
    let log2 = 63 - micros.leading_zeros() as usize;
    let fraction = if log2 >= 2 {
        (micros >> (log2 - 2)) & 0b11
    } else {
        (micros << (2 - log2)) & 0b11
    };
    (log2 * 4 + fraction as usize).min(BUCKETS - 1)
}

/// The upper bound of a bucket, in milliseconds.
fn bucket_upper_ms(bucket: usize) -> f64 {
    let log2 = bucket / 4;
    let fraction = (bucket % 4 + 1) as f64 / 4.0;
    (1u64 << log2) as f64 * (1.0 + fraction) / 1000.0
}

impl Timeline {
    pub fn record(&self, outcome: Outcome, received: SystemTime, duration: Duration) {
        let minute = minute_of(received);
        let slot = &self.slots[(minute % MINUTES as u64) as usize];
        let held = slot.minute.load(Ordering::Acquire);
        if held != minute {
            // A slot being reset, or holding a newer minute than this
            // delivery's (it finished late): not counted.
            if held == RESETTING || (held != UNUSED && held > minute) {
                return;
            }
            if slot
                .minute
                .compare_exchange(held, RESETTING, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // Another delivery is resetting it (or just did): count
                // only if it now holds this minute.
                if slot.minute.load(Ordering::Acquire) != minute {
                    return;
                }
            } else {
                for counter in slot.outcomes.iter().chain(&slot.latency) {
                    counter.store(0, Ordering::Relaxed);
                }
                slot.minute.store(minute, Ordering::Release);
            }
        }
        slot.outcomes[outcome.index()].fetch_add(1, Ordering::Relaxed);
        slot.latency[bucket(duration)].fetch_add(1, Ordering::Relaxed);
    }

    /// The last `minutes` minutes up to `now` (the current one partly), summed.
    pub fn window(&self, now: SystemTime, minutes: u64) -> Window {
        let mut window = Window::default();
        let mut latency = [0u64; BUCKETS];
        for (_, slot) in self.recent_slots(now, minutes) {
            for (outcome, counter) in Outcome::ALL.iter().zip(&slot.outcomes) {
                let n = u64::from(counter.load(Ordering::Relaxed));
                if n > 0 {
                    *window.outcomes.entry(outcome.as_str()).or_default() += n;
                    window.total += n;
                }
            }
            for (sum, counter) in latency.iter_mut().zip(&slot.latency) {
                *sum += u64::from(counter.load(Ordering::Relaxed));
            }
        }
        window.p50_ms = percentile(&latency, 0.50);
        window.p99_ms = percentile(&latency, 0.99);
        window
    }

    /// Deliveries per minute over the last hour, oldest first, by outcome class.
    pub fn per_minute(&self, now: SystemTime) -> Vec<Minute> {
        let current = minute_of(now);
        let mut minutes: Vec<Minute> = (0..MINUTES as u64)
            .rev()
            .map(|back| Minute {
                minute: (current - back.min(current)) * 60,
                ..Minute::default()
            })
            .collect();
        for (back, slot) in self.recent_slots(now, MINUTES as u64) {
            let Some(row) = minutes.get_mut(MINUTES - 1 - back as usize) else {
                continue;
            };
            for (outcome, counter) in Outcome::ALL.iter().zip(&slot.outcomes) {
                let n = u64::from(counter.load(Ordering::Relaxed));
                match outcome.class() {
                    Class::Accepted => row.accepted += n,
                    Class::Rejected => row.rejected += n,
                    Class::Failed => row.failed += n,
                }
            }
        }
        minutes
    }

    /// The slots holding one of the last `minutes` minutes, with how many
    /// minutes back each is.
    fn recent_slots(&self, now: SystemTime, minutes: u64) -> impl Iterator<Item = (u64, &Slot)> {
        let current = minute_of(now);
        self.slots.iter().filter_map(move |slot| {
            let minute = slot.minute.load(Ordering::Acquire);
            if minute == RESETTING {
                return None;
            }
            let back = current.checked_sub(minute)?;
            (back < minutes.min(MINUTES as u64)).then_some((back, slot))
        })
    }
}

fn percentile(histogram: &[u64; BUCKETS], quantile: f64) -> Option<f64> {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64 * quantile).ceil() as u64).max(1);
    let mut seen = 0;
    histogram.iter().enumerate().find_map(|(bucket, n)| {
        seen += n;
        (seen >= rank).then(|| bucket_upper_ms(bucket))
    })
}

/// A window's counts.
#[derive(Debug, Default, Serialize)]
pub struct Window {
    pub total: u64,
    pub outcomes: std::collections::BTreeMap<&'static str, u64>,
    /// Upper bounds of the median and 99th percentile duration's bucket
    /// (a bucket spans a quarter of a doubling: at most 25 % above the value).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// One minute of the chart.
#[derive(Debug, Default, Serialize)]
pub struct Minute {
    /// The minute's start, Unix seconds.
    pub minute: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub failed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn buckets_grow_by_quarter_doublings() {
        assert_eq!(bucket(Duration::from_micros(1)), 0);
        assert_eq!(bucket(Duration::from_micros(1024)), 40);
        assert_eq!(bucket(Duration::from_micros(1535)), 41);
        assert_eq!(bucket(Duration::from_micros(1536)), 42);
        assert_eq!(bucket(Duration::from_secs(100_000)), BUCKETS - 1);
        for micros in [1u64, 3, 7, 100, 999, 1000, 4095, 123_456, 10_000_000] {
            let upper_ms = bucket_upper_ms(bucket(Duration::from_micros(micros)));
            let ms = micros as f64 / 1000.0;
            assert!(
                ms < upper_ms && upper_ms <= ms * 1.5 + 0.001,
                "{micros} µs → ≤ {upper_ms} ms"
            );
        }
    }

    #[test]
    fn windows_count_only_their_minutes() {
        let timeline = Timeline::default();
        let now = 600_000 * 60 + 30;
        timeline.record(Outcome::Forwarded, at(now), Duration::from_millis(2));
        timeline.record(Outcome::Forwarded, at(now - 120), Duration::from_millis(2));
        timeline.record(Outcome::RejectedBadSignature, at(now - 600), Duration::from_micros(50));
        timeline.record(Outcome::UpstreamError, at(now - 7200), Duration::from_millis(9));
        let five = timeline.window(at(now), 5);
        assert_eq!(five.total, 2);
        assert_eq!(five.outcomes.get("forwarded"), Some(&2));
        let hour = timeline.window(at(now), 60);
        assert_eq!(hour.total, 3, "the delivery of two hours ago is not in the last hour");
        assert_eq!(hour.outcomes.get("rejected_bad_signature"), Some(&1));
        assert!(hour.p50_ms.is_some_and(|p| (2.0..3.0).contains(&p)), "{hour:?}");
        let chart = timeline.per_minute(at(now));
        assert_eq!(chart.len(), MINUTES);
        assert_eq!(chart[MINUTES - 1].accepted, 1);
        assert_eq!(chart[MINUTES - 3].accepted, 1);
        assert_eq!(chart[MINUTES - 11].rejected, 1);
        assert_eq!(chart.iter().map(|m| m.failed).sum::<u64>(), 0);
    }

    #[test]
    fn a_slot_is_reset_when_its_minute_comes_round_again() {
        let timeline = Timeline::default();
        let start = 500_000 * 60;
        timeline.record(Outcome::Forwarded, at(start), Duration::from_millis(1));
        timeline.record(Outcome::Forwarded, at(start + 3600), Duration::from_millis(1));
        assert_eq!(timeline.window(at(start + 3600), 60).total, 1);
        // Late news of the old minute does not clear the new one.
        timeline.record(Outcome::Forwarded, at(start), Duration::from_millis(1));
        assert_eq!(timeline.window(at(start + 3600), 60).total, 1);
    }

    #[test]
    fn empty_windows_have_no_percentiles() {
        let window = Timeline::default().window(SystemTime::now(), 60);
        assert_eq!((window.total, window.p50_ms, window.p99_ms), (0, None, None));
    }
}
