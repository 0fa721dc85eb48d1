//! The embedded dedup store: sharded, TTL-expiring, bounded.
//!
//! Each shard is a map plus an index ordered by expiry, behind its own short
//! lock (no await while held). Expired entries are purged from the front of
//! the index on every operation, so expiry costs O(expired). When a shard is
//! full, the committed entry closest to expiry is evicted and counted;
//! in-flight claims are never evicted (a shard full of them refuses, and the
//! route's store policy decides).

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{DedupStore, Reservation, StoreError, Token};

const SHARDS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InFlight(Token),
    Committed,
}

#[derive(Debug)]
struct Entry {
    state: State,
    expires: Instant,
    /// Tie-breaker in the expiry index.
    seq: u64,
}

#[derive(Debug, Default)]
struct Shard {
    entries: HashMap<Arc<str>, Entry>,
    by_expiry: BTreeMap<(Instant, u64), Arc<str>>,
    next_seq: u64,
}

impl Shard {
    fn purge_expired(&mut self, now: Instant) {
        while let Some(entry) = self.by_expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.entries.remove(&key);
        }
    }

    fn insert(&mut self, key: Arc<str>, state: State, expires: Instant) {
        self.next_seq += 1;
        let seq = self.next_seq;
        if let Some(old) = self.entries.insert(Arc::clone(&key), Entry { state, expires, seq }) {
            self.by_expiry.remove(&(old.expires, old.seq));
        }
        self.by_expiry.insert((expires, seq), key);
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.entries.remove(key) {
            self.by_expiry.remove(&(old.expires, old.seq));
        }
    }

    /// Evicts the committed entry closest to expiry; `false` if every entry
    /// is an in-flight claim.
    fn evict_one(&mut self) -> bool {
        let victim = self
            .by_expiry
            .values()
            .find(|key| matches!(self.entries.get(*key).map(|e| e.state), Some(State::Committed)))
            .cloned();
        match victim {
            Some(key) => {
                self.remove(&key);
                true
            }
            None => false,
        }
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
            hasher: RandomState::new(),
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
        if let Some(entry) = shard.entries.get(key) {
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
        shard.insert(key.into(), State::InFlight(token), now + in_flight);
        Ok(Reservation::Reserved)
    }

    async fn commit(&self, key: &str, _token: Token, ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        shard.purge_expired(now);
        let committed = matches!(shard.entries.get(key).map(|e| e.state), Some(State::Committed));
        if !committed {
            shard.insert(key.into(), State::Committed, now + ttl);
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
    async fn commit_after_the_claim_expired_still_marks_the_delivery() {
        let store = MemoryStore::new(100);
        let token = Token::new();
        store.reserve("k", token, Duration::from_millis(10)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        store.commit("k", token, LONG).await.unwrap();
        assert_eq!(store.reserve("k", Token::new(), LONG).await, Ok(Reservation::Duplicate));
    }
}
