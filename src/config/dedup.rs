//! The `[dedup]` table: which store, how long ids are remembered, how long a
//! claim may be held, and how long a store command may take.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::error::Reporter;
use super::raw::{DedupBackend, RawDedup};
use super::secret_ref;
use crate::dedup::{Backend, DedupSettings};
use crate::redis_connection::Target;

pub const DEFAULT_TTL: Duration = Duration::from_secs(72 * 3600);
pub const DEFAULT_IN_FLIGHT_TTL: Duration = Duration::from_secs(90);
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// The memory store's default budget: about 1.6 million ids.
pub const DEFAULT_MAX_MEMORY: u64 = 64 << 20;

/// The ids the memory store keeps within `bytes`.
fn capacity_for(bytes: u64) -> usize {
    usize::try_from(bytes / crate::dedup::memory::BYTES_PER_ID)
        .unwrap_or(usize::MAX)
        .max(1)
}

impl Default for DedupSettings {
    fn default() -> Self {
        Self {
            backend: Backend::Memory {
                capacity: capacity_for(DEFAULT_MAX_MEMORY),
            },
            ttl: DEFAULT_TTL,
            in_flight_ttl: DEFAULT_IN_FLIGHT_TTL,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            key_prefix: "hookfence".into(),
        }
    }
}

pub(super) fn build(
    raw: Option<&RawDedup>,
    env: &dyn Fn(&str) -> Option<String>,
    base: &Path,
    report: &mut Reporter<'_>,
) -> DedupSettings {
    let defaults = DedupSettings::default();
    let Some(raw) = raw else {
        return defaults;
    };
    let backend_kind = raw.backend.as_ref().map_or(DedupBackend::Memory, |b| *b.get_ref());
    let backend = match backend_kind {
        DedupBackend::Memory => {
            for (present, key) in [
                (raw.url.as_ref().map(Spanned::span), "dedup.url"),
                (raw.cluster.as_ref().map(Spanned::span), "dedup.cluster"),
            ] {
                if let Some(span) = present {
                    report.error(Some(span), key, "belongs to backend = \"redis\"");
                }
            }
            let default = capacity_for(DEFAULT_MAX_MEMORY);
            let capacity = match (&raw.capacity, &raw.max_memory) {
                (Some(_), Some(m)) => {
                    report.error(
                        Some(m.span()),
                        "dedup.max_memory",
                        "give either `max_memory` (a budget) or `capacity` (a number of ids)",
                    );
                    default
                }
                (Some(c), None) if *c.get_ref() == 0 => {
                    report.error(Some(c.span()), "dedup.capacity", "must be at least 1");
                    default
                }
                (Some(c), None) => *c.get_ref(),
                (None, Some(m)) if m.get_ref().0 < crate::dedup::memory::BYTES_PER_ID => {
                    report.error(
                        Some(m.span()),
                        "dedup.max_memory",
                        format!(
                            "must hold at least one id ({} bytes)",
                            crate::dedup::memory::BYTES_PER_ID
                        ),
                    );
                    default
                }
                (None, Some(m)) => capacity_for(m.get_ref().0),
                (None, None) => default,
            };
            Backend::Memory { capacity }
        }
        DedupBackend::Redis => {
            if let Some(c) = &raw.capacity {
                report.error(Some(c.span()), "dedup.capacity", "belongs to backend = \"memory\"");
            }
            if let Some(m) = &raw.max_memory {
                report.error(Some(m.span()), "dedup.max_memory", "belongs to backend = \"memory\"");
            }
            let backend_span = raw.backend.as_ref().map(Spanned::span);
            redis_target(&raw.url, &raw.cluster, backend_span, "dedup", env, base, report)
                .map_or(defaults.backend.clone(), Backend::Redis)
        }
    };
    let key_prefix = match &raw.key_prefix {
        Some(p) if p.get_ref().is_empty() || p.get_ref().contains(['{', '}']) => {
            report.error(
                Some(p.span()),
                "dedup.key_prefix",
                "must be non-empty, without `{` or `}`",
            );
            defaults.key_prefix
        }
        Some(p) => p.get_ref().clone(),
        None => defaults.key_prefix,
    };
    DedupSettings {
        backend,
        ttl: raw.ttl.map_or(DEFAULT_TTL, |d| d.0),
        in_flight_ttl: raw
            .in_flight_ttl
            .as_ref()
            .map_or(DEFAULT_IN_FLIGHT_TTL, |d| d.get_ref().0),
        command_timeout: raw.command_timeout.map_or(DEFAULT_COMMAND_TIMEOUT, |d| d.0),
        key_prefix,
    }
}

/// Where a Redis-backed store lives (`url` or `cluster` of `section`),
/// checked without connecting.
pub(super) fn redis_target(
    url: &Option<Spanned<String>>,
    cluster: &Option<Spanned<Vec<Spanned<String>>>>,
    backend_span: Option<std::ops::Range<usize>>,
    section: &str,
    env: &dyn Fn(&str) -> Option<String>,
    base: &Path,
    report: &mut Reporter<'_>,
) -> Option<Target> {
    let url_key = format!("{section}.url");
    let cluster_key = format!("{section}.cluster");
    let target = match (url, cluster) {
        (Some(url), None) => Target::Standalone(redis_url(url, &url_key, env, base, report)?),
        (None, Some(nodes)) => {
            let urls: Vec<_> = nodes
                .get_ref()
                .iter()
                .enumerate()
                .filter_map(|(i, n)| redis_url(n, &format!("{cluster_key}[{i}]"), env, base, report))
                .collect();
            if urls.len() != nodes.get_ref().len() {
                return None;
            }
            Target::Cluster(urls)
        }
        (Some(_), Some(nodes)) => {
            report.error(
                Some(nodes.span()),
                cluster_key,
                "give either `url` (one server) or `cluster` (seed nodes)",
            );
            return None;
        }
        (None, None) => {
            report.error(
                backend_span,
                url_key,
                "missing: backend = \"redis\" needs `url` (e.g. \"redis://127.0.0.1:6379\") or `cluster`",
            );
            return None;
        }
    };
    let span = url.as_ref().map(Spanned::span).or(cluster.as_ref().map(Spanned::span));
    let key = if url.is_some() { url_key } else { cluster_key };
    target.validate().map_err(|e| report.error(span, key, e)).ok()?;
    Some(target)
}

/// A Redis URL, literal or by reference. A literal URL with a password is
/// refused, like any inline secret: the config must stay committable.
fn redis_url(
    value: &Spanned<String>,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
    base: &Path,
    report: &mut Reporter<'_>,
) -> Option<String> {
    let text = value.get_ref();
    if text.starts_with("env:") || text.starts_with("file:") {
        return match secret_ref::resolve(text, env, base) {
            Ok(url) => Some(String::from_utf8_lossy(url.expose()).trim().to_owned()),
            Err(e) => {
                report.error(Some(value.span()), key, e);
                None
            }
        };
    }
    let has_password = text
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?']).next())
        .is_some_and(|authority| {
            authority.contains('@') && authority.split('@').next().is_some_and(|u| u.contains(':'))
        });
    if has_password {
        report.error(
            Some(value.span()),
            key,
            "a URL with a password must come from `env:NAME` or `file:/path`, not the config file",
        );
        return None;
    }
    Some(text.clone())
}
