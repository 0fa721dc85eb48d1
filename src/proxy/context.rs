//! What is learnt about one request while it is served: which route took
//! it and with which keys, the delivery's id and event, whether its
//! signature held, what dedup and the upstream said. The steps of the data
//! path fill it in and read from it; at the end the audit record is built
//! from it, whatever step the request stopped at (a head refused before any
//! route was known included).

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::config::Route;
use crate::outcome::Outcome;
use crate::telemetry::AuditRecord;
use crate::trace_context::TraceContext;
use crate::verify::field::{FieldReader, Read};
use crate::verify::secret::Secret;

pub struct DeliveryContext<'l> {
    /// When the request line arrived.
    pub received: SystemTime,
    pub method: String,
    pub path: String,
    /// The route that took the request, once matched.
    pub route: Option<&'l Route>,
    /// The keys the route verifies this request with (a tenant's, or all
    /// of a rotation's).
    pub keys: &'l [Secret],
    pub delivery_id: Option<String>,
    pub event: Option<String>,
    /// `Some(true)` verified, `Some(false)` refused, `None` not checked
    /// (no route, unsigned route, or the body never arrived).
    pub signature_valid: Option<bool>,
    /// Why the delivery was refused or not forwarded as asked, in words.
    pub reason: Option<String>,
    pub body_bytes: usize,
    pub upstream_status: Option<u16>,
    pub upstream_duration: Option<Duration>,
    /// What deduplication did, when it did not simply claim and settle.
    pub dedup: Option<&'static str>,
    /// The id the delivery got in the queue, when it was queued (or, on a
    /// fallback route, might be).
    pub queue_id: Option<String>,
    /// The value of the route's ordering key, if it has one.
    pub ordering_key: Option<String>,
    /// The delivery id came twice with different values.
    pub id_conflict: bool,
    /// The trace the request belongs to (none for a head that could not be read).
    pub trace: Option<TraceContext>,
    /// On a shadow route (`enforce = false`): the refusal verification
    /// would have made, not enforced; the delivery goes on unverified.
    pub shadow: Option<Outcome>,
    /// Which of `keys` verified the delivery.
    pub matched_key: Option<usize>,
    /// The head as received and the start of the body (`keep_bodies`),
    /// for the console.
    pub kept_head: Option<Bytes>,
    pub kept_body: Option<Bytes>,
}

impl<'l> DeliveryContext<'l> {
    pub fn new(method: String, path: String) -> Self {
        Self {
            received: SystemTime::now(),
            method,
            path,
            route: None,
            keys: &[],
            delivery_id: None,
            event: None,
            signature_valid: None,
            reason: None,
            body_bytes: 0,
            upstream_status: None,
            upstream_duration: None,
            dedup: None,
            queue_id: None,
            ordering_key: None,
            id_conflict: false,
            trace: None,
            shadow: None,
            matched_key: None,
            kept_head: None,
            kept_body: None,
        }
    }

    /// The name of the route that took the request, if one did.
    pub fn route_name(&self) -> Option<&'l str> {
        self.route.map(|route| route.name.as_str())
    }

    /// Fills the delivery id and event from what `reader` can see (fields
    /// it cannot read leave earlier values in place).
    pub fn read_fields(&mut self, reader: &FieldReader<'_>) {
        let Some(route) = self.route else { return };
        match route.fields.delivery_id.as_ref().map(|f| reader.read(f)) {
            Some(Read::Value(id)) => self.delivery_id = Some(id),
            Some(Read::Conflict) => self.id_conflict = true,
            Some(Read::Absent) | None => {}
        }
        if let Some(event) = route.fields.event.as_ref().and_then(|f| reader.get(f)) {
            self.event = Some(event);
        }
    }

    /// A shadow route lets the delivery on although verification said
    /// `refusal`. The sender's trace is not continued: it is not known who
    /// the sender is.
    pub fn unverified_in_shadow(&mut self, refusal: Outcome) {
        self.shadow = Some(refusal);
        if self.trace.is_some() {
            self.trace = Some(TraceContext::start());
        }
    }

    /// The audit record of the request. `status` is what the client was
    /// answered; 0 means no answer could be sent (the client went away).
    pub fn finish(self, outcome: Outcome, status: u16, duration: Duration) -> AuditRecord {
        AuditRecord {
            received: self.received,
            route: self.route.map(|route| route.name.clone()),
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
            queue_id: self.queue_id,
            trace_id: self.trace.as_ref().map(TraceContext::trace_id),
            shadow: self.route.is_some_and(|route| !route.enforce),
            secret_position: self.matched_key.map(|i| i + 1),
            secret: self.matched_key.and_then(|i| self.route?.secret_names.get(i).cloned()),
            head: self.kept_head,
            body_preview: self.kept_body,
        }
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
