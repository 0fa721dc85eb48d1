//! The audit record: one per delivery, written as a structured `tracing`
//! event (target `hookfence::audit`) and kept in the recent-deliveries ring
//! behind the admin API's `/deliveries`.
//!
//! It carries what an operator needs to answer "what happened to this
//! delivery?" and nothing a secret or a payload could leak through: no body,
//! no signature, no credential header, no query string.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::DeliveryFields;
use crate::outcome::Outcome;
use crate::verify::field::FieldReader;

/// What is learnt about a delivery while it is handled.
#[derive(Debug)]
pub struct AuditRecord {
    pub received: SystemTime,
    pub route: Option<String>,
    pub method: String,
    pub path: String,
    pub delivery_id: Option<String>,
    pub event: Option<String>,
    /// `Some(true)` verified, `Some(false)` refused, `None` not checked
    /// (no route, unsigned route, or the body never arrived).
    pub signature_valid: Option<bool>,
    /// Why the delivery was refused or not forwarded, if it was.
    pub reason: Option<String>,
    pub body_bytes: usize,
    pub upstream_status: Option<u16>,
    pub upstream_duration: Option<Duration>,
    /// What deduplication did, when it did not simply claim and settle.
    pub dedup: Option<&'static str>,
}

impl AuditRecord {
    pub fn new(method: String, path: String) -> Self {
        Self {
            received: SystemTime::now(),
            route: None,
            method,
            path,
            delivery_id: None,
            event: None,
            signature_valid: None,
            reason: None,
            body_bytes: 0,
            upstream_status: None,
            upstream_duration: None,
            dedup: None,
        }
    }

    /// Fills the delivery id and event from what `reader` can see (fields it
    /// cannot read leave earlier values in place).
    pub fn read_fields(&mut self, fields: &DeliveryFields, reader: &FieldReader<'_>) {
        if let Some(id) = fields.delivery_id.as_ref().and_then(|f| reader.get(f)) {
            self.delivery_id = Some(id);
        }
        if let Some(event) = fields.event.as_ref().and_then(|f| reader.get(f)) {
            self.event = Some(event);
        }
    }

    /// The finished record. `status` is what the client was answered; 0
    /// means no answer could be sent (the client went away mid-request).
    pub fn finish(self, outcome: Outcome, status: u16, duration: Duration) -> Delivery {
        Delivery {
            received: self.received,
            route: self.route,
            method: self.method,
            path: self.path,
            delivery_id: self.delivery_id,
            event: self.event,
            signature_valid: self.signature_valid,
            outcome: outcome.as_str(),
            status,
            reason: self.reason,
            body_bytes: self.body_bytes,
            upstream_status: self.upstream_status,
            upstream_duration_us: self.upstream_duration.map(micros),
            duration_us: micros(duration),
            dedup: self.dedup,
        }
    }
}

fn rfc3339_millis<S: serde::Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_rfc3339_millis(*time))
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// One finished delivery, as logged and as listed by `/deliveries`.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
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
}

impl Delivery {
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
            "delivery"
        );
    }
}
