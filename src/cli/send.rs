//! One request over HTTP or HTTPS (rustls, Mozilla's roots),
//! `Connection: close`, the answer read whole: `hookfence sign --send` and
//! `hookfence queue` (the admin API). Enough to test an installation and
//! drive the admin API; not a general HTTP client.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);
/// Answers longer than this are cut (a test delivery's answer is small).
const MAX_ANSWER: u64 = 1 << 20;

pub fn post(url: &str, headers: &[(String, String)], body: &[u8]) -> Result<String, String> {
    request("POST", url, headers, body)
}

/// The status and body of an answer read whole.
pub fn status_and_body(answer: &str) -> Result<(u16, &str), String> {
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", answer.lines().next().unwrap_or("")))?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok((status, body))
}

/// Sends `method url` with `headers` and `body`; the answer as received.
pub fn request(method: &str, url: &str, headers: &[(String, String)], body: &[u8]) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(format!("`{url}` must be an http:// or https:// URL")),
    };
    let host = uri.host().ok_or_else(|| format!("`{url}` has no host"))?;
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let address = (host.trim_start_matches('[').trim_end_matches(']'), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let stream =
        TcpStream::connect_timeout(&address, TIMEOUT).map_err(|e| format!("cannot connect to {address}: {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;

    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let authority = uri.authority().map_or(host, |a| a.as_str());
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    let mut request = request.into_bytes();
    request.extend_from_slice(body);

    let answer = if tls {
        let server_name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| format!("`{host}` is not a TLS server name: {e}"))?;
        let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connection =
            rustls::ClientConnection::new(Arc::new(config), server_name).map_err(|e| format!("TLS: {e}"))?;
        exchange(rustls::StreamOwned::new(connection, stream), &request)?
    } else {
        exchange(stream, &request)?
    };
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn exchange(mut stream: impl Read + Write, request: &[u8]) -> Result<Vec<u8>, String> {
    stream.write_all(request).map_err(|e| format!("sending: {e}"))?;
    stream.flush().map_err(|e| format!("sending: {e}"))?;
    let mut answer = Vec::new();
    match stream.take(MAX_ANSWER).read_to_end(&mut answer) {
        Ok(_) => Ok(answer),
        // Servers often close TLS without close_notify; keep what arrived.
        Err(_) if !answer.is_empty() => Ok(answer),
        Err(e) => Err(format!("reading the answer: {e}")),
    }
}
