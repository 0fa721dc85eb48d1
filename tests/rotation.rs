//! Secrets and certificates that rotate themselves: Kubernetes updates a
//! mounted Secret by writing a new timestamped directory and swapping the
//! `..data` symlink to it (the files are links through `..data`);
//! cert-manager's renewals arrive the same way. hookfence notices, reloads
//! with the same validation and atomic swap as SIGHUP, and serves the new
//! secret and the new TLS certificate without a restart. A broken update is
//! refused and the old files stay in force.

mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use support::tls::Authority;
use support::{deliver_github, fresh_id, github_route, sample, wait_until, Behaviour, Hookfence, Upstream};

/// A directory the way the kubelet mounts a Secret: `..<version>/` holds
/// the files, `..data` points at the current version, and each file name
/// is a link `name -> ..data/name`.
struct MountedSecret {
    dir: PathBuf,
    version: usize,
}

impl MountedSecret {
    fn create(dir: &Path, files: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(dir).expect("mkdir");
        let mut mounted = Self {
            dir: dir.to_path_buf(),
            version: 0,
        };
        mounted.update(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).expect("link");
        }
        mounted
    }

    /// The kubelet's atomic update: a new version directory, a new link
    /// renamed over `..data`, the old version removed.
    fn update(&mut self, files: &[(&str, &str)]) {
        self.version += 1;
        let version = format!("..2026_12_02_{:02}", self.version);
        let new = self.dir.join(&version);
        std::fs::create_dir(&new).expect("mkdir version");
        for (name, contents) in files {
            std::fs::write(new.join(name), contents).expect("write");
        }
        let staged = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&version, &staged).expect("link");
        std::fs::rename(&staged, self.dir.join("..data")).expect("swap ..data");
        if self.version > 1 {
            let old = self.dir.join(format!("..2026_12_02_{:02}", self.version - 1));
            std::fs::remove_dir_all(old).expect("remove the old version");
        }
    }
}

fn reloads(hookfence: &Hookfence, result: &str) -> f64 {
    let metrics = hookfence.admin_get("/metrics");
    sample(
        metrics.body_str(),
        &format!("hookfence_config_reloads_total{{result=\"{result}\"}}"),
    )
    .unwrap_or(0.0)
}

/// hookfence with a GitHub route whose secret is `secrets/github` of a
/// kubelet-style mount holding `value` (`server` lines added).
fn with_mounted_secret(value: &str, server: &str) -> (Upstream, MountedSecret, Hookfence) {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = MountedSecret::create(&dir.path().join("secrets"), &[("github", value)]);
    let route = github_route(
        "github",
        "/hooks/github",
        &upstream.url(),
        "\"file:secrets/github\"",
        "",
    );
    let hookfence = Hookfence::start_in(dir, server, &route, &[]);
    (upstream, secret, hookfence)
}

#[test]
fn a_secret_swapped_the_kubelet_way_is_used_without_a_restart() {
    let (_upstream, mut secret, hookfence) = with_mounted_secret("first-secret\n", "");
    let deliver = |secret: &str| deliver_github(hookfence.addr, "/hooks/github", secret, &fresh_id("rot"), b"{}");
    assert_eq!(deliver("first-secret").status, 200);
    assert_eq!(deliver("second-secret").status, 401);

    secret.update(&[("github", "second-secret\n")]);
    wait_until("the new secret to be in force", || {
        deliver("second-secret").status == 200
    });
    assert_eq!(deliver("first-secret").status, 401, "the old secret is retired");
    assert_eq!(reloads(&hookfence, "success"), 1.0);
    assert!(
        hookfence.log().contains("config reloaded") && hookfence.log().contains("changed: "),
        "{}",
        hookfence.log()
    );
}

/// The certificate the TLS listener presents now.
fn served_certificate(port: u16, ca: &Authority) -> CertificateDer<'static> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("CA"))
        .expect("trust the CA");
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("name");
    let mut connection = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    while connection.is_handshaking() {
        connection.complete_io(&mut tcp).expect("handshake");
    }
    connection.peer_certificates().expect("a certificate")[0]
        .clone()
        .into_owned()
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM")
}

#[test]
fn a_renewed_listener_certificate_is_served_without_a_restart_and_a_broken_one_is_refused() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let ca = Authority::new("listener");
    let (first, second, third) = (
        ca.issue(&["localhost"], false),
        ca.issue(&["localhost"], false),
        ca.issue(&["localhost"], false),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tls = MountedSecret::create(
        &dir.path().join("tls"),
        &[("tls.crt", &first.cert_pem), ("tls.key", &first.key_pem)],
    );
    let port = support::free_port();
    let hookfence = Hookfence::start_in(
        dir,
        &format!("tls_listen = \"127.0.0.1:{port}\"\ntls_cert = \"tls/tls.crt\"\ntls_key = \"tls/tls.key\""),
        &github_route("github", "/hooks/github", &upstream.url(), "\"env:GH\"", ""),
        &[("GH", "s3cret")],
    );
    assert_eq!(served_certificate(port, &ca), der(&first.cert_pem));

    // A renewal whose key is not the certificate's: refused, the first
    // certificate stays.
    tls.update(&[("tls.crt", &second.cert_pem), ("tls.key", &third.key_pem)]);
    wait_until("the broken renewal to be refused", || {
        reloads(&hookfence, "failure") >= 1.0
    });
    assert!(hookfence.log().contains("tls_key"), "{}", hookfence.log());
    assert_eq!(served_certificate(port, &ca), der(&first.cert_pem));

    tls.update(&[("tls.crt", &second.cert_pem), ("tls.key", &second.key_pem)]);
    wait_until("the renewed certificate to be served", || {
        served_certificate(port, &ca) == der(&second.cert_pem)
    });
    assert!(
        hookfence.log().contains("TLS listener certificate replaced"),
        "{}",
        hookfence.log()
    );
    assert_eq!(reloads(&hookfence, "success"), 1.0);
}

#[test]
fn with_watch_files_off_only_sighup_reloads() {
    let (_upstream, mut secret, hookfence) = with_mounted_secret("first-secret", "watch_files = false");
    let deliver = |secret: &str| deliver_github(hookfence.addr, "/hooks/github", secret, &fresh_id("off"), b"{}");
    secret.update(&[("github", "second-secret")]);
    // Three poll intervals: a watcher would have reloaded by now.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(deliver("first-secret").status, 200, "not reloaded by itself");
    hookfence.signal("HUP");
    wait_until("SIGHUP to reload", || deliver("second-secret").status == 200);
}

/// A reload refused because the new config names a secret file that does
/// not exist yet (another volume, synced later) is retried when the file
/// appears.
#[test]
fn a_reload_refused_for_a_missing_file_is_retried_when_the_file_appears() {
    let upstream = Upstream::start(Behaviour::Respond(200));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("first"), "first-secret").expect("write");
    let hookfence = Hookfence::start_in(
        dir,
        "",
        &github_route("github", "/hooks/github", &upstream.url(), "\"file:first\"", ""),
        &[],
    );
    let deliver = |secret: &str| deliver_github(hookfence.addr, "/hooks/github", secret, &fresh_id("late"), b"{}");
    let config = std::fs::read_to_string(hookfence.config_path()).expect("config");
    std::fs::write(
        hookfence.config_path(),
        config.replace("\"file:first\"", "\"file:first\", \"file:second\""),
    )
    .expect("rewrite config");
    wait_until("the reload to be refused", || reloads(&hookfence, "failure") >= 1.0);
    assert_eq!(deliver("second-secret").status, 401);

    std::fs::write(hookfence.dir().join("second"), "second-secret").expect("write");
    wait_until("the second secret to be in force", || {
        deliver("second-secret").status == 200
    });
    assert_eq!(deliver("first-secret").status, 200, "the first still works");
    assert_eq!(reloads(&hookfence, "success"), 1.0);
}
