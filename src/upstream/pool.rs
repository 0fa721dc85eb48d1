//! Idle upstream connections, shared by all worker threads without a lock.
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

/// Idle connections kept per upstream address.
const MAX_IDLE_PER_PEER: usize = 256;

type Idle = ArrayQueue<(Stream, Instant)>;

pub struct UpstreamPool {
    connector: TransportConnector,
    idle_timeout: Duration,
    queues: ArcSwap<HashMap<SocketAddr, Arc<Idle>, RandomState>>,
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

    /// A connection to `address`: an idle one that is still healthy, else a
    /// new one, made within `connect_timeout`. `true` with a reused connection.
    pub async fn checkout(&self, address: SocketAddr, connect_timeout: Duration) -> pingora::Result<(Stream, bool)> {
        if let Some(queue) = self.queues.load().get(&address) {
            while let Some((mut stream, since)) = queue.pop() {
                if since.elapsed() < self.idle_timeout && still_open(&mut stream) {
                    return Ok((stream, true));
                }
            }
        }
        let mut peer = HttpPeer::new(address, false, String::new());
        peer.options.connection_timeout = Some(connect_timeout);
        peer.options.idle_timeout = Some(self.idle_timeout);
        // Boxed: connecting (TLS handshake included) is a future of ~9 KB,
        // which unboxed would be part of every client connection's task,
        // idle or not (measured: 11 KB per connection in all). New upstream
        // connections are the rare path; pay the allocation only there.
        Ok((Box::pin(self.connector.new_stream(&peer)).await?, false))
    }

    /// Keeps a connection whose exchange completed cleanly for the next
    /// delivery (its health is checked when it is taken out again); when the
    /// queue is full the connection is simply closed.
    pub fn checkin(&self, address: SocketAddr, stream: Stream) {
        let queue = match self.queues.load().get(&address) {
            Some(queue) => Arc::clone(queue),
            None => self.add_queue(address),
        };
        let _ = queue.push((stream, Instant::now()));
    }

    fn add_queue(&self, key: SocketAddr) -> Arc<Idle> {
        let _adding = self.adding.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.queues.load();
        if let Some(queue) = current.get(&key) {
            return Arc::clone(queue);
        }
        let queue = Arc::new(ArrayQueue::new(MAX_IDLE_PER_PEER));
        let mut next = HashMap::clone(&current);
        next.insert(key, Arc::clone(&queue));
        self.queues.store(Arc::new(next));
        queue
    }
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
