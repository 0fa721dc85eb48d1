//! The Redis dedup store, for several replicas: one standalone server or a
//! Redis Cluster ([`crate::redis_connection`]).
//!
//! Each operation is one command on one key, atomic on the server and on
//! one cluster shard:
//!
//! - reserve: `SET key inflight:<token> NX PX <in_flight> GET` — set if
//!   absent; otherwise the value held says whether the delivery is done or
//!   in flight (Redis ≥ 7.0; on an older server, the same as a Lua script);
//! - commit: `SET key done:<token> PX <ttl>`;
//! - release: compare-and-delete by token, a Lua script (`EVALSHA`, then
//!   `EVAL` when a restarted server has forgotten it).
//!
//! On a standalone server, reserves and commits that arrive together (one
//! per delivery in flight) go out as one pipeline: one write and one read
//! for all of them instead of one each, which is most of what a command
//! costs hookfence. Nothing waits to fill a batch: what is queued when the
//! previous batch is answered goes next. A Cluster spreads keys over
//! shards, so there each command goes on its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::{Cmd, Script, Value};
use tokio::sync::{mpsc, oneshot};

use super::{DedupStore, Reservation, StoreError, Token};
use crate::redis_connection::{RedisConnection, RedisFailure, Target};

/// Reserve on a server older than 7.0 (no `NX` with `GET`): 0 reserved,
/// 1 duplicate (committed), 2 in flight.
const RESERVE: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, 5) == 'done:' then return 1 end
return 2
";

/// Compare-and-delete: only the claim's own token releases it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Commands sent in one pipeline at most.
const MAX_BATCH: usize = 256;

pub struct RedisStore {
    connection: Arc<RedisConnection>,
    /// Standalone only: the queue of the task that pipelines commands.
    batcher: Option<mpsc::UnboundedSender<Queued>>,
    /// The server refused `SET … NX … GET`: reserve with the script.
    old_server: AtomicBool,
    reserve: Script,
    release: Script,
}

/// A command waiting for its batch, and who waits for its reply.
struct Queued {
    command: Cmd,
    reply: oneshot::Sender<Result<Value, RedisFailure>>,
}

impl RedisStore {
    /// Creates the store without connecting. Must run inside a Tokio runtime:
    /// reconnections (and the batching task) are spawned on it. `timeout`
    /// bounds connecting and each reply.
    pub fn new(target: &Target, timeout: Duration) -> Result<Self, StoreError> {
        let connection = Arc::new(RedisConnection::new(target, timeout, timeout)?);
        let batcher = match target {
            Target::Standalone(_) => {
                let (queue, commands) = mpsc::unbounded_channel();
                tokio::spawn(send_batches(Arc::clone(&connection), commands));
                Some(queue)
            }
            Target::Cluster(_) => None,
        };
        Ok(Self {
            connection,
            batcher,
            old_server: AtomicBool::new(false),
            reserve: Script::new(RESERVE),
            release: Script::new(RELEASE),
        })
    }

    /// Runs one command, in a batch where there is one.
    async fn query(&self, command: Cmd) -> Result<Value, StoreError> {
        let Some(batcher) = &self.batcher else {
            return Ok(self.connection.query(&command).await?);
        };
        let (reply, answer) = oneshot::channel();
        batcher
            .send(Queued { command, reply })
            .map_err(|_| StoreError("redis: the batching task has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError("redis: the batching task has stopped".into()))?
            .map_err(StoreError::from)
    }

    async fn reserve_with_script(&self, key: &str, claim: &str, ms: &str) -> Result<Reservation, StoreError> {
        let answer: i64 = self.connection.invoke(self.reserve.key(key).arg(claim).arg(ms)).await?;
        Ok(match answer {
            0 => Reservation::Reserved,
            1 => Reservation::Duplicate,
            _ => Reservation::InFlight,
        })
    }
}

/// Sends what is queued as pipelines, one after the other, and hands each
/// reply to its waiter.
async fn send_batches(connection: Arc<RedisConnection>, mut commands: mpsc::UnboundedReceiver<Queued>) {
    while let Some(first) = commands.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(queued) => batch.push(queued),
                Err(_) => break,
            }
        }
        let mut pipeline = redis::pipe();
        // One command's error reply is its own, not the whole batch's.
        pipeline.ignore_errors();
        let mut waiters = Vec::with_capacity(batch.len());
        for queued in batch {
            pipeline.add_command(queued.command);
            waiters.push(queued.reply);
        }
        match connection.query_pipeline(&pipeline).await {
            Ok(replies) => {
                for (waiter, reply) in waiters.into_iter().zip(replies) {
                    let reply = match reply {
                        Value::ServerError(e) => Err(RedisFailure(format!("redis: {e}"))),
                        other => Ok(other),
                    };
                    let _ = waiter.send(reply);
                }
            }
            Err(e) => {
                for waiter in waiters {
                    let _ = waiter.send(Err(e.clone()));
                }
            }
        }
    }
}

#[async_trait]
impl DedupStore for RedisStore {
    async fn reserve(&self, key: &str, token: Token, in_flight: Duration) -> Result<Reservation, StoreError> {
        let claim = format!("inflight:{token}");
        let ms = in_flight.as_millis().max(1).to_string();
        if self.old_server.load(Ordering::Relaxed) {
            return self.reserve_with_script(key, &claim, &ms).await;
        }
        let mut command = redis::cmd("SET");
        command.arg(key).arg(&claim).arg("NX").arg("PX").arg(&ms).arg("GET");
        match self.query(command).await {
            Ok(Value::Nil) => Ok(Reservation::Reserved),
            Ok(Value::BulkString(held)) if held.starts_with(b"done:") => Ok(Reservation::Duplicate),
            Ok(Value::BulkString(_) | Value::SimpleString(_)) => Ok(Reservation::InFlight),
            Ok(other) => Err(StoreError(format!("redis: unexpected reply to SET: {other:?}"))),
            // Redis before 7.0 refuses NX together with GET.
            Err(e) if e.0.contains("syntax") => {
                self.old_server.store(true, Ordering::Relaxed);
                tracing::info!("redis before 7.0: dedup reserves with a Lua script");
                self.reserve_with_script(key, &claim, &ms).await
            }
            Err(e) => Err(e),
        }
    }

    async fn commit(&self, key: &str, token: Token, ttl: Duration) -> Result<(), StoreError> {
        // Whatever the key held (this claim, one that expired and was
        // taken, or a done mark), the delivery was forwarded: done now.
        let mut command = redis::cmd("SET");
        command
            .arg(key)
            .arg(format!("done:{token}"))
            .arg("PX")
            .arg(ttl.as_millis().max(1).to_string());
        self.query(command).await.map(|_| ())
    }

    async fn release(&self, key: &str, token: Token) -> Result<(), StoreError> {
        let claim = format!("inflight:{token}");
        let _: i64 = self.connection.invoke(self.release.key(key).arg(claim)).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.connection.ping().await?)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
