//! The audit record: one per delivery, written as a structured `tracing`
//! event (target `hookfence::audit`) and kept in the recent-deliveries ring
//! behind the admin API's `/deliveries`.
//!
//! It carries what an operator needs to answer "what happened to this
//! delivery?" and nothing a secret or a payload could leak through: no body,
//! no signature, no credential header, no query string. (The console's
//! view of one delivery shows its head with credentials redacted, from a
//! copy kept in memory beside the record, never written out.)

use std::time::SystemTime;

use serde::Serialize;

fn rfc3339_millis<S: serde::Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_rfc3339_millis(*time))
}

/// One finished request, as logged and as listed by `/deliveries`.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// When the request line arrived; listed as `time` (RFC 3339, UTC, to
    /// the millisecond), written out only when listed, not per delivery.
    #[serde(rename = "time", serialize_with = "rfc3339_millis")]
    pub received: SystemTime,
    pub route: Option<String>,
    pub method: String,
    pub path: String,
    pub delivery_id: Option<String>,
    pub event: Option<String>,
    pub signature_valid: Option<bool>,
    pub outcome: &'static str,
    pub status: u16,
    pub reason: Option<String>,
    pub body_bytes: usize,
    pub upstream_status: Option<u16>,
    pub upstream_duration_us: Option<u64>,
    pub duration_us: u64,
    pub dedup: Option<&'static str>,
    /// The delivery's id in the queue, when it was queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// The W3C trace the delivery belongs to (continued from the sender's
    /// `traceparent`, or started here), as forwarded to the upstream.
    pub trace_id: Option<crate::trace_context::TraceId>,
    /// The route is in shadow mode: what fails verification is forwarded
    /// anyway (the outcome says what it would have been).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
    /// Which of the route's secrets verified the delivery: its position
    /// (1 = first) and, for `secrets`, its reference (never its value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_position: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The request head as received, for the console's view of one
    /// delivery: kept in memory only, never logged, shown with its
    /// credentials redacted (`crate::admin::redact`).
    #[serde(skip)]
    pub head: Option<bytes::Bytes>,
    /// The start of the body, on routes with `keep_bodies`; never logged.
    #[serde(skip)]
    pub body_preview: Option<bytes::Bytes>,
}

impl AuditRecord {
    /// Writes the audit event.
    pub fn emit(&self) {
        tracing::info!(
            target: "hookfence::audit",
            outcome = self.outcome,
            status = self.status,
            route = self.route.as_deref(),
            method = %self.method,
            path = %self.path,
            delivery_id = self.delivery_id.as_deref(),
            event = self.event.as_deref(),
            signature_valid = self.signature_valid,
            reason = self.reason.as_deref(),
            body_bytes = self.body_bytes,
            upstream_status = self.upstream_status,
            upstream_duration_us = self.upstream_duration_us,
            duration_us = self.duration_us,
            dedup = self.dedup,
            queue_id = self.queue_id.as_deref(),
            trace_id = self.trace_id.map(tracing::field::display),
            shadow = self.shadow,
            secret_position = self.secret_position,
            secret = self.secret.as_deref(),
            "delivery"
        );
    }
}
