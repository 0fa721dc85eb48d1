//! The Redis dedup store, for several replicas: one standalone server or a
//! Redis Cluster ([`crate::redis_connection`]).
//!
//! Each operation is one Lua script on one key, so it is atomic on the server
//! and stays on one cluster shard. Scripts are re-loaded automatically when a
//! restarted server has forgotten them (`EVALSHA`, then `EVAL` on `NOSCRIPT`).

use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::{DedupStore, Reservation, StoreError, Token};
use crate::redis_connection::{RedisConnection, Target};

/// Claims the key for a token unless it is held: 0 reserved, 1 duplicate
/// (committed), 2 in flight.
const RESERVE: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, 5) == 'done:' then return 1 end
return 2
";

/// Marks the key delivered, unless it already is.
const COMMIT: &str = r"
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, 5) == 'done:' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Compare-and-delete: only the claim's own token releases it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

pub struct RedisStore {
    connection: RedisConnection,
    reserve: Script,
    commit: Script,
    release: Script,
}

impl RedisStore {
    /// Creates the store without connecting. Must run inside a Tokio runtime:
    /// reconnections are spawned on it. `timeout` bounds connecting and each reply.
    pub fn new(target: &Target, timeout: Duration) -> Result<Self, StoreError> {
        Ok(Self {
            connection: RedisConnection::new(target, timeout, timeout)?,
            reserve: Script::new(RESERVE),
            commit: Script::new(COMMIT),
            release: Script::new(RELEASE),
        })
    }

    async fn run(&self, script: &Script, key: &str, args: &[&str]) -> Result<i64, StoreError> {
        let mut invocation = script.key(key);
        for arg in args {
            invocation.arg(*arg);
        }
        Ok(self.connection.invoke(&invocation).await?)
    }
}

#[async_trait]
impl DedupStore for RedisStore {
    async fn reserve(&self, key: &str, token: Token, in_flight: Duration) -> Result<Reservation, StoreError> {
        let claim = format!("inflight:{token}");
        let ms = in_flight.as_millis().max(1).to_string();
        match self.run(&self.reserve, key, &[&claim, &ms]).await? {
            0 => Ok(Reservation::Reserved),
            1 => Ok(Reservation::Duplicate),
            _ => Ok(Reservation::InFlight),
        }
    }

    async fn commit(&self, key: &str, token: Token, ttl: Duration) -> Result<(), StoreError> {
        let done = format!("done:{token}");
        let ms = ttl.as_millis().max(1).to_string();
        self.run(&self.commit, key, &[&done, &ms]).await.map(|_| ())
    }

    async fn release(&self, key: &str, token: Token) -> Result<(), StoreError> {
        let claim = format!("inflight:{token}");
        self.run(&self.release, key, &[&claim]).await.map(|_| ())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.connection.ping().await?)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
