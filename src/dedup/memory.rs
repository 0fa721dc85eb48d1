//! The embedded dedup store: sharded, TTL-expiring, bounded, compact.
//!
//! A key is never kept: only a 128-bit digest of it (xxh3, seeded at
//! random per process, so that nobody can search offline for two ids that
//! collide; only verified deliveries' ids reach the store anyway). With
//! 2^64 ids remembered, the chance that two of them collide is about
//! 2^-1 — for the million or so a store holds, about 10^-27.
//!
//! Delivered ids are committed with the same TTL, so they expire in the
//! order they were committed: each shard keeps them in a ring, oldest
//! first (24 bytes a slot: the digest and when it expires), and an index
//! from digest to ring position (a `hashbrown` table of 4-byte positions).
//! Expiring or evicting is popping the ring's front; looking up is one
//! probe of the index. In all about 30–40 bytes per remembered id
//! (`benches/dedup_memory.rs` measures it). In-flight claims, few and
//! short-lived, are kept apart with their tokens and are never evicted; a
//! shard with as many claims in flight as it has room for refuses more
//! (the route's store policy decides).

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use foldhash::fast::RandomState;
use hashbrown::HashTable;

use super::{DedupStore, Reservation, StoreError, Token};

const SHARDS: usize = 64;
/// What one remembered id costs, about: a ring slot (24 bytes) and its
/// index entry (4 bytes and a control byte, at 50–87 % load). Used to size
/// a store from a memory budget; `benches/dedup_memory.rs` measures it.
pub const BYTES_PER_ID: u64 = 40;

/// A key's digest: what the store keeps instead of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Digest {
    high: u64,
    low: u64,
}

/// A delivered id, in the ring.
#[derive(Debug, Clone, Copy)]
struct Delivered {
    digest: Digest,
    /// Milliseconds since the store's start.
    expires: u64,
}

#[derive(Debug, Clone, Copy)]
struct Claim {
    token: Token,
    expires: u64,
}

#[derive(Debug, Default)]
struct Shard {
    /// Delivered ids, oldest (closest to expiry) first.
    ring: VecDeque<Delivered>,
    /// The sequence number of the ring's front: the n-th id pushed has
    /// sequence n, and sits at `n - front`.
    front: u64,
    /// Digest → sequence number (its low 32 bits: a ring never holds 2^32).
    index: HashTable<u32>,
    in_flight: HashMap<Digest, Claim, RandomState>,
}

impl Shard {
    /// Whether `digest` was delivered and is remembered until after `now`
    /// (an id committed with a shorter TTL than the ones before it may sit
    /// behind them in the ring past its expiry: it counts as gone).
    fn delivered(&self, digest: Digest, now: u64) -> bool {
        let (ring, front) = (&self.ring, self.front);
        self.index
            .find(digest.low, |&seq| {
                let at = seq.wrapping_sub(front as u32) as usize;
                ring.get(at).is_some_and(|slot| slot.digest == digest)
            })
            .and_then(|&seq| ring.get(seq.wrapping_sub(front as u32) as usize))
            .is_some_and(|slot| slot.expires > now)
    }

    /// Whether `digest` is delivered and remembered until after `now`; if
    /// it is linked but expired, unlinks it (its ring slot stays until it
    /// reaches the front), so that a new commit of it is the one found. One
    /// probe of the index, for `commit`.
    fn delivered_or_forget(&mut self, digest: Digest, now: u64) -> bool {
        let (ring, front) = (&self.ring, self.front);
        let slot_of = |seq: u32| ring.get(seq.wrapping_sub(front as u32) as usize);
        match self.index.find_entry(digest.low, |&seq| {
            slot_of(seq).is_some_and(|slot| slot.digest == digest)
        }) {
            Ok(entry) if slot_of(*entry.get()).is_some_and(|slot| slot.expires > now) => true,
            Ok(entry) => {
                entry.remove();
                false
            }
            Err(_) => false,
        }
    }

    /// Drops the oldest delivered id.
    fn pop_front(&mut self) -> bool {
        let Some(oldest) = self.ring.pop_front() else {
            return false;
        };
        let seq = self.front as u32;
        if let Ok(entry) = self.index.find_entry(oldest.digest.low, |&s| s == seq) {
            entry.remove();
        }
        self.front += 1;
        true
    }

    /// Drops what has expired: delivered ids from the ring's front, and
    /// (when they pile up) claims whose holder never settled them.
    fn purge_expired(&mut self, now: u64) {
        while self.ring.front().is_some_and(|oldest| oldest.expires <= now) {
            self.pop_front();
        }
    }

    fn purge_claims(&mut self, now: u64) {
        self.in_flight.retain(|_, claim| claim.expires > now);
    }

    fn deliver(&mut self, digest: Digest, expires: u64) {
        let seq = (self.front + self.ring.len() as u64) as u32;
        self.ring.push_back(Delivered { digest, expires });
        let (ring, front) = (&self.ring, self.front);
        self.index.insert_unique(digest.low, seq, |&s| {
            let at = s.wrapping_sub(front as u32) as usize;
            ring.get(at).map_or(0, |slot| slot.digest.low)
        });
    }
}

/// The in-process store.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    /// Delivered ids (and claims in flight) each shard holds at most.
    capacity_per_shard: usize,
    seed: u64,
    started: Instant,
    evictions: AtomicU64,
}

impl MemoryStore {
    /// A store remembering at most about `capacity` delivered ids.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            capacity_per_shard: capacity.div_ceil(SHARDS).max(1),
            seed: fastrand::u64(..),
            started: Instant::now(),
            evictions: AtomicU64::new(0),
        }
    }

    /// A store remembering as many ids as fit in `bytes`.
    pub fn with_memory(bytes: u64) -> Self {
        Self::new(usize::try_from(bytes / BYTES_PER_ID).unwrap_or(usize::MAX).max(1))
    }

    fn digest(&self, key: &str) -> Digest {
        let digest = xxhash_rust::xxh3::xxh3_128_with_seed(key.as_bytes(), self.seed);
        Digest {
            high: (digest >> 64) as u64,
            low: digest as u64,
        }
    }

    fn shard(&self, digest: Digest) -> MutexGuard<'_, Shard> {
        // A poisoned lock means a panic mid-update elsewhere; a shard is
        // consistent at every await-free step, so keep using it.
        self.shards[(digest.high % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Milliseconds since the store started: what expiries are counted in.
    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn later(now: u64, ttl: Duration) -> u64 {
        now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
    }

    /// Delivered ids and claims held (expired ones not yet purged included).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let shard = s.lock().unwrap_or_else(|p| p.into_inner());
                shard.ring.len() + shard.in_flight.len()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl DedupStore for MemoryStore {
    async fn reserve(&self, key: &str, token: Token, in_flight: Duration) -> Result<Reservation, StoreError> {
        let digest = self.digest(key);
        let now = self.now();
        let mut shard = self.shard(digest);
        shard.purge_expired(now);
        if shard.delivered(digest, now) {
            return Ok(Reservation::Duplicate);
        }
        if shard.in_flight.get(&digest).is_some_and(|claim| claim.expires > now) {
            return Ok(Reservation::InFlight);
        }
        if shard.in_flight.len() >= self.capacity_per_shard {
            shard.purge_claims(now);
            if shard.in_flight.len() >= self.capacity_per_shard {
                return Err(StoreError("memory store full of in-flight deliveries".into()));
            }
        }
        let expires = Self::later(now, in_flight);
        shard.in_flight.insert(digest, Claim { token, expires });
        Ok(Reservation::Reserved)
    }

    async fn commit(&self, key: &str, _token: Token, ttl: Duration) -> Result<(), StoreError> {
        let digest = self.digest(key);
        let now = self.now();
        let mut shard = self.shard(digest);
        shard.purge_expired(now);
        // Whoever holds the claim now (or nobody: it expired meanwhile), the
        // delivery *was* forwarded: a retry must now be a duplicate.
        shard.in_flight.remove(&digest);
        if shard.delivered_or_forget(digest, now) {
            return Ok(());
        }
        if shard.ring.len() >= self.capacity_per_shard && shard.pop_front() {
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        if shard.ring.capacity() == 0 {
            // Reserved whole once, on first use (pages are touched only as
            // ids arrive): grown by doubling, the ring would leave freed
            // halves behind in the allocator.
            shard.ring.reserve_exact(self.capacity_per_shard);
        }
        shard.deliver(digest, Self::later(now, ttl));
        Ok(())
    }

    async fn release(&self, key: &str, token: Token) -> Result<(), StoreError> {
        let digest = self.digest(key);
        let mut shard = self.shard(digest);
        if shard.in_flight.get(&digest).is_some_and(|claim| claim.token == token) {
            shard.in_flight.remove(&digest);
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
    use std::collections::HashMap as Model;

    use proptest::prelude::*;

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
        assert_eq!(store.len(), 2, "the expired id is purged, not kept");
    }

    #[tokio::test]
    async fn capacity_evicts_the_oldest_delivered_ids_and_counts() {
        // One id per shard: every new id in a shard evicts the one before.
        let store = MemoryStore::new(SHARDS);
        let keys: Vec<String> = (0..SHARDS * 4).map(|i| format!("k{i}")).collect();
        for key in &keys {
            let token = Token::new();
            assert_eq!(store.reserve(key, token, LONG).await, Ok(Reservation::Reserved));
            store.commit(key, token, LONG).await.unwrap();
        }
        assert!(store.len() <= SHARDS, "{} ids held", store.len());
        assert_eq!(store.evictions(), (keys.len() - store.len()) as u64);
        // The newest of each shard is the one remembered.
        let last = keys.last().unwrap();
        assert_eq!(
            store.reserve(last, Token::new(), LONG).await,
            Ok(Reservation::Duplicate)
        );
        // A shard holding as many claims as it has room for takes no more.
        let store = MemoryStore::new(1);
        store.reserve("a", Token::new(), LONG).await.unwrap();
        let digest = store.digest("a");
        let same_shard = (0..10_000)
            .map(|i| format!("b{i}"))
            .find(|k| store.digest(k).high % SHARDS as u64 == digest.high % SHARDS as u64)
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

    #[tokio::test]
    async fn an_id_committed_again_after_a_shorter_ttl_is_found_again() {
        let store = MemoryStore::new(1000);
        store.commit("long", Token::new(), LONG).await.unwrap();
        store
            .commit("k", Token::new(), Duration::from_millis(10))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Expired, but behind a longer-lived id in the ring.
        assert_eq!(store.reserve("k", Token::new(), LONG).await, Ok(Reservation::Reserved));
        store.commit("k", Token::new(), LONG).await.unwrap();
        assert_eq!(store.reserve("k", Token::new(), LONG).await, Ok(Reservation::Duplicate));
    }

    #[tokio::test]
    async fn the_ring_and_its_index_agree_through_many_wraps() {
        // A shard's ring wraps, and its 32-bit positions with it.
        let store = MemoryStore::new(SHARDS * 8);
        for i in 0..100_000 {
            let key = format!("k{i}");
            let token = Token::new();
            store.reserve(&key, token, LONG).await.unwrap();
            store.commit(&key, token, LONG).await.unwrap();
        }
        for shard in store.shards.iter() {
            let shard = shard.lock().unwrap();
            assert!(shard.ring.len() <= 8);
            assert_eq!(shard.index.len(), shard.ring.len(), "one index entry per slot");
            for slot in &shard.ring {
                assert!(shard.delivered(slot.digest, 0));
            }
        }
        let recent = "k99999";
        assert_eq!(
            store.reserve(recent, Token::new(), LONG).await,
            Ok(Reservation::Duplicate)
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Reserve(u8, u8),
        Commit(u8, u8),
        Release(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..12u8, 0..3u8).prop_map(|(k, t)| Op::Reserve(k, t)),
            (0..12u8, 0..3u8).prop_map(|(k, t)| Op::Commit(k, t)),
            (0..12u8, 0..3u8).prop_map(|(k, t)| Op::Release(k, t)),
        ]
    }

    /// What the old, string-keyed store answered, for a capacity no
    /// sequence here reaches and no expiry.
    #[derive(Default)]
    struct Reference {
        keys: Model<u8, Option<usize>>,
    }

    impl Reference {
        fn reserve(&mut self, key: u8, token: usize) -> Reservation {
            match self.keys.get(&key) {
                Some(None) => Reservation::Duplicate,
                Some(Some(_)) => Reservation::InFlight,
                None => {
                    self.keys.insert(key, Some(token));
                    Reservation::Reserved
                }
            }
        }

        fn commit(&mut self, key: u8) {
            self.keys.insert(key, None);
        }

        fn release(&mut self, key: u8, token: usize) {
            if self.keys.get(&key) == Some(&Some(token)) {
                self.keys.remove(&key);
            }
        }
    }

    proptest! {
        #[test]
        fn any_sequence_answers_as_the_reference_does(ops in proptest::collection::vec(op(), 1..200)) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                let store = MemoryStore::new(100_000);
                let tokens = [Token::new(), Token::new(), Token::new()];
                let mut reference = Reference::default();
                for op in ops {
                    match op {
                        Op::Reserve(k, t) => {
                            let answer = store.reserve(&format!("k{k}"), tokens[t as usize], LONG).await.unwrap();
                            prop_assert_eq!(answer, reference.reserve(k, t as usize));
                        }
                        Op::Commit(k, t) => {
                            store.commit(&format!("k{k}"), tokens[t as usize], LONG).await.unwrap();
                            reference.commit(k);
                        }
                        Op::Release(k, t) => {
                            store.release(&format!("k{k}"), tokens[t as usize]).await.unwrap();
                            reference.release(k, t as usize);
                        }
                    }
                }
                Ok(())
            })?;
        }
    }

    /// Many threads at once, each key claimed by all: exactly one claim
    /// of each succeeds, and once committed every later claim is a
    /// duplicate.
    #[test]
    fn concurrent_claims_of_one_key_let_exactly_one_through() {
        let store = std::sync::Arc::new(MemoryStore::new(100_000));
        let reserved: Vec<usize> = (0..8)
            .map(|_| {
                let store = std::sync::Arc::clone(&store);
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                    runtime.block_on(async {
                        let mut won = 0;
                        for i in 0..2_000 {
                            let key = format!("k{i}");
                            let token = Token::new();
                            if store.reserve(&key, token, LONG).await == Ok(Reservation::Reserved) {
                                won += 1;
                                store.commit(&key, token, LONG).await.unwrap();
                            }
                        }
                        won
                    })
                })
            })
            .map(|t| t.join().unwrap())
            .collect();
        assert_eq!(reserved.iter().sum::<usize>(), 2_000, "{reserved:?}");
    }
}
