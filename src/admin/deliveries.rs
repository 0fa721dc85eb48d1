//! `/deliveries`: the recent deliveries, filtered, and one delivery whole.
//!
//! | query | keeps |
//! |---|---|
//! | `route=NAME` | one route's (without it: every route's, and those that matched none) |
//! | `outcome=LABEL[,LABEL…]` | these outcomes (`rejected_bad_signature`, …) |
//! | `class=accepted\|rejected\|failed` | outcomes of this kind |
//! | `event=TEXT` / `id=TEXT` | this event type / this delivery id, exactly |
//! | `since=TIME` / `until=TIME` | received in this range (RFC 3339, to the second) |
//! | `after=SEQ` | recorded after this one (polling for what is new) |
//! | `limit=N` | at most N, newest first (default 100) |
//!
//! `GET /deliveries/SEQ` is one delivery: its record, the reason in plain
//! words, its head as received with credentials as `…`, its queue attempts
//! when it was queued, and the start of its body on routes with
//! `keep_bodies`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::{queue, redact, Reply};
use crate::http1::RequestHead;
use crate::outcome::{Class, Outcome};
use crate::state::Shared;
use crate::telemetry::recent::Listed;
use crate::verify::timestamp::TimestampFormat;

const DEFAULT_LISTED: usize = 100;

/// What a listing keeps.
#[derive(Default)]
struct Filter {
    route: Option<String>,
    outcomes: Option<Vec<String>>,
    class: Option<Class>,
    event: Option<String>,
    id: Option<String>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    after: Option<u64>,
    limit: Option<usize>,
}

impl Filter {
    fn parse(query: &str) -> Result<Self, String> {
        let mut filter = Filter::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            match &*key {
                "route" => filter.route = Some(value),
                "outcome" => {
                    let labels: Vec<String> = value.split(',').map(str::to_owned).collect();
                    if let Some(unknown) = labels.iter().find(|l| Outcome::from_label(l).is_none()) {
                        return Err(format!("`{unknown}` is not an outcome"));
                    }
                    filter.outcomes = Some(labels);
                }
                "class" => {
                    filter.class = Some(match value.as_str() {
                        "accepted" => Class::Accepted,
                        "rejected" => Class::Rejected,
                        "failed" => Class::Failed,
                        _ => return Err("class must be `accepted`, `rejected` or `failed`".into()),
                    });
                }
                "event" => filter.event = Some(value),
                "id" => filter.id = Some(value),
                "since" | "until" => {
                    let time = TimestampFormat::Rfc3339
                        .parse(value.as_bytes())
                        .and_then(|secs| u64::try_from(secs).ok())
                        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
                        .ok_or_else(|| format!("{key} must be an RFC 3339 time (2026-12-02T14:00:00Z)"))?;
                    if key == "since" {
                        filter.since = Some(time);
                    } else {
                        filter.until = Some(time);
                    }
                }
                "after" => filter.after = Some(value.parse().map_err(|_| "after must be a number")?),
                "limit" => filter.limit = Some(value.parse().map_err(|_| "limit must be a number")?),
                _ => {}
            }
        }
        Ok(filter)
    }

    fn keeps(&self, listed: &Listed) -> bool {
        let record = &listed.record;
        let outcome = Outcome::from_label(record.outcome);
        self.outcomes
            .as_ref()
            .is_none_or(|labels| labels.iter().any(|l| l == record.outcome))
            && self
                .class
                .is_none_or(|class| outcome.is_some_and(|o| o.class() == class))
            && self.event.as_ref().is_none_or(|e| record.event.as_ref() == Some(e))
            && self
                .id
                .as_ref()
                .is_none_or(|id| record.delivery_id.as_ref() == Some(id))
            && self.since.is_none_or(|since| record.received >= since)
            && self.until.is_none_or(|until| record.received <= until)
            && self.after.is_none_or(|after| listed.seq > after)
    }
}

/// `GET /deliveries?…`.
pub fn list(shared: &Shared, query: &str) -> Reply {
    let filter = match Filter::parse(query) {
        Ok(filter) => filter,
        Err(message) => return Reply::error(400, message),
    };
    let live = shared.live();
    let known: Vec<&str> = live.config.routes.routes().iter().map(|r| r.name.as_str()).collect();
    let listed = match &filter.route {
        Some(route) => match shared.recent.list(route) {
            Some(listed) if known.contains(&route.as_str()) => listed,
            _ => {
                return Reply::json(
                    404,
                    json!({ "error": format!("no route named `{route}`"), "routes": known }),
                )
            }
        },
        None => shared.recent.list_all(),
    };
    let deliveries: Vec<&Listed> = listed
        .iter()
        .map(|listed| &**listed)
        .filter(|listed| filter.keeps(listed))
        .take(filter.limit.unwrap_or(DEFAULT_LISTED))
        .collect();
    Reply::json(
        200,
        json!({ "route": filter.route, "routes": known, "deliveries": deliveries }),
    )
}

/// `GET /deliveries/SEQ`.
pub async fn show(shared: &Shared, seq: &str) -> Reply {
    let Some(listed) = seq.parse().ok().and_then(|seq| shared.recent.find(seq)) else {
        return Reply::error(
            404,
            format!("no delivery {seq} is kept (only the last recent_deliveries of each route are)"),
        );
    };
    let record = &listed.record;
    let mut view = serde_json::to_value(&*listed).unwrap_or_default();
    let live = shared.live();
    let routes = live.config.routes.routes();
    view["request"] = record.head.as_ref().map_or(Value::Null, |bytes| {
        let mut buffer = bytes::BytesMut::from(&bytes[..]);
        match RequestHead::parse(&mut buffer) {
            Ok(Some(head)) => redact::head_view(routes, head.method.as_str(), head.target(), head.headers().iter()),
            _ => Value::Null,
        }
    });
    if let Some(body) = &record.body_preview {
        view["body_preview"] = json!(String::from_utf8_lossy(body));
        view["body_preview_truncated"] = json!(body.len() < record.body_bytes);
    }
    if let (Some(route), Some(id)) = (&record.route, &record.queue_id) {
        view["queue"] = match queue::attempts(shared, route, id).await {
            Ok(Some(entry)) => entry,
            Ok(None) => json!({ "note": "no longer in the queue: delivered, or discarded" }),
            Err(error) => json!({ "error": error }),
        };
    }
    Reply::json(200, view)
}
