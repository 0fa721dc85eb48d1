//! Route patterns and request paths: parsing and matching never panic, a
//! match really matches, and dot segments never match.
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;

use hookfence::routing::{PathPattern, Routable, RouteMatch, RouteTable};

struct Route(PathPattern, Vec<Method>);

impl Routable for Route {
    fn pattern(&self) -> &PathPattern {
        &self.0
    }
    fn methods(&self) -> &[Method] {
        &self.1
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Lines: patterns, then after an empty line, request paths.
    let (patterns, paths) = text.split_once("\n\n").unwrap_or((text, "/"));
    let routes: Vec<Route> = patterns
        .lines()
        .filter_map(|p| PathPattern::parse(p).ok())
        .map(|p| Route(p, vec![Method::POST]))
        .collect();
    let Ok(table) = RouteTable::new(routes) else { return };
    for path in paths.lines() {
        if let RouteMatch::Found { route, .. } = table.find(&Method::POST, path) {
            let dotted = path.split('/').any(|s| {
                let s = s.to_ascii_lowercase().replace("%2e", ".");
                s == "." || s == ".."
            });
            assert!(!dotted, "{path} matched {}", route.0.as_str());
        }
    }
});
