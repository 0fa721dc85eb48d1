//! Path patterns and the route table.
//!
//! A pattern is a sequence of segments: literals (`hooks`), parameters
//! (`{app_id}`, one non-empty segment) and, last only, a wildcard (`*`, one or
//! more remaining segments). When several routes match a path, the most
//! specific wins, compared segment by segment from the left: literal beats
//! parameter beats wildcard. Two routes that could match the same path with
//! the same specificity and a common method are ambiguous, and the config is
//! refused.

use std::cmp::Ordering;
use std::collections::HashMap;

use foldhash::fast::RandomState;

use http::Method;

/// One segment of a pattern. The derive order is the specificity order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    Literal(String),
    Param(String),
    Wildcard,
}

impl Segment {
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Param(_) => 1,
            Segment::Wildcard => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    source: String,
    segments: Vec<Segment>,
}

impl PathPattern {
    pub fn parse(source: &str) -> Result<Self, String> {
        let rest = source
            .strip_prefix('/')
            .ok_or_else(|| format!("`{source}` must start with `/`"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let segment = if *part == "*" {
                if i + 1 != parts.len() {
                    return Err(format!("`{source}`: `*` is only allowed as the last segment"));
                }
                Segment::Wildcard
            } else if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "`{source}`: parameter `{{{name}}}` must be a non-empty name of letters, digits and `_`"
                    ));
                }
                if segments.iter().any(|s| matches!(s, Segment::Param(n) if n == name)) {
                    return Err(format!("`{source}`: parameter `{{{name}}}` appears twice"));
                }
                Segment::Param(name.to_owned())
            } else if part.contains(['{', '}', '*', '?', '#']) {
                return Err(format!(
                    "`{source}`: segment `{part}` mixes literal text with `{{`, `}}`, `*`, `?` or `#`"
                ));
            } else if *part == "." || *part == ".." {
                return Err(format!("`{source}`: `.` and `..` segments are not allowed"));
            } else {
                Segment::Literal((*part).to_owned())
            };
            segments.push(segment);
        }
        Ok(Self {
            source: source.to_owned(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Names of the `{param}` segments, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Whether some path matches both patterns.
    fn overlaps(&self, other: &Self) -> bool {
        let (a, b) = (&self.segments, &other.segments);
        for i in 0..a.len().max(b.len()) {
            match (a.get(i), b.get(i)) {
                (Some(Segment::Wildcard), Some(_)) | (Some(_), Some(Segment::Wildcard)) => return true,
                (Some(Segment::Literal(x)), Some(Segment::Literal(y))) if x != y => return false,
                (Some(_), Some(_)) => {}
                // A path of this length matches only the shorter pattern, unless
                // the longer one continues with a wildcard that needs one more segment.
                _ => return false,
            }
        }
        true
    }

    /// Specificity order: `Less` means `self` is more specific.
    fn specificity(&self, other: &Self) -> Ordering {
        let ranks = |p: &Self| p.segments.iter().map(Segment::rank).collect::<Vec<_>>();
        ranks(self).cmp(&ranks(other))
    }
}

/// What a request path and method resolve to.
#[derive(Debug)]
pub enum RouteMatch<'t, 'p, R> {
    Found { route: &'t R, params: Vec<&'p str> },
    MethodNotAllowed,
    NotFound,
}

/// What the table needs to know about a route.
pub trait Routable {
    fn pattern(&self) -> &PathPattern;
    fn methods(&self) -> &[Method];
}

/// Routes ordered most specific first, kept in a tree of path segments.
///
/// Matching walks the tree from the left, trying at each segment the literal
/// child, then the parameter, then a wildcard: that is the specificity order,
/// so the first route found (whose methods allow the request) is the right
/// one, and the cost grows with the path's length, not the number of routes.
#[derive(Debug)]
pub struct RouteTable<R> {
    routes: Vec<R>,
    root: Node,
}

/// One position in the segment tree.
#[derive(Debug, Default)]
struct Node {
    /// Keyed by the config's path segments; a request's segment is only
    /// looked up, never inserted.
    literal: HashMap<String, Node, RandomState>,
    param: Option<Box<Node>>,
    /// Routes whose pattern ends with `*` here.
    wildcard: Vec<usize>,
    /// Routes whose pattern ends here.
    end: Vec<usize>,
}

impl Node {
    fn insert(&mut self, segments: &[Segment], route: usize) {
        match segments.split_first() {
            None => self.end.push(route),
            Some((Segment::Wildcard, _)) => self.wildcard.push(route),
            Some((Segment::Param(_), rest)) => self.param.get_or_insert_default().insert(rest, route),
            Some((Segment::Literal(literal), rest)) => {
                self.literal.entry(literal.clone()).or_default().insert(rest, route)
            }
        }
    }

    /// Visits the routes matching `rest` (the path after this node, `None`
    /// once it is consumed) in specificity order, with their parameter
    /// values, until `visit` accepts one.
    fn walk<'p>(
        &self,
        rest: Option<&'p str>,
        params: &mut Vec<&'p str>,
        visit: &mut dyn FnMut(usize, &[&'p str]) -> bool,
    ) -> bool {
        let Some(rest) = rest else {
            return self.end.iter().any(|&route| visit(route, params));
        };
        let (segment, next) = match rest.split_once('/') {
            Some((segment, next)) => (segment, Some(next)),
            None => (rest, None),
        };
        if let Some(child) = self.literal.get(segment) {
            if child.walk(next, params, visit) {
                return true;
            }
        }
        if segment.is_empty() {
            return false;
        }
        if let Some(child) = &self.param {
            params.push(segment);
            if child.walk(next, params, visit) {
                return true;
            }
            params.pop();
        }
        self.wildcard.iter().any(|&route| visit(route, params))
    }
}

/// Two routes that can receive the same request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguity {
    pub first: usize,
    pub second: usize,
}

impl<R: Routable> RouteTable<R> {
    /// Builds the table, or reports every ambiguous pair by their index in `routes`.
    pub fn new(routes: Vec<R>) -> Result<Self, Vec<Ambiguity>> {
        let mut ambiguities = Vec::new();
        for (i, a) in routes.iter().enumerate() {
            for (j, b) in routes.iter().enumerate().skip(i + 1) {
                let shares_method = a.methods().iter().any(|m| b.methods().contains(m));
                if shares_method
                    && a.pattern().overlaps(b.pattern())
                    && a.pattern().specificity(b.pattern()) == Ordering::Equal
                {
                    ambiguities.push(Ambiguity { first: i, second: j });
                }
            }
        }
        if !ambiguities.is_empty() {
            return Err(ambiguities);
        }
        let mut routes = routes;
        routes.sort_by(|a, b| a.pattern().specificity(b.pattern()));
        let mut root = Node::default();
        for (index, route) in routes.iter().enumerate() {
            root.insert(&route.pattern().segments, index);
        }
        Ok(Self { routes, root })
    }

    pub fn routes(&self) -> &[R] {
        &self.routes
    }

    pub fn find<'t, 'p>(&'t self, method: &Method, path: &'p str) -> RouteMatch<'t, 'p, R> {
        // An upstream that normalises `..` would otherwise be handed a path no
        // route was written for (`/hooks/*` + `/hooks/../admin`).
        if has_dot_segment(path) {
            return RouteMatch::NotFound;
        }
        let Some(rest) = path.strip_prefix('/') else {
            return RouteMatch::NotFound;
        };
        let mut path_matched = false;
        let mut found = None;
        let mut params = Vec::new();
        self.root.walk(Some(rest), &mut params, &mut |index, params| {
            if self.routes[index].methods().contains(method) {
                found = Some((index, params.to_vec()));
                true
            } else {
                path_matched = true;
                false
            }
        });
        if let Some((index, params)) = found {
            return RouteMatch::Found {
                route: &self.routes[index],
                params,
            };
        }
        if path_matched {
            RouteMatch::MethodNotAllowed
        } else {
            RouteMatch::NotFound
        }
    }
}

/// What makes `path` mean one thing to one decoder and another to the
/// next, if anything: a backslash or a `;` path parameter (which some
/// servers cut or read as `/`), or what percent-decoding, at any depth,
/// turns into a slash, a backslash, a `;`, a control character (NUL
/// included) or a dot segment (`x%2f..%2f..`, `%252e%252e`). Under a
/// wildcard route such a path could reach a backend path no route was
/// written for; body-only signatures do not cover the path.
pub fn path_ambiguity(path: &str) -> Option<&'static str> {
    /// Decodings looked through: `%25` nested deeper than this is refused.
    const DEPTH: usize = 4;
    let raw = path.as_bytes();
    if raw.contains(&b'\\') {
        return Some("a backslash");
    }
    if raw.contains(&b';') {
        return Some("a `;` path parameter");
    }
    let mut current = raw.to_vec();
    for _ in 0..DEPTH {
        if !current.contains(&b'%') {
            return None;
        }
        let decoded = percent_decode(&current);
        if decoded == current {
            return None;
        }
        let slashes = |bytes: &[u8]| bytes.iter().filter(|&&b| b == b'/').count();
        if slashes(&decoded) != slashes(&current) {
            return Some("an encoded slash");
        }
        if decoded.contains(&b'\\') {
            return Some("an encoded backslash");
        }
        if decoded.contains(&b';') {
            return Some("an encoded `;`");
        }
        if decoded.iter().any(|b| b.is_ascii_control()) {
            return Some("an encoded control character");
        }
        if has_dot_segment(&String::from_utf8_lossy(&decoded)) {
            return Some("an encoded dot segment");
        }
        current = decoded;
    }
    Some("percent-encoding nested too deep")
}

/// One pass of percent-decoding; an invalid escape stays as it is.
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            if let (Some(high), Some(low)) = (
                bytes.get(at + 1).copied().and_then(hex),
                bytes.get(at + 2).copied().and_then(hex),
            ) {
                out.push(high << 4 | low);
                at += 3;
                continue;
            }
        }
        out.push(bytes[at]);
        at += 1;
    }
    out
}

/// Whether a request path has a `.` or `..` segment, literal or
/// percent-encoded (`%2e`, either case), without allocating.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let mut dots = 0;
        let mut rest = segment.as_bytes();
        while !rest.is_empty() {
            if rest[0] == b'.' {
                rest = &rest[1..];
            } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"%2e") {
                rest = &rest[3..];
            } else {
                return false;
            }
            dots += 1;
            if dots > 2 {
                return false;
            }
        }
        dots > 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R(PathPattern, Vec<Method>);
    impl Routable for R {
        fn pattern(&self) -> &PathPattern {
            &self.0
        }
        fn methods(&self) -> &[Method] {
            &self.1
        }
    }
    fn r(p: &str) -> R {
        R(PathPattern::parse(p).unwrap(), vec![Method::POST])
    }
    fn found<'a>(t: &'a RouteTable<R>, path: &'a str) -> Option<(&'a str, Vec<&'a str>)> {
        match t.find(&Method::POST, path) {
            RouteMatch::Found { route, params } => Some((route.0.as_str(), params)),
            _ => None,
        }
    }

    #[test]
    fn exact_param_and_prefix() {
        let t = RouteTable::new(vec![r("/hooks/*"), r("/hooks/github/{app_id}"), r("/hooks/gitlab")]).unwrap();
        assert_eq!(found(&t, "/hooks/gitlab"), Some(("/hooks/gitlab", vec![])));
        assert_eq!(
            found(&t, "/hooks/github/42"),
            Some(("/hooks/github/{app_id}", vec!["42"]))
        );
        assert_eq!(found(&t, "/hooks/github/42/x"), Some(("/hooks/*", vec![])));
        assert_eq!(found(&t, "/hooks/github/"), Some(("/hooks/*", vec![])));
        assert_eq!(found(&t, "/hooks"), None);
        assert_eq!(found(&t, "/hooks/"), None);
        assert_eq!(found(&t, "/other"), None);
        assert_eq!(found(&t, "relative"), None);
    }

    #[test]
    fn dot_segments_match_nothing() {
        let t = RouteTable::new(vec![r("/hooks/*"), r("/t/{id}")]).unwrap();
        for path in [
            "/hooks/../admin",
            "/hooks/./x",
            "/hooks/%2e%2e/admin",
            "/hooks/.%2E/x",
            "/t/..",
            "/t/%2e",
        ] {
            assert!(matches!(t.find(&Method::POST, path), RouteMatch::NotFound), "{path}");
        }
        assert!(found(&t, "/hooks/...").is_some(), "three dots is an ordinary name");
        assert!(found(&t, "/t/.well-known").is_some());
    }

    #[test]
    fn paths_whose_meaning_depends_on_the_decoder_are_named() {
        for (path, what) in [
            ("/hooks/..;/admin", "a `;` path parameter"),
            ("/hooks/x;jsessionid=1", "a `;` path parameter"),
            ("/hooks\\..\\admin", "a backslash"),
            ("/hooks/%5c..%5cadmin", "an encoded backslash"),
            ("/hooks/x%2f..%2f..", "an encoded slash"),
            ("/hooks/x%2F", "an encoded slash"),
            ("/hooks/%252e%252e/admin", "an encoded dot segment"),
            ("/hooks/%25252e%25252e/admin", "an encoded dot segment"),
            ("/hooks/%252f", "an encoded slash"),
            ("/hooks/a%00b", "an encoded control character"),
            ("/hooks/a%2500b", "an encoded control character"),
            ("/hooks/%3b", "an encoded `;`"),
            ("/hooks/%2525252525252e", "percent-encoding nested too deep"),
        ] {
            assert_eq!(path_ambiguity(path), Some(what), "{path}");
        }
        for path in [
            "/hooks/github",
            "/hooks/a%20b",
            "/hooks/%41pp",
            "/hooks/100%25",
            "/hooks/%zz",
            "/hooks/...",
        ] {
            assert_eq!(path_ambiguity(path), None, "{path}");
        }
    }

    #[test]
    fn literal_first_segments_and_open_ones_are_tried_in_specificity_order() {
        let t = RouteTable::new(vec![r("/{tenant}/x"), r("/a/x"), r("/*"), r("/a/{y}")]).unwrap();
        assert_eq!(found(&t, "/a/x"), Some(("/a/x", vec![])));
        assert_eq!(found(&t, "/a/z"), Some(("/a/{y}", vec!["z"])));
        assert_eq!(found(&t, "/b/x"), Some(("/{tenant}/x", vec!["b"])));
        assert_eq!(found(&t, "/b/y/z"), Some(("/*", vec![])));
        assert_eq!(found(&t, "a/x"), None);
    }

    #[test]
    fn wrong_method() {
        let t = RouteTable::new(vec![r("/a")]).unwrap();
        assert!(matches!(t.find(&Method::GET, "/a"), RouteMatch::MethodNotAllowed));
        assert!(matches!(t.find(&Method::GET, "/b"), RouteMatch::NotFound));
    }

    #[test]
    fn ambiguity() {
        assert!(RouteTable::new(vec![r("/a/{x}"), r("/a/{y}")]).is_err());
        assert!(RouteTable::new(vec![r("/a"), r("/a")]).is_err());
        assert!(RouteTable::new(vec![r("/a/*"), r("/a/*")]).is_err());
        assert!(RouteTable::new(vec![r("/a/{x}/*"), r("/a/{y}/*")]).is_err());
        assert!(RouteTable::new(vec![r("/a/{x}/b"), r("/a/{y}/*")]).is_ok());
        // Different specificity or no common path: fine.
        assert!(RouteTable::new(vec![r("/a/{x}"), r("/a/b")]).is_ok());
        assert!(RouteTable::new(vec![r("/a/{x}"), r("/b/{x}")]).is_ok());
        assert!(RouteTable::new(vec![r("/a/{x}"), r("/a/{x}/c")]).is_ok());
        // Same path, disjoint methods: fine.
        let get = R(PathPattern::parse("/a").unwrap(), vec![Method::GET]);
        assert!(RouteTable::new(vec![r("/a"), get]).is_ok());
    }

    #[test]
    fn bad_patterns() {
        for (p, msg) in [
            ("hooks", "must start with `/`"),
            ("/a/*/b", "only allowed as the last segment"),
            ("/a/{}", "non-empty name"),
            ("/a/{x}/{x}", "appears twice"),
            ("/a/x{y}", "mixes literal text"),
            ("/a/../b", "not allowed"),
        ] {
            let err = PathPattern::parse(p).unwrap_err();
            assert!(err.contains(msg), "{p}: {err}");
        }
    }
}
