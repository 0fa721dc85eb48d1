//! What the admin API shows of a request's head: everything but its
//! credentials, which read `…` — those of every configured route (signature
//! and token headers and query parameters, what `sign_forwarded` adds: a
//! delivery may be shown after a reload renamed its route, or may have
//! matched none) and any header or query parameter whose name looks like one.

use serde_json::{json, Value};

use crate::config::Route;
use crate::header_lines::names_equal;

/// Shown instead of a credential.
pub const REDACTED: &str = "…";

/// Header and query names whose values are never shown, whatever the route
/// (substrings, lowercase).
const SECRET_LOOKING: [&str; 15] = [
    "signature",
    "sig",
    "hmac",
    "mac",
    "hash",
    "token",
    "secret",
    "auth",
    "cookie",
    "session",
    "key",
    "password",
    "credential",
    "verif",
    "jwt",
];

fn looks_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_LOOKING.iter().any(|s| lower.contains(s))
}

/// `{method, target, headers: [[name, value], …]}` with credentials as `…`;
/// `routes` are every configured route.
pub fn head_view<'h>(
    routes: &[Route],
    method: &str,
    target: &str,
    headers: impl Iterator<Item = (&'h [u8], &'h [u8])>,
) -> Value {
    let secret_header = |name: &[u8]| {
        looks_secret(&String::from_utf8_lossy(name))
            || routes.iter().any(|r| {
                r.credential_headers
                    .iter()
                    .any(|h| names_equal(name, h.as_str().as_bytes()))
                    || r.sign_forwarded.as_ref().is_some_and(|s| s.writes(name))
            })
    };
    let headers: Vec<Value> = headers
        .map(|(name, value)| {
            let shown = if secret_header(name) {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value).into_owned()
            };
            json!([String::from_utf8_lossy(name), shown])
        })
        .collect();
    let credential_params: Vec<String> = routes.iter().flat_map(|r| r.credential_query.iter().cloned()).collect();
    json!({
        "method": method,
        "target": redact_query(target, &credential_params),
        "headers": headers,
    })
}

/// `target` with the values of credential-looking query parameters as `…`.
fn redact_query(target: &str, credential_params: &[String]) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let (name, _) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded: String = form_urlencoded::parse(name.as_bytes()).map(|(k, _)| k).collect();
            let secret = credential_params.contains(&decoded) || looks_secret(&decoded);
            if secret && pair.contains('=') {
                format!("{name}={REDACTED}")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_credentials_are_redacted_and_the_rest_kept() {
        let params = ["t".to_owned()];
        assert_eq!(redact_query("/h?t=abc&x=1", &params), "/h?t=…&x=1");
        assert_eq!(
            redact_query("/h?api_key=1&access%5Ftoken=2&n", &[]),
            "/h?api_key=…&access%5Ftoken=…&n"
        );
        assert_eq!(redact_query("/h", &params), "/h");
    }

    #[test]
    fn secret_looking_headers_are_redacted_without_a_route() {
        let headers: [(&[u8], &[u8]); 5] = [
            (b"X-Hub-Signature-256", b"sha256=abc"),
            (b"Authorization", b"Bearer xyz"),
            (b"verif-hash", b"flutterwave-secret"),
            (b"X-Airtable-Content-MAC", b"hmac-sha256=00"),
            (b"X-GitHub-Event", b"push"),
        ];
        let view = head_view(&[], "POST", "/h?token=1", headers.into_iter());
        assert_eq!(
            view,
            json!({
                "method": "POST",
                "target": "/h?token=…",
                "headers": [
                    ["X-Hub-Signature-256", "…"],
                    ["Authorization", "…"],
                    ["verif-hash", "…"],
                    ["X-Airtable-Content-MAC", "…"],
                    ["X-GitHub-Event", "push"],
                ],
            })
        );
    }
}
