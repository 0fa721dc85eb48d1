//! `[routes.upstream_tls]`: how hookfence trusts, and shows itself to, an
//! `https://` upstream. Every file is read and checked here, at load time
//! (and again at each reload), so a wrong path or a key that does not match
//! its certificate is a config error with a line number, not a 502 on every
//! delivery.
//!
//! Trust: the route's `ca` bundle if it has one (only those CAs), else the
//! system's roots (`/etc/ssl/certs`, or `SSL_CERT_FILE` / `SSL_CERT_DIR`),
//! else, on a system without any (a distroless image), the Mozilla roots
//! compiled in (webpki-roots). The server name sent (SNI) and verified is
//! the URL's host.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use toml::Spanned;

use super::error::Reporter;
use super::raw::RawUpstreamTls;
use crate::upstream::tls::UpstreamTls;

/// Builds the TLS settings of an `https://` upstream whose host is `host`.
/// `key` names the route's keys in errors (`routes[0].upstream_tls.ca`).
pub(super) fn build(
    host: &str,
    raw: Option<&Spanned<RawUpstreamTls>>,
    base: &Path,
    key: &dyn Fn(&str) -> String,
    report: &mut Reporter<'_>,
) -> Option<UpstreamTls> {
    let errors_before = report.error_count();
    let server_name = ServerName::try_from(host.to_owned())
        .map_err(|e| report.error(None, key("upstream"), format!("`{host}` is not a TLS server name: {e}")))
        .ok();
    let settings = raw.map(Spanned::get_ref);
    let mut identity = xxhash_rust::xxh3::Xxh3::new();
    identity.update(host.as_bytes());
    let roots = match settings.and_then(|s| s.ca.as_ref()) {
        Some(ca) => read_ca(ca, base, &key("upstream_tls.ca"), &mut identity, report),
        None => Some(system_roots()),
    };
    let client = settings.and_then(|s| client_identity(s, base, key, report));
    if let Some((chain, private_key)) = &client {
        chain.iter().for_each(|c| identity.update(c));
        identity.update(private_key.secret_der());
    }
    if report.error_count() > errors_before {
        return None;
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| report.error(None, key("upstream_tls"), format!("TLS: {e}")))
        .ok()?
        .with_root_certificates(roots?);
    let config = match client {
        Some((chain, private_key)) => builder
            .with_client_auth_cert(chain, private_key)
            .map_err(|e| {
                report.error(
                    raw.map(Spanned::span),
                    key("upstream_tls.client_key"),
                    format!("the client certificate and key cannot be used together: {e}"),
                )
            })
            .ok()?,
        None => builder.with_no_client_auth(),
    };
    Some(UpstreamTls::new(server_name?, Arc::new(config), identity.digest()))
}

/// The system's roots, read once per process (a reload does not re-read
/// them; a route's `ca` file is re-read at every reload).
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    Arc::clone(ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            tracing::warn!(
                "no CA certificates found on the system; https upstreams trust the compiled-in Mozilla roots"
            );
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Arc::new(roots)
    }))
}

fn read_ca(
    file: &Spanned<String>,
    base: &Path,
    key: &str,
    identity: &mut xxhash_rust::xxh3::Xxh3,
    report: &mut Reporter<'_>,
) -> Option<Arc<RootCertStore>> {
    let certificates = read_certificates(file, base, key, report)?;
    let mut roots = RootCertStore::empty();
    for certificate in certificates {
        identity.update(&certificate);
        if let Err(e) = roots.add(certificate) {
            report.error(
                Some(file.span()),
                key,
                format!("{}: a certificate cannot be used as a CA: {e}", file.get_ref()),
            );
            return None;
        }
    }
    Some(Arc::new(roots))
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_identity(
    settings: &RawUpstreamTls,
    base: &Path,
    key: &dyn Fn(&str) -> String,
    report: &mut Reporter<'_>,
) -> Option<Identity> {
    match (&settings.client_cert, &settings.client_key) {
        (None, None) => None,
        (Some(cert), Some(private_key)) => {
            let chain = read_certificates(cert, base, &key("upstream_tls.client_cert"), report);
            let path = base.join(private_key.get_ref());
            let private_key = PrivateKeyDer::from_pem_file(&path)
                .map_err(|e| {
                    report.error(
                        Some(private_key.span()),
                        key("upstream_tls.client_key"),
                        format!("{}: no usable PEM private key: {e}", path.display()),
                    )
                })
                .ok();
            Some((chain?, private_key?))
        }
        (Some(given), None) | (None, Some(given)) => {
            report.error(
                Some(given.span()),
                key("upstream_tls"),
                "`client_cert` and `client_key` go together (a client certificate needs its key)",
            );
            None
        }
    }
}

/// Every certificate of a PEM file; an error when there is none.
fn read_certificates(
    file: &Spanned<String>,
    base: &Path,
    key: &str,
    report: &mut Reporter<'_>,
) -> Option<Vec<CertificateDer<'static>>> {
    let path = base.join(file.get_ref());
    let certificates = CertificateDer::pem_file_iter(&path).and_then(Iterator::collect::<Result<Vec<_>, _>>);
    match certificates {
        Ok(certificates) if !certificates.is_empty() => Some(certificates),
        Ok(_) => {
            report.error(
                Some(file.span()),
                key,
                format!("{} holds no PEM certificate", path.display()),
            );
            None
        }
        Err(e) => {
            report.error(Some(file.span()), key, format!("cannot read {}: {e}", path.display()));
            None
        }
    }
}
