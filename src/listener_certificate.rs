//! The TLS listeners' certificate, replaceable while they run: the rustls
//! resolver every handshake asks, holding the pair the config last loaded.
//! A reload (SIGHUP, or a watched file that changed) stores the new pair;
//! handshakes from then on use it, connections already open keep theirs.
//! cert-manager and the kubelet renew certificates without a restart.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub struct ListenerCertificate {
    current: ArcSwap<CertifiedKey>,
}

impl ListenerCertificate {
    pub fn new(certified: Arc<CertifiedKey>) -> Self {
        Self {
            current: ArcSwap::new(certified),
        }
    }

    /// Serves `certified` from the next handshake on; whether it differs
    /// from the one served until now.
    pub fn replace(&self, certified: Arc<CertifiedKey>) -> bool {
        let changed = self.current.load().cert != certified.cert;
        self.current.store(certified);
        changed
    }
}

impl ResolvesServerCert for ListenerCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

impl fmt::Debug for ListenerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerCertificate").finish_non_exhaustive()
    }
}
