//! The one enum every delivery ends in: it decides the HTTP answer, the metric
//! label and the audit record alike, so the three can never disagree.

use crate::verify::Rejection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Verified (or on an explicitly unsigned route) and answered by the upstream.
    Forwarded,
    /// Verified, then acknowledged without forwarding: outside the route's
    /// event or branch allow-list, or a test event answered in place.
    Filtered,
    RejectedMissingSignature,
    RejectedBadSignature,
    /// A genuine signature over a timestamp outside the replay window.
    RejectedStaleTimestamp,
    /// The path names a tenant the route has no secret for.
    RejectedUnknownTenant,
    /// The route requires a delivery id and the delivery has none.
    RejectedNoDeliveryId,
    /// Already forwarded successfully; answered without forwarding again.
    Duplicate,
    /// Another copy of the delivery is being forwarded right now.
    InFlight,
    /// The dedup store did not answer and the route fails closed.
    StoreUnavailable,
    /// Beyond the request limit or the body budget: refused with 503.
    Overloaded,
    RejectedBodyTooLarge,
    /// The client did not finish sending the body in time.
    RejectedTimeout,
    RejectedMethod,
    /// The request is malformed (bad framing, dot segments in the path, …).
    BadRequest,
    NoRoute,
    /// The upstream refused the connection, reset it, or answered garbage.
    UpstreamError,
    /// The upstream did not connect or answer in time.
    UpstreamTimeout,
    /// Stored in the delivery queue; workers forward it (`queued` routes,
    /// and `fallback` routes whose upstream could not take it).
    Queued,
    /// The route's queue is at its limit: refused with 503 and `Retry-After`.
    QueueFull,
    /// The queue could not store the delivery (Redis away, disk error).
    QueueUnavailable,
    /// A sender's verified endpoint check (Slack `url_verification`, Zoom
    /// `endpoint.url_validation`, …), answered by hookfence, not forwarded.
    Handshake,
}

impl Outcome {
    /// Every outcome, for tests and for pre-registering metric label values.
    pub const ALL: [Outcome; 22] = [
        Outcome::Forwarded,
        Outcome::Filtered,
        Outcome::RejectedMissingSignature,
        Outcome::RejectedBadSignature,
        Outcome::RejectedStaleTimestamp,
        Outcome::RejectedUnknownTenant,
        Outcome::RejectedNoDeliveryId,
        Outcome::Duplicate,
        Outcome::InFlight,
        Outcome::StoreUnavailable,
        Outcome::Overloaded,
        Outcome::RejectedBodyTooLarge,
        Outcome::RejectedTimeout,
        Outcome::RejectedMethod,
        Outcome::BadRequest,
        Outcome::NoRoute,
        Outcome::UpstreamError,
        Outcome::UpstreamTimeout,
        Outcome::Queued,
        Outcome::QueueFull,
        Outcome::QueueUnavailable,
        Outcome::Handshake,
    ];

    /// Position in [`Outcome::ALL`] (declaration order; a test holds them equal).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The stable label used in metrics and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Forwarded => "forwarded",
            Outcome::Filtered => "filtered",
            Outcome::RejectedMissingSignature => "rejected_missing_signature",
            Outcome::RejectedBadSignature => "rejected_bad_signature",
            Outcome::RejectedStaleTimestamp => "rejected_stale_timestamp",
            Outcome::RejectedUnknownTenant => "rejected_unknown_tenant",
            Outcome::RejectedNoDeliveryId => "rejected_no_delivery_id",
            Outcome::Duplicate => "duplicate",
            Outcome::InFlight => "in_flight",
            Outcome::StoreUnavailable => "store_unavailable",
            Outcome::Overloaded => "overloaded",
            Outcome::RejectedBodyTooLarge => "rejected_body_too_large",
            Outcome::RejectedTimeout => "rejected_timeout",
            Outcome::RejectedMethod => "rejected_method",
            Outcome::BadRequest => "bad_request",
            Outcome::NoRoute => "no_route",
            Outcome::UpstreamError => "upstream_error",
            Outcome::UpstreamTimeout => "upstream_timeout",
            Outcome::Queued => "queued",
            Outcome::QueueFull => "queue_full",
            Outcome::QueueUnavailable => "queue_unavailable",
            Outcome::Handshake => "handshake",
        }
    }

    /// The status hookfence answers with itself (`Forwarded` relays the
    /// upstream's status instead, 200 is only its nominal value; a `Filtered`
    /// test event is answered 200; `Queued` takes the route's
    /// `queued_status`).
    pub fn status(self) -> u16 {
        match self {
            Outcome::Forwarded => 200,
            Outcome::Filtered => 202,
            Outcome::RejectedMissingSignature | Outcome::RejectedBadSignature | Outcome::RejectedStaleTimestamp => 401,
            Outcome::RejectedUnknownTenant => 404,
            Outcome::RejectedNoDeliveryId => 400,
            Outcome::Duplicate => 200,
            Outcome::InFlight => 409,
            Outcome::StoreUnavailable | Outcome::Overloaded => 503,
            Outcome::RejectedBodyTooLarge => 413,
            Outcome::RejectedTimeout => 408,
            Outcome::RejectedMethod => 405,
            Outcome::BadRequest => 400,
            Outcome::NoRoute => 404,
            Outcome::UpstreamError => 502,
            Outcome::UpstreamTimeout => 504,
            Outcome::Queued => 202,
            Outcome::QueueFull | Outcome::QueueUnavailable => 503,
            Outcome::Handshake => 200,
        }
    }

    /// What the outcome means to someone watching a route (the console's
    /// chart colours).
    pub fn class(self) -> Class {
        match self {
            Outcome::Forwarded | Outcome::Filtered | Outcome::Duplicate | Outcome::Queued | Outcome::Handshake => {
                Class::Accepted
            }
            Outcome::RejectedMissingSignature
            | Outcome::RejectedBadSignature
            | Outcome::RejectedStaleTimestamp
            | Outcome::RejectedUnknownTenant
            | Outcome::RejectedNoDeliveryId
            | Outcome::RejectedBodyTooLarge
            | Outcome::RejectedTimeout
            | Outcome::RejectedMethod
            | Outcome::BadRequest
            | Outcome::NoRoute => Class::Rejected,
            Outcome::InFlight
            | Outcome::StoreUnavailable
            | Outcome::Overloaded
            | Outcome::UpstreamError
            | Outcome::UpstreamTimeout
            | Outcome::QueueFull
            | Outcome::QueueUnavailable => Class::Failed,
        }
    }

    /// The outcome with this label.
    pub fn from_label(label: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == label)
    }
}

/// What a delivery's outcome means to someone watching a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Taken: forwarded, queued, answered in place, or a duplicate.
    Accepted,
    /// Refused as not genuine or not acceptable.
    Rejected,
    /// Possibly genuine, but hookfence or the upstream could not take it
    /// (the sender should retry).
    Failed,
}

impl From<&Rejection> for Outcome {
    fn from(rejection: &Rejection) -> Self {
        match rejection {
            Rejection::Missing(_) => Outcome::RejectedMissingSignature,
            Rejection::Duplicate(_) | Rejection::Malformed(_) | Rejection::BadSignature | Rejection::BadToken => {
                Outcome::RejectedBadSignature
            }
            Rejection::StaleTimestamp(_) => Outcome::RejectedStaleTimestamp,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    #[test]
    fn all_lists_every_outcome_in_declaration_order() {
        for (i, outcome) in Outcome::ALL.iter().enumerate() {
            assert_eq!(outcome.index(), i, "{outcome}");
        }
        let mut labels: Vec<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        labels.dedup();
        assert_eq!(labels.len(), Outcome::ALL.len());
    }
}
