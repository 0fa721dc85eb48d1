//! The dedup step of the data path: claim a verified delivery's id before
//! delivering it, settle the claim afterwards (commit once the delivery is
//! forwarded or queued, release on anything else), and turn the store's
//! answers — and its silences — into outcomes according to the route's
//! policy.

use serde_json::json;

use super::context::DeliveryContext;
use super::EarlyAnswer;
use crate::dedup::{Dedup, Policy, Reservation, StoreError, Token};
use crate::outcome::Outcome;

/// A claim on a delivery id, to settle once the delivery's fate is known.
pub struct Claim<'d> {
    dedup: &'d Dedup,
    key: String,
    token: Token,
}

/// How long a sender refused for an unavailable store should wait.
const STORE_RETRY_AFTER_SECS: u64 = 5;

/// Claims the delivery's id for the route in `ctx`: `Ok(None)` when the
/// route does not deduplicate it (or may not, the store being away), an
/// early answer for a duplicate, a copy in flight or a refusal.
pub async fn claim<'d>(
    dedup: &'d Dedup,
    ctx: &mut DeliveryContext<'_>,
    body: &[u8],
) -> Result<Option<Claim<'d>>, EarlyAnswer> {
    let Some(route) = ctx.route else {
        return Ok(None);
    };
    if !route.dedup.enabled {
        return Ok(None);
    }
    // Two different ids in one delivery: which one is it? Neither is
    // believed, and the delivery is not forwarded undeduplicated either.
    if ctx.id_conflict {
        ctx.reason = Some("the delivery id was given twice, with different values".into());
        return Err(EarlyAnswer::error(Outcome::BadRequest, "conflicting delivery ids"));
    }
    let Some(id) = ctx.delivery_id.as_deref() else {
        if route.dedup.require_id {
            return Err(EarlyAnswer::error(Outcome::RejectedNoDeliveryId, "missing delivery id"));
        }
        ctx.dedup = Some("no delivery id: forwarded without deduplication");
        return Ok(None);
    };
    // A delivery a shadow route forwards unverified is not deduplicated:
    // its id is not to be believed, and remembering it would let a forger
    // burn a genuine delivery's id. (The checks above still apply: shadow
    // mode relaxes verification only.)
    if ctx.shadow.is_some() {
        ctx.dedup = Some("unverified (shadow mode): forwarded without deduplication");
        return Ok(None);
    }
    let digest = route.dedup.digest_body.then(|| crate::dedup::body_digest(body));
    let key = dedup.key(&route.name, id, digest);
    let token = Token::new();
    match dedup.reserve(&key, token).await {
        Ok(Reservation::Reserved) => Ok(Some(Claim { dedup, key, token })),
        Ok(Reservation::Duplicate) => Err(EarlyAnswer::new(Outcome::Duplicate, json!({ "status": "duplicate" }))),
        Ok(Reservation::InFlight) => Err(EarlyAnswer::error(
            Outcome::InFlight,
            "this delivery is being forwarded; retry later",
        )
        .retry_after(dedup.in_flight_ttl().as_secs().max(1))),
        Err(e) => unavailable(route.dedup.policy, ctx, e),
    }
}

fn unavailable<'d>(
    policy: Policy,
    ctx: &mut DeliveryContext<'_>,
    error: StoreError,
) -> Result<Option<Claim<'d>>, EarlyAnswer> {
    ctx.reason = Some(format!("dedup store unavailable: {error}"));
    match policy {
        Policy::FailOpen => {
            ctx.dedup = Some("store unavailable: forwarded without deduplication (fail_open)");
            Ok(None)
        }
        Policy::FailClosed => Err(EarlyAnswer::error(
            Outcome::StoreUnavailable,
            "deduplication store unavailable; retry later",
        )
        .retry_after(STORE_RETRY_AFTER_SECS)),
    }
}

impl Claim<'_> {
    /// Commits when the delivery was taken (forwarded with a 2xx, or
    /// queued), releases otherwise so that the sender's retry is delivered.
    /// A failed settle is noted in the context; the claim then expires with
    /// its in-flight TTL.
    pub async fn settle(self, taken: bool, ctx: &mut DeliveryContext<'_>) {
        let result = if taken {
            self.dedup.commit(&self.key, self.token).await
        } else {
            self.dedup.release(&self.key, self.token).await
        };
        if let Err(e) = result {
            let action = if taken { "commit" } else { "release" };
            ctx.dedup = Some(if taken {
                "commit failed: a retry may be forwarded again"
            } else {
                "release failed: retries get 409 until the claim expires"
            });
            tracing::warn!(route = ctx.route_name(), error = %e, "dedup {action} failed");
        }
    }
}
