//! The Redis dedup store, for several replicas: one standalone server or a
//! Redis Cluster. TLS (`rediss://`) and password/ACL user come from the URL.
//!
//! Each operation is one Lua script on one key, so it is atomic on the server
//! and stays on one cluster shard. Connections are made lazily and remade by
//! themselves: hookfence starts while Redis is down, and resumes
//! deduplicating when Redis comes back, without a restart. Scripts are
//! re-loaded automatically when a restarted server has forgotten them
//! (`EVALSHA`, then `EVAL` on `NOSCRIPT`).

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Client, RedisError, Script};
use tokio::sync::Mutex;

use super::{DedupStore, Reservation, StoreError, Token};

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

/// Where the store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    Standalone(String),
    /// Seed nodes of a Redis Cluster.
    Cluster(Vec<String>),
}

// URLs may carry a password: never print them.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Standalone(_) => f.write_str("Standalone(<url>)"),
            Target::Cluster(nodes) => write!(f, "Cluster({} nodes)", nodes.len()),
        }
    }
}

impl Target {
    /// Checks the URLs at config load (scheme, host, port, database), without connecting.
    pub fn validate(&self) -> Result<(), String> {
        let urls = match self {
            Target::Standalone(url) => std::slice::from_ref(url),
            Target::Cluster(nodes) if nodes.is_empty() => return Err("a cluster needs at least one node".into()),
            Target::Cluster(nodes) => nodes.as_slice(),
        };
        for url in urls {
            Client::open(url.as_str()).map_err(|e| describe(&e))?;
        }
        Ok(())
    }
}

enum Connection {
    Standalone(ConnectionManager),
    Cluster(Box<LazyCluster>),
}

struct LazyCluster {
    client: ClusterClient,
    /// Made on first use and reused; `ClusterConnection` follows slot moves
    /// and reconnects to nodes by itself.
    connection: Mutex<Option<ClusterConnection>>,
}

pub struct RedisStore {
    connection: Connection,
    reserve: Script,
    commit: Script,
    release: Script,
}

impl RedisStore {
    /// Creates the store without connecting. Must run inside a Tokio runtime:
    /// reconnections are spawned on it. `timeout` bounds connecting and each reply.
    pub fn new(target: &Target, timeout: Duration) -> Result<Self, StoreError> {
        let connection = match target {
            Target::Standalone(url) => {
                let client = Client::open(url.as_str()).map_err(|e| StoreError(describe(&e)))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    // Fail fast while Redis is down; the next command tries again.
                    .set_number_of_retries(1)
                    .set_max_delay(timeout);
                Connection::Standalone(
                    ConnectionManager::new_lazy_with_config(client, config).map_err(|e| StoreError(describe(&e)))?,
                )
            }
            Target::Cluster(nodes) => Connection::Cluster(Box::new(LazyCluster {
                client: ClusterClient::builder(nodes.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(2)
                    .build()
                    .map_err(|e| StoreError(describe(&e)))?,
                connection: Mutex::new(None),
            })),
        };
        Ok(Self {
            connection,
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
        match &self.connection {
            Connection::Standalone(manager) => {
                let mut manager = manager.clone();
                invocation
                    .invoke_async(&mut manager)
                    .await
                    .map_err(|e| StoreError(describe(&e)))
            }
            Connection::Cluster(cluster) => {
                let mut connection = cluster.get().await?;
                invocation
                    .invoke_async(&mut connection)
                    .await
                    .map_err(|e| StoreError(describe(&e)))
            }
        }
    }

    async fn ping_connection(&self) -> Result<(), StoreError> {
        let ping = redis::cmd("PING");
        let result: Result<String, RedisError> = match &self.connection {
            Connection::Standalone(manager) => ping.query_async(&mut manager.clone()).await,
            Connection::Cluster(cluster) => ping.query_async(&mut cluster.get().await?).await,
        };
        result.map(|_| ()).map_err(|e| StoreError(describe(&e)))
    }
}

impl LazyCluster {
    /// A handle to the cluster connection, connecting if there is none yet.
    async fn get(&self) -> Result<ClusterConnection, StoreError> {
        let mut slot = self.connection.lock().await;
        if let Some(existing) = slot.as_ref() {
            return Ok(existing.clone());
        }
        let made = self
            .client
            .get_async_connection()
            .await
            .map_err(|e| StoreError(describe(&e)))?;
        *slot = Some(made.clone());
        Ok(made)
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
        self.ping_connection().await
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

/// A Redis error without anything that could hold a password.
fn describe(error: &RedisError) -> String {
    let kind = format!("{:?}", error.kind());
    match error.detail() {
        Some(detail) => format!("redis {kind}: {detail}"),
        None => format!("redis {kind}: {}", error.category()),
    }
}
