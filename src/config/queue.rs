//! The `[queue]` table (where queued deliveries are stored, how much, how
//! many workers) and each route's delivery settings (`delivery`,
//! `queued_status`, `ordering_key`, `retry`).

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::dedup::redis_target;
use super::error::Reporter;
use super::raw::{QueueBackendKind, RawQueue, RawRetry, RawRoute};
use super::units::HumanDuration;
use crate::dedup::{Backend, DedupSettings};
use crate::delivery::policy::RetryPolicy;
use crate::delivery::{self, Mode, QueueBackend, QueueSettings, RouteDelivery};
use crate::verify::field::Field;

/// The status a queued delivery is answered with unless the route says.
pub const DEFAULT_QUEUED_STATUS: u16 = 202;

pub(super) fn build(
    raw: Option<&RawQueue>,
    dedup: &DedupSettings,
    env: &dyn Fn(&str) -> Option<String>,
    base: &Path,
    report: &mut Reporter<'_>,
) -> (QueueSettings, RetryPolicy) {
    let empty;
    let raw = match raw {
        Some(raw) => raw,
        None => {
            empty = RawQueue {
                backend: None,
                data_dir: None,
                url: None,
                cluster: None,
                key_prefix: None,
                max_bytes: None,
                max_deliveries: None,
                workers: None,
                claim_timeout: None,
                dead_letter_ttl: None,
                command_timeout: None,
                retry: None,
            };
            &empty
        }
    };
    let kind = raw
        .backend
        .as_ref()
        .map_or(QueueBackendKind::Embedded, |b| *b.get_ref());
    let backend = match kind {
        QueueBackendKind::Embedded => {
            for (present, key) in [
                (raw.url.as_ref().map(Spanned::span), "queue.url"),
                (raw.cluster.as_ref().map(Spanned::span), "queue.cluster"),
                (raw.claim_timeout.as_ref().map(Spanned::span), "queue.claim_timeout"),
            ] {
                if let Some(span) = present {
                    report.error(Some(span), key, "belongs to backend = \"redis\"");
                }
            }
            let dir = raw
                .data_dir
                .as_ref()
                .map_or(delivery::DEFAULT_DATA_DIR, |d| d.get_ref().as_str());
            if dir.trim().is_empty() {
                report.error(
                    raw.data_dir.as_ref().map(Spanned::span),
                    "queue.data_dir",
                    "must not be empty",
                );
            }
            QueueBackend::Embedded {
                data_dir: base.join(dir),
            }
        }
        QueueBackendKind::Redis => {
            if let Some(dir) = &raw.data_dir {
                report.error(Some(dir.span()), "queue.data_dir", "belongs to backend = \"embedded\"");
            }
            let target = match (&raw.url, &raw.cluster, &dedup.backend) {
                // The dedup store's Redis, unless the queue names its own.
                (None, None, Backend::Redis(target)) => Some(target.clone()),
                _ => {
                    let backend_span = raw.backend.as_ref().map(Spanned::span);
                    redis_target(&raw.url, &raw.cluster, backend_span, "queue", env, base, report)
                }
            };
            // On error a placeholder: the config is refused anyway.
            QueueBackend::Redis(target.unwrap_or(crate::redis_connection::Target::Cluster(Vec::new())))
        }
    };
    let key_prefix = match &raw.key_prefix {
        Some(p) if p.get_ref().is_empty() || p.get_ref().contains(['{', '}']) => {
            report.error(
                Some(p.span()),
                "queue.key_prefix",
                "must be non-empty, without `{` or `}`",
            );
            dedup.key_prefix.clone()
        }
        Some(p) => p.get_ref().clone(),
        None => dedup.key_prefix.clone(),
    };
    let positive = |value: &Option<Spanned<u64>>, key: &str, default: u64, report: &mut Reporter<'_>| match value {
        Some(v) if *v.get_ref() == 0 => {
            report.error(Some(v.span()), key, "must be at least 1");
            default
        }
        Some(v) => *v.get_ref(),
        None => default,
    };
    let max_bytes = raw.max_bytes.as_ref().map(|b| Spanned::new(b.span(), b.get_ref().0));
    let max_bytes = positive(&max_bytes, "queue.max_bytes", delivery::DEFAULT_MAX_BYTES, report);
    let max_deliveries = positive(
        &raw.max_deliveries,
        "queue.max_deliveries",
        delivery::DEFAULT_MAX_DELIVERIES,
        report,
    );
    let workers = raw
        .workers
        .as_ref()
        .map(|w| Spanned::new(w.span(), *w.get_ref() as u64));
    let workers = positive(&workers, "queue.workers", delivery::DEFAULT_WORKERS as u64, report) as usize;
    // Zero durations are refused when the config is read (`HumanDuration`).
    let duration =
        |value: &Option<Spanned<HumanDuration>>, default: Duration| value.as_ref().map_or(default, |d| d.get_ref().0);
    let settings = QueueSettings {
        backend,
        key_prefix,
        max_bytes,
        max_deliveries,
        workers,
        claim_timeout: duration(&raw.claim_timeout, delivery::DEFAULT_CLAIM_TIMEOUT),
        dead_letter_ttl: duration(&raw.dead_letter_ttl, delivery::DEFAULT_DEAD_LETTER_TTL),
        command_timeout: duration(&raw.command_timeout, delivery::DEFAULT_COMMAND_TIMEOUT),
    };
    let retry = match &raw.retry {
        Some(r) => retry_policy(r.get_ref(), &RetryPolicy::default(), "queue.retry", report),
        None => RetryPolicy::default(),
    };
    (settings, retry)
}

/// A retry table over `defaults`, checked.
fn retry_policy(raw: &RawRetry, defaults: &RetryPolicy, key: &str, report: &mut Reporter<'_>) -> RetryPolicy {
    let duration =
        |value: &Option<Spanned<HumanDuration>>, default: Duration| value.as_ref().map_or(default, |d| d.get_ref().0);
    let base = duration(&raw.base, defaults.base);
    let cap = duration(&raw.cap, defaults.cap);
    if cap < base {
        report.error(
            raw.cap.as_ref().or(raw.base.as_ref()).map(Spanned::span),
            format!("{key}.cap"),
            format!("must be at least base ({})", humantime::format_duration(base)),
        );
    }
    let max_attempts = match &raw.max_attempts {
        Some(n) if *n.get_ref() == 0 => {
            report.error(Some(n.span()), format!("{key}.max_attempts"), "must be at least 1");
            defaults.max_attempts
        }
        Some(n) => *n.get_ref(),
        None => defaults.max_attempts,
    };
    let max_age = duration(&raw.max_age, defaults.max_age);
    let retry_statuses = match &raw.retry_statuses {
        Some(list) => {
            if let Some(bad) = list.get_ref().iter().find(|s| !(400..500).contains(*s)) {
                report.error(
                    Some(list.span()),
                    format!("{key}.retry_statuses"),
                    format!("{bad} is not a 4xx status: 5xx answers and failed connections are always tried again, 2xx ends a delivery"),
                );
            }
            list.get_ref().clone()
        }
        None => defaults.retry_statuses.clone(),
    };
    RetryPolicy {
        base,
        cap,
        max_attempts,
        max_age,
        retry_statuses,
    }
}

/// What the route keys need to know from the rest of the config.
pub(super) struct RouteQueueContext<'a> {
    pub key: &'a dyn Fn(&str) -> String,
    pub queue: &'a QueueSettings,
    pub default_retry: &'a RetryPolicy,
}

/// A route's delivery settings.
pub(super) fn route_delivery(
    raw: &RawRoute,
    ctx: &RouteQueueContext<'_>,
    max_body: u64,
    longest_attempt: Duration,
    report: &mut Reporter<'_>,
) -> RouteDelivery {
    let key = ctx.key;
    let mode = raw.delivery.as_ref().map_or(Mode::Direct, |m| *m.get_ref());
    let only_queued = |present: Option<std::ops::Range<usize>>, name: &str, report: &mut Reporter<'_>| {
        if let (Some(span), Mode::Direct) = (present, mode) {
            report.error(
                Some(span),
                key(name),
                "only for a route with delivery = \"queued\" or \"fallback\"",
            );
        }
    };
    only_queued(raw.queued_status.as_ref().map(Spanned::span), "queued_status", report);
    only_queued(raw.ordering_key.as_ref().map(Spanned::span), "ordering_key", report);
    only_queued(raw.retry.as_ref().map(Spanned::span), "retry", report);
    let queued_status = match &raw.queued_status {
        Some(s) if !(200..300).contains(s.get_ref()) => {
            report.error(
                Some(s.span()),
                key("queued_status"),
                "must be a 2xx status (a sender retries anything else)",
            );
            DEFAULT_QUEUED_STATUS
        }
        Some(s) => *s.get_ref(),
        None => DEFAULT_QUEUED_STATUS,
    };
    let ordering_key = raw.ordering_key.as_ref().and_then(|k| {
        Field::parse(k.get_ref())
            .map_err(|e| report.error(Some(k.span()), key("ordering_key"), e))
            .ok()
    });
    let retry = match &raw.retry {
        Some(r) => retry_policy(r.get_ref(), ctx.default_retry, &key("retry"), report),
        None => ctx.default_retry.clone(),
    };
    if mode.uses_queue() {
        let span = raw.delivery.as_ref().map(Spanned::span);
        if raw
            .verify
            .as_ref()
            .is_some_and(|v| *v.get_ref() == super::raw::VerifyMode::None)
        {
            report.error(
                span.clone(),
                key("delivery"),
                "an unsigned route cannot queue: anyone could fill its queue (only verified deliveries are stored)",
            );
        }
        if max_body > ctx.queue.max_bytes {
            report.error(
                span.clone(),
                key("max_body"),
                format!(
                    "a queued route's max_body ({max_body} bytes) must fit in [queue] max_bytes ({} bytes), or its largest deliveries could never be queued",
                    ctx.queue.max_bytes
                ),
            );
        }
        if matches!(ctx.queue.backend, QueueBackend::Redis(_)) && ctx.queue.claim_timeout <= longest_attempt {
            report.error(
                span,
                key("upstream_timeout"),
                format!(
                    "[queue] claim_timeout ({}) must exceed the longest attempt, connect_timeout + 3 x (connect_timeout + upstream_timeout) ({}), or another replica takes over an attempt still in progress",
                    humantime::format_duration(ctx.queue.claim_timeout),
                    humantime::format_duration(longest_attempt)
                ),
            );
        }
    }
    RouteDelivery {
        mode,
        queued_status,
        ordering_key,
        retry,
    }
}
