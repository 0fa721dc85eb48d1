//! The embedded queue: one redb file under `data_dir`, for a single
//! hookfence process (redb locks the file: a second process pointed at it
//! refuses to start). No setup, nothing else to run.
//!
//! Why redb: pure Rust (no C to build), ACID, crash-safe by design (a commit
//! flips between two checksummed commit slots, then fsyncs), a B-tree per
//! table, and it is well kept. SQLite would bring a C build and a SQL layer
//! for what are two tables of byte strings; an LSM store (fjall) brings a
//! journal and compaction of its own for a workload that deletes almost
//! everything it writes within seconds.
//!
//! Two tables, keyed by a sequence number given at enqueue (so a route's
//! deliveries sort in arrival order): the entries (small JSON bookkeeping,
//! rewritten at each attempt) and the requests (written once). What workers
//! decide on — what is due, which delivery heads its ordering key, what is
//! claimed — is an index in memory, rebuilt from the entries at start.
//!
//! Every write goes through one writer thread that takes all the writes
//! waiting for it into one transaction and commits them with one fsync
//! (group commit): under load, deliveries arriving together share a disk
//! flush instead of queueing for one each. A delivery is indexed (and may
//! be claimed) only once its write is durable, but it takes its place in
//! its ordering key's line when it is accepted, so a later delivery of the
//! same key can never be claimed first.
//!
//! Only what a sender was promised is fsynced before it is acknowledged: a
//! new delivery, and an operator's replay or discard. What the workers
//! record (a delivery done, a retry scheduled, a dead letter) is committed
//! without a flush of its own and reaches the disk with the next flush, at
//! most [`FLUSH_INTERVAL`] later. A crash in between makes the queue forget
//! those outcomes, never a delivery: the delivery is attempted again (at
//! least once).
//!
//! Requests just queued are also kept in memory, up to [`MEMORY_CACHE`]
//! bytes, so that the common case — an upstream that takes a delivery at
//! once — never reads it back from the file.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redb::{Builder, Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{oneshot, Notify};

use super::store::{Change, ClaimHandle, Claimed, EnqueueError, QueueError, QueueStore, Settlement};
use super::{now_ms, Entry, State, Stats};
use crate::upstream::Request;

/// Sequence number → a delivery: its entry's length (u32, little-endian),
/// the entry (JSON), then the request in its stored form.
const DELIVERIES: TableDefinition<u64, &[u8]> = TableDefinition::new("deliveries");
/// The file under `data_dir`.
pub const FILE_NAME: &str = "queue.redb";
/// Writes committed together at most (bounds one transaction's size).
const MAX_BATCH: usize = 1024;
/// A delivery that could not be read is tried again after this long.
const READ_FAILURE_RETRY_MS: u64 = 5_000;
/// The longest an outcome recorded without a flush waits for one.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Requests kept in memory for their first attempt, at most (bytes).
pub const MEMORY_CACHE: usize = 32 << 20;
/// redb's own page cache: the requests that matter are in [`MEMORY_CACHE`].
const PAGE_CACHE: usize = 16 << 20;

pub struct EmbeddedStore {
    db: Arc<Database>,
    index: Mutex<Index>,
    writer: mpsc::Sender<Job>,
    /// The last commit failed (a full disk, an I/O error): reported by `ping`.
    failing: Arc<AtomicBool>,
    /// Requests queued lately, for their first attempt.
    cache: Mutex<RequestCache>,
    max_bytes: u64,
    max_deliveries: u64,
}

/// Deliveries held in memory by sequence number, within a byte budget:
/// the entry as queued and its request (whose body is the buffer the
/// sender's request was read into, shared, not copied).
#[derive(Default)]
struct RequestCache {
    deliveries: HashMap<u64, (Entry, Request)>,
    bytes: usize,
}

impl RequestCache {
    fn insert(&mut self, seq: u64, entry: &Entry, request: &Request) {
        let size = request.size();
        if self.bytes + size <= MEMORY_CACHE {
            self.bytes += size;
            self.deliveries.insert(seq, (entry.clone(), request.clone()));
        }
    }

    /// Takes the delivery out: its first attempt is the only one it is
    /// kept for.
    fn take(&mut self, seq: u64) -> Option<(Entry, Request)> {
        let delivery = self.deliveries.remove(&seq)?;
        self.bytes -= delivery.1.size();
        Some(delivery)
    }
}

/// What the workers decide on, for every route.
#[derive(Default)]
struct Index {
    routes: HashMap<String, RouteIndex>,
    /// hookfence id → (route, sequence number).
    by_id: HashMap<String, (String, u64)>,
    next_seq: u64,
}

#[derive(Default)]
struct RouteIndex {
    slots: BTreeMap<u64, Slot>,
    /// Pending deliveries that may be claimed once due: durable, not
    /// claimed, first of their ordering key. By (due, sequence).
    ready: BTreeSet<(u64, u64)>,
    /// Pending deliveries per ordering key, in the order they are to be
    /// delivered (the first may be claimed).
    keys: HashMap<String, VecDeque<u64>>,
    claimed: HashSet<u64>,
    bytes: u64,
    pending: u64,
    dead: u64,
    /// Woken when something may have become claimable.
    wake: Arc<Notify>,
}

struct Slot {
    id: String,
    key: Option<String>,
    received_ms: u64,
    size: u64,
    /// Written and flushed: only then may it be claimed.
    durable: bool,
    state: SlotState,
}

#[derive(Clone, Copy)]
enum SlotState {
    Pending { due_ms: u64 },
    Dead { since_ms: u64 },
}

/// One caller's writes, committed together with others'.
struct Job {
    writes: Vec<Write>,
    /// Flushed to disk before `done` (else with the next flush).
    durable: bool,
    done: oneshot::Sender<Result<(), QueueError>>,
}

enum Write {
    /// A delivery written whole: new, or with its entry changed.
    Put {
        seq: u64,
        entry: Vec<u8>,
        request: Request,
    },
    Remove {
        seq: u64,
    },
}

impl Write {
    fn put(seq: u64, entry: &Entry, request: &Request) -> Self {
        Write::Put {
            seq,
            entry: entry.encode(),
            request: request.clone(),
        }
    }
}

/// A stored row, split into its entry and its request.
fn split_row(row: &[u8]) -> Result<(&[u8], &[u8]), QueueError> {
    let corrupt = || QueueError("embedded queue: a stored delivery is truncated".into());
    let length: [u8; 4] = row.get(..4).and_then(|b| b.try_into().ok()).ok_or_else(corrupt)?;
    let length = u32::from_le_bytes(length) as usize;
    let entry = row.get(4..4 + length).ok_or_else(corrupt)?;
    Ok((entry, &row[4 + length..]))
}

fn storage_error(e: impl std::fmt::Display) -> QueueError {
    QueueError(format!("embedded queue: {e}"))
}

impl EmbeddedStore {
    /// Opens (or creates) the queue under `data_dir` and rebuilds the index
    /// from what it holds. Fails if another process has it open.
    pub fn open(data_dir: &Path, max_bytes: u64, max_deliveries: u64) -> Result<Self, QueueError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| QueueError(format!("cannot create data_dir {}: {e}", data_dir.display())))?;
        let path = data_dir.join(FILE_NAME);
        let db = Builder::new().set_cache_size(PAGE_CACHE).create(&path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => QueueError(format!(
                "{} is in use by another process (each hookfence needs a data_dir of its own; several replicas share a queue with backend = \"redis\")",
                path.display()
            )),
            other => QueueError(format!("cannot open {}: {other}", path.display())),
        })?;
        let db = Arc::new(db);
        let index = load(&db)?;
        let (writer, jobs) = mpsc::channel();
        let writer_db = Arc::clone(&db);
        let failing = Arc::new(AtomicBool::new(false));
        let writer_failing = Arc::clone(&failing);
        thread::Builder::new()
            .name("hookfence-queue-writer".into())
            .spawn(move || write_loop(&writer_db, &jobs, &writer_failing))
            .map_err(|e| QueueError(format!("cannot start the queue writer: {e}")))?;
        Ok(Self {
            db,
            index: Mutex::new(index),
            writer,
            failing,
            cache: Mutex::new(RequestCache::default()),
            max_bytes,
            max_deliveries,
        })
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cache(&self) -> MutexGuard<'_, RequestCache> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Commits `writes`, flushed to disk before this returns if `durable`
    /// (with whatever else is waiting).
    async fn write(&self, writes: Vec<Write>, durable: bool) -> Result<(), QueueError> {
        let (done, result) = oneshot::channel();
        self.writer
            .send(Job { writes, durable, done })
            .map_err(|_| QueueError("the queue writer has stopped".into()))?;
        result
            .await
            .map_err(|_| QueueError("the queue writer has stopped".into()))?
    }

    /// Commits `writes` with whatever comes next, without waiting: for
    /// what the workers record, whose loss costs an attempt, not a delivery.
    /// A failure is logged by the writer and reported by `ping`.
    fn write_later(&self, writes: Vec<Write>) {
        let (done, _) = oneshot::channel();
        if self
            .writer
            .send(Job {
                writes,
                durable: false,
                done,
            })
            .is_err()
        {
            tracing::error!("the queue writer has stopped: an attempt's outcome was not recorded");
        }
    }

    /// Reads an entry and its request (off the async threads: a request may
    /// be megabytes).
    async fn read(&self, seq: u64) -> Result<Option<(Entry, Request)>, QueueError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || read_stored(&db, seq))
            .await
            .map_err(storage_error)?
    }
}

fn read_stored(db: &Database, seq: u64) -> Result<Option<(Entry, Request)>, QueueError> {
    let txn = db.begin_read().map_err(storage_error)?;
    let table = txn.open_table(DELIVERIES).map_err(storage_error)?;
    let Some(row) = table.get(seq).map_err(storage_error)? else {
        return Ok(None);
    };
    let (entry, request) = split_row(row.value())?;
    let entry = Entry::decode(entry)?;
    let request = Request::decode(Bytes::copy_from_slice(request)).map_err(storage_error)?;
    Ok(Some((entry, request)))
}

/// The index of what the file holds.
fn load(db: &Database) -> Result<Index, QueueError> {
    // Creates the table on first use, so that reads never miss it.
    let txn = db.begin_write().map_err(storage_error)?;
    txn.open_table(DELIVERIES).map_err(storage_error)?;
    txn.commit().map_err(storage_error)?;

    let mut index = Index::default();
    let txn = db.begin_read().map_err(storage_error)?;
    let table = txn.open_table(DELIVERIES).map_err(storage_error)?;
    for row in table.iter().map_err(storage_error)? {
        let (seq, value) = row.map_err(storage_error)?;
        let seq = seq.value();
        index.next_seq = index.next_seq.max(seq + 1);
        // Unreadable (written by another version?): left in the file for an
        // operator and reported, rather than refusing to start.
        let entry = match split_row(value.value()).and_then(|(entry, _)| Entry::decode(entry)) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::error!(seq, error = %e, "a queued delivery cannot be read; skipped");
                continue;
            }
        };
        let route = index.routes.entry(entry.route.clone()).or_default();
        let state = match entry.state {
            State::Pending { due_ms } => SlotState::Pending { due_ms },
            State::Dead { since_ms, .. } => SlotState::Dead { since_ms },
        };
        route.add(seq, slot_of(&entry, state, true));
        index.by_id.insert(entry.id.clone(), (entry.route.clone(), seq));
    }
    Ok(index)
}

fn slot_of(entry: &Entry, state: SlotState, durable: bool) -> Slot {
    Slot {
        id: entry.id.clone(),
        key: entry.ordering_key.clone(),
        received_ms: entry.received_ms,
        size: entry.size,
        durable,
        state,
    }
}

/// Takes every job waiting (up to [`MAX_BATCH`]) into one transaction,
/// flushed when a job needs it or an unflushed commit is older than
/// [`FLUSH_INTERVAL`].
fn write_loop(db: &Database, jobs: &mpsc::Receiver<Job>, failing: &AtomicBool) {
    let mut unflushed_since: Option<std::time::Instant> = None;
    loop {
        let first = match unflushed_since {
            None => match jobs.recv() {
                Ok(job) => Some(job),
                Err(_) => return,
            },
            Some(since) => match jobs.recv_timeout(FLUSH_INTERVAL.saturating_sub(since.elapsed())) {
                Ok(job) => Some(job),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Shutting down: what was recorded goes to disk.
                    let _ = commit(db, &[], true);
                    return;
                }
            },
        };
        let mut batch: Vec<Job> = first.into_iter().collect();
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let flush = batch.iter().any(|job| job.durable)
            || unflushed_since.is_some_and(|since| since.elapsed() >= FLUSH_INTERVAL);
        let result = commit(db, &batch, flush).map_err(storage_error);
        failing.store(result.is_err(), Ordering::Relaxed);
        if let Err(e) = &result {
            tracing::error!(error = %e, "the delivery queue could not write to its file");
        }
        if result.is_ok() {
            unflushed_since = match (flush, unflushed_since) {
                (true, _) => None,
                (false, None) => Some(std::time::Instant::now()),
                (false, since) => since,
            };
        }
        for job in batch {
            let _ = job.done.send(result.clone());
        }
    }
}

fn commit(db: &Database, batch: &[Job], flush: bool) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(if flush { Durability::Immediate } else { Durability::None })?;
    {
        let mut table = txn.open_table(DELIVERIES)?;
        for write in batch.iter().flat_map(|job| &job.writes) {
            match write {
                Write::Put { seq, entry, request } => {
                    // Written in place: the request is copied once, into
                    // the page that holds it.
                    let length = 4 + entry.len() + request.encoded_len();
                    let Ok(row_length) = u32::try_from(length) else {
                        return Err(redb::Error::ValueTooLarge(length));
                    };
                    let mut row = table.insert_reserve(seq, row_length as usize)?;
                    let out = row.as_mut();
                    out[..4].copy_from_slice(&(entry.len() as u32).to_le_bytes());
                    out[4..4 + entry.len()].copy_from_slice(entry);
                    request.encode_into(&mut out[4 + entry.len()..]);
                }
                Write::Remove { seq } => {
                    table.remove(seq)?;
                }
            }
        }
    }
    txn.commit()?;
    Ok(())
}

impl RouteIndex {
    /// Adds a slot found in the file or accepted now; a pending one joins
    /// the end of its key's line.
    fn add(&mut self, seq: u64, slot: Slot) {
        self.bytes += slot.size;
        match slot.state {
            SlotState::Pending { due_ms } => {
                self.pending += 1;
                let first = match &slot.key {
                    Some(key) => {
                        let line = self.keys.entry(key.clone()).or_default();
                        line.push_back(seq);
                        line.len() == 1
                    }
                    None => true,
                };
                if first && slot.durable {
                    self.ready.insert((due_ms, seq));
                }
            }
            SlotState::Dead { .. } => self.dead += 1,
        }
        self.slots.insert(seq, slot);
    }

    /// Takes a slot out altogether (delivered, discarded, expired, or a
    /// write that failed), letting the next of its key go.
    fn remove(&mut self, seq: u64) -> Option<Slot> {
        let slot = self.slots.remove(&seq)?;
        self.bytes -= slot.size;
        self.claimed.remove(&seq);
        match slot.state {
            SlotState::Pending { due_ms } => {
                self.pending -= 1;
                self.ready.remove(&(due_ms, seq));
                self.leave_line(slot.key.as_deref(), seq);
            }
            SlotState::Dead { .. } => self.dead -= 1,
        }
        Some(slot)
    }

    /// `seq` leaves its key's line; if it was first, the next may go.
    fn leave_line(&mut self, key: Option<&str>, seq: u64) {
        let Some(key) = key else { return };
        let Some(line) = self.keys.get_mut(key) else { return };
        let was_first = line.front() == Some(&seq);
        line.retain(|&s| s != seq);
        let next = line.front().copied();
        if line.is_empty() {
            self.keys.remove(key);
        }
        if let (true, Some(next)) = (was_first, next) {
            self.make_ready(next);
        }
    }

    /// Makes `seq` claimable if it is pending, durable and unclaimed.
    fn make_ready(&mut self, seq: u64) {
        if let Some(Slot {
            durable: true,
            state: SlotState::Pending { due_ms },
            ..
        }) = self.slots.get(&seq)
        {
            if !self.claimed.contains(&seq) {
                self.ready.insert((*due_ms, seq));
                self.wake.notify_one();
            }
        }
    }

    fn is_first_of_key(&self, seq: u64) -> bool {
        match self.slots.get(&seq).and_then(|s| s.key.as_ref()) {
            Some(key) => self.keys.get(key).and_then(|line| line.front()) == Some(&seq),
            None => true,
        }
    }

    /// Reschedules a pending slot (a retry, or a replay of one waiting).
    fn reschedule(&mut self, seq: u64, due: u64) {
        let Some(slot) = self.slots.get_mut(&seq) else { return };
        if let SlotState::Pending { due_ms } = slot.state {
            self.ready.remove(&(due_ms, seq));
            slot.state = SlotState::Pending { due_ms: due };
        }
        self.claimed.remove(&seq);
        if self.is_first_of_key(seq) {
            self.make_ready(seq);
        }
    }

    /// A claimed (or waiting) pending slot becomes a dead letter.
    fn bury(&mut self, seq: u64, since_ms: u64) {
        let Some(slot) = self.slots.get_mut(&seq) else { return };
        let SlotState::Pending { due_ms } = slot.state else {
            return;
        };
        slot.state = SlotState::Dead { since_ms };
        let key = slot.key.clone();
        self.ready.remove(&(due_ms, seq));
        self.claimed.remove(&seq);
        self.pending -= 1;
        self.dead += 1;
        self.leave_line(key.as_deref(), seq);
    }

    /// Claims up to `max` due slots; or, with none due, when the next is.
    fn take_due(&mut self, now: u64, max: usize) -> Result<Vec<u64>, Option<u64>> {
        let due: Vec<(u64, u64)> = self
            .ready
            .iter()
            .take_while(|(due, _)| *due <= now)
            .take(max)
            .copied()
            .collect();
        if due.is_empty() {
            return Err(self.ready.first().map(|(due, _)| *due));
        }
        for item in &due {
            self.ready.remove(item);
            self.claimed.insert(item.1);
        }
        Ok(due.into_iter().map(|(_, seq)| seq).collect())
    }

    fn stats(&self) -> Stats {
        let oldest = self
            .slots
            .values()
            .filter(|s| matches!(s.state, SlotState::Pending { .. }))
            .map(|s| s.received_ms)
            .min();
        Stats {
            pending: self.pending,
            dead: self.dead,
            bytes: self.bytes,
            oldest_received_ms: oldest,
        }
    }
}

impl Index {
    fn route(&mut self, route: &str) -> &mut RouteIndex {
        self.routes.entry(route.to_owned()).or_default()
    }

    fn seq_of(&self, route: &str, id: &str) -> Option<u64> {
        self.by_id
            .get(id)
            .filter(|(owner, _)| owner == route)
            .map(|(_, seq)| *seq)
    }
}

#[async_trait]
impl QueueStore for EmbeddedStore {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn enqueue(&self, entry: Entry, request: &Request) -> Result<(), EnqueueError> {
        let seq = {
            let mut index = self.index();
            let seq = index.next_seq;
            let route = index.route(&entry.route);
            if route.bytes + entry.size > self.max_bytes {
                return Err(EnqueueError::Full("max_bytes"));
            }
            if route.pending + route.dead >= self.max_deliveries {
                return Err(EnqueueError::Full("max_deliveries"));
            }
            let state = match entry.state {
                State::Pending { due_ms } => SlotState::Pending { due_ms },
                State::Dead { since_ms, .. } => SlotState::Dead { since_ms },
            };
            // Its place in its key's line is taken now; it may be claimed
            // once durable.
            route.add(seq, slot_of(&entry, state, false));
            index.next_seq += 1;
            index.by_id.insert(entry.id.clone(), (entry.route.clone(), seq));
            seq
        };
        let written = self.write(vec![Write::put(seq, &entry, request)], true).await;
        if written.is_ok() {
            self.cache().insert(seq, &entry, request);
        }
        let mut index = self.index();
        let route = index.route(&entry.route);
        match written {
            Ok(()) => {
                if let Some(slot) = route.slots.get_mut(&seq) {
                    slot.durable = true;
                }
                if route.is_first_of_key(seq) {
                    route.make_ready(seq);
                }
                Ok(())
            }
            Err(e) => {
                route.remove(seq);
                index.by_id.remove(&entry.id);
                Err(EnqueueError::Unavailable(e))
            }
        }
    }

    async fn claim(&self, route: &str, max: usize, wait: Duration) -> Result<Vec<Claimed>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let (taken, wake) = {
                let mut index = self.index();
                let route = index.route(route);
                // A delivery made ready between this look and the wait
                // below leaves its permit in the `Notify`: not missed.
                let wake = Arc::clone(&route.wake);
                (route.take_due(now_ms(), max), wake)
            };
            match taken {
                Ok(seqs) => {
                    let mut claimed = Vec::with_capacity(seqs.len());
                    for seq in seqs {
                        let cached = self.cache().take(seq);
                        let read = match cached {
                            Some(delivery) => Ok(Some(delivery)),
                            None => self.read(seq).await,
                        };
                        match read {
                            Ok(Some((entry, request))) => claimed.push(Claimed {
                                entry,
                                request,
                                handle: ClaimHandle::Sequence(seq),
                            }),
                            // Not in the file (it should be): out of the
                            // index, so that it holds back nothing.
                            Ok(None) => {
                                tracing::error!(route, seq, "a queued delivery is missing from the file; dropped");
                                let mut index = self.index();
                                if let Some(slot) = index.route(route).remove(seq) {
                                    index.by_id.remove(&slot.id);
                                }
                            }
                            Err(e) => {
                                tracing::error!(route, error = %e, "a queued delivery cannot be read; tried again later");
                                self.index()
                                    .route(route)
                                    .reschedule(seq, now_ms().saturating_add(READ_FAILURE_RETRY_MS));
                            }
                        }
                    }
                    if !claimed.is_empty() {
                        return Ok(claimed);
                    }
                }
                Err(next_due) => {
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        return Ok(Vec::new());
                    }
                    let until_due = next_due.map(|due| Duration::from_millis(due.saturating_sub(now_ms())));
                    let sleep = until_due.map_or(deadline - now, |d| d.min(deadline - now));
                    let _ = tokio::time::timeout(sleep, wake.notified()).await;
                }
            }
        }
    }

    async fn settle(&self, claimed: &Claimed, settlement: Settlement) -> Result<(), QueueError> {
        let ClaimHandle::Sequence(seq) = claimed.handle else {
            return Err(QueueError("not a claim of the embedded queue".into()));
        };
        let mut entry = claimed.entry.clone();
        let route = entry.route.clone();

        let (write, after): (Write, Box<dyn FnOnce(&mut RouteIndex) + Send>) = match settlement {
            Settlement::Delivered(_) => (
                Write::Remove { seq },
                Box::new(move |r: &mut RouteIndex| {
                    r.remove(seq);
                }),
            ),
            Settlement::Retry { attempt, due_ms } => {
                entry.record(attempt);
                entry.state = State::Pending { due_ms };
                (
                    Write::put(seq, &entry, &claimed.request),
                    Box::new(move |r: &mut RouteIndex| r.reschedule(seq, due_ms)),
                )
            }
            Settlement::Dead { attempt, reason } => {
                entry.record(attempt);
                let since_ms = now_ms();
                entry.state = State::Dead { since_ms, reason };
                (
                    Write::put(seq, &entry, &claimed.request),
                    Box::new(move |r: &mut RouteIndex| r.bury(seq, since_ms)),
                )
            }
            Settlement::Postpone { due_ms } => {
                self.index().route(&route).reschedule(seq, due_ms);
                return Ok(());
            }
        };
        let delivered = matches!(write, Write::Remove { .. });
        {
            let mut index = self.index();
            after(index.route(&route));
            if delivered {
                index.by_id.remove(&claimed.entry.id);
            }
        }
        // Not waited for, nor flushed on its own (see the module's doc): the
        // worker goes on at once; a crash before the next flush, or a failed
        // write, makes the delivery be attempted again.
        self.write_later(vec![write]);
        Ok(())
    }

    async fn key_waiting(&self, route: &str, key: &str) -> Result<bool, QueueError> {
        Ok(self.index().route(route).keys.contains_key(key))
    }

    async fn stats(&self, route: &str) -> Result<Stats, QueueError> {
        Ok(self
            .index()
            .routes
            .get(route)
            .map(RouteIndex::stats)
            .unwrap_or_default())
    }

    async fn list(&self, route: &str, dead: bool, limit: usize) -> Result<Vec<Entry>, QueueError> {
        let seqs: Vec<u64> = {
            let index = self.index();
            let Some(route) = index.routes.get(route) else {
                return Ok(Vec::new());
            };
            route
                .slots
                .iter()
                .filter(|(_, s)| s.durable && matches!(s.state, SlotState::Dead { .. }) == dead)
                .take(limit)
                .map(|(seq, _)| *seq)
                .collect()
        };
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(storage_error)?;
            let table = txn.open_table(DELIVERIES).map_err(storage_error)?;
            let mut listed = Vec::with_capacity(seqs.len());
            for seq in seqs {
                if let Some(row) = table.get(seq).map_err(storage_error)? {
                    listed.push(Entry::decode(split_row(row.value())?.0)?);
                }
            }
            Ok(listed)
        })
        .await
        .map_err(storage_error)?
    }

    async fn get(&self, route: &str, id: &str) -> Result<Option<(Entry, Request)>, QueueError> {
        let Some(seq) = self.index().seq_of(route, id) else {
            return Ok(None);
        };
        self.read(seq).await
    }

    async fn replay(&self, route: &str, id: &str) -> Result<Change, QueueError> {
        let seq = {
            let mut index = self.index();
            let Some(seq) = index.seq_of(route, id) else {
                return Ok(Change::NotFound);
            };
            let slots = index.route(route);
            if slots.claimed.contains(&seq) {
                return Ok(Change::Busy);
            }
            match slots.slots.get(&seq).map(|s| s.state) {
                Some(SlotState::Dead { .. }) => seq,
                Some(SlotState::Pending { .. }) => {
                    // Waiting for a retry: due now, in its place. Only the
                    // index changes: after a restart the stored due time
                    // applies again (the entry is not rewritten, so that a
                    // worker's settle cannot race with this write).
                    slots.reschedule(seq, now_ms());
                    return Ok(Change::Done);
                }
                None => return Ok(Change::NotFound),
            }
        };
        let Some((mut entry, request)) = self.read(seq).await? else {
            return Ok(Change::NotFound);
        };
        let now = now_ms();
        entry.replay(now);
        // A dead letter rejoins at the end of its key's line: it moves to a
        // fresh sequence number, so that the order survives a restart.
        let fresh = {
            let mut index = self.index();
            let fresh = index.next_seq;
            index.next_seq += 1;
            let slots = index.route(route);
            if slots.claimed.contains(&seq) || !slots.slots.contains_key(&seq) {
                return Ok(Change::Busy);
            }
            slots.remove(seq);
            slots.add(fresh, slot_of(&entry, SlotState::Pending { due_ms: now }, false));
            index.by_id.insert(entry.id.clone(), (route.to_owned(), fresh));
            fresh
        };
        let written = self
            .write(vec![Write::put(fresh, &entry, &request), Write::Remove { seq }], true)
            .await;
        let mut index = self.index();
        let slots = index.route(route);
        match written {
            Ok(()) => {
                if let Some(slot) = slots.slots.get_mut(&fresh) {
                    slot.durable = true;
                }
                if slots.is_first_of_key(fresh) {
                    slots.make_ready(fresh);
                }
                Ok(Change::Done)
            }
            Err(e) => {
                // Nothing changed on disk: the dead letter is where it was.
                if let Some(fresh_slot) = slots.remove(fresh) {
                    slots.add(
                        seq,
                        Slot {
                            state: SlotState::Dead { since_ms: now },
                            durable: true,
                            ..fresh_slot
                        },
                    );
                }
                index.by_id.insert(entry.id.clone(), (route.to_owned(), seq));
                Err(e)
            }
        }
    }

    async fn replay_dead(&self, route: &str) -> Result<u64, QueueError> {
        let ids: Vec<String> = {
            let index = self.index();
            let Some(slots) = index.routes.get(route) else {
                return Ok(0);
            };
            slots
                .slots
                .values()
                .filter(|s| matches!(s.state, SlotState::Dead { .. }))
                .map(|s| s.id.clone())
                .collect()
        };
        let mut replayed = 0;
        for id in ids {
            if self.replay(route, &id).await? == Change::Done {
                replayed += 1;
            }
        }
        Ok(replayed)
    }

    async fn discard(&self, route: &str, id: &str) -> Result<Change, QueueError> {
        let seq = {
            let mut index = self.index();
            let Some(seq) = index.seq_of(route, id) else {
                return Ok(Change::NotFound);
            };
            let slots = index.route(route);
            if slots.claimed.contains(&seq) || slots.slots.get(&seq).is_some_and(|s| !s.durable) {
                return Ok(Change::Busy);
            }
            // Out of reach of the workers before the write.
            slots.remove(seq);
            index.by_id.remove(id);
            seq
        };
        self.cache().take(seq);
        self.write(vec![Write::Remove { seq }], true).await?;
        Ok(Change::Done)
    }

    async fn expire_dead(&self, route: &str, before_ms: u64) -> Result<u64, QueueError> {
        let expired: Vec<u64> = {
            let mut index = self.index();
            let Some(slots) = index.routes.get_mut(route) else {
                return Ok(0);
            };
            let expired: Vec<u64> = slots
                .slots
                .iter()
                .filter(|(_, s)| matches!(s.state, SlotState::Dead { since_ms } if since_ms < before_ms))
                .map(|(seq, _)| *seq)
                .collect();
            let ids: Vec<String> = expired
                .iter()
                .filter_map(|seq| slots.remove(*seq).map(|slot| slot.id))
                .collect();
            for id in ids {
                index.by_id.remove(&id);
            }
            expired
        };
        if expired.is_empty() {
            return Ok(0);
        }
        let count = expired.len() as u64;
        self.write(expired.into_iter().map(|seq| Write::Remove { seq }).collect(), true)
            .await?;
        Ok(count)
    }

    async fn routes(&self) -> Result<Vec<String>, QueueError> {
        Ok(self
            .index()
            .routes
            .iter()
            .filter(|(_, r)| !r.slots.is_empty())
            .map(|(name, _)| name.clone())
            .collect())
    }

    async fn ping(&self) -> Result<(), QueueError> {
        if self.failing.load(Ordering::Relaxed) {
            return Err(QueueError(
                "embedded queue: the last write to the file failed (disk full? see the log)".into(),
            ));
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), QueueError> {
        // An empty durable commit: redb makes every earlier commit durable
        // with it.
        self.write(Vec::new(), true).await
    }
}
