//! Stopping: SIGTERM drains, a second SIGTERM or a SIGINT stops at once.
//!
//! pingora's own SIGTERM handling stops the listeners, then sleeps the
//! whole grace period before it exits, even with nothing in flight: every
//! rolling update waited `shutdown_grace` for nothing. hookfence hands
//! pingora the same SIGTERM (listeners stop, idle keep-alive connections
//! close, the workers stop claiming) and watches the work itself: once no
//! public connection is open and the delivery workers have finished their
//! attempts in progress, the queue is flushed and the process exits 0.
//! pingora's grace period stays as the upper bound.
//!
//! During the drain, a second SIGTERM or a SIGINT exits at once (after a
//! bounded flush of the queue): deliveries still in flight are cut off and
//! the exit status is 1 so that it shows. When `shutdown_grace` runs out
//! first, pingora cancels what is left (within one more second), and the
//! exit is the same: the queue flushed, 1 if a request was cut off.
//!
//! A client still in its TLS handshake when the drain ends (pingora
//! counts it nowhere hookfence can see) is disconnected, as one that
//! connects after the listeners closed would be. A queued delivery whose attempt
//! is cut off stays queued and is attempted again (at least once); a
//! direct one is retried by its sender if the sender retries.
//!
//! SIGINT before any SIGTERM is pingora's fast shutdown, and SIGQUIT its
//! graceful upgrade, as before.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::delivery::queue::Queue;
use crate::state::Shared;

/// How often the drain looks whether the work is done.
const DRAIN_POLL: Duration = Duration::from_millis(20);
/// How long before pingora's grace period ends the drain gives up.
const GRACE_MARGIN: Duration = Duration::from_millis(100);
/// The longest a stop waits for the queue's last flush.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// What is still running: public connections and the delivery workers.
///
/// The workers count as running from before the server starts until they
/// have stopped, which they do only once the shutdown is broadcast: so the
/// drain can never find hookfence idle before the listeners were told to
/// stop accepting.
pub struct Activity {
    connections: AtomicUsize,
    workers_running: AtomicBool,
    /// Requests in progress when a SIGINT made pingora cancel them.
    cut: AtomicUsize,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            connections: AtomicUsize::new(0),
            workers_running: AtomicBool::new(true),
            cut: AtomicUsize::new(0),
        }
    }
}

/// One open public connection, counted until dropped.
pub struct OpenConnection<'a>(&'a Activity);

impl Activity {
    pub fn connection(&self) -> OpenConnection<'_> {
        self.connections.fetch_add(1, Ordering::AcqRel);
        OpenConnection(self)
    }

    fn note_cut(&self, requests: usize) {
        self.cut.store(requests, Ordering::Release);
    }

    fn cut(&self) -> usize {
        self.cut.load(Ordering::Acquire)
    }

    /// The delivery workers have finished their last attempt.
    pub fn workers_stopped(&self) {
        self.workers_running.store(false, Ordering::Release);
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// Nothing left to finish.
    pub fn idle(&self) -> bool {
        self.connections() == 0 && !self.workers_running.load(Ordering::Acquire)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The signals hookfence stops on, for [`pingora::server::RunArgs`].
pub struct Signals {
    shared: Arc<Shared>,
    /// `shutdown_grace` as the server was started with.
    grace: Duration,
}

impl Signals {
    pub fn new(shared: Arc<Shared>, grace: Duration) -> Self {
        Self { shared, grace }
    }
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let mut terminate = listen(SignalKind::terminate(), "SIGTERM");
        let mut interrupt = listen(SignalKind::interrupt(), "SIGINT");
        let mut quit = listen(SignalKind::quit(), "SIGQUIT");
        tokio::select! {
            () = next(&mut terminate) => {
                // Runs on pingora's server runtime, whose worker keeps
                // going while pingora's main thread sleeps the grace period.
                tokio::spawn(drain(Arc::clone(&self.shared), self.grace, terminate, interrupt));
                ShutdownSignal::GracefulTerminate
            }
            () = next(&mut interrupt) => {
                // pingora cancels everything next; remember what that cuts.
                self.shared.activity.note_cut(self.shared.admission.active());
                ShutdownSignal::FastShutdown
            }
            () = next(&mut quit) => ShutdownSignal::GracefulUpgrade,
        }
    }
}

/// A signal stream, or `None` (logged) if it cannot be had: that signal
/// then does nothing, the others still work.
fn listen(kind: SignalKind, name: &str) -> Option<Signal> {
    signal(kind)
        .inspect_err(|e| tracing::error!(error = %e, signal = name, "cannot listen for the signal"))
        .ok()
}

/// The signal's next delivery; never, if there is no stream.
async fn next(signal: &mut Option<Signal>) {
    let received = match signal {
        Some(signal) => signal.recv().await,
        None => None,
    };
    if received.is_none() {
        std::future::pending::<()>().await;
    }
}

/// Waits for the work in progress to end, or for a second stop signal,
/// then exits.
async fn drain(shared: Arc<Shared>, grace: Duration, mut terminate: Option<Signal>, mut interrupt: Option<Signal>) {
    let activity = &shared.activity;
    tracing::info!(
        connections = activity.connections(),
        "SIGTERM: draining; a second SIGTERM or a SIGINT stops at once"
    );
    let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + DRAIN_POLL, DRAIN_POLL);
    // Idle at two polls in a row: a connection the listener accepted just
    // before it stopped has had a poll's time to be counted.
    let mut idle_polls = 0;
    // Ends just before pingora's own grace period (which starts as this
    // task does), so the exit status can say what was cut off before
    // pingora cancels it.
    let out_of_time = tokio::time::sleep(grace.saturating_sub(GRACE_MARGIN));
    tokio::pin!(out_of_time);
    let forced = loop {
        tokio::select! {
            () = next(&mut terminate) => break Some("a second SIGTERM"),
            () = next(&mut interrupt) => break Some("SIGINT"),
            () = &mut out_of_time => break Some("shutdown_grace ran out"),
            _ = poll.tick() => {
                idle_polls = if activity.idle() { idle_polls + 1 } else { 0 };
                if idle_polls == 2 {
                    break None;
                }
            }
        }
    };
    match forced {
        None => tracing::info!("drained: nothing in flight; exiting"),
        Some(cause) => tracing::warn!(cause, requests_cut = shared.admission.active(), "stopping at once"),
    }
    exit(&shared).await
}

/// Flushes the queue (bounded) and exits: status 1 if a request was still
/// being handled (its sender gets no answer), else 0. A queue attempt cut
/// short is not counted: it stays queued and is made again.
pub async fn exit(shared: &Shared) -> ! {
    let cut = shared.admission.active().max(shared.activity.cut());
    flush(&shared.queue).await;
    std::process::exit(i32::from(cut > 0))
}

/// The queue's last outcomes to disk, waiting a bounded time.
async fn flush(queue: &Queue) {
    if !queue.is_open() {
        return;
    }
    let Ok(store) = queue.store() else { return };
    match tokio::time::timeout(FLUSH_WAIT, store.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "the queue could not be flushed on exit"),
        Err(_) => tracing::error!("the queue's flush on exit took too long; exiting without it"),
    }
}
