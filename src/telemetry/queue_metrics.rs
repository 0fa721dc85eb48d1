//! The delivery queue's metrics: how much waits and for how long (gauges
//! read from the store at each scrape, so that every replica sharing a
//! Redis queue reports the same figures: aggregate them with `max`, not
//! `sum`), what attempts came to, dead letters, and the delay from a
//! delivery's arrival to the upstream's 2xx.

use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use super::metrics::registered;
use crate::delivery::Stats;

/// How an attempt ended, as labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptLabel {
    Delivered,
    Retry,
    DeadLetter,
}

impl AttemptLabel {
    pub const ALL: [AttemptLabel; 3] = [AttemptLabel::Delivered, AttemptLabel::Retry, AttemptLabel::DeadLetter];

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptLabel::Delivered => "delivered",
            AttemptLabel::Retry => "retry",
            AttemptLabel::DeadLetter => "dead_letter",
        }
    }
}

pub struct QueueMetrics {
    deliveries: IntGaugeVec,
    bytes: IntGaugeVec,
    oldest_age: GaugeVec,
    attempts: IntCounterVec,
    dead_letters: IntCounterVec,
    delay: HistogramVec,
}

/// One route's queue series, resolved once.
pub struct QueueRouteMetrics {
    pending: IntGauge,
    dead: IntGauge,
    bytes: IntGauge,
    oldest_age: Gauge,
    attempts: Vec<IntCounter>,
    dead_letters: IntCounter,
    delay: Histogram,
}

impl QueueMetrics {
    pub fn new(registry: &Registry) -> Self {
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            registered(
                registry,
                IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge"),
            )
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            registered(
                registry,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter"),
            )
        };
        Self {
            deliveries: gauge(
                "hookfence_queue_deliveries",
                "Deliveries held in the queue by route and state (pending, dead).",
                &["route", "state"],
            ),
            bytes: gauge(
                "hookfence_queue_bytes",
                "Bytes of requests held in the queue (pending and dead).",
                &["route"],
            ),
            oldest_age: registered(
                registry,
                GaugeVec::new(
                    Opts::new(
                        "hookfence_queue_oldest_age_seconds",
                        "Age of the oldest pending delivery (0 when none).",
                    ),
                    &["route"],
                )
                .expect("valid gauge"),
            ),
            attempts: counter(
                "hookfence_queue_attempts_total",
                "Attempts to forward queued deliveries, by result (delivered, retry, dead_letter).",
                &["route", "result"],
            ),
            dead_letters: counter(
                "hookfence_queue_dead_letters_total",
                "Deliveries given up on and kept as dead letters.",
                &["route"],
            ),
            delay: registered(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "hookfence_delivery_delay_seconds",
                        "Time from a queued delivery's arrival to the upstream's 2xx.",
                    )
                    .buckets(vec![
                        0.01,
                        0.05,
                        0.1,
                        0.5,
                        1.0,
                        5.0,
                        15.0,
                        60.0,
                        300.0,
                        900.0,
                        3600.0,
                        4.0 * 3600.0,
                        24.0 * 3600.0,
                    ]),
                    &["route"],
                )
                .expect("valid histogram"),
            ),
        }
    }

    /// Resolves a route's series, all at zero until counted.
    pub fn route(&self, route: &str) -> QueueRouteMetrics {
        QueueRouteMetrics {
            pending: self.deliveries.with_label_values(&[route, "pending"]),
            dead: self.deliveries.with_label_values(&[route, "dead"]),
            bytes: self.bytes.with_label_values(&[route]),
            oldest_age: self.oldest_age.with_label_values(&[route]),
            attempts: AttemptLabel::ALL
                .iter()
                .map(|label| self.attempts.with_label_values(&[route, label.as_str()]))
                .collect(),
            dead_letters: self.dead_letters.with_label_values(&[route]),
            delay: self.delay.with_label_values(&[route]),
        }
    }
}

impl QueueRouteMetrics {
    /// Sets the gauges from the store's figures at `now_ms`.
    pub fn set_stats(&self, stats: &Stats, now_ms: u64) {
        self.pending.set(i64::try_from(stats.pending).unwrap_or(i64::MAX));
        self.dead.set(i64::try_from(stats.dead).unwrap_or(i64::MAX));
        self.bytes.set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
        let age = stats
            .oldest_received_ms
            .map_or(0.0, |oldest| now_ms.saturating_sub(oldest) as f64 / 1000.0);
        self.oldest_age.set(age);
    }

    /// Counts an attempt; a delivered one also observes its delay.
    pub fn attempt(&self, label: AttemptLabel, delay_seconds: f64) {
        self.attempts[label as usize].inc();
        match label {
            AttemptLabel::Delivered => self.delay.observe(delay_seconds),
            AttemptLabel::DeadLetter => self.dead_letters.inc(),
            AttemptLabel::Retry => {}
        }
    }
}
