//! Tracing setup and the audit record: one structured event per delivery.
//!
//! The record carries what an operator needs to answer "what happened to this
//! delivery?" and nothing a secret or a payload could leak through: no body,
//! no signature, no credential header.

use std::io::IsTerminal;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use crate::config::DeliveryFields;
use crate::outcome::Outcome;
use crate::verify::field::FieldReader;

/// Log format for the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// Installs the global subscriber. `RUST_LOG` selects levels (default `info`);
/// pingora's own `log` records are bridged in.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: log files and collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Everything the audit trail records about one delivery.
#[derive(Debug, Default)]
pub struct AuditRecord {
    pub route: Option<String>,
    pub method: String,
    pub path: String,
    pub delivery_id: Option<String>,
    pub event: Option<String>,
    /// `Some(true)` verified, `Some(false)` refused, `None` not checked
    /// (no route, unsigned route, or the body never arrived).
    pub signature_valid: Option<bool>,
    /// The refusal reason shown to the client, if any.
    pub reason: Option<String>,
    pub body_bytes: usize,
    pub upstream_status: Option<u16>,
    /// What deduplication did, when it did not simply claim and settle.
    pub dedup: Option<&'static str>,
}

impl AuditRecord {
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

    /// Writes the record. `status` is what the client was answered; 0 means no
    /// answer could be sent (the client went away mid-request).
    pub fn emit(&self, outcome: Outcome, status: u16, duration: Duration) {
        tracing::info!(
            target: "hookfence::audit",
            outcome = outcome.as_str(),
            status,
            route = self.route.as_deref(),
            method = %self.method,
            path = %self.path,
            delivery_id = self.delivery_id.as_deref(),
            event = self.event.as_deref(),
            signature_valid = self.signature_valid,
            reason = self.reason.as_deref(),
            body_bytes = self.body_bytes,
            upstream_status = self.upstream_status,
            dedup = self.dedup,
            duration_us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX),
            "delivery"
        );
    }
}
