//! SIGHUP: re-read the config and every secret, validate, and swap
//! atomically. An invalid new config keeps the old one running, logs why and
//! counts a failed reload; deliveries in flight finish on the config they
//! started with (see [`crate::state`]).

use std::sync::Arc;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::signal::unix::{signal, SignalKind};

use crate::state::Shared;

pub struct ReloadOnHangup {
    shared: Arc<Shared>,
}

impl ReloadOnHangup {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn reload(&self) {
        match self.shared.reload() {
            Ok(pending) if pending.is_empty() => tracing::info!("config reloaded"),
            Ok(pending) => tracing::warn!(
                needs_restart = pending.join(", "),
                "config reloaded; these settings changed but keep their old values until a restart"
            ),
            Err(errors) => tracing::error!(
                errors = %errors,
                "config reload refused; the running config stays in force"
            ),
        }
    }
}

#[async_trait]
impl BackgroundService for ReloadOnHangup {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP; reload needs a restart");
                return;
            }
        };
        loop {
            tokio::select! {
                received = hangups.recv() => {
                    if received.is_none() {
                        return;
                    }
                    self.reload();
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
