//! Test harness: a real upstream that records every connection and request, the
//! real `hookfence` binary on a free port, and a raw HTTP/1.1 client that can
//! send exactly the bytes a test wants (chunked, lying lengths, slow bodies).
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod redis;
pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// HMAC-SHA256 as GitHub writes it: `sha256=<hex>`. Computed here, not with
/// hookfence's code, so the tests check hookfence against an independent signer.
pub fn github_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A `[[routes]]` table for GitHub deliveries: route `name` at `path`,
/// forwarding to `upstream`, verified with the secrets `secrets` (TOML
/// array items, e.g. `"env:GH"`), plus `extra` lines.
pub fn github_route(name: &str, path: &str, upstream: &str, secrets: &str, extra: &str) -> String {
    format!(
        r#"
[[routes]]
name = "{name}"
path = "{path}"
upstream = "{upstream}"
provider = "github"
secrets = [{secrets}]
{extra}
"#
    )
}

/// A delivery id no other request of this test process uses.
pub fn fresh_id(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A signed GitHub `push` delivery with id `id`, POSTed to `path`.
pub fn deliver_github(addr: SocketAddr, path: &str, secret: &str, id: &str, body: &[u8]) -> Response {
    let signature = github_signature(secret.as_bytes(), body);
    post(
        addr,
        path,
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", id),
            ("X-Hub-Signature-256", &signature),
        ],
        body,
    )
}

/// Waits (bounded) until `done`; fails the test naming `what` otherwise.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// The value of one sample line of Prometheus text output.
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Runs the `hookfence` command: (succeeded, stdout, stderr).
pub fn hookfence_command(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hookfence"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run hookfence");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).map(|v| std::str::from_utf8(v).expect("utf-8 header"))
    }
}

/// How the upstream answers.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// `status` with body `upstream says hi`.
    Respond(u16),
    /// `status` after a pause, so concurrent deliveries overlap.
    Slow(u16, Duration),
    /// Reads the request, then never answers.
    Hang,
    /// Reads the request, then closes the connection without a word.
    Close,
    /// Reads the request, writes these bytes as they are (a broken or
    /// unusual answer), then closes the connection.
    Raw(&'static [u8]),
    /// Like `Raw`, but then holds the connection open without a word.
    RawThenHang(&'static [u8]),
    /// The status to a request whose body contains the bytes, else 200.
    StatusIfBodyHas(&'static [u8], u16),
}

struct UpstreamState {
    connections: usize,
    requests: Vec<Recorded>,
    behaviour: Behaviour,
}

/// A real HTTP/1.1 server on loopback that records what it receives.
pub struct Upstream {
    pub addr: SocketAddr,
    state: Arc<Mutex<UpstreamState>>,
}

impl Upstream {
    pub fn start(behaviour: Behaviour) -> Self {
        Self::start_at("127.0.0.1:0".parse().unwrap(), behaviour)
    }

    /// An upstream on a chosen address: one that was down comes up where
    /// hookfence expects it.
    pub fn start_at(addr: SocketAddr, behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind(addr).expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let state = Arc::new(Mutex::new(UpstreamState {
            connections: 0,
            requests: Vec::new(),
            behaviour,
        }));
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                shared.lock().unwrap().connections += 1;
                let shared = Arc::clone(&shared);
                thread::spawn(move || serve_connection(stream, shared));
            }
        });
        Self { addr, state }
    }

    /// Changes how later requests are answered (e.g. a 500, then 200s).
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.state.lock().unwrap().behaviour = behaviour;
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Waits (bounded) until `n` requests were recorded; the upstream records
    /// a request before answering, so after a 2xx this returns at once.
    pub fn wait_for_requests(&self, n: usize) -> Vec<Recorded> {
        self.wait_for_requests_within(n, IO_TIMEOUT)
    }

    /// [`Upstream::wait_for_requests`] with a deadline of its own.
    pub fn wait_for_requests_within(&self, n: usize, within: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + within;
        loop {
            let requests = self.requests();
            if requests.len() >= n || Instant::now() > deadline {
                return requests;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn serve_connection(stream: TcpStream, state: Arc<Mutex<UpstreamState>>) {
    let mut writer = stream.try_clone().expect("clone upstream stream");
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let body = request.body.clone();
        let behaviour = {
            let mut state = state.lock().unwrap();
            state.requests.push(request);
            state.behaviour
        };
        let status = match behaviour {
            Behaviour::Respond(status) => Some(status),
            Behaviour::StatusIfBodyHas(needle, status) => Some(if body.windows(needle.len()).any(|w| w == needle) {
                status
            } else {
                200
            }),
            Behaviour::Slow(status, pause) => {
                thread::sleep(pause);
                Some(status)
            }
            Behaviour::Hang => None,
            Behaviour::Close => return,
            Behaviour::Raw(bytes) => {
                let _ = writer.write_all(bytes);
                return;
            }
            Behaviour::RawThenHang(bytes) => {
                let _ = writer.write_all(bytes);
                None
            }
        };
        match status {
            Some(status) => {
                let body = b"upstream says hi";
                // One write, so Nagle's algorithm cannot hold the body back.
                let mut response = format!(
                    "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\nX-Upstream: yes\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                response.extend_from_slice(body);
                if writer.write_all(&response).is_err() {
                    return;
                }
            }
            None => {
                thread::sleep(Duration::from_secs(30));
                return;
            }
        }
    }
}

/// Parses one request (Content-Length or chunked body); `None` at EOF.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Recorded> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let headers = read_headers(reader)?;
    let body = read_body(reader, &headers)?;
    Some(Recorded {
        method,
        target,
        headers,
        body,
    })
}

fn read_headers(reader: &mut impl BufRead) -> Option<Vec<(String, Vec<u8>)>> {
    let mut headers = Vec::new();
    loop {
        let mut raw = Vec::new();
        if reader.read_until(b'\n', &mut raw).ok()? == 0 {
            return None;
        }
        let raw = raw.strip_suffix(b"\r\n").or_else(|| raw.strip_suffix(b"\n"))?.to_vec();
        if raw.is_empty() {
            return Some(headers);
        }
        let colon = raw.iter().position(|&b| b == b':')?;
        let name = String::from_utf8_lossy(&raw[..colon]).to_ascii_lowercase();
        let value = raw[colon + 1..].trim_ascii().to_vec();
        headers.push((name, value));
    }
}

fn read_body(reader: &mut impl BufRead, headers: &[(String, Vec<u8>)]) -> Option<Vec<u8>> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                return Some(body);
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    let length: usize = get("content-length").map_or(Some(0), |v| v.parse().ok())?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8 body")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body_str()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| std::str::from_utf8(v).expect("utf-8 header"))
    }
}

/// A client connection to hookfence speaking raw bytes.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect to hookfence");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Self {
            reader: BufReader::new(stream),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) -> &mut Self {
        self.reader.get_mut().write_all(bytes).expect("write to hookfence");
        self
    }

    /// Like [`Client::send`], but `false` when the server closed the connection.
    pub fn try_send(&mut self, bytes: &[u8]) -> bool {
        self.reader.get_mut().write_all(bytes).is_ok()
    }

    /// Reads one response (status line, headers, Content-Length body).
    pub fn response(&mut self) -> Response {
        self.try_response()
            .expect("hookfence closed the connection without a response")
    }

    /// A response if one starts arriving within `wait`; `None` otherwise
    /// (nothing is consumed then).
    pub fn response_within(&mut self, wait: Duration) -> Option<Response> {
        self.reader.get_ref().set_read_timeout(Some(wait)).ok()?;
        let arrived = self.reader.fill_buf().map(|buffered| !buffered.is_empty());
        self.reader.get_ref().set_read_timeout(Some(IO_TIMEOUT)).ok()?;
        match arrived {
            Ok(true) => self.try_response(),
            _ => None,
        }
    }

    /// `None` if the connection closed before a status line arrived.
    pub fn try_response(&mut self) -> Option<Response> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
            let headers = read_headers(&mut self.reader)?;
            if (100..200).contains(&status) {
                continue;
            }
            let body = read_body(&mut self.reader, &headers)?;
            return Some(Response { status, headers, body });
        }
    }

    /// Reads only an interim (1xx) or final status line and its headers,
    /// leaving any body unread. Used to watch for `100 Continue`.
    pub fn status_line(&mut self) -> Option<u16> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let status = line.split(' ').nth(1)?.parse().ok()?;
        read_headers(&mut self.reader)?;
        Some(status)
    }

    /// Everything the server sends until it closes the connection; panics
    /// if it is still open after the read timeout.
    pub fn read_until_closed(&mut self) -> Vec<u8> {
        let mut received = Vec::new();
        self.reader
            .read_to_end(&mut received)
            .expect("hookfence kept the connection open");
        received
    }

    /// Whether the server closed the connection (EOF) within the read timeout.
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0))
    }
}

/// Builds a request with a Content-Length body and `Connection: close`.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: hookfence.test\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Sends one request on a new connection and reads the response.
pub fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    Client::connect(addr)
        .send(&request("POST", path, headers, body))
        .response()
}

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The real `hookfence run` process on free ports (public and admin),
/// killed on drop.
pub struct Hookfence {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    log: PathBuf,
    config: PathBuf,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Hookfence {
    /// Starts hookfence with `routes` (TOML for `[[routes]]` tables and any
    /// extra `[server]` keys go in `server_extra`). Secret files can be put in
    /// the returned config directory beforehand via [`Hookfence::start_in`].
    pub fn start(server_extra: &str, routes: &str, env: &[(&str, &str)]) -> Self {
        Self::start_in(tempfile::tempdir().expect("tempdir"), server_extra, routes, env)
    }

    pub fn start_in(dir: tempfile::TempDir, server_extra: &str, routes: &str, env: &[(&str, &str)]) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let config = dir.path().join("hookfence.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"{addr}\"\nadmin_listen = \"{admin}\"\nthreads = 2\n{server_extra}\n\n{routes}"
            ),
        )
        .expect("write config");
        let log = dir.path().join("hookfence.log");
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let child = spawn(&config, &log, &env);
        let mut hookfence = Self {
            child,
            addr,
            admin,
            log,
            config,
            env,
            dir,
        };
        hookfence.wait_until_listening();
        hookfence
    }

    /// Kills the process at once (SIGKILL: nothing is flushed, nothing
    /// finishes), as a crash or the OOM killer would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the process again on the same config, ports and directory
    /// (its log continues in the same file).
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.config, &self.log, &self.env);
        self.wait_until_listening();
    }

    /// A request to the admin API: `method target`, with a bearer token if given.
    pub fn admin_request(&self, method: &str, target: &str, token: Option<&str>) -> Response {
        let authorization = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        Client::connect(self.admin)
            .send(
                format!(
                    "{method} {target} HTTP/1.1\r\nHost: admin\r\n{authorization}Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .response()
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + IO_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("hookfence exited with {status}:\n{}", self.log());
            }
            if TcpStream::connect(self.addr).is_ok() && TcpStream::connect(self.admin).is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "hookfence did not listen on {} within {IO_TIMEOUT:?}:\n{}",
            self.addr,
            self.log()
        );
    }

    /// The config file the process runs on (rewrite it, then [`Self::signal`] HUP).
    pub fn config_path(&self) -> &std::path::Path {
        &self.config
    }

    /// The directory holding the config (for secret files).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Sends a signal (`HUP`, `TERM`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits (bounded) for the process to exit; its status, if it did.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Resident memory of the process now, in KiB (Linux /proc).
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.child.id(), "VmRSS:")
    }

    /// A GET to the admin API.
    pub fn admin_get(&self, target: &str) -> Response {
        Client::connect(self.admin)
            .send(format!("GET {target} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").as_bytes())
            .response()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `/deliveries` record of the delivery `id` on `route`.
    pub fn listed(&self, route: &str, id: &str) -> serde_json::Value {
        let listing = self.admin_get(&format!("/deliveries?route={route}")).json();
        listing["deliveries"]
            .as_array()
            .expect("a list")
            .iter()
            .find(|d| d["delivery_id"] == serde_json::json!(id))
            .cloned()
            .unwrap_or_else(|| panic!("{id} is listed: {listing}"))
    }

    /// The outcomes of the audit records logged so far (human log format).
    pub fn audit_outcomes(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("hookfence::audit"))
            .filter_map(|l| l.split("outcome=\"").nth(1)?.split('"').next().map(str::to_owned))
            .collect()
    }

    /// The outcomes of the first `n` audit records, sorted: records are
    /// written after each answer by whichever thread served it, so their
    /// order in the log need not be the order of the requests.
    pub fn wait_for_outcomes(&self, n: usize) -> Vec<String> {
        let mut outcomes = self.wait_for_audit(n);
        outcomes.sort();
        outcomes
    }

    /// Waits (bounded) for `n` audit records: a record is written just after
    /// the response, so a test that has its response may be a moment early.
    pub fn wait_for_audit(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let outcomes = self.audit_outcomes();
            if outcomes.len() >= n || Instant::now() > deadline {
                return outcomes;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Hookfence {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `hookfence run` on `config`, logging to `log` (appended).
fn spawn(config: &std::path::Path, log: &std::path::Path, env: &[(String, String)]) -> Child {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open log");
    Command::new(env!("CARGO_BIN_EXE_hookfence"))
        .arg("run")
        .arg("--config")
        .arg(config)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("spawn hookfence")
}

/// A program of the Python tools scripts/test.sh installs (pinned, from
/// PyPI) in `target/tools/venv`; a loud failure when it is not there.
pub fn tool(name: &str) -> PathBuf {
    let bin = std::env::var_os("HOOKFENCE_TOOLS_BIN").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/venv/bin"),
        PathBuf::from,
    );
    let path = bin.join(name);
    assert!(
        path.exists(),
        "{} is missing: run ./scripts/test.sh, which installs the test tools (or set HOOKFENCE_TOOLS_BIN)",
        path.display()
    );
    path
}

/// A `VmRSS:` / `VmHWM:` line of /proc/PID/status, in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
