//! The delivery queue in the admin API, the same API `hookfence queue`
//! drives:
//!
//! | method and path | does |
//! |---|---|
//! | `GET /queue` | per route: pending, dead, bytes, oldest age |
//! | `GET /queue/ROUTE[?state=dead][&limit=N]` | pending (or dead) deliveries, oldest first |
//! | `GET /queue/ROUTE/ID` | one delivery: its attempts, its request's head (credentials shown as `…`) |
//! | `POST /queue/ROUTE/ID/replay` | a dead letter back to pending, or a retry due now |
//! | `POST /queue/ROUTE/replay` | every dead letter of the route back to pending |
//! | `DELETE /queue/ROUTE/ID` | discards a dead letter (or a delivery waiting, not one being attempted) |
//!
//! Request bodies are never shown. A store that is not in use is never
//! opened by a look at it.

use std::sync::Arc;

use http::Method;
use serde_json::{json, Value};

use super::{redact, Reply};
use crate::config::Route;
use crate::delivery::store::Change;
use crate::delivery::{id, now_ms, Entry, QueueStore, State};
use crate::state::Shared;
use crate::upstream::Request;

/// Deliveries listed at most per request.
const MAX_LISTED: usize = 1000;
const DEFAULT_LISTED: usize = 100;
/// The store, if the config uses a queue or it is open already.
fn store(shared: &Shared) -> Option<Result<&Arc<dyn QueueStore>, Reply>> {
    opened(shared).map(|store| store.map_err(|message| Reply::error(503, message)))
}

/// [`store`], with a failure in words.
fn opened(shared: &Shared) -> Option<Result<&Arc<dyn QueueStore>, String>> {
    let queue = &shared.queue;
    (shared.live().config.uses_queue() || queue.is_open())
        .then(|| queue.store().map_err(|e| format!("the queue is unavailable: {e}")))
}

/// Routes with a queue: those configured to use one, and those whose
/// queue holds deliveries.
async fn routes(shared: &Shared, store: &dyn QueueStore) -> Result<Vec<(String, Option<&'static str>)>, Reply> {
    let live = shared.live();
    let mut routes: Vec<(String, Option<&'static str>)> = live
        .config
        .routes
        .routes()
        .iter()
        .filter(|r| r.delivery.mode.uses_queue())
        .map(|r| (r.name.clone(), Some(r.delivery.mode.as_str())))
        .collect();
    let holding = store
        .routes()
        .await
        .map_err(|e| Reply::error(503, format!("the queue is unavailable: {e}")))?;
    for name in holding {
        if !routes.iter().any(|(r, _)| *r == name) {
            let mode = live.config.route(&name).map(|r| r.delivery.mode.as_str());
            routes.push((name, mode));
        }
    }
    routes.sort();
    Ok(routes)
}

/// Sets the queue gauges of the routes that use the queue (at each scrape).
pub async fn refresh_gauges(shared: &Shared) {
    let Some(Ok(store)) = store(shared) else { return };
    let live = shared.live();
    let now = now_ms();
    for route in live.config.routes.routes() {
        if let Some(gauges) = &live.telemetry(Some(&route.name)).queue {
            match store.stats(&route.name).await {
                Ok(stats) => gauges.set_stats(&stats, now),
                Err(e) => tracing::warn!(route = route.name, error = %e, "queue figures unavailable for /metrics"),
            }
        }
    }
}

/// `GET /queue…`.
pub async fn read(shared: &Shared, path: &str, query: &str) -> Reply {
    let store = match store(shared) {
        None => {
            return Reply::json(
                200,
                json!({ "backend": shared.queue.backend(), "routes": [], "note": "no route uses the queue" }),
            )
        }
        Some(Err(reply)) => return reply,
        Some(Ok(store)) => store.as_ref(),
    };
    let parts: Vec<&str> = path
        // Once: a route may be called `queued`.
        .strip_prefix("/queue")
        .unwrap_or(path)
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    match parts.as_slice() {
        [] => overview(shared, store).await,
        [route] => list(store, route, query).await,
        [route, id] => show(shared, store, route, id).await,
        _ => Reply::error(404, "not found; try /queue, /queue/ROUTE or /queue/ROUTE/ID"),
    }
}

/// `POST` / `DELETE` on `/queue…` (already authorized); `None` for a path
/// that changes nothing.
pub async fn change(shared: &Shared, method: &Method, path: &str) -> Option<Reply> {
    let rest = path.strip_prefix("/queue/")?;
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let store = match store(shared) {
        None => return Some(Reply::error(404, "no route uses the queue")),
        Some(Err(reply)) => return Some(reply),
        Some(Ok(store)) => store.as_ref(),
    };
    Some(match (method, parts.as_slice()) {
        (&Method::POST, [route, "replay"]) => match store.replay_dead(route).await {
            Ok(replayed) => {
                tracing::info!(route, replayed, "dead letters replayed through the admin API");
                Reply::json(200, json!({ "route": route, "replayed": replayed }))
            }
            Err(e) => Reply::error(503, format!("the queue is unavailable: {e}")),
        },
        (&Method::POST, [route, id, "replay"]) => {
            if !id::is_valid(id) {
                return Some(unknown(route, id));
            }
            let changed = store.replay(route, id).await;
            if matches!(changed, Ok(Change::Done)) {
                tracing::info!(route, queue_id = id, "delivery replayed through the admin API");
            }
            changed_reply(changed, route, id, "replayed")
        }
        (&Method::DELETE, [route, id]) => {
            if !id::is_valid(id) {
                return Some(unknown(route, id));
            }
            let changed = store.discard(route, id).await;
            if matches!(changed, Ok(Change::Done)) {
                tracing::warn!(route, queue_id = id, "delivery discarded through the admin API");
            }
            changed_reply(changed, route, id, "discarded")
        }
        _ => return None,
    })
}

fn unknown(route: &str, id: &str) -> Reply {
    Reply::error(404, format!("no delivery `{id}` in the queue of route `{route}`"))
}

fn changed_reply(changed: Result<Change, crate::delivery::QueueError>, route: &str, id: &str, done: &str) -> Reply {
    match changed {
        Ok(Change::Done) => Reply::json(200, json!({ "route": route, "id": id, "status": done })),
        Ok(Change::NotFound) => unknown(route, id),
        Ok(Change::Busy) => Reply::error(
            409,
            format!("delivery `{id}` is being attempted (or is not waiting for a retry); try again in a moment"),
        ),
        Err(e) => Reply::error(503, format!("the queue is unavailable: {e}")),
    }
}

async fn overview(shared: &Shared, store: &dyn QueueStore) -> Reply {
    let routes = match routes(shared, store).await {
        Ok(routes) => routes,
        Err(reply) => return reply,
    };
    let now = now_ms();
    let mut listed = Vec::with_capacity(routes.len());
    for (route, mode) in routes {
        match store.stats(&route).await {
            Ok(stats) => listed.push(json!({
                "route": route,
                "delivery": mode,
                "pending": stats.pending,
                "dead": stats.dead,
                "bytes": stats.bytes,
                "oldest_age_seconds": stats.oldest_received_ms.map(|t| now.saturating_sub(t) as f64 / 1000.0),
            })),
            Err(e) => return Reply::error(503, format!("the queue is unavailable: {e}")),
        }
    }
    Reply::json(200, json!({ "backend": store.backend(), "routes": listed }))
}

async fn list(store: &dyn QueueStore, route: &str, query: &str) -> Reply {
    let mut dead = false;
    let mut limit = DEFAULT_LISTED;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match (&*key, &*value) {
            ("state", "dead") => dead = true,
            ("state", "pending") => dead = false,
            ("state", other) => return Reply::error(400, format!("state must be `pending` or `dead`, not `{other}`")),
            ("limit", n) => match n.parse::<usize>() {
                Ok(n) => limit = n.min(MAX_LISTED),
                Err(_) => return Reply::error(400, "limit must be a number"),
            },
            _ => {}
        }
    }
    match store.list(route, dead, limit).await {
        Ok(entries) => Reply::json(
            200,
            json!({
                "route": route,
                "state": if dead { "dead" } else { "pending" },
                "deliveries": entries.iter().map(entry_view).collect::<Vec<_>>(),
            }),
        ),
        Err(e) => Reply::error(503, format!("the queue is unavailable: {e}")),
    }
}

async fn show(shared: &Shared, store: &dyn QueueStore, route: &str, id: &str) -> Reply {
    if !id::is_valid(id) {
        return unknown(route, id);
    }
    match store.get(route, id).await {
        Ok(Some((entry, request))) => {
            let mut view = entry_view(&entry);
            view["request"] = request_view(shared, &request);
            Reply::json(200, view)
        }
        Ok(None) => unknown(route, id),
        Err(e) => Reply::error(503, format!("the queue is unavailable: {e}")),
    }
}

fn rfc3339(ms: u64) -> String {
    // humantime writes years up to 9999 only.
    const YEAR_9999: u64 = 253_402_300_799_000;
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.min(YEAR_9999));
    humantime::format_rfc3339_millis(time).to_string()
}

/// An entry as listed: its stored fields, with times also in RFC 3339.
fn entry_view(entry: &Entry) -> Value {
    let mut view = serde_json::to_value(entry).unwrap_or_default();
    view["received"] = json!(rfc3339(entry.received_ms));
    match &entry.state {
        State::Pending { due_ms } => view["due"] = json!(rfc3339(*due_ms)),
        State::Dead { since_ms, .. } => view["dead_since"] = json!(rfc3339(*since_ms)),
    }
    view
}

/// The head of a stored request, credentials shown as `…`; never its body.
fn request_view(shared: &Shared, request: &Request) -> Value {
    let live = shared.live();
    let target = String::from_utf8_lossy(&request.target);
    let mut view = redact::head_view(
        live.config.routes.routes(),
        request.method.as_str(),
        &target,
        request.header_lines(),
    );
    view["body_bytes"] = json!(request.body.len());
    view
}

/// A queued delivery's state and attempts, for the console's view of one
/// delivery: `Ok(None)` once it has left the queue (delivered or
/// discarded), or when no route uses the queue.
pub async fn attempts(shared: &Shared, route: &str, id: &str) -> Result<Option<Value>, String> {
    let Some(store) = opened(shared) else { return Ok(None) };
    let store = store?;
    if !id::is_valid(id) {
        return Ok(None);
    }
    match store.get(route, id).await {
        Ok(found) => Ok(found.map(|(entry, _)| entry_view(&entry))),
        Err(e) => Err(format!("the queue is unavailable: {e}")),
    }
}

/// A route's queue figures for the console's overview; `None` when the
/// route does not use the queue.
pub async fn figures(shared: &Shared, route: &Route) -> Option<Value> {
    if !route.delivery.mode.uses_queue() {
        return None;
    }
    let store = match opened(shared)? {
        Ok(store) => store,
        Err(message) => return Some(json!({ "error": message })),
    };
    Some(match store.stats(&route.name).await {
        Ok(stats) => json!({
            "pending": stats.pending,
            "dead": stats.dead,
            "oldest_age_seconds": stats.oldest_received_ms.map(|t| now_ms().saturating_sub(t) as f64 / 1000.0),
        }),
        Err(e) => json!({ "error": format!("the queue is unavailable: {e}") }),
    })
}
