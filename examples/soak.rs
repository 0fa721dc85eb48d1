//! Soak test (scripts/soak.sh runs it): verified GitHub deliveries at a steady
//! rate for several minutes through a real hookfence, deduplicating in a real
//! redis-server, to an upstream on loopback — while Redis and the upstream
//! are restarted on a schedule, and forged deliveries are mixed in.
//!
//! Senders behave like webhook providers: a retryable answer (409, 502, 503,
//! 504, no answer) is retried with the same delivery id after a pause. At the
//! end the run checks that every acknowledged delivery reached the upstream
//! exactly once, that no forged delivery reached it, and reports what was
//! never acknowledged and hookfence's resident memory over time. It exits
//! non-zero on a violation.
//!
//! Usage: cargo run --release --example soak -- [minutes] [deliveries/s] [path/to/hookfence]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "soak-secret";
const REDIS_EVERY: Duration = Duration::from_secs(40);
const REDIS_DOWN: Duration = Duration::from_secs(3);
const UPSTREAM_EVERY: Duration = Duration::from_secs(55);
const UPSTREAM_DOWN: Duration = Duration::from_secs(3);
/// Senders keep retrying this long after the last new delivery.
const DRAIN: Duration = Duration::from_secs(30);

type Outcome = Result<(), String>;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn redis(port: u16) -> std::io::Result<Child> {
    Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

#[path = "../benches/support/rss.rs"]
mod rss;
use rss::rss_kib;

/// The upstream: counts deliveries by id; `down` makes it refuse connections.
#[derive(Default)]
struct Upstream {
    seen: Mutex<HashMap<String, u32>>,
    down: AtomicBool,
}

async fn serve_upstream(upstream: Arc<Upstream>, port: u16) {
    loop {
        if upstream.down.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // Accept until told to go down; the listener is then dropped, so new
        // connections are refused; connections in progress finish.
        while !upstream.down.load(Ordering::Relaxed) {
            let accepted = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
            if let Ok(Ok((stream, _))) = accepted {
                tokio::spawn(serve_connection(Arc::clone(&upstream), stream));
            }
        }
    }
}

async fn serve_connection(upstream: Arc<Upstream>, stream: TcpStream) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let (mut length, mut id) = (0usize, String::new());
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "x-github-delivery" => id = value.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        // A restart closes connections between requests, never mid-request.
        if upstream.down.load(Ordering::Relaxed) {
            return;
        }
        *upstream
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id)
            .or_default() += 1;
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        if reader.get_mut().write_all(answer).await.is_err() {
            return;
        }
    }
}

/// One POST on a fresh connection; the status, or `None` without an answer.
async fn post(addr: SocketAddr, id: &str, body: &[u8], signature: &str) -> Option<u16> {
    let attempt = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let head = format!(
            "POST /hooks/github HTTP/1.1\r\nHost: soak\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: {id}\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.ok()?;
        stream.write_all(body).await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        let line = answer.split(|&b| b == b'\n').next()?;
        std::str::from_utf8(line).ok()?.split(' ').nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .ok()
        .flatten()
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    acknowledged: Mutex<Vec<String>>,
    unacknowledged: Mutex<Vec<String>>,
    retries: AtomicU64,
    forged_refused: AtomicU64,
    statuses: Mutex<HashMap<String, u64>>,
}

/// A provider delivering one event: retries retryable answers until `until`.
async fn deliver(addr: SocketAddr, id: String, forged: bool, until: Instant, tally: Arc<Tally>) {
    let body = format!(
        r#"{{"ref":"refs/heads/main","after":"{id}","padding":"{}"}}"#,
        "x".repeat(2048)
    );
    let signature = if forged {
        sign(b"something else")
    } else {
        sign(body.as_bytes())
    };
    let mut pause = Duration::from_millis(250);
    loop {
        let status = post(addr, &id, body.as_bytes(), &signature).await;
        let label = status.map_or("no answer".to_owned(), |s| s.to_string());
        *tally
            .statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(label)
            .or_default() += 1;
        match status {
            Some(401) if forged => {
                tally.forged_refused.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Some(200..=299) if !forged => {
                tally.acknowledged.lock().unwrap_or_else(|p| p.into_inner()).push(id);
                return;
            }
            _ if Instant::now() > until => {
                tally.unacknowledged.lock().unwrap_or_else(|p| p.into_inner()).push(id);
                return;
            }
            _ => {
                tally.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(4));
            }
        }
    }
}

/// Kills Redis every [`REDIS_EVERY`] and takes the upstream away every
/// [`UPSTREAM_EVERY`], each for a few seconds, until `end`. Returns the Redis
/// process and the restart counts.
async fn chaos(
    mut redis_server: Child,
    redis_port: u16,
    upstream: Arc<Upstream>,
    end: Instant,
) -> std::io::Result<(Child, u32, u32)> {
    let started = Instant::now();
    let (mut next_redis, mut next_upstream) = (started + REDIS_EVERY, started + UPSTREAM_EVERY);
    let (mut redis_restarts, mut upstream_restarts) = (0, 0);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if Instant::now() >= next_redis {
            redis_server.kill()?;
            redis_server.wait()?;
            tokio::time::sleep(REDIS_DOWN).await;
            redis_server = redis(redis_port)?;
            redis_restarts += 1;
            next_redis += REDIS_EVERY;
        }
        if Instant::now() >= next_upstream {
            upstream.down.store(true, Ordering::Relaxed);
            tokio::time::sleep(UPSTREAM_DOWN).await;
            upstream.down.store(false, Ordering::Relaxed);
            upstream_restarts += 1;
            next_upstream += UPSTREAM_EVERY;
        }
    }
    Ok((redis_server, redis_restarts, upstream_restarts))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("soak: FAILED: {problem}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Outcome {
    let args: Vec<String> = std::env::args().collect();
    let minutes: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let rate: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50.0);
    let binary = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "target/release/hookfence".into());
    let duration = Duration::from_secs_f64(minutes * 60.0);

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (redis_port, upstream_port, port, admin) = (free_port(), free_port(), free_port(), free_port());
    let redis_server = redis(redis_port).map_err(|e| format!("redis-server: {e} (install redis-server)"))?;
    let upstream = Arc::new(Upstream::default());
    tokio::spawn(serve_upstream(Arc::clone(&upstream), upstream_port));

    let config = dir.path().join("hookfence.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:{admin}"
[log]
level = "warn"
[dedup]
backend = "redis"
url = "redis://127.0.0.1:{redis_port}"
command_timeout = "250ms"
in_flight_ttl = "20s"
[[routes]]
name = "github"
path = "/hooks/github"
upstream = "http://127.0.0.1:{upstream_port}"
provider = "github"
secrets = ["env:SOAK_SECRET"]
dedup_policy = "fail_closed"
connect_timeout = "1s"
upstream_timeout = "3s"
"#
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut hookfence = Command::new(&binary)
        .args(["run", "--config"])
        .arg(&config)
        .env("SOAK_SECRET", SECRET)
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{binary}: {e} (build it: cargo build --release)"))?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().map_err(|e| format!("{e}"))?;
    let ready = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).await.is_err() {
        if Instant::now() > ready {
            let _ = hookfence.kill();
            return Err("hookfence did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = hookfence.id();

    println!("soak: {minutes} min at {rate}/s (1 in 10 forged); Redis restarted every {REDIS_EVERY:?}, upstream every {UPSTREAM_EVERY:?}");
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let until = started + duration + DRAIN;
    let mut senders = Vec::new();
    let mut rss = Vec::new();
    // Restarts run beside the traffic, which keeps its rate through them.
    let chaos = tokio::spawn(chaos(
        redis_server,
        redis_port,
        Arc::clone(&upstream),
        started + duration,
    ));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut ticker = tokio::time::interval(interval);
    let mut last_sample = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < duration {
        ticker.tick().await;
        n += 1;
        let forged = n.is_multiple_of(10);
        let id = format!("{}-{n}", if forged { "forged" } else { "soak" });
        tally.sent.fetch_add(1, Ordering::Relaxed);
        senders.push(tokio::spawn(deliver(addr, id, forged, until, Arc::clone(&tally))));
        if last_sample.elapsed() >= Duration::from_secs(1) {
            rss.push(rss_kib(&pid.to_string()));
            last_sample = Instant::now();
        }
    }
    let (mut redis_server, redis_restarts, upstream_restarts) = chaos
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("restarting redis-server: {e}"))?;
    for sender in senders {
        let _ = sender.await;
    }
    rss.push(rss_kib(&pid.to_string()));
    let _ = hookfence.kill();
    let _ = hookfence.wait();
    let _ = redis_server.kill();
    let _ = redis_server.wait();

    let seen = upstream.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let acknowledged = tally.acknowledged.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let unacknowledged = tally.unacknowledged.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let forged_forwarded = seen.keys().filter(|id| id.starts_with("forged")).count();
    let not_once: Vec<_> = acknowledged.iter().filter(|id| seen.get(*id) != Some(&1)).collect();
    let duplicated = seen.values().filter(|c| **c > 1).count();
    let third = rss.len() / 3;
    let (early, late) = (&rss[..third.max(1)], &rss[rss.len() - third.max(1)..]);
    println!(
        "sent {} deliveries ({} verified, {} forged) in {:.0?}",
        tally.sent.load(Ordering::Relaxed),
        n - n / 10,
        n / 10,
        started.elapsed()
    );
    println!(
        "restarts: redis {redis_restarts}, upstream {upstream_restarts}; retries {}",
        tally.retries.load(Ordering::Relaxed)
    );
    println!(
        "answers: {:?}",
        tally.statuses.lock().unwrap_or_else(|p| p.into_inner())
    );
    println!(
        "acknowledged {} | forwarded exactly once {} | forwarded more than once {duplicated} | never acknowledged {} | forged refused {} | forged forwarded {forged_forwarded}",
        acknowledged.len(),
        acknowledged.len() - not_once.len(),
        unacknowledged.len(),
        tally.forged_refused.load(Ordering::Relaxed)
    );
    println!(
        "hookfence RSS KiB: first third max {}, last third max {}, overall min {} max {}",
        early.iter().max().unwrap_or(&0),
        late.iter().max().unwrap_or(&0),
        rss.iter().min().unwrap_or(&0),
        rss.iter().max().unwrap_or(&0)
    );
    if forged_forwarded > 0 {
        return Err(format!("{forged_forwarded} forged deliveries reached the upstream"));
    }
    if !not_once.is_empty() {
        return Err(format!(
            "{} acknowledged deliveries were not forwarded exactly once: {:?}",
            not_once.len(),
            &not_once[..not_once.len().min(5)]
        ));
    }
    Ok(())
}
