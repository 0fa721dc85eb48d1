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
//! the exit status is 1 so that it shows. A queued delivery whose attempt
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

/// How often the drain looks whether the work is done.
const DRAIN_POLL: Duration = Duration::from_millis(20);
/// The longest a stop waits for the queue's last flush.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// What is still running: public connections and the delivery workers.
#[derive(Default)]
pub struct Activity {
    connections: AtomicUsize,
    workers_running: AtomicBool,
}

/// One open public connection, counted until dropped.
pub struct OpenConnection<'a>(&'a Activity);

/// The delivery workers running, until dropped.
pub struct WorkersRunning<'a>(&'a Activity);

impl Activity {
    pub fn connection(&self) -> OpenConnection<'_> {
        self.connections.fetch_add(1, Ordering::AcqRel);
        OpenConnection(self)
    }

    pub fn workers(&self) -> WorkersRunning<'_> {
        self.workers_running.store(true, Ordering::Release);
        WorkersRunning(self)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// Nothing left to finish.
    fn idle(&self) -> bool {
        self.connections() == 0 && !self.workers_running.load(Ordering::Acquire)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for WorkersRunning<'_> {
    fn drop(&mut self) {
        self.0.workers_running.store(false, Ordering::Release);
    }
}

/// The signals hookfence stops on, for [`pingora::server::RunArgs`].
pub struct Signals {
    activity: Arc<Activity>,
    queue: Arc<Queue>,
}

impl Signals {
    pub fn new(activity: Arc<Activity>, queue: Arc<Queue>) -> Self {
        Self { activity, queue }
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
                tokio::spawn(drain(
                    Arc::clone(&self.activity),
                    Arc::clone(&self.queue),
                    terminate,
                    interrupt,
                ));
                ShutdownSignal::GracefulTerminate
            }
            () = next(&mut interrupt) => ShutdownSignal::FastShutdown,
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

/// Waits for the work in progress to end (then exits 0), or for a second
/// stop signal (then exits at once).
async fn drain(
    activity: Arc<Activity>,
    queue: Arc<Queue>,
    mut terminate: Option<Signal>,
    mut interrupt: Option<Signal>,
) {
    tracing::info!(
        connections = activity.connections(),
        "SIGTERM: draining; a second SIGTERM or a SIGINT stops at once"
    );
    let mut poll = tokio::time::interval(DRAIN_POLL);
    let forced = loop {
        tokio::select! {
            () = next(&mut terminate) => break Some("a second SIGTERM"),
            () = next(&mut interrupt) => break Some("SIGINT"),
            _ = poll.tick() => if activity.idle() { break None },
        }
    };
    let code = match forced {
        None => {
            tracing::info!("drained: nothing in flight; exiting");
            0
        }
        Some(signal) => {
            let cut = activity.connections();
            tracing::warn!(signal, connections_cut = cut, "stopping at once");
            i32::from(!activity.idle())
        }
    };
    flush(&queue).await;
    std::process::exit(code);
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
