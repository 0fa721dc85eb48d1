//! Certificates made in the test (rcgen) and a real TLS/1.1 upstream
//! (rustls) that records what it receives: the server name asked for, the
//! client certificate shown, each request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate authority made for one test.
pub struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Authority {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("hookfence test CA {name}"));
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA");
        Self { issuer }
    }

    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names`, valid now (or, with `expired`, only in 2020).
    pub fn issue(&self, names: &[&str], expired: bool) -> Identity {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 12, 31);
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// What the TLS upstream saw of one request.
#[derive(Debug, Clone)]
pub struct TlsRequest {
    pub server_name: Option<String>,
    pub client_certificate: bool,
    pub head: String,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct Seen {
    connections: usize,
    handshake_failures: Vec<String>,
    requests: Vec<TlsRequest>,
}

/// An HTTPS/1.1 server on `localhost` (127.0.0.1, and ::1 where there is
/// one, on the same port) answering every request 200
/// `tls upstream says hi`, keeping connections alive.
pub struct TlsUpstream {
    pub port: u16,
    seen: Arc<Mutex<Seen>>,
}

impl TlsUpstream {
    /// Serves `identity`; with `client_ca`, asks for a client certificate
    /// and refuses a handshake without one that CA signed.
    pub fn start(identity: &Identity, client_ca: Option<&Authority>) -> Self {
        let chain = vec![CertificateDer::from_pem_slice(identity.cert_pem.as_bytes()).expect("cert PEM")];
        let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).expect("key PEM");
        let builder = rustls::ServerConfig::builder();
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots
                    .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("CA PEM"))
                    .expect("client CA");
                let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = Arc::new(builder.with_single_cert(chain, key).expect("server config"));
        let v4 = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = v4.local_addr().expect("address").port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let listeners = [
            Some(v4),
            TcpListener::bind(SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port))).ok(),
        ];
        for listener in listeners.into_iter().flatten() {
            let (config, seen) = (Arc::clone(&config), Arc::clone(&seen));
            thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    seen.lock().unwrap().connections += 1;
                    let (config, seen) = (Arc::clone(&config), Arc::clone(&seen));
                    thread::spawn(move || serve(stream, config, &seen));
                }
            });
        }
        Self { port, seen }
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    pub fn requests(&self) -> Vec<TlsRequest> {
        self.seen.lock().unwrap().requests.clone()
    }

    pub fn connections(&self) -> usize {
        self.seen.lock().unwrap().connections
    }

    pub fn handshake_failures(&self) -> Vec<String> {
        self.seen.lock().unwrap().handshake_failures.clone()
    }
}

fn serve(stream: TcpStream, config: Arc<rustls::ServerConfig>, seen: &Mutex<Seen>) {
    let Ok(connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(connection, stream);
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            seen.lock().unwrap().handshake_failures.push(e.to_string());
            return;
        }
    }
    let server_name = tls.conn.server_name().map(str::to_owned);
    let client_certificate = tls.conn.peer_certificates().is_some_and(|c| !c.is_empty());
    let mut reader = BufReader::new(tls);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let length = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        seen.lock().unwrap().requests.push(TlsRequest {
            server_name: server_name.clone(),
            client_certificate,
            head,
            body,
        });
        let answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\ntls upstream says hi";
        let tls = reader.get_mut();
        if tls.write_all(answer).and_then(|()| tls.flush()).is_err() {
            return;
        }
    }
}
