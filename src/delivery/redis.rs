//! The Redis queue, for several replicas: Redis Streams with one consumer
//! group per route, so that any number of hookfence processes share the
//! work, and a delivery held by a replica that died is taken over by
//! another (`XAUTOCLAIM` after `claim_timeout`).
//!
//! A route's keys share one Cluster hash tag (`<prefix>:q:{<route>}:…`), so
//! every script touches one shard:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `stream` | stream, group `workers` | ids ready to be attempted now |
//! | `due` | sorted set | ids waiting for a retry, by due time |
//! | `req`, `meta` | hashes | each id's request and its bookkeeping (JSON) |
//! | `waiting`, `dead` | sorted sets | pending ids by arrival; dead letters by burial |
//! | `bytes` | counter | request bytes held |
//! | `key:<ordering key>` | list | the ids of one ordering key, first to go first |
//!
//! Only the first id of an ordering key's list is ever in the stream or in
//! `due`, so no two replicas can hold two deliveries of one key; settling it
//! puts the next one in the stream. Every change is one Lua script, atomic
//! on the server. Retries wait in `due`; each replica moves the ones due
//! into the stream (`promote`) at least once a second.
//!
//! Durability is Redis's: with `appendonly yes` and `appendfsync always` a
//! queued delivery survives a crash of Redis itself; with `everysec` up to a
//! second of deliveries may be lost; without AOF (or RDB only) everything
//! since the last snapshot. README's "When the backend is down" says which
//! to choose.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::streams::{StreamAutoClaimReply, StreamInfoConsumersReply, StreamReadReply};
use redis::{Script, ScriptInvocation};

use super::store::{Change, ClaimHandle, Claimed, EnqueueError, QueueError, QueueStore, Settlement};
use super::{now_ms, Entry, QueueSettings, State, Stats};
use crate::redis_connection::{RedisConnection, Target};
use crate::upstream::Request;

const GROUP: &str = "workers";
/// How often a replica looks for claims of replicas presumed dead, at most.
const MIN_RECLAIM_INTERVAL: Duration = Duration::from_secs(1);
/// How often retries that are due are moved to the stream, at least.
const PROMOTE_INTERVAL_MS: u64 = 1_000;
/// A consumer idle this long with nothing pending belonged to a process
/// that is gone.
const GONE_CONSUMER_IDLE: Duration = Duration::from_secs(3600);

/// Stores a new delivery unless the route's queue is full; the first of
/// its ordering key (or one without) goes to the stream at once, or to
/// `due` when it must wait (a fallback route's retry). Idempotent: a
/// client that sends it again (a retry after a lost reply) changes nothing.
/// KEYS: stream, req, meta, waiting, bytes, key list, due.
/// ARGV: id, request, meta, received_ms, size, max_bytes, max_deliveries,
/// keyed, due_ms, now_ms.
/// Returns 0 stored, 1 full by bytes, 2 full by count.
const ENQUEUE: &str = r"
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 0 end
local size = tonumber(ARGV[5])
if tonumber(redis.call('GET', KEYS[5]) or '0') + size > tonumber(ARGV[6]) then return 1 end
if redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[7]) then return 2 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
redis.call('INCRBY', KEYS[5], size)
if ARGV[8] == '1' and redis.call('RPUSH', KEYS[6], ARGV[1]) > 1 then return 0 end
if tonumber(ARGV[9]) > tonumber(ARGV[10]) then
  redis.call('ZADD', KEYS[7], ARGV[9], ARGV[1])
else
  redis.call('XADD', KEYS[1], '*', 'id', ARGV[1])
end
return 0
";

/// The request and bookkeeping of one id.
/// KEYS: req, meta. ARGV: id.
const FETCH: &str = r"
return {redis.call('HGET', KEYS[1], ARGV[1]), redis.call('HGET', KEYS[2], ARGV[1])}
";

/// Shared by the scripts that settle a claim: whether this consumer still
/// holds the stream entry (a replica presumed dead whose claim was taken
/// over must not settle it any more); and the next of an ordering key.
const HELPERS: &str = r"
local function holds(stream, entry, consumer)
  local pending = redis.call('XPENDING', stream, 'workers', entry, entry, 1)
  return pending[1] ~= nil and pending[1][2] == consumer
end
local function next_of_key(stream, list, id)
  if redis.call('LINDEX', list, 0) == id then
    redis.call('LPOP', list)
    local following = redis.call('LINDEX', list, 0)
    if following then redis.call('XADD', stream, '*', 'id', following) end
  else
    redis.call('LREM', list, 0, id)
  end
end
";

/// Delivered: gone, and the next of its key may go. Nothing happens when
/// this consumer no longer holds the entry.
/// KEYS: stream, req, meta, waiting, bytes, key list, due.
/// ARGV: stream entry, id, size, keyed, consumer.
const COMPLETE: &str = r"
if not holds(KEYS[1], ARGV[1], ARGV[5]) then return 0 end
redis.call('XACK', KEYS[1], 'workers', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
if redis.call('HDEL', KEYS[3], ARGV[2]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[7], ARGV[2])
redis.call('DECRBY', KEYS[5], ARGV[3])
if ARGV[4] == '1' then next_of_key(KEYS[1], KEYS[6], ARGV[2]) end
return 1
";

/// Tried again later: out of the stream, into `due` — unless this consumer
/// no longer holds the entry, or the delivery is dead or gone meanwhile.
/// KEYS: stream, due, meta, dead.
/// ARGV: stream entry, id, meta ('' keeps it), due_ms, consumer.
const RETRY: &str = r"
if not holds(KEYS[1], ARGV[1], ARGV[5]) then return 0 end
redis.call('XACK', KEYS[1], 'workers', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 0 then return 0 end
if redis.call('ZSCORE', KEYS[4], ARGV[2]) then return 0 end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], ARGV[2], ARGV[3]) end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
return 1
";

/// Given up on: a dead letter; the next of its key may go. Nothing happens
/// when this consumer no longer holds the entry.
/// KEYS: stream, meta, waiting, dead, key list, due.
/// ARGV: stream entry, id, meta, since_ms, keyed, consumer.
const BURY: &str = r"
if not holds(KEYS[1], ARGV[1], ARGV[6]) then return 0 end
redis.call('XACK', KEYS[1], 'workers', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[6], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[2])
if ARGV[5] == '1' then next_of_key(KEYS[1], KEYS[5], ARGV[2]) end
return 1
";

/// Retries that are due, into the stream. KEYS: stream, due. ARGV: now, max.
/// Returns {moved, next due or -1}.
const PROMOTE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'id', id)
  redis.call('ZREM', KEYS[2], id)
end
local following = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if following[2] then return {#due, tonumber(following[2])} end
return {#due, -1}
";

/// A dead letter back to pending (at the end of its key), or a delivery
/// waiting for a retry due now.
/// KEYS: stream, due, meta, waiting, dead, key list.
/// ARGV: id, meta (pending), received_ms, keyed.
/// Returns 0 not found, 1 done, 2 busy.
const REPLAY: &str = r"
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return 0 end
if redis.call('ZSCORE', KEYS[5], ARGV[1]) then
  redis.call('ZREM', KEYS[5], ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
  if ARGV[4] == '1' and redis.call('RPUSH', KEYS[6], ARGV[1]) > 1 then return 1 end
  redis.call('XADD', KEYS[1], '*', 'id', ARGV[1])
  return 1
end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('XADD', KEYS[1], '*', 'id', ARGV[1])
  return 1
end
return 2
";

/// Removes a dead letter, or a pending delivery waiting for a retry or
/// behind its key (not one in the stream: a worker may hold it).
/// KEYS: stream, due, req, meta, waiting, dead, bytes, key list.
/// ARGV: id, size, keyed.
/// Returns 0 not found, 1 done, 2 busy.
const DISCARD: &str = r"
local id = ARGV[1]
if redis.call('HEXISTS', KEYS[4], id) == 0 then return 0 end
if not redis.call('ZSCORE', KEYS[6], id) then
  local retrying = redis.call('ZSCORE', KEYS[2], id)
  local behind = ARGV[3] == '1' and redis.call('LINDEX', KEYS[8], 0) ~= id and redis.call('LPOS', KEYS[8], id)
  if not retrying and not behind then return 2 end
  if retrying then redis.call('ZREM', KEYS[2], id) end
  if ARGV[3] == '1' then next_of_key(KEYS[1], KEYS[8], id) end
  redis.call('ZREM', KEYS[5], id)
else
  redis.call('ZREM', KEYS[6], id)
end
redis.call('HDEL', KEYS[4], id)
redis.call('HDEL', KEYS[3], id)
redis.call('DECRBY', KEYS[7], ARGV[2])
return 1
";

/// Dead letters buried before a time, removed. KEYS: dead, meta, req, bytes.
/// ARGV: before_ms, max. Returns how many.
const EXPIRE: &str = r"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  local meta = redis.call('HGET', KEYS[2], id)
  if meta then redis.call('DECRBY', KEYS[4], cjson.decode(meta).size) end
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
end
return #ids
";

/// A route's figures. KEYS: waiting, dead, bytes.
/// Returns {pending, dead, bytes, oldest received or -1}.
const STATS: &str = r"
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]),
        tonumber(redis.call('GET', KEYS[3]) or '0'), tonumber(oldest[2] or '-1')}
";

/// Dead letters removed per expiry call.
const EXPIRE_BATCH: usize = 1000;

pub struct RedisQueue {
    /// Scripts and short commands.
    connection: RedisConnection,
    target: Target,
    settings: QueueSettings,
    /// This process's name in the consumer groups.
    consumer: String,
    scripts: Scripts,
    /// Per route: a connection for blocking reads (a blocking command holds
    /// up the commands behind it), and when to promote and reclaim next.
    readers: tokio::sync::Mutex<HashMap<String, Reader>>,
    /// Routes known to be in the registry of routes with a queue.
    registered: Mutex<Vec<String>>,
}

struct Reader {
    connection: std::sync::Arc<RedisConnection>,
    group_ready: bool,
    next_promote_ms: u64,
    next_reclaim_ms: u64,
}

struct Scripts {
    enqueue: Script,
    fetch: Script,
    complete: Script,
    retry: Script,
    bury: Script,
    promote: Script,
    replay: Script,
    discard: Script,
    expire: Script,
    stats: Script,
}

/// The keys of one route's queue.
struct Keys {
    base: String,
}

impl Keys {
    fn new(prefix: &str, route: &str) -> Self {
        Self {
            base: format!("{prefix}:q:{{{route}}}"),
        }
    }

    fn of(&self, part: &str) -> String {
        format!("{}:{part}", self.base)
    }

    /// The ordering key's list; a placeholder in the same slot without one.
    fn line(&self, key: Option<&str>) -> String {
        format!("{}:key:{}", self.base, key.unwrap_or(""))
    }
}

/// This process's consumer name: random, so that replicas never share one.
fn consumer_name() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| format!("hookfence-{:016x}", fastrand::u64(..)))
        .clone()
}

impl RedisQueue {
    /// Creates the queue without connecting. Must run inside a Tokio runtime.
    pub fn new(target: &Target, settings: &QueueSettings) -> Result<Self, QueueError> {
        let timeout = settings.command_timeout;
        let with_helper = |body: &str| Script::new(&format!("{HELPERS}\n{body}"));
        Ok(Self {
            connection: RedisConnection::new(target, timeout, timeout)?,
            target: target.clone(),
            settings: settings.clone(),
            consumer: consumer_name(),
            scripts: Scripts {
                enqueue: Script::new(ENQUEUE),
                fetch: Script::new(FETCH),
                complete: with_helper(COMPLETE),
                retry: with_helper(RETRY),
                bury: with_helper(BURY),
                promote: Script::new(PROMOTE),
                replay: Script::new(REPLAY),
                discard: with_helper(DISCARD),
                expire: Script::new(EXPIRE),
                stats: Script::new(STATS),
            },
            readers: tokio::sync::Mutex::new(HashMap::new()),
            registered: Mutex::new(Vec::new()),
        })
    }

    fn keys(&self, route: &str) -> Keys {
        Keys::new(&self.settings.key_prefix, route)
    }

    fn registry(&self) -> String {
        format!("{}:q:routes", self.settings.key_prefix)
    }

    /// Adds `route` to the registry of routes with a queue, once per process.
    async fn register(&self, route: &str) -> Result<(), QueueError> {
        if self
            .registered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|r| r == route)
        {
            return Ok(());
        }
        self.connection
            .query::<i64>(redis::cmd("SADD").arg(self.registry()).arg(route))
            .await?;
        self.registered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(route.to_owned());
        Ok(())
    }

    /// The request and entry of `id`, if still stored.
    async fn fetch(&self, keys: &Keys, id: &str) -> Result<Option<(Entry, Request)>, QueueError> {
        let (request, meta): (Option<Vec<u8>>, Option<Vec<u8>>) = self
            .connection
            .invoke(over(&self.scripts.fetch, keys, &["req", "meta"]).arg(id))
            .await?;
        let (Some(request), Some(meta)) = (request, meta) else {
            return Ok(None);
        };
        // Unreadable (written by another version?): reported, and left
        // where it is for an operator, rather than failing every claim
        // of the route.
        let decoded = Entry::decode(&meta).and_then(|entry| {
            Request::decode(Bytes::from(request))
                .map(|request| (entry, request))
                .map_err(|e| QueueError(e.to_string()))
        });
        match decoded {
            Ok(decoded) => Ok(Some(decoded)),
            Err(e) => {
                tracing::error!(queue_id = id, error = %e, "a queued delivery cannot be read; it is skipped");
                Ok(None)
            }
        }
    }

    /// Deliveries named by stream entries, fetched; entries whose delivery
    /// is gone (discarded meanwhile) are acknowledged and dropped.
    async fn claimed_from(
        &self,
        route: &str,
        entries: Vec<redis::streams::StreamId>,
    ) -> Result<Vec<Claimed>, QueueError> {
        let keys = self.keys(route);
        let mut claimed = Vec::with_capacity(entries.len());
        for stream_entry in entries {
            let id: Option<String> = stream_entry
                .map
                .get("id")
                .and_then(|v| redis::from_redis_value(v.clone()).ok());
            let fetched = match &id {
                Some(id) => self.fetch(&keys, id).await?,
                None => None,
            };
            match fetched {
                Some((entry, request)) if !entry.is_dead() => claimed.push(Claimed {
                    entry,
                    request,
                    handle: ClaimHandle::StreamEntry(stream_entry.id),
                }),
                _ => {
                    let stream = keys.of("stream");
                    self.connection
                        .query::<i64>(redis::cmd("XACK").arg(&stream).arg(GROUP).arg(&stream_entry.id))
                        .await?;
                    self.connection
                        .query::<i64>(redis::cmd("XDEL").arg(&stream).arg(&stream_entry.id))
                        .await?;
                }
            }
        }
        Ok(claimed)
    }

    /// The route's reader, made on first use.
    async fn reader(&self, route: &str) -> Result<(std::sync::Arc<RedisConnection>, bool, u64, u64), QueueError> {
        let mut readers = self.readers.lock().await;
        if !readers.contains_key(route) {
            // Its replies may take a whole blocking wait.
            let response_timeout = self.settings.command_timeout.saturating_add(Duration::from_secs(5));
            let connection = RedisConnection::new(&self.target, self.settings.command_timeout, response_timeout)?;
            readers.insert(
                route.to_owned(),
                Reader {
                    connection: std::sync::Arc::new(connection),
                    group_ready: false,
                    next_promote_ms: 0,
                    next_reclaim_ms: 0,
                },
            );
        }
        let reader = readers.get(route).ok_or_else(|| QueueError("reader vanished".into()))?;
        Ok((
            std::sync::Arc::clone(&reader.connection),
            reader.group_ready,
            reader.next_promote_ms,
            reader.next_reclaim_ms,
        ))
    }

    async fn update_reader(&self, route: &str, update: impl FnOnce(&mut Reader)) {
        if let Some(reader) = self.readers.lock().await.get_mut(route) {
            update(reader);
        }
    }

    /// Creates the route's consumer group (reading from the stream's start,
    /// so that deliveries queued before any worker ran are read too).
    async fn ensure_group(&self, keys: &Keys) -> Result<(), QueueError> {
        let created = self
            .connection
            .query::<String>(
                redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(keys.of("stream"))
                    .arg(GROUP)
                    .arg("0")
                    .arg("MKSTREAM"),
            )
            .await;
        match created {
            Ok(_) => Ok(()),
            // BUSYGROUP: another replica (or an earlier run) made it.
            Err(e) if e.0.contains("BUSYGROUP") || e.0.contains("Consumer Group name already exists") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves due retries into the stream; when the next one is due.
    async fn promote(&self, keys: &Keys) -> Result<Option<u64>, QueueError> {
        let (_, next): (i64, i64) = self
            .connection
            .invoke(
                over(&self.scripts.promote, keys, &["stream", "due"])
                    .arg(now_ms())
                    .arg(1000),
            )
            .await?;
        Ok(u64::try_from(next).ok())
    }
}

#[async_trait]
impl QueueStore for RedisQueue {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn enqueue(&self, entry: Entry, request: &Request) -> Result<(), EnqueueError> {
        let keys = self.keys(&entry.route);
        self.register(&entry.route).await?;
        let keyed = entry.ordering_key.is_some();
        let stored: i64 = self
            .connection
            .invoke(
                over(
                    &self.scripts.enqueue,
                    &keys,
                    &["stream", "req", "meta", "waiting", "bytes"],
                )
                .key(keys.line(entry.ordering_key.as_deref()))
                .key(keys.of("due"))
                .arg(&entry.id)
                .arg(request.encode())
                .arg(entry.encode())
                .arg(entry.received_ms)
                .arg(entry.size)
                .arg(self.settings.max_bytes)
                .arg(self.settings.max_deliveries)
                .arg(if keyed { "1" } else { "0" })
                .arg(match entry.state {
                    State::Pending { due_ms } => due_ms,
                    State::Dead { .. } => 0,
                })
                .arg(now_ms()),
            )
            .await
            .map_err(QueueError::from)?;
        match stored {
            0 => Ok(()),
            1 => Err(EnqueueError::Full("max_bytes")),
            _ => Err(EnqueueError::Full("max_deliveries")),
        }
    }

    async fn claim(&self, route: &str, max: usize, wait: Duration) -> Result<Vec<Claimed>, QueueError> {
        let claimed = self.claim_from_stream(route, max, wait).await;
        if let Err(e) = &claimed {
            // The group is gone (a Redis that lost its data, a failover to
            // an empty replica): made again at the next claim.
            if e.0.contains("NOGROUP") {
                self.update_reader(route, |r| r.group_ready = false).await;
            }
        }
        claimed
    }
    async fn settle(&self, claimed: &Claimed, settlement: Settlement) -> Result<(), QueueError> {
        let ClaimHandle::StreamEntry(stream_entry) = &claimed.handle else {
            return Err(QueueError("not a claim of the Redis queue".into()));
        };
        let entry = &claimed.entry;
        let keys = self.keys(&entry.route);
        let keyed = if entry.ordering_key.is_some() { "1" } else { "0" };
        let line = keys.line(entry.ordering_key.as_deref());
        let mut updated = entry.clone();
        let _: i64 = match settlement {
            Settlement::Delivered(_) => {
                self.connection
                    .invoke(
                        over(
                            &self.scripts.complete,
                            &keys,
                            &["stream", "req", "meta", "waiting", "bytes"],
                        )
                        .key(line)
                        .key(keys.of("due"))
                        .arg(stream_entry)
                        .arg(&entry.id)
                        .arg(entry.size)
                        .arg(keyed)
                        .arg(&self.consumer),
                    )
                    .await?
            }
            Settlement::Retry { attempt, due_ms } => {
                updated.record(attempt);
                updated.state = State::Pending { due_ms };
                self.retry(&keys, stream_entry, &entry.id, &updated.encode(), due_ms)
                    .await?
            }
            Settlement::Postpone { due_ms } => self.retry(&keys, stream_entry, &entry.id, b"", due_ms).await?,
            Settlement::Dead { attempt, reason } => {
                updated.record(attempt);
                let since_ms = now_ms();
                updated.state = State::Dead { since_ms, reason };
                self.connection
                    .invoke(
                        over(&self.scripts.bury, &keys, &["stream", "meta", "waiting", "dead"])
                            .key(line)
                            .key(keys.of("due"))
                            .arg(stream_entry)
                            .arg(&entry.id)
                            .arg(updated.encode())
                            .arg(since_ms)
                            .arg(keyed)
                            .arg(&self.consumer),
                    )
                    .await?
            }
        };
        Ok(())
    }

    async fn key_waiting(&self, route: &str, key: &str) -> Result<bool, QueueError> {
        let length: i64 = self
            .connection
            .query(redis::cmd("LLEN").arg(self.keys(route).line(Some(key))))
            .await?;
        Ok(length > 0)
    }

    async fn stats(&self, route: &str) -> Result<Stats, QueueError> {
        let keys = self.keys(route);
        let (pending, dead, bytes, oldest): (u64, u64, i64, i64) = self
            .connection
            .invoke(&over(&self.scripts.stats, &keys, &["waiting", "dead", "bytes"]))
            .await?;
        Ok(Stats {
            pending,
            dead,
            bytes: u64::try_from(bytes).unwrap_or(0),
            oldest_received_ms: u64::try_from(oldest).ok(),
        })
    }

    async fn list(&self, route: &str, dead: bool, limit: usize) -> Result<Vec<Entry>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = self.keys(route);
        let set = keys.of(if dead { "dead" } else { "waiting" });
        let last = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let ids: Vec<String> = self
            .connection
            .query(redis::cmd("ZRANGE").arg(set).arg(0).arg(last))
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let metas: Vec<Option<Vec<u8>>> = self
            .connection
            .query(redis::cmd("HMGET").arg(keys.of("meta")).arg(&ids))
            .await?;
        Ok(metas
            .into_iter()
            .flatten()
            .filter_map(|meta| {
                Entry::decode(&meta)
                    .map_err(|e| tracing::error!(error = %e, "a queued delivery cannot be read"))
                    .ok()
            })
            .collect())
    }

    async fn get(&self, route: &str, id: &str) -> Result<Option<(Entry, Request)>, QueueError> {
        self.fetch(&self.keys(route), id).await
    }

    async fn replay(&self, route: &str, id: &str) -> Result<Change, QueueError> {
        let keys = self.keys(route);
        let Some((mut entry, _)) = self.fetch(&keys, id).await? else {
            return Ok(Change::NotFound);
        };
        entry.replay(now_ms());
        let result: i64 = self
            .connection
            .invoke(
                over(
                    &self.scripts.replay,
                    &keys,
                    &["stream", "due", "meta", "waiting", "dead"],
                )
                .key(keys.line(entry.ordering_key.as_deref()))
                .arg(id)
                .arg(entry.encode())
                .arg(entry.received_ms)
                .arg(if entry.ordering_key.is_some() { "1" } else { "0" }),
            )
            .await?;
        Ok(change(result))
    }

    async fn replay_dead(&self, route: &str) -> Result<u64, QueueError> {
        // The dead letters as of now, each replayed once: one that fails
        // again meanwhile is buried anew, later, and is not taken up twice.
        let ids: Vec<String> = self
            .connection
            .query(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(self.keys(route).of("dead"))
                    .arg("-inf")
                    .arg(now_ms()),
            )
            .await?;
        let mut replayed = 0;
        for id in ids {
            if self.replay(route, &id).await? == Change::Done {
                replayed += 1;
            }
        }
        Ok(replayed)
    }

    async fn discard(&self, route: &str, id: &str) -> Result<Change, QueueError> {
        let keys = self.keys(route);
        let Some((entry, _)) = self.fetch(&keys, id).await? else {
            return Ok(Change::NotFound);
        };
        let result: i64 = self
            .connection
            .invoke(
                over(
                    &self.scripts.discard,
                    &keys,
                    &["stream", "due", "req", "meta", "waiting", "dead", "bytes"],
                )
                .key(keys.line(entry.ordering_key.as_deref()))
                .arg(id)
                .arg(entry.size)
                .arg(if entry.ordering_key.is_some() { "1" } else { "0" }),
            )
            .await?;
        Ok(change(result))
    }

    async fn expire_dead(&self, route: &str, before_ms: u64) -> Result<u64, QueueError> {
        let keys = self.keys(route);
        let mut expired = 0;
        loop {
            let count: u64 = self
                .connection
                .invoke(
                    over(&self.scripts.expire, &keys, &["dead", "meta", "req", "bytes"])
                        .arg(before_ms)
                        .arg(EXPIRE_BATCH),
                )
                .await?;
            expired += count;
            if count < EXPIRE_BATCH as u64 {
                return Ok(expired);
            }
        }
    }

    async fn routes(&self) -> Result<Vec<String>, QueueError> {
        Ok(self
            .connection
            .query(redis::cmd("SMEMBERS").arg(self.registry()))
            .await?)
    }

    async fn ping(&self) -> Result<(), QueueError> {
        Ok(self.connection.ping().await?)
    }
}

impl RedisQueue {
    /// Due deliveries of `route`: promotes retries that are due, takes over
    /// claims of replicas presumed dead, then reads the stream.
    async fn claim_from_stream(&self, route: &str, max: usize, wait: Duration) -> Result<Vec<Claimed>, QueueError> {
        let keys = self.keys(route);
        let (reader, group_ready, next_promote, next_reclaim) = self.reader(route).await?;
        if !group_ready {
            self.ensure_group(&keys).await?;
            self.update_reader(route, |r| r.group_ready = true).await;
        }
        let now = now_ms();
        let mut promote_at = next_promote;
        if now >= next_promote {
            let next_due = self.promote(&keys).await?;
            let latest = now.saturating_add(PROMOTE_INTERVAL_MS);
            promote_at = next_due.map_or(latest, |due| due.min(latest));
            self.update_reader(route, |r| r.next_promote_ms = promote_at).await;
        }
        if now >= next_reclaim {
            let interval = (self.settings.claim_timeout / 4).max(MIN_RECLAIM_INTERVAL);
            let at = now.saturating_add(u64::try_from(interval.as_millis()).unwrap_or(u64::MAX));
            self.update_reader(route, |r| r.next_reclaim_ms = at).await;
            self.forget_gone_consumers(&keys).await;
            let idle = u64::try_from(self.settings.claim_timeout.as_millis()).unwrap_or(u64::MAX);
            let reply: StreamAutoClaimReply = self
                .connection
                .query(
                    redis::cmd("XAUTOCLAIM")
                        .arg(keys.of("stream"))
                        .arg(GROUP)
                        .arg(&self.consumer)
                        .arg(idle)
                        .arg("0-0")
                        .arg("COUNT")
                        .arg(max),
                )
                .await?;
            if !reply.claimed.is_empty() {
                tracing::warn!(
                    route,
                    deliveries = reply.claimed.len(),
                    "took over deliveries a silent replica held for longer than claim_timeout"
                );
                let claimed = self.claimed_from(route, reply.claimed).await?;
                if !claimed.is_empty() {
                    return Ok(claimed);
                }
            }
        }
        // Blocks no longer than until the next promotion is due.
        let until_promote = Duration::from_millis(promote_at.saturating_sub(now_ms()));
        let block = wait.min(until_promote).max(Duration::from_millis(1));
        let reply: Option<StreamReadReply> = reader
            .query(
                redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(&self.consumer)
                    .arg("COUNT")
                    .arg(max)
                    .arg("BLOCK")
                    .arg(u64::try_from(block.as_millis()).unwrap_or(1))
                    .arg("STREAMS")
                    .arg(keys.of("stream"))
                    .arg(">"),
            )
            .await?;
        let entries = reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default();
        self.claimed_from(route, entries).await
    }

    /// Removes from the route's group the consumers of processes long gone
    /// (idle past [`GONE_CONSUMER_IDLE`] with nothing pending): every
    /// process is a consumer of its own, so they would pile up otherwise.
    async fn forget_gone_consumers(&self, keys: &Keys) {
        let stream = keys.of("stream");
        let consumers: Result<StreamInfoConsumersReply, _> = self
            .connection
            .query(redis::cmd("XINFO").arg("CONSUMERS").arg(&stream).arg(GROUP))
            .await;
        let Ok(consumers) = consumers else { return };
        let idle_limit = usize::try_from(GONE_CONSUMER_IDLE.as_millis()).unwrap_or(usize::MAX);
        for consumer in consumers.consumers {
            if consumer.name != self.consumer && consumer.pending == 0 && consumer.idle > idle_limit {
                let _ = self
                    .connection
                    .query::<i64>(
                        redis::cmd("XGROUP")
                            .arg("DELCONSUMER")
                            .arg(&stream)
                            .arg(GROUP)
                            .arg(&consumer.name),
                    )
                    .await;
            }
        }
    }

    async fn retry(
        &self,
        keys: &Keys,
        stream_entry: &str,
        id: &str,
        meta: &[u8],
        due_ms: u64,
    ) -> Result<i64, QueueError> {
        Ok(self
            .connection
            .invoke(
                over(&self.scripts.retry, keys, &["stream", "due", "meta", "dead"])
                    .arg(stream_entry)
                    .arg(id)
                    .arg(meta)
                    .arg(due_ms)
                    .arg(&self.consumer),
            )
            .await?)
    }
}

/// `script` with the route's keys named by `parts`, in order.
fn over<'s>(script: &'s Script, keys: &Keys, parts: &[&str]) -> ScriptInvocation<'s> {
    let mut invocation = script.prepare_invoke();
    for part in parts {
        invocation.key(keys.of(part));
    }
    invocation
}

fn change(result: i64) -> Change {
    match result {
        0 => Change::NotFound,
        1 => Change::Done,
        _ => Change::Busy,
    }
}
