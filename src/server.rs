//! Assembling and running the pingora server for a validated config: the
//! public listeners (HTTP and TLS), the admin API, the delivery workers and
//! the reload watcher.

use std::sync::Arc;

use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::ListenerConfig;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;

use crate::admin::AdminApp;
use crate::config::Config;
use crate::delivery::worker::{LiveConfig, Workers};
use crate::proxy::HookfenceApp;
use crate::reload::Reloader;
use crate::shutdown::{Activity, Signals};
use crate::state::Shared;

/// Public connections read straight from the socket: pingora's default
/// 64 KiB read buffer per connection would hold a second copy of each body
/// while it is read (pingora parses headers into its own buffer either way),
/// a third of the memory with many concurrent deliveries (BENCHMARKS.md).
const L4_BUFFERS: L4BufferSettings = L4BufferSettings {
    read: Some(0),
    write: None,
};

/// Runs hookfence until SIGTERM (graceful: it stops accepting and exits as
/// soon as the deliveries in flight are done, within `shutdown_grace`) or
/// SIGINT (immediate); see [`crate::shutdown`]. Returns only if a listener
/// cannot be set up.
pub fn run(config: Config) -> Result<std::convert::Infallible, String> {
    let conf = ServerConf {
        threads: config.server.threads,
        grace_period_seconds: Some(config.server.shutdown_grace.as_secs()),
        // After the grace period, what is left is cancelled; only blocking
        // tasks are waited for, and hookfence has none worth a wait.
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let settings = config.server.clone();
    let uses_queue = config.uses_queue();
    let shared = Shared::new(config);
    // A queue that cannot be opened (its data_dir unusable or in use) stops
    // the start: deliveries acknowledged as queued must have somewhere to go.
    if uses_queue {
        shared
            .queue
            .open_embedded()
            .map_err(|e| format!("delivery queue: {e}"))?;
        tracing::info!(backend = shared.queue.backend(), "delivery queue ready");
    }

    let mut public = Service::new("hookfence".to_owned(), HookfenceApp::new(Arc::clone(&shared)));
    for address in &settings.listen {
        public.add_listener(ListenerConfig::tcp(address.as_str()).l4_buffer(L4_BUFFERS));
        tracing::info!(%address, "listening (http)");
    }
    if let (Some(tls), Some(certificate)) = (&settings.tls, &shared.listener_certificate) {
        for address in &tls.listen {
            // The certificate comes from a resolver a reload updates, not
            // from the files pingora would read once (and panic on).
            let (cert, key) = (tls.cert.to_string_lossy(), tls.key.to_string_lossy());
            let mut listener =
                TlsSettings::intermediate(&cert, &key).map_err(|e| format!("TLS listener {address}: {e}"))?;
            listener.set_cert_resolver(Arc::clone(certificate) as _);
            public.add_listener(
                ListenerConfig::tcp(address.as_str())
                    .tls(listener)
                    .l4_buffer(L4_BUFFERS),
            );
            tracing::info!(%address, "listening (https)");
        }
    }
    server.add_service(public);

    if let Some(address) = &settings.admin_listen {
        let mut admin = Service::new("hookfence admin".to_owned(), AdminApp::new(Arc::clone(&shared)));
        admin.add_tcp(address);
        tracing::info!(%address, "admin API listening");
        server.add_service(admin);
    }
    let workers = Workers::new(
        Arc::clone(&shared.queue),
        Arc::clone(&shared) as Arc<dyn LiveConfig>,
        Arc::clone(&shared.metrics),
    );
    server.add_service(background_service(
        "delivery workers",
        DeliveryWorkers {
            workers: Arc::new(workers),
            activity: Arc::clone(&shared.activity),
        },
    ));
    let signals = Signals::new(Arc::clone(&shared), settings.shutdown_grace);
    server.add_service(background_service("config reload", Reloader::new(Arc::clone(&shared))));
    server.run(RunArgs {
        shutdown_signal: Box::new(signals),
    });
    // Reached after a SIGINT before any SIGTERM, or when the grace period
    // ran out (a drain that finished has exited already): flush the queue,
    // and say whether something was cut off.
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(crate::shutdown::exit(&shared)),
        Err(_) => std::process::exit(1),
    }
}

/// The delivery workers as a pingora background service: they stop
/// claiming when the server shuts down; a SIGTERM waits for them.
struct DeliveryWorkers {
    workers: Arc<Workers>,
    activity: Arc<Activity>,
}

#[async_trait]
impl BackgroundService for DeliveryWorkers {
    async fn start(&self, shutdown: ShutdownWatch) {
        Arc::clone(&self.workers).run(shutdown).await;
        self.activity.workers_stopped();
    }
}
