//! Prometheus metrics. Names and labels follow Prometheus conventions
//! (`_total` counters, `_seconds` and `_bytes` units, base units); label
//! values come only from the config (route names, providers) and fixed enums
//! (outcomes, status classes, store operations) — never from request paths,
//! ids or headers, so the series count is bounded by the config.
//!
//! Per-route handles are resolved once per config (see [`RouteMetrics`]):
//! recording a delivery is a few atomic adds, no label lookup.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use foldhash::fast::RandomState;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use super::queue_metrics::QueueMetrics;
use crate::dedup::StoreObserver;
use crate::outcome::Outcome;

/// Status classes of upstream answers.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    upstream_duration: HistogramVec,
    body_bytes: HistogramVec,
    upstream_responses: IntCounterVec,
    dedup_operations: IntCounterVec,
    dedup_duration: HistogramVec,
    /// The dedup series of the configured backend, resolved once: every
    /// deduplicated delivery counts two operations.
    dedup_series: OnceLock<DedupSeries>,
    dedup_evictions: IntCounter,
    reloads: IntCounterVec,
    /// 1 for each route in shadow mode, 0 for each enforcing one.
    route_shadow: IntGaugeVec,
    /// Verified deliveries by the secret that matched.
    secret_matches: IntCounterVec,
    in_flight_body_bytes: IntGauge,
    /// The delivery queue's series.
    pub queue: QueueMetrics,
}

/// Handles for one route, resolved once.
pub struct RouteMetrics {
    route: String,
    outcomes: Vec<IntCounter>,
    /// One per `secrets` entry, in order (per-tenant secrets are resolved
    /// when they first match, from `secret_matches`).
    secrets: Vec<IntCounter>,
    secret_matches: IntCounterVec,
    request_duration: Histogram,
    upstream_duration: Histogram,
    body_bytes: Histogram,
    upstream_classes: Vec<IntCounter>,
}

/// The outcome of a reload, for `hookfence_config_reloads_total`.
#[derive(Debug, Clone, Copy)]
pub enum ReloadResult {
    Success,
    Failure,
}

pub(super) fn registered<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    // Names are static and distinct, so registration cannot collide; if it
    // ever did, the metric would simply be missing from the scrape.
    let _ = registry.register(Box::new(collector.clone()));
    collector
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let seconds = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            registered(
                &registry,
                HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid histogram"),
            )
        };
        let latency = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        let metrics = Self {
            requests: registered(
                &registry,
                IntCounterVec::new(
                    Opts::new("hookfence_requests_total", "Deliveries by route, provider and outcome."),
                    &["route", "provider", "outcome"],
                )
                .expect("valid counter"),
            ),
            request_duration: seconds(
                "hookfence_request_duration_seconds",
                "Time from request line to the end of the answer.",
                &["route"],
                latency.clone(),
            ),
            upstream_duration: seconds(
                "hookfence_upstream_duration_seconds",
                "Time spent forwarding to the upstream and relaying its answer.",
                &["route"],
                latency,
            ),
            body_bytes: registered(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new("hookfence_request_body_bytes", "Size of request bodies read.")
                        .buckets(prometheus::exponential_buckets(256.0, 4.0, 10).expect("valid buckets")),
                    &["route"],
                )
                .expect("valid histogram"),
            ),
            upstream_responses: registered(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "hookfence_upstream_responses_total",
                        "Upstream answers by status class.",
                    ),
                    &["route", "class"],
                )
                .expect("valid counter"),
            ),
            dedup_operations: registered(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "hookfence_dedup_operations_total",
                        "Dedup store operations by backend, operation and result (result=\"error\" counts failures).",
                    ),
                    &["backend", "operation", "result"],
                )
                .expect("valid counter"),
            ),
            dedup_duration: seconds(
                "hookfence_dedup_operation_duration_seconds",
                "Dedup store operation latency.",
                &["backend", "operation"],
                vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ],
            ),
            dedup_series: OnceLock::new(),
            dedup_evictions: registered(
                &registry,
                IntCounter::new(
                    "hookfence_dedup_evictions_total",
                    "Delivered ids evicted from the memory store to stay within its capacity.",
                )
                .expect("valid counter"),
            ),
            reloads: registered(
                &registry,
                IntCounterVec::new(
                    Opts::new("hookfence_config_reloads_total", "Config reloads (SIGHUP) by result."),
                    &["result"],
                )
                .expect("valid counter"),
            ),
            secret_matches: registered(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "hookfence_secret_matches_total",
                        "Verified deliveries by the secret that verified them: its position in the route's secrets (1 = first) and its reference (empty for per-tenant secrets). A secret that matches nothing any more can be retired.",
                    ),
                    &["route", "position", "secret"],
                )
                .expect("valid counter"),
            ),
            route_shadow: registered(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "hookfence_route_shadow_mode",
                        "1 if the route is in shadow mode (enforce = false: what fails verification is forwarded, marked unverified), 0 if it enforces.",
                    ),
                    &["route"],
                )
                .expect("valid gauge"),
            ),
            in_flight_body_bytes: registered(
                &registry,
                IntGauge::new(
                    "hookfence_in_flight_body_bytes",
                    "Request body bytes held in memory right now.",
                )
                .expect("valid gauge"),
            ),
            queue: QueueMetrics::new(&registry),
            registry,
        };
        let build_info = registered(
            &metrics.registry,
            IntGaugeVec::new(
                Opts::new("hookfence_build_info", "Always 1; the version is in the label."),
                &["version"],
            )
            .expect("valid gauge"),
        );
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for result in ["success", "failure"] {
            metrics.reloads.with_label_values(&[result]);
        }
        metrics
    }

    /// Which routes are in shadow mode, for the config just loaded (routes
    /// gone since the last load lose their series).
    pub fn shadow_routes<'a>(&self, routes: impl IntoIterator<Item = (&'a str, bool)>) {
        self.route_shadow.reset();
        for (route, shadow) in routes {
            self.route_shadow.with_label_values(&[route]).set(i64::from(shadow));
        }
    }

    /// Resolves a route's handles, creating every outcome and status class
    /// series at zero so rates and alerts work from the first scrape.
    pub fn route(&self, route: &str, provider: &str, secret_names: &[String]) -> RouteMetrics {
        RouteMetrics {
            route: route.to_owned(),
            secrets: secret_names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    self.secret_matches
                        .with_label_values(&[route, &(i + 1).to_string(), name])
                })
                .collect(),
            secret_matches: self.secret_matches.clone(),
            outcomes: Outcome::ALL
                .iter()
                .map(|o| self.requests.with_label_values(&[route, provider, o.as_str()]))
                .collect(),
            request_duration: self.request_duration.with_label_values(&[route]),
            upstream_duration: self.upstream_duration.with_label_values(&[route]),
            body_bytes: self.body_bytes.with_label_values(&[route]),
            upstream_classes: CLASSES
                .iter()
                .map(|class| self.upstream_responses.with_label_values(&[route, class]))
                .collect(),
        }
    }

    /// Creates the dedup series of `backend` at zero, so an alert on
    /// `result="error"` has a series to watch before the first error.
    pub fn dedup_backend(&self, backend: &'static str) {
        let mut series = DedupSeries {
            backend,
            operations: HashMap::default(),
            durations: HashMap::default(),
        };
        for (operation, results) in [
            ("reserve", &["reserved", "duplicate", "in_flight", "error"][..]),
            ("commit", &["ok", "error"]),
            ("release", &["ok", "error"]),
            ("ping", &["ok", "error"]),
        ] {
            for result in results {
                let counter = self.dedup_operations.with_label_values(&[backend, operation, result]);
                series.operations.insert((operation, result), counter);
            }
            let histogram = self.dedup_duration.with_label_values(&[backend, operation]);
            series.durations.insert(operation, histogram);
        }
        let _ = self.dedup_series.set(series);
    }

    pub fn reload(&self, result: ReloadResult) {
        let label = match result {
            ReloadResult::Success => "success",
            ReloadResult::Failure => "failure",
        };
        self.reloads.with_label_values(&[label]).inc();
    }

    pub fn in_flight_body_bytes(&self) -> &IntGauge {
        &self.in_flight_body_bytes
    }

    /// Brings the eviction counter up to the store's own count.
    pub fn sync_evictions(&self, total: u64) {
        let seen = self.dedup_evictions.get();
        if total > seen {
            self.dedup_evictions.inc_by(total - seen);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RouteMetrics {
    /// A delivery verified by the route's key at `position` (0-based).
    pub fn secret_matched(&self, position: usize) {
        match self.secrets.get(position) {
            Some(counter) => counter.inc(),
            None => self
                .secret_matches
                .with_label_values(&[&self.route, &(position + 1).to_string(), ""])
                .inc(),
        }
    }

    pub fn observe(
        &self,
        outcome: Outcome,
        duration: Duration,
        body_bytes: usize,
        upstream_status: Option<u16>,
        upstream_duration: Option<Duration>,
    ) {
        self.outcomes[outcome.index()].inc();
        self.request_duration.observe(duration.as_secs_f64());
        self.body_bytes.observe(body_bytes as f64);
        if let Some(class) =
            upstream_status.and_then(|s| self.upstream_classes.get(usize::from(s / 100).wrapping_sub(1)))
        {
            class.inc();
        }
        if let Some(elapsed) = upstream_duration {
            self.upstream_duration.observe(elapsed.as_secs_f64());
        }
    }
}

/// The dedup series of one backend, by operation (and result).
struct DedupSeries {
    backend: &'static str,
    operations: HashMap<(&'static str, &'static str), IntCounter, RandomState>,
    durations: HashMap<&'static str, Histogram, RandomState>,
}

impl StoreObserver for Metrics {
    fn observe(&self, backend: &'static str, operation: &'static str, result: &'static str, elapsed: Duration) {
        let series = self.dedup_series.get().filter(|s| s.backend == backend);
        match series.and_then(|s| s.operations.get(&(operation, result))) {
            Some(counter) => counter.inc(),
            None => self
                .dedup_operations
                .with_label_values(&[backend, operation, result])
                .inc(),
        }
        match series.and_then(|s| s.durations.get(operation)) {
            Some(histogram) => histogram.observe(elapsed.as_secs_f64()),
            None => self
                .dedup_duration
                .with_label_values(&[backend, operation])
                .observe(elapsed.as_secs_f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_exist_from_the_start_and_count() {
        let metrics = Metrics::new();
        let route = metrics.route("github", "github", &[]);
        route.observe(
            Outcome::Forwarded,
            Duration::from_millis(3),
            100,
            Some(204),
            Some(Duration::from_millis(2)),
        );
        route.observe(Outcome::RejectedBadSignature, Duration::from_millis(1), 100, None, None);
        let text = metrics.render();
        for line in [
            r#"hookfence_requests_total{outcome="forwarded",provider="github",route="github"} 1"#,
            r#"hookfence_requests_total{outcome="rejected_bad_signature",provider="github",route="github"} 1"#,
            r#"hookfence_requests_total{outcome="duplicate",provider="github",route="github"} 0"#,
            r#"hookfence_upstream_responses_total{class="2xx",route="github"} 1"#,
            r#"hookfence_config_reloads_total{result="failure"} 0"#,
            r#"hookfence_request_duration_seconds_count{route="github"} 2"#,
        ] {
            assert!(text.contains(line), "missing {line}\n{text}");
        }
        assert!(text.contains("hookfence_build_info{version=\""));
    }
}
