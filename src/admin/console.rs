//! The deliveries console: a page served by the admin listener (`GET /`),
//! compiled into the binary (no CDN, no fetch at run time), that reads the
//! same admin API as everyone else — `/routes`, `/deliveries`, `/queue` —
//! and acts through it with the admin token in a header.
//!
//! `GET /routes` is the console's overview: per route its provider and
//! mode, its last 5 minutes and last hour by outcome, p50/p99, upstream
//! error rate, its queue, and deliveries per minute for the chart.

use std::time::SystemTime;

use serde_json::{json, Value};

use super::{queue, Reply};
use crate::state::Shared;

/// A file of the page.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

pub const ASSETS: [Asset; 3] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("console/index.html"),
    },
    Asset {
        path: "/console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("console/console.css"),
    },
    Asset {
        path: "/console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("console/console.js"),
    },
];

pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

/// `GET /routes`.
pub async fn routes(shared: &Shared) -> Reply {
    let now = SystemTime::now();
    let live = shared.live();
    let mut listed = Vec::new();
    for route in live.config.routes.routes() {
        let timeline = shared.recent.with_timeline(&route.name, |timeline| {
            let hour = timeline.window(now, 60);
            let forwarded = hour.outcomes.get("forwarded").copied().unwrap_or(0);
            let upstream_failed = ["upstream_error", "upstream_timeout"]
                .iter()
                .map(|o| hour.outcomes.get(o).copied().unwrap_or(0))
                .sum::<u64>();
            let tried = forwarded + upstream_failed;
            json!({
                "last_5m": timeline.window(now, 5),
                "last_1h": hour,
                "upstream_error_rate": (tried > 0).then(|| upstream_failed as f64 / tried as f64),
                "per_minute": timeline.per_minute(now),
            })
        });
        let mut view = json!({
            "name": route.name,
            "provider": route.provider_label(),
            "path": route.pattern.as_str(),
            "enforce": route.enforce,
            "delivery": route.delivery.mode.as_str(),
            "keep_bodies": route.keep_bodies.is_some(),
            "queue": queue::figures(shared, route).await,
        });
        if let (Some(object), Some(Value::Object(counts))) = (view.as_object_mut(), timeline) {
            object.extend(counts);
        }
        listed.push(view);
    }
    Reply::json(200, json!({ "routes": listed }))
}
