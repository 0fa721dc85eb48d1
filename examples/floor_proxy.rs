//! The floor for `benches/load.sh`: the least a tokio-based proxy can do
//! for a signed delivery, to compare hookfence with. It reads a request
//! head with httparse and a `Content-Length` body, computes an HMAC-SHA256
//! of the body (with `--verify`; the result is not checked), forwards head
//! and body in one write over a per-thread keep-alive connection, and
//! relays an answer framed by `Content-Length`.
//!
//! It checks nothing else: no routing, no timeouts, no limits, no framing
//! rules, no header rewriting, no audit or metrics. It is a measuring
//! stick, not a proxy to deploy; a connection it cannot handle is closed.
//!
//!   cargo run --release --example floor_proxy -- LISTEN UPSTREAM THREADS [--verify]

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::net::SocketAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

thread_local! {
    /// Idle upstream connections of this worker thread.
    static POOL: RefCell<Vec<TcpStream>> = const { RefCell::new(Vec::new()) };
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Reads until `buf` holds a complete head; its length, or `None` at EOF.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(end + 4));
        }
        if buf.len() > 64 * 1024 {
            return Err(invalid("head too large"));
        }
        buf.reserve(8 * 1024);
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// The `Content-Length` of a parsed head (0 without one).
fn content_length(headers: &[httparse::Header<'_>]) -> io::Result<usize> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map_or(Ok(0), |h| {
            std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or(invalid("bad content-length"))
        })
}

async fn write_all_vectored(stream: &mut TcpStream, mut parts: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut parts, 0);
    while !parts.is_empty() {
        let written = stream.write_vectored(parts).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut parts, written);
    }
    Ok(())
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, verify: bool) -> io::Result<()> {
    client.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(8 * 1024);
    loop {
        let Some(head_len) = read_head(&mut client, &mut buf).await? else {
            return Ok(());
        };
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        request.parse(&buf[..head_len]).map_err(|_| invalid("bad head"))?;
        let length = content_length(request.headers)?;
        let mut wire = Vec::with_capacity(head_len + 32);
        wire.extend_from_slice(request.method.unwrap_or("POST").as_bytes());
        wire.push(b' ');
        wire.extend_from_slice(request.path.unwrap_or("/").as_bytes());
        wire.extend_from_slice(b" HTTP/1.1\r\n");
        for header in request.headers.iter() {
            if !header.name.eq_ignore_ascii_case("content-length") && !header.name.eq_ignore_ascii_case("connection") {
                wire.extend_from_slice(header.name.as_bytes());
                wire.extend_from_slice(b": ");
                wire.extend_from_slice(header.value);
                wire.extend_from_slice(b"\r\n");
            }
        }
        wire.extend_from_slice(format!("Content-Length: {length}\r\n\r\n").as_bytes());

        let mut body = Vec::with_capacity(length);
        let buffered = (buf.len() - head_len).min(length);
        body.extend_from_slice(&buf[head_len..head_len + buffered]);
        buf.drain(..head_len + buffered);
        while body.len() < length {
            if (&mut client)
                .take((length - body.len()) as u64)
                .read_buf(&mut body)
                .await?
                == 0
            {
                return Ok(());
            }
        }
        if verify {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"floor-proxy-key").map_err(|_| invalid("key"))?;
            mac.update(&body);
            std::hint::black_box(mac.finalize());
        }

        let mut upstream_stream = match POOL.with(|pool| pool.borrow_mut().pop()) {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(upstream).await?;
                stream.set_nodelay(true)?;
                stream
            }
        };
        write_all_vectored(&mut upstream_stream, &mut [IoSlice::new(&wire), IoSlice::new(&body)]).await?;

        let mut answer = Vec::with_capacity(2 * 1024);
        let Some(answer_head) = read_head(&mut upstream_stream, &mut answer).await? else {
            return Err(invalid("upstream closed"));
        };
        let mut answer_headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut answer_headers);
        response
            .parse(&answer[..answer_head])
            .map_err(|_| invalid("bad answer"))?;
        let answer_length = answer_head + content_length(response.headers)?;
        while answer.len() < answer_length {
            if upstream_stream.read_buf(&mut answer).await? == 0 {
                return Err(invalid("upstream closed mid-answer"));
            }
        }
        client.write_all(&answer[..answer_length]).await?;
        POOL.with(|pool| pool.borrow_mut().push(upstream_stream));
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = || invalid("usage: floor_proxy LISTEN UPSTREAM THREADS [--verify]");
    let listen: SocketAddr = args.get(1).and_then(|a| a.parse().ok()).ok_or_else(usage)?;
    let upstream: SocketAddr = args.get(2).and_then(|a| a.parse().ok()).ok_or_else(usage)?;
    let threads: usize = args.get(3).and_then(|a| a.parse().ok()).ok_or_else(usage)?;
    let verify = args.iter().any(|a| a == "--verify");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(listen).await?;
        loop {
            let (client, _) = listener.accept().await?;
            tokio::spawn(async move {
                let _ = serve(client, upstream, verify).await;
            });
        }
    })
}
