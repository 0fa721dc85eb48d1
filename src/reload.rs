//! Reloading: on SIGHUP, and when the config file or a file it references
//! changes (secrets, tenant files, TLS certificates and keys). Either way:
//! re-read the config and every secret, validate, and swap atomically. An
//! invalid new config keeps the old one running, logs why and counts a
//! failed reload; deliveries in flight finish on the config they started
//! with (see [`crate::state`]).
//!
//! Files are polled, not watched through inotify: Kubernetes updates a
//! mounted Secret or ConfigMap by pointing a `..data` symlink at a new
//! directory, which leaves the watched files' own inodes untouched; a poll
//! that resolves symlinks sees it, and sees an in-place edit or an
//! editor's rename alike. Each poll is a few `stat` calls. A change is
//! applied once the files have stayed the same for one more interval (the
//! debounce), so a certificate and its key written one after the other are
//! loaded together rather than as a mismatched pair.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::signal::unix::{signal, SignalKind};

use crate::state::Shared;

/// How often the files are looked at; a change is applied after it has
/// been stable for one more interval.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

pub struct Reloader {
    shared: Arc<Shared>,
}

/// What a file is now: where its path leads (symlinks resolved), and that
/// file's device, inode, size and modification time. `None`: it cannot be
/// reached (deleted, or a dangling link mid-swap).
type Fingerprint = Option<(PathBuf, u64, u64, u64, Option<SystemTime>)>;

/// The fingerprints of a set of files.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot(HashMap<PathBuf, Fingerprint>);

impl Snapshot {
    fn of(files: &[PathBuf]) -> Self {
        Self(files.iter().map(|f| (f.clone(), fingerprint(f))).collect())
    }

    fn files(&self) -> Vec<PathBuf> {
        self.0.keys().cloned().collect()
    }

    /// The files whose fingerprint differs in `other`.
    fn changed(&self, other: &Snapshot) -> Vec<String> {
        let mut changed: Vec<String> = self
            .0
            .iter()
            .filter(|(file, print)| other.0.get(*file) != Some(print))
            .map(|(file, _)| file.display().to_string())
            .collect();
        changed.sort();
        changed
    }
}

fn fingerprint(file: &Path) -> Fingerprint {
    let target = std::fs::canonicalize(file).ok()?;
    let meta = std::fs::metadata(&target).ok()?;
    Some((target, meta.dev(), meta.ino(), meta.len(), meta.modified().ok()))
}

impl Reloader {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Reloads, then returns what to watch from now on, as it was seen
    /// *before* the reload read the files (`seen`, for the files it
    /// covers): a file written while the config was loading then differs
    /// at the next poll and is loaded too.
    fn reload(&self, cause: &str, seen: &Snapshot) -> Snapshot {
        let files = match self.shared.reload() {
            Ok(pending) => {
                if pending.is_empty() {
                    tracing::info!(cause, "config reloaded");
                } else {
                    tracing::warn!(
                        cause,
                        needs_restart = pending.join(", "),
                        "config reloaded; these settings changed but keep their old values until a restart"
                    );
                }
                self.shared.live().config.files.clone()
            }
            Err(errors) => {
                tracing::error!(
                    cause,
                    errors = %errors,
                    "config reload refused; the running config stays in force"
                );
                // Watch what the refused config reads as well: a secret it
                // names that does not exist yet (another volume, synced
                // later) retries the reload when it appears.
                let mut files = self.shared.live().config.files.clone();
                let path = self.shared.config_path();
                if let Ok(source) = std::fs::read_to_string(path) {
                    for file in crate::config::referenced_files(path, &source) {
                        if !files.contains(&file) {
                            files.push(file);
                        }
                    }
                }
                files
            }
        };
        Snapshot(
            files
                .into_iter()
                .map(|file| {
                    let print = seen.0.get(&file).cloned().unwrap_or_else(|| fingerprint(&file));
                    (file, print)
                })
                .collect(),
        )
    }
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangups = signal(SignalKind::hangup())
            .inspect_err(|e| tracing::error!(error = %e, "cannot listen for SIGHUP; reload needs a restart"))
            .ok();
        let mut poll = tokio::time::interval(WATCH_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut watched = Snapshot::of(&self.shared.live().config.files);
        // A change seen at the last poll, waiting to be stable.
        let mut settling: Option<Snapshot> = None;
        loop {
            tokio::select! {
                Some(()) = async { hangups.as_mut()?.recv().await } => {
                    let seen = Snapshot::of(&watched.files());
                    (watched, settling) = (self.reload("SIGHUP", &seen), None);
                }
                _ = poll.tick() => {
                    if !self.shared.live().config.server.watch_files {
                        continue;
                    }
                    let now = Snapshot::of(&watched.files());
                    if now == watched {
                        settling = None;
                    } else if settling.as_ref() == Some(&now) {
                        let cause = format!("changed: {}", watched.changed(&now).join(", "));
                        (watched, settling) = (self.reload(&cause, &now), None);
                    } else {
                        settling = Some(now);
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
