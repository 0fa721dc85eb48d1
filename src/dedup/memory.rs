//! The embedded dedup store: sharded, TTL-expiring, bounded.
//!
//! Each shard is a map plus two queues of expiries, behind its own short
//! lock (no await while held): one for in-flight claims, one for committed
//! deliveries. A store's two TTLs are fixed by its config, so each queue is
//! in expiry order by construction, and a push or a purge from its front
//! costs O(1) (a balanced tree ordered by expiry cost a third of a
//! deduplicated delivery's instructions). A queue entry whose key was
//! claimed again, committed or released since is stale and skipped; an
//! entry found past its expiry counts as absent whatever the queues say.
//! When a shard is full, the committed entry closest to expiry is evicted
//! and counted; in-flight claims are never evicted (a shard full of them
//! refuses, and the route's store policy decides).
//!
//! Keys are hashed with foldhash: only verified deliveries' ids reach the
//! store, so who chooses them is the provider, not an attacker.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use foldhash::fast::RandomState;

use super::{DedupStore, Reservation, StoreError, Token};

const SHARDS: usize = 64;
/// Stale queue entries a shard tolerates before compacting, whatever its size.
const COMPACT_AFTER: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InFlight(Token),
    Committed,
}

#[derive(Debug)]
struct Entry {
    state: State,
    expires: Instant,
    /// Which queue entry stands for this one (the others are stale).
    seq: u64,
}

/// A queued expiry.
#[derive(Debug)]
struct Expiry {
    at: Instant,
    seq: u64,
    key: Arc<str>,
}

#[derive(Debug, Default)]
struct Shard {
    entries: HashMap<Arc<str>, Entry, RandomState>,
    in_flight: VecDeque<Expiry>,
    committed: VecDeque<Expiry>,
    next_seq: u64,
    /// Queue entries that no longer stand for their key (claims that were
    /// committed or released): compacted away once they outnumber the live
    /// ones, so the queues stay within twice the entries.
    stale: usize,
}

impl Shard {
    /// Drops what has expired from the front of both queues.
    fn purge_expired(&mut self, now: Instant) {
        for queue in [&mut self.in_flight, &mut self.committed] {
            while queue.front().is_some_and(|front| front.at <= now) {
                if let Some(expiry) = queue.pop_front() {
                    if self.entries.get(&expiry.key).is_some_and(|e| e.seq == expiry.seq) {
                        self.entries.remove(&expiry.key);
                    } else {
                        self.stale = self.stale.saturating_sub(1);
                    }
                }
            }
        }
    }

    /// Drops stale queue entries once there are more of them than entries.
    fn compact_if_stale(&mut self) {
        if self.stale <= COMPACT_AFTER.max(self.entries.len()) {
            return;
        }
        let entries = &self.entries;
        let current = |expiry: &Expiry| entries.get(&expiry.key).is_some_and(|e| e.seq == expiry.seq);
        self.in_flight.retain(current);
        self.committed.retain(current);
        self.stale = 0;
    }

    /// The live entry for `key`: one past its expiry is gone, even if a
    /// queue has not caught up with it.
    fn live(&self, key: &str, now: Instant) -> Option<&Entry> {
        self.entries.get(key).filter(|entry| entry.expires > now)
    }

    fn insert(&mut self, key: &str, state: State, expires: Instant) {
        self.next_seq += 1;
        let seq = self.next_seq;
        let key: Arc<str> = match self.entries.get_key_value(key) {
            Some((existing, _)) => {
                self.stale += 1;
                Arc::clone(existing)
            }
            None => key.into(),
        };
        let queue = match state {
            State::InFlight(_) => &mut self.in_flight,
            State::Committed => &mut self.committed,
        };
        queue.push_back(Expiry {
            at: expires,
            seq,
            key: Arc::clone(&key),
        });
        self.entries.insert(key, Entry { state, expires, seq });
        self.compact_if_stale();
    }

    fn remove(&mut self, key: &str) {
        // Its queue entry goes stale and is skipped when it comes up.
        if self.entries.remove(key).is_some() {
            self.stale += 1;
            self.compact_if_stale();
        }
    }

    /// Evicts the committed entry closest to expiry; `false` if every entry
    /// is an in-flight claim.
    fn evict_one(&mut self) -> bool {
        while let Some(expiry) = self.committed.pop_front() {
            if self.entries.get(&expiry.key).is_some_and(|e| e.seq == expiry.seq) {
                self.entries.remove(&expiry.key);
                return true;
            }
            self.stale = self.stale.saturating_sub(1);
        }
        false
    }
}

/// The in-process store.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    capacity_per_shard: usize,
    hasher: RandomState,
    evictions: AtomicU64,
}

impl MemoryStore {
    /// A store keeping at most about `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            capacity_per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::default(),
            evictions: AtomicU64::new(0),
        }
    }

    fn shard_index(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) % self.shards.len()
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let index = self.shard_index(key);
        // A poisoned lock means a panic mid-update elsewhere; the shard's maps
        // are still consistent at every await-free step, so keep using it.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keys currently held (including not yet purged expired ones).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).entries.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl DedupStore for MemoryStore {
    async fn reserve(&self, key: &str, token: Token, in_flight: Duration) -> Result<Reservation, StoreError> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        shard.purge_expired(now);
        if let Some(entry) = shard.live(key, now) {
            return Ok(match entry.state {
                State::Committed => Reservation::Duplicate,
                State::InFlight(_) => Reservation::InFlight,
            });
        }
        if shard.entries.len() >= self.capacity_per_shard {
            if !shard.evict_one() {
                return Err(StoreError("memory store full of in-flight deliveries".into()));
            }
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        shard.insert(key, State::InFlight(token), now + in_flight);
        Ok(Reservation::Reserved)
    }

    async fn commit(&self, key: &str, _token: Token, ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        shard.purge_expired(now);
        let committed = matches!(shard.live(key, now).map(|e| e.state), Some(State::Committed));
        if !committed {
            shard.insert(key, State::Committed, now + ttl);
        }
        Ok(())
    }

    async fn release(&self, key: &str, token: Token) -> Result<(), StoreError> {
        let mut shard = self.shard(key);
        if shard.entries.get(key).map(|e| e.state) == Some(State::InFlight(token)) {
            shard.remove(key);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }

    fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn reserve_commit_release() {
        let store = MemoryStore::new(1000);
        let (a, b) = (Token::new(), Token::new());
        assert_eq!(store.reserve("k", a, LONG).await, Ok(Reservation::Reserved));
        assert_eq!(store.reserve("k", b, LONG).await, Ok(Reservation::InFlight));
        // Another token's release must not free the claim.
        store.release("k", b).await.unwrap();
        assert_eq!(store.reserve("k", b, LONG).await, Ok(Reservation::InFlight));
        store.release("k", a).await.unwrap();
        assert_eq!(store.reserve("k", b, LONG).await, Ok(Reservation::Reserved));
        store.commit("k", b, LONG).await.unwrap();
        assert_eq!(store.reserve("k", a, LONG).await, Ok(Reservation::Duplicate));
        // A committed key is not released by a late release.
        store.release("k", b).await.unwrap();
        assert_eq!(store.reserve("k", a, LONG).await, Ok(Reservation::Duplicate));
    }

    #[tokio::test]
    async fn entries_expire() {
        let store = MemoryStore::new(1000);
        let short = Duration::from_millis(30);
        store.reserve("claim", Token::new(), short).await.unwrap();
        store.reserve("done", Token::new(), LONG).await.unwrap();
        store.commit("done", Token::new(), short).await.unwrap();
        assert_eq!(
            store.reserve("claim", Token::new(), LONG).await,
            Ok(Reservation::InFlight)
        );
        assert_eq!(
            store.reserve("done", Token::new(), LONG).await,
            Ok(Reservation::Duplicate)
        );
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(
            store.reserve("claim", Token::new(), LONG).await,
            Ok(Reservation::Reserved),
            "an abandoned claim expires"
        );
        assert_eq!(
            store.reserve("done", Token::new(), LONG).await,
            Ok(Reservation::Reserved)
        );
        assert_eq!(store.len(), 2, "expired entries are purged, not kept");
    }

    #[tokio::test]
    async fn capacity_evicts_committed_entries_first_and_counts() {
        // One key per shard: every new key in a shard evicts the old one.
        let store = MemoryStore::new(SHARDS);
        let keys: Vec<String> = (0..SHARDS * 4).map(|i| format!("k{i}")).collect();
        for key in &keys {
            let token = Token::new();
            assert_eq!(store.reserve(key, token, LONG).await, Ok(Reservation::Reserved));
            store.commit(key, token, LONG).await.unwrap();
        }
        assert!(store.len() <= SHARDS, "{} keys held", store.len());
        assert_eq!(store.evictions(), (keys.len() - store.len()) as u64);
        // A shard holding an in-flight claim cannot make room for another.
        let store = MemoryStore::new(1);
        let claimed = Token::new();
        store.reserve("a", claimed, LONG).await.unwrap();
        let same_shard = (0..10_000)
            .map(|i| format!("b{i}"))
            .find(|k| store.shard_index(k) == store.shard_index("a"))
            .expect("some key shares the shard");
        assert!(store.reserve(&same_shard, Token::new(), LONG).await.is_err());
        assert_eq!(store.reserve("a", Token::new(), LONG).await, Ok(Reservation::InFlight));
    }

    #[tokio::test]
    async fn the_expiry_queues_stay_within_twice_the_entries() {
        // Every claim committed leaves a stale in-flight expiry behind.
        let store = MemoryStore::new(1_000_000);
        for i in 0..50_000 {
            let key = format!("k{i}");
            let token = Token::new();
            store.reserve(&key, token, LONG).await.unwrap();
            store.commit(&key, token, LONG).await.unwrap();
        }
        for shard in store.shards.iter() {
            let shard = shard.lock().unwrap();
            let queued = shard.in_flight.len() + shard.committed.len();
            assert!(
                queued <= 2 * shard.entries.len() + COMPACT_AFTER + 1,
                "{queued} queued for {} entries",
                shard.entries.len()
            );
        }
        assert_eq!(store.len(), 50_000);
    }

    #[tokio::test]
    async fn commit_after_the_claim_expired_still_marks_the_delivery() {
        let store = MemoryStore::new(100);
        let token = Token::new();
        store.reserve("k", token, Duration::from_millis(10)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        store.commit("k", token, LONG).await.unwrap();
        assert_eq!(store.reserve("k", Token::new(), LONG).await, Ok(Reservation::Duplicate));
    }
}
