//! Idle upstream connections, shared by all worker threads without a lock.
//! A TLS connection is pooled after its handshake, under its address and
//! its TLS settings ([`super::tls`]), so it is reused as a plain one is.
//!
//! pingora's connector pool hands every released connection to a freshly
//! spawned idle-watch task, and the next delivery has to wake that task to
//! get it back: a spawn, a lock and a cross-thread wake-up per delivery,
//! about a tenth of the proxy's CPU under load (BENCHMARKS.md). Here idle
//! connections wait in a bounded lock-free queue per upstream address
//! (crossbeam's `ArrayQueue`); the map from address to queue is read through
//! `arc-swap` and only written when a new upstream address appears.
//!
//! A connection's health is checked when it is taken out (a non-blocking
//! read: end of stream or unexpected bytes mean it is not reused), and
//! connections idle longer than the idle timeout are dropped. A stale
//! connection that still slips through fails on first use and is retried on
//! a fresh one (see `forward`).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_queue::ArrayQueue;
use foldhash::fast::RandomState;
use pingora::connectors::TransportConnector;
use pingora::protocols::Stream;
use pingora::upstreams::peer::HttpPeer;
use tokio::io::AsyncReadExt;

use super::tls::UpstreamTls;

/// Idle connections kept per upstream address.
const MAX_IDLE_PER_PEER: usize = 256;

type Idle = ArrayQueue<(Stream, Instant)>;

/// Which connections may serve a request: the address, and for TLS the
/// settings they were made with (`None`: plain TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub address: SocketAddr,
    tls: Option<u64>,
}

impl PoolKey {
    pub fn new(address: SocketAddr, tls: Option<&UpstreamTls>) -> Self {
        Self {
            address,
            tls: tls.map(UpstreamTls::identity),
        }
    }
}

pub struct UpstreamPool {
    connector: TransportConnector,
    idle_timeout: Duration,
    queues: ArcSwap<HashMap<PoolKey, Arc<Idle>, RandomState>>,
    /// Serialises adding a queue for a new address (rare); never taken on
    /// the way to an existing queue.
    adding: Mutex<()>,
}

impl UpstreamPool {
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            connector: TransportConnector::new(None),
            idle_timeout,
            queues: ArcSwap::from_pointee(HashMap::default()),
            adding: Mutex::new(()),
        }
    }

    /// A connection to `key.address`: an idle one that is still healthy,
    /// else a new one (with its TLS handshake when `tls` is set), made
    /// within `connect_timeout`. `true` with a reused connection.
    pub async fn checkout(
        &self,
        key: PoolKey,
        tls: Option<&UpstreamTls>,
        connect_timeout: Duration,
    ) -> Result<(Stream, bool), Unconnected> {
        if let Some(queue) = self.queues.load().get(&key) {
            while let Some((mut stream, since)) = queue.pop() {
                if since.elapsed() < self.idle_timeout && still_open(&mut stream) {
                    return Ok((stream, true));
                }
            }
        }
        let started = Instant::now();
        let mut peer = HttpPeer::new(key.address, false, String::new());
        peer.options.connection_timeout = Some(connect_timeout);
        peer.options.idle_timeout = Some(self.idle_timeout);
        // Boxed: connecting is a future of ~9 KB, which unboxed would be
        // part of every client connection's task, idle or not (measured:
        // 11 KB per connection in all). New upstream connections are the
        // rare path; pay the allocation only there.
        let tcp = Box::pin(self.connector.new_stream(&peer))
            .await
            .map_err(Unconnected::Tcp)?;
        let Some(tls) = tls else { return Ok((tcp, false)) };
        // The handshake counts against the same connect timeout.
        let left = connect_timeout.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, Box::pin(tls.connect(tcp, key.address))).await {
            Ok(Ok(stream)) => Ok((stream, false)),
            Ok(Err(reason)) => Err(Unconnected::Tls(reason)),
            Err(_) => Err(Unconnected::TlsTimeout),
        }
    }

    /// Keeps a connection whose exchange completed cleanly for the next
    /// delivery (its health is checked when it is taken out again); when the
    /// queue is full the connection is simply closed.
    pub fn checkin(&self, key: PoolKey, stream: Stream) {
        let queue = match self.queues.load().get(&key) {
            Some(queue) => Arc::clone(queue),
            None => self.add_queue(key),
        };
        let _ = queue.push((stream, Instant::now()));
    }

    fn add_queue(&self, key: PoolKey) -> Arc<Idle> {
        let _adding = self.adding.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.queues.load();
        if let Some(queue) = current.get(&key) {
            return Arc::clone(queue);
        }
        let queue = Arc::new(ArrayQueue::new(MAX_IDLE_PER_PEER));
        // While the map is rewritten anyway: close connections idle too
        // long and forget queues left empty, so that keys nobody uses any
        // more (an upstream moved, TLS settings rotated) do not keep
        // sockets and entries for ever.
        let mut next: HashMap<PoolKey, Arc<Idle>, RandomState> = current
            .iter()
            .filter(|(_, idle)| self.sweep(idle))
            .map(|(key, idle)| (*key, Arc::clone(idle)))
            .collect();
        next.insert(key, Arc::clone(&queue));
        self.queues.store(Arc::new(next));
        queue
    }
}

impl UpstreamPool {
    /// Closes the connections of `idle` that were idle too long; whether
    /// any is left.
    fn sweep(&self, idle: &Idle) -> bool {
        for _ in 0..idle.len() {
            let Some((stream, since)) = idle.pop() else { break };
            if since.elapsed() < self.idle_timeout {
                // Back at the end; if others filled the queue meanwhile,
                // this one is simply closed.
                let _ = idle.push((stream, since));
            }
        }
        !idle.is_empty()
    }
}

/// Why no connection could be made.
pub enum Unconnected {
    /// Connecting (TCP) failed or timed out.
    Tcp(pingora::BError),
    /// The TLS handshake failed; why, in words.
    Tls(String),
    /// The TLS handshake did not end within the connect timeout.
    TlsTimeout,
}

/// Whether an idle connection is still open and quiet: a read that would
/// block. End of stream, an error, or bytes nobody asked for all mean no.
fn still_open(stream: &mut Stream) -> bool {
    let mut byte = [0u8; 1];
    // `unconstrained`: a read that is ready must not be reported pending
    // because the task's cooperative budget ran out.
    let read = pin!(tokio::task::unconstrained(stream.read(&mut byte)));
    let mut context = Context::from_waker(Waker::noop());
    matches!(read.poll(&mut context), Poll::Pending)
}
