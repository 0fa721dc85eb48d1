//! Real Redis servers for the tests: `redis-server` started on a free port in
//! a temporary directory, stopped on drop. A missing binary fails the test
//! with an install hint; it never skips.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{free_port, IO_TIMEOUT};

const INSTALL_HINT: &str =
    "redis-server not found: install it (Debian: `apt-get install redis-server`; ./scripts/test.sh does this)";

/// One `redis-server` process.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    cluster: bool,
    /// Append-only file, fsynced on every write (`appendfsync always`).
    aof: bool,
}

impl RedisServer {
    /// A standalone server on a free port.
    pub fn start() -> Self {
        Self::start_on(free_port(), false)
    }

    /// A standalone server that keeps every write in its append-only file,
    /// fsynced before it answers: what the delivery queue asks of Redis.
    pub fn start_durable() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
            dir: tempfile::tempdir().expect("tempdir"),
            cluster: false,
            aof: true,
        };
        server.restart();
        server
    }

    fn start_on(port: u16, cluster: bool) -> Self {
        let mut server = Self {
            port,
            child: None,
            dir: tempfile::tempdir().expect("tempdir"),
            cluster,
            aof: false,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye to clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts the server on the same port: with an empty dataset, or
    /// with what its append-only file kept.
    pub fn restart(&mut self) {
        self.kill();
        let mut command = Command::new("redis-server");
        command
            .current_dir(self.dir.path())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--protected-mode", "no"])
            .args(if self.aof {
                ["--appendonly", "yes", "--appendfsync", "always"]
            } else {
                ["--appendonly", "no", "--appendfsync", "everysec"]
            })
            .args(["--enable-debug-command", "local"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            command.args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("{INSTALL_HINT} ({e})"));
        self.child = Some(child);
        wait_for(
            || self.cli(&["PING"]).is_some_and(|out| out.trim() == "PONG"),
            "redis-server to answer PING",
        );
    }

    /// Runs `redis-cli` against this server; `None` if it fails.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        redis_cli(self.port, args)
    }

    /// Keys held by this server.
    pub fn dbsize(&self) -> usize {
        self.cli(&["DBSIZE"])
            .and_then(|s| s.trim().parse().ok())
            .expect("DBSIZE")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn redis_cli(port: u16, args: &[&str]) -> Option<String> {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("redis-cli not found: {INSTALL_HINT} ({e})"));
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// A Redis Cluster of `n` masters, made with `redis-cli --cluster create`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start(n: usize) -> Self {
        let nodes: Vec<_> = (0..n).map(|_| RedisServer::start_on(free_port(), true)).collect();
        let addresses: Vec<String> = nodes.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let created = redis_cli(nodes[0].port, &args);
        assert!(created.is_some(), "redis-cli --cluster create failed");
        for node in &nodes {
            wait_for(
                || {
                    node.cli(&["CLUSTER", "INFO"])
                        .is_some_and(|info| info.contains("cluster_state:ok"))
                },
                "the cluster to be ok",
            );
        }
        Self { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}
