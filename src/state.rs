//! The running state shared by the public listeners, the admin API, the
//! delivery workers and the reload watcher: the live config (swapped
//! atomically on SIGHUP), the metrics, the recent-deliveries rings, the
//! dedup store and the delivery queue.
//!
//! A delivery loads the live config once, when its request line arrives, and
//! finishes on it: a reload never changes the rules under a delivery in
//! flight. What a reload cannot change (listeners, TLS, threads, the dedup
//! store, the queue's store, log output) is kept as started, with a warning.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use foldhash::fast::RandomState;

use crate::admission::{BodyBudget, ConcurrencyLimit};
use crate::config::{Config, ConfigErrors};
use crate::dedup::Dedup;
use crate::delivery::worker::LiveConfig;
use crate::delivery::Queue;
use crate::listener_certificate::ListenerCertificate;
use crate::shutdown::Activity;
use crate::telemetry::metrics::{Metrics, ReloadResult, RouteMetrics};
use crate::telemetry::queue_metrics::QueueRouteMetrics;
use crate::telemetry::recent::{RecentDeliveries, Recorder, UNROUTED};

/// A config with the telemetry handles of its routes.
pub struct Live {
    pub config: Arc<Config>,
    routes: HashMap<String, RouteTelemetry, RandomState>,
    unrouted: RouteTelemetry,
}

/// Where one route's deliveries are counted and listed.
pub struct RouteTelemetry {
    pub metrics: RouteMetrics,
    pub recent: Recorder,
    /// The route's queue gauges, when it delivers through the queue.
    pub queue: Option<QueueRouteMetrics>,
}

impl Live {
    fn new(config: Config, metrics: &Metrics, recent: &RecentDeliveries) -> Self {
        metrics.shadow_routes(config.routes.routes().iter().map(|r| (r.name.as_str(), !r.enforce)));
        for warning in &config.warnings {
            tracing::warn!(%warning, "config");
        }
        for route in config.routes.routes().iter().filter(|r| !r.enforce) {
            tracing::warn!(
                route = %route.name,
                "shadow mode: verification is recorded, not enforced; deliveries that fail it are forwarded, marked X-Hookfence-Verified: false"
            );
        }
        let routes = config
            .routes
            .routes()
            .iter()
            .map(|route| {
                let provider = route.provider_label();
                let telemetry = RouteTelemetry {
                    metrics: metrics.route(&route.name, provider, &route.secret_names),
                    recent: recent.recorder(&route.name),
                    queue: route
                        .delivery
                        .mode
                        .uses_queue()
                        .then(|| metrics.queue.route(&route.name)),
                };
                (route.name.clone(), telemetry)
            })
            .collect();
        Self {
            config: Arc::new(config),
            routes,
            unrouted: RouteTelemetry {
                metrics: metrics.route(UNROUTED, "", &[]),
                recent: recent.recorder(UNROUTED),
                queue: None,
            },
        }
    }

    /// The telemetry of `route`, or of unrouted requests.
    pub fn telemetry(&self, route: Option<&str>) -> &RouteTelemetry {
        route.and_then(|name| self.routes.get(name)).unwrap_or(&self.unrouted)
    }
}

pub struct Shared {
    live: ArcSwap<Live>,
    /// Requests handled at once (restart to change).
    pub admission: ConcurrencyLimit,
    /// Body bytes in memory (restart to change).
    pub budget: BodyBudget,
    pub metrics: Arc<Metrics>,
    pub recent: RecentDeliveries,
    /// Made once: changing `[dedup]` takes a restart.
    pub dedup: Dedup,
    /// Made once: changing `[queue]` takes a restart.
    pub queue: Arc<Queue>,
    /// What a SIGTERM waits for.
    pub activity: Arc<Activity>,
    /// The TLS listeners' certificate, replaced on reload (none without
    /// `tls_listen`).
    pub listener_certificate: Option<Arc<ListenerCertificate>>,
    config_path: PathBuf,
}

impl Shared {
    pub fn new(config: Config) -> Arc<Self> {
        let metrics = Arc::new(Metrics::new());
        metrics.dedup_backend(config.dedup.backend.name());
        let recent = RecentDeliveries::new(config.server.recent_deliveries);
        let dedup = Dedup::new(config.dedup.clone()).observed_by(Arc::clone(&metrics) as _);
        let config_path = config.source.clone();
        let queue = Arc::new(Queue::new(config.queue.clone()));
        let admission = ConcurrencyLimit::new(config.server.max_connections);
        let budget = BodyBudget::new(config.server.max_in_flight_body, metrics.in_flight_body_bytes().clone());
        let listener_certificate = config
            .server
            .tls
            .as_ref()
            .map(|tls| Arc::new(ListenerCertificate::new(Arc::clone(&tls.certified))));
        let live = Live::new(config, &metrics, &recent);
        Arc::new(Self {
            live: ArcSwap::from_pointee(live),
            admission,
            budget,
            metrics,
            recent,
            dedup,
            queue,
            activity: Arc::default(),
            listener_certificate,
            config_path,
        })
    }

    /// The config in force now, with its handles.
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// Re-reads the config file and every secret it references; swaps them
    /// in if all of it validates, else keeps the running config. Returns the
    /// settings that changed but need a restart.
    /// The config file reloads read.
    pub fn config_path(&self) -> &std::path::Path {
        &self.config_path
    }

    pub fn reload(&self) -> Result<Vec<&'static str>, ConfigErrors> {
        match Config::load(&self.config_path) {
            Ok(config) => {
                let pending = restart_only_changes(&self.live().config, &config);
                if let (Some(listener), Some(tls)) = (&self.listener_certificate, &config.server.tls) {
                    if listener.replace(Arc::clone(&tls.certified)) {
                        tracing::info!(cert = %tls.cert.display(), "TLS listener certificate replaced");
                    }
                }
                self.live
                    .store(Arc::new(Live::new(config, &self.metrics, &self.recent)));
                self.metrics.reload(ReloadResult::Success);
                Ok(pending)
            }
            Err(errors) => {
                self.metrics.reload(ReloadResult::Failure);
                Err(errors)
            }
        }
    }
}

impl LiveConfig for Shared {
    fn config(&self) -> Arc<Config> {
        Arc::clone(&self.live().config)
    }
}

/// Settings a running process cannot change.
fn restart_only_changes(running: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&running.server, &new.server);
    [
        (a.listen != b.listen, "server.listen"),
        (
            a.tls.as_ref().map(|t| &t.listen) != b.tls.as_ref().map(|t| &t.listen),
            "server.tls_listen",
        ),
        (a.admin_listen != b.admin_listen, "server.admin_listen"),
        (a.threads != b.threads, "server.threads"),
        (a.shutdown_grace != b.shutdown_grace, "server.shutdown_grace"),
        (a.recent_deliveries != b.recent_deliveries, "server.recent_deliveries"),
        (a.max_connections != b.max_connections, "server.max_connections"),
        (
            a.max_in_flight_body != b.max_in_flight_body,
            "server.max_in_flight_body",
        ),
        (running.dedup != new.dedup, "[dedup]"),
        (running.queue != new.queue, "[queue]"),
        (running.log != new.log, "[log]"),
    ]
    .into_iter()
    .filter_map(|(changed, name)| changed.then_some(name))
    .collect()
}
