//! `tls_listen` with `tls_cert` and `tls_key`: the listener's certificate
//! chain and key, read and checked at load (and at every reload, which
//! hands the new pair to the running listeners: see
//! [`crate::listener_certificate`]), so a wrong path, an unreadable PEM or a
//! key that is not the certificate's is a config error naming the key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use toml::Spanned;

use super::error::Reporter;
use super::raw::RawServer;

/// TLS listeners and their certificate.
#[derive(Debug, Clone)]
pub struct Tls {
    pub listen: Vec<String>,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The chain and key as read, ready for rustls.
    pub certified: Arc<CertifiedKey>,
}

impl PartialEq for Tls {
    /// Equal when the same certificate chain (the key follows it) is served
    /// on the same addresses from the same files.
    fn eq(&self, other: &Self) -> bool {
        self.listen == other.listen
            && self.cert == other.cert
            && self.key == other.key
            && self.certified.cert == other.certified.cert
    }
}

impl Eq for Tls {}

pub(super) fn build(server: &RawServer, listen: Vec<String>, base: &Path, report: &mut Reporter<'_>) -> Option<Tls> {
    if server.tls_listen.is_none() {
        for (file, key) in [
            (&server.tls_cert, "server.tls_cert"),
            (&server.tls_key, "server.tls_key"),
        ] {
            if let Some(file) = file {
                report.error(Some(file.span()), key, "only used with `tls_listen`");
            }
        }
        return None;
    }
    let cert = required(&server.tls_cert, "server.tls_cert", report);
    let key = required(&server.tls_key, "server.tls_key", report);
    let (cert, key) = (cert?, key?);
    let (cert_path, key_path) = (base.join(cert.get_ref()), base.join(key.get_ref()));
    let chain = read_chain(cert, &cert_path, report);
    let private_key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| {
            report.error(
                Some(key.span()),
                "server.tls_key",
                format!("{}: no usable PEM private key: {e}", key_path.display()),
            )
        })
        .ok();
    let certified = CertifiedKey::from_der(chain?, private_key?, &rustls::crypto::ring::default_provider())
        .map_err(|e| {
            report.error(
                Some(key.span()),
                "server.tls_key",
                format!("{} cannot serve {}: {e}", key_path.display(), cert_path.display()),
            )
        })
        .ok()?;
    Some(Tls {
        listen,
        cert: cert_path,
        key: key_path,
        certified: Arc::new(certified),
    })
}

fn required<'a>(
    file: &'a Option<Spanned<String>>,
    key: &str,
    report: &mut Reporter<'_>,
) -> Option<&'a Spanned<String>> {
    if file.is_none() {
        report.error(
            None,
            key,
            format!("missing: `tls_listen` needs `{}` (a PEM file)", &key["server.".len()..]),
        );
    }
    file.as_ref()
}

fn read_chain(file: &Spanned<String>, path: &Path, report: &mut Reporter<'_>) -> Option<Vec<CertificateDer<'static>>> {
    match CertificateDer::pem_file_iter(path).and_then(Iterator::collect::<Result<Vec<_>, _>>) {
        Ok(chain) if !chain.is_empty() => Some(chain),
        Ok(_) => {
            report.error(
                Some(file.span()),
                "server.tls_cert",
                format!("{} holds no PEM CERTIFICATE", path.display()),
            );
            None
        }
        Err(e) => {
            report.error(
                Some(file.span()),
                "server.tls_cert",
                format!("cannot read {}: {e}", path.display()),
            );
            None
        }
    }
}
