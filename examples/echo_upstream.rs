//! A demo backend for trying hookfence: answers every request with 200 and
//! prints what arrived. If `HOOKFENCE_FORWARD_SECRET` is set it also checks the
//! `X-Hookfence-Signature-256` header that `sign_forwarded` adds — the check a
//! real backend would do.
//!
//! Usage: `cargo run --example echo_upstream [ADDR]` (default 127.0.0.1:3000).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("echo upstream listening on {addr}");
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = serve(stream).await {
                eprintln!("connection error: {e}");
            }
        });
    }
}

async fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).await?;
            let header = header.trim_end().to_owned();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let length: usize = get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;

        println!("--> {}", line.trim_end());
        for (name, value) in &headers {
            println!("    {name}: {value}");
        }
        println!(
            "    ({length} body bytes) {}",
            String::from_utf8_lossy(&body[..length.min(200)])
        );
        if let (Ok(secret), Some(presented)) = (
            std::env::var("HOOKFENCE_FORWARD_SECRET"),
            get("x-hookfence-signature-256"),
        ) {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
            mac.update(&body);
            let ok = presented
                .strip_prefix("sha256=")
                .and_then(|hex_mac| hex::decode(hex_mac).ok())
                .is_some_and(|bytes| mac.verify_slice(&bytes).is_ok());
            println!(
                "    X-Hookfence-Signature-256 {}",
                if ok { "verifies" } else { "DOES NOT VERIFY" }
            );
        }
        let reply = b"{\"received\":true}";
        // One write: a head and a body written separately stall ~40 ms on a
        // reused connection (Nagle's algorithm meets the peer's delayed ACK).
        let mut response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            reply.len()
        )
        .into_bytes();
        response.extend_from_slice(reply);
        reader.get_mut().write_all(&response).await?;
    }
}
