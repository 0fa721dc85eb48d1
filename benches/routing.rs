//! Route matching with 10 and 1 000 routes (exact, `{param}` and `*`
//! patterns), for a path that matches the most specific route and one that
//! matches nothing. Run: `cargo bench --bench routing`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http::Method;

use hookfence::routing::{PathPattern, Routable, RouteMatch, RouteTable};

struct Route {
    pattern: PathPattern,
    methods: Vec<Method>,
}

impl Routable for Route {
    fn pattern(&self) -> &PathPattern {
        &self.pattern
    }
    fn methods(&self) -> &[Method] {
        &self.methods
    }
}

/// `n` routes as a multi-tenant edge would have them: a third exact, a
/// third per-app `{param}`, a third prefix wildcards.
fn table(n: usize) -> RouteTable<Route> {
    let routes = (0..n)
        .map(|i| {
            let path = match i % 3 {
                0 => format!("/hooks/team{i}/github"),
                1 => format!("/hooks/team{i}/apps/{{app_id}}"),
                _ => format!("/hooks/team{i}/*"),
            };
            Route {
                pattern: PathPattern::parse(&path).expect("pattern"),
                methods: vec![Method::POST],
            }
        })
        .collect();
    RouteTable::new(routes).map_err(|_| "ambiguous").expect("unambiguous")
}

fn matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("route-match");
    for n in [10, 1000] {
        let routes = table(n);
        let last = n - 2; // a `{param}` route near the end of the config
        let hit = format!("/hooks/team{last}/apps/12345");
        group.bench_with_input(BenchmarkId::new("hit", n), &hit, |b, path| {
            b.iter(|| {
                assert!(matches!(
                    routes.find(&Method::POST, black_box(path)),
                    RouteMatch::Found { .. }
                ))
            })
        });
        group.bench_with_input(BenchmarkId::new("miss", n), "/nowhere/at/all", |b, path| {
            b.iter(|| {
                assert!(matches!(
                    routes.find(&Method::POST, black_box(path)),
                    RouteMatch::NotFound
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
