//! TLS to `https://` upstreams (rustls): the handshake on a pooled TCP
//! connection, with the route's trust and client certificate
//! ([`crate::config`] builds them, once per load). The TLS stream then
//! takes the place of the TCP one: the same exchange, the same pool, the
//! same timeouts and outcomes.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream, TimingDigest,
    UniqueID, UniqueIDType,
};
use pingora::tls::{ClientTlsStream, TlsConnector};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// How to speak TLS to one route's upstream.
#[derive(Clone)]
pub struct UpstreamTls {
    connector: TlsConnector,
    /// Sent as SNI (for a name; rustls sends none for an IP address) and
    /// checked against the upstream's certificate.
    server_name: ServerName<'static>,
    /// A digest of the settings (server name, CAs, client certificate and
    /// key), to tell pooled connections apart: a route to the same address
    /// with another trust or identity must not reuse a connection made
    /// under different settings; equal settings (after a reload, too) may.
    identity: u64,
}

impl UpstreamTls {
    pub fn new(server_name: ServerName<'static>, config: Arc<ClientConfig>, identity: u64) -> Self {
        Self {
            identity,
            connector: TlsConnector::from(config),
            server_name,
        }
    }

    pub fn identity(&self) -> u64 {
        self.identity
    }

    /// The TLS handshake over `tcp`; a failure says why (an unknown
    /// issuer, an expired certificate, a name that does not match…).
    pub async fn connect(&self, tcp: Stream, address: SocketAddr) -> Result<Stream, String> {
        match self.connector.connect(self.server_name.clone(), tcp).await {
            Ok(tls) => Ok(Box::new(TlsConnection(tls))),
            Err(e) => Err(format!(
                "TLS handshake with {} ({address}) failed: {e}",
                self.server_name.to_str()
            )),
        }
    }
}

impl fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// A TLS connection as pingora's `Stream`: reads and writes go through
/// rustls; what pingora asks of a connection (its id, its socket and
/// timing digests) is the TCP connection's.
#[derive(Debug)]
struct TlsConnection(ClientTlsStream<Stream>);

impl TlsConnection {
    fn tcp(&self) -> &Stream {
        self.0.get_ref().0
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[async_trait]
impl Shutdown for TlsConnection {
    /// Sends close_notify, then closes the TCP connection.
    async fn shutdown(&mut self) {
        let _ = AsyncWriteExt::shutdown(&mut self.0).await;
    }
}

impl UniqueID for TlsConnection {
    fn id(&self) -> UniqueIDType {
        self.tcp().id()
    }
}

impl Ssl for TlsConnection {}

impl GetTimingDigest for TlsConnection {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.tcp().get_timing_digest()
    }
}

impl GetProxyDigest for TlsConnection {
    fn get_proxy_digest(&self) -> Option<Arc<pingora::protocols::raw_connect::ProxyDigest>> {
        None
    }
}

impl GetSocketDigest for TlsConnection {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.tcp().get_socket_digest()
    }
}

impl Peek for TlsConnection {}
