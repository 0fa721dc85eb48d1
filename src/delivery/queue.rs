//! The queue as the rest of hookfence holds it: the configured store,
//! made once. The embedded store is opened when hookfence starts (a
//! `data_dir` that cannot be used, or is in use, stops the start with a
//! clear error); a Redis store is made on first use, inside the runtime
//! that drives its connections.

use std::sync::{Arc, OnceLock};

use super::embedded::EmbeddedStore;
use super::redis::RedisQueue;
use super::store::{QueueError, QueueStore};
use super::{QueueBackend, QueueSettings};

pub struct Queue {
    settings: QueueSettings,
    store: OnceLock<Result<Arc<dyn QueueStore>, QueueError>>,
}

impl Queue {
    pub fn new(settings: QueueSettings) -> Self {
        Self {
            settings,
            store: OnceLock::new(),
        }
    }

    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    pub fn backend(&self) -> &'static str {
        self.settings.backend.name()
    }

    /// Opens the embedded store now, if that is the backend (Redis
    /// connects on first use).
    pub fn open_embedded(&self) -> Result<(), QueueError> {
        match self.settings.backend {
            QueueBackend::Embedded { .. } => self.store().map(|_| ()),
            QueueBackend::Redis(_) => Ok(()),
        }
    }

    /// Whether the store was made (an unused queue is never opened).
    pub fn is_open(&self) -> bool {
        self.store.get().is_some_and(Result::is_ok)
    }

    /// The store, made now if it was not yet.
    pub fn store(&self) -> Result<&Arc<dyn QueueStore>, QueueError> {
        self.store
            .get_or_init(|| {
                let s = &self.settings;
                Ok(match &s.backend {
                    QueueBackend::Embedded { data_dir } => {
                        Arc::new(EmbeddedStore::open(data_dir, s.max_bytes, s.max_deliveries)?)
                    }
                    QueueBackend::Redis(target) => Arc::new(RedisQueue::new(target, s)?),
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}
