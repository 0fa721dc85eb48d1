//! A connection to Redis, standalone or Cluster, shared by the stores that
//! live there (dedup, the delivery queue). TLS (`rediss://`) and password or
//! ACL user come from the URL.
//!
//! Connections are made lazily and remade by themselves: hookfence starts
//! while Redis is down and resumes when it comes back, without a restart.
//! Errors are described without the URL, which may hold a password.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, FromRedisValue, Pipeline, RedisError, ScriptInvocation, Value};
use tokio::sync::Mutex;

/// Where Redis lives.
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

/// A Redis failure, described without anything that could hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RedisFailure(pub String);

impl From<RedisError> for RedisFailure {
    fn from(error: RedisError) -> Self {
        RedisFailure(describe(&error))
    }
}

/// One logical connection: a multiplexed connection to a standalone server,
/// or a Cluster connection that follows slot moves. Cheap to share; every
/// command may run concurrently with the others. A blocking command holds up
/// the commands behind it, so blocking reads get a connection of their own.
pub struct RedisConnection {
    kind: Kind,
}

enum Kind {
    Standalone(ConnectionManager),
    Cluster(Box<LazyCluster>),
}

struct LazyCluster {
    client: ClusterClient,
    /// Made on first use and reused; `ClusterConnection` follows slot moves
    /// and reconnects to nodes by itself.
    connection: Mutex<Option<ClusterConnection>>,
}

impl RedisConnection {
    /// Creates the connection without connecting. Must run inside a Tokio
    /// runtime: reconnections are spawned on it. `connect_timeout` bounds
    /// connecting, `response_timeout` each reply (a blocking read's wait
    /// included).
    pub fn new(target: &Target, connect_timeout: Duration, response_timeout: Duration) -> Result<Self, RedisFailure> {
        let kind = match target {
            Target::Standalone(url) => {
                let client = Client::open(url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(response_timeout))
                    // Fail fast while Redis is down; the next command tries again.
                    .set_number_of_retries(1)
                    .set_max_delay(connect_timeout);
                Kind::Standalone(ConnectionManager::new_lazy_with_config(client, config)?)
            }
            Target::Cluster(nodes) => Kind::Cluster(Box::new(LazyCluster {
                client: ClusterClient::builder(nodes.iter().map(String::as_str))
                    .connection_timeout(connect_timeout)
                    .response_timeout(response_timeout)
                    .retries(2)
                    .build()?,
                connection: Mutex::new(None),
            })),
        };
        Ok(Self { kind })
    }

    /// Runs a Lua script (`EVALSHA`, then `EVAL` when a restarted server has
    /// forgotten it).
    pub async fn invoke<T: FromRedisValue>(&self, invocation: &ScriptInvocation<'_>) -> Result<T, RedisFailure> {
        Ok(match &self.kind {
            Kind::Standalone(manager) => invocation.invoke_async(&mut manager.clone()).await?,
            Kind::Cluster(cluster) => invocation.invoke_async(&mut cluster.get().await?).await?,
        })
    }

    /// Runs one command.
    pub async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, RedisFailure> {
        Ok(match &self.kind {
            Kind::Standalone(manager) => command.query_async(&mut manager.clone()).await?,
            Kind::Cluster(cluster) => command.query_async(&mut cluster.get().await?).await?,
        })
    }

    /// Runs a pipeline; its replies in order (an error reply of one command
    /// is its `Value::ServerError`, not a failure of the pipeline).
    pub async fn query_pipeline(&self, pipeline: &Pipeline) -> Result<Vec<Value>, RedisFailure> {
        Ok(match &self.kind {
            Kind::Standalone(manager) => pipeline.query_async(&mut manager.clone()).await?,
            Kind::Cluster(cluster) => pipeline.query_async(&mut cluster.get().await?).await?,
        })
    }

    /// Whether the server answers.
    pub async fn ping(&self) -> Result<(), RedisFailure> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}

impl LazyCluster {
    /// A handle to the cluster connection, connecting if there is none yet.
    async fn get(&self) -> Result<ClusterConnection, RedisFailure> {
        let mut slot = self.connection.lock().await;
        if let Some(existing) = slot.as_ref() {
            return Ok(existing.clone());
        }
        let made = self.client.get_async_connection().await?;
        *slot = Some(made.clone());
        Ok(made)
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
