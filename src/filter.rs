//! Which verified deliveries are forwarded: a route's event and branch
//! allow-lists, and the provider's test event answered in place.
//!
//! Filtering runs only after verification, so a forged delivery is refused
//! (401) rather than acknowledged: an acknowledgement must never tell an
//! attacker that a guess got through.

use std::sync::LazyLock;

use crate::config::Filter;
use crate::verify::field::{Field, FieldReader};
use crate::verify::json_pointer::Pointer;

/// What to do with a verified delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Forward,
    /// Acknowledge (202) without forwarding; the reason goes to the audit record.
    Ignore(String),
    /// The provider's test event, answered by hookfence (200).
    Pong,
}

/// The field push-style events carry their ref in (`refs/heads/main`).
static REF_FIELD: LazyLock<Field> = LazyLock::new(|| Field::Json(Pointer::member("ref")));
const BRANCH_PREFIX: &str = "refs/heads/";

impl Filter {
    /// Decides for a delivery whose event type is `event`.
    pub fn decide(&self, event: Option<&str>, reader: &FieldReader<'_>) -> Decision {
        if let (Some(ping), Some(event)) = (self.ping_event, event) {
            if ping == event {
                return Decision::Pong;
            }
        }
        if let Some(allowed) = &self.events {
            match event {
                Some(event) if allowed.iter().any(|a| a == event) => {}
                Some(event) => return Decision::Ignore(format!("event `{event}` is not in the route's events")),
                None => return Decision::Ignore("the delivery names no event".into()),
            }
        }
        if let Some(branches) = &self.branches {
            // Only deliveries that carry a branch ref are subject to the
            // branch list; tags and events without a ref pass.
            let reference = reader.get(&REF_FIELD);
            if let Some(branch) = reference.as_deref().and_then(|r| r.strip_prefix(BRANCH_PREFIX)) {
                if !branches.iter().any(|b| b.matches(branch)) {
                    return Decision::Ignore(format!("branch `{branch}` is not in the route's branches"));
                }
            }
        }
        Decision::Forward
    }

    /// The field of the body [`Filter::decide`] reads, if any.
    pub fn body_field(&self) -> Option<&'static Field> {
        self.branches.as_ref().map(|_| &*REF_FIELD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BranchPattern;
    use crate::header_lines::HeaderLines;

    fn decide(filter: &Filter, event: Option<&str>, body: &[u8]) -> Decision {
        let expected: Vec<Pointer> = filter
            .body_field()
            .and_then(Field::pointer)
            .into_iter()
            .cloned()
            .collect();
        filter.decide(event, &FieldReader::new(HeaderLines::empty(), body, &expected))
    }

    #[test]
    fn events_branches_and_ping() {
        let filter = Filter {
            events: Some(vec!["push".into(), "pull_request".into()]),
            branches: Some(vec![BranchPattern::parse("main"), BranchPattern::parse("release/*")]),
            ping_event: Some("ping"),
        };
        let push = |r: &str| format!(r#"{{"ref":"{r}"}}"#).into_bytes();
        assert_eq!(decide(&filter, Some("ping"), b"{}"), Decision::Pong);
        assert_eq!(
            decide(&filter, Some("push"), &push("refs/heads/main")),
            Decision::Forward
        );
        assert_eq!(
            decide(&filter, Some("push"), &push("refs/heads/release/1.2")),
            Decision::Forward
        );
        assert_eq!(decide(&filter, Some("push"), &push("refs/tags/v1")), Decision::Forward);
        assert_eq!(decide(&filter, Some("pull_request"), b"{}"), Decision::Forward);
        assert!(matches!(
            decide(&filter, Some("push"), &push("refs/heads/feature")),
            Decision::Ignore(r) if r.contains("branch `feature`")
        ));
        assert!(matches!(decide(&filter, Some("issues"), b"{}"), Decision::Ignore(r) if r.contains("`issues`")));
        assert!(matches!(decide(&filter, None, b"{}"), Decision::Ignore(_)));
        assert_eq!(decide(&Filter::default(), Some("anything"), b""), Decision::Forward);
    }
}
