//! `hookfence check` and config validation: good configs pass, and every broken
//! one is refused with a message naming the file, line and key.

mod support;

use std::path::Path;

use hookfence::config::{Config, ConfigErrors};
use support::hookfence_command;

const SERVER: &str = "[server]\nlisten = \"127.0.0.1:8080\"\n";

fn env(name: &str) -> Option<String> {
    match name {
        "GH" => Some("gh-secret".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn parse(source: &str) -> Result<Config, ConfigErrors> {
    Config::parse(Path::new("test.toml"), source, &env)
}

/// The single error a config produces, as displayed.
fn error_of(source: &str) -> String {
    let errors = parse(source).expect_err("config should be refused").0;
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    errors[0].to_string()
}

fn route(body: &str) -> String {
    format!("{SERVER}\n[[routes]]\nname = \"gh\"\npath = \"/gh\"\nupstream = \"http://127.0.0.1:3000\"\n{body}\n")
}

#[test]
fn a_good_config_validates() {
    let config = parse(&route("provider = \"github\"\nsecrets = [\"env:GH\"]")).unwrap();
    let routes = config.routes.routes();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].name, "gh");
    assert_eq!(routes[0].limits.max_body, 25 << 20);
}

#[test]
fn broken_configs_name_file_line_and_key() {
    let gh = "provider = \"github\"\nsecrets = [\"env:GH\"]\n";
    let cases: Vec<(String, &str)> = vec![
        (
            route(&format!("{gh}max_bodyy = 3")),
            "test.toml:10:1: routes[0].max_bodyy: unknown field `max_bodyy`, expected one of",
        ),
        (
            route(&format!("{gh}max_body = true")),
            "test.toml:10:12: routes[0].max_body: invalid type: boolean `true`",
        ),
        (
            route(&format!("{gh}max_body = \"5 parsecs\"")),
            "test.toml:10:12: routes[0].max_body: unknown size unit `parsecs`",
        ),
        (
            route(&format!("{gh}body_timeout = \"soon\"")),
            "test.toml:10:16: routes[0].body_timeout: `soon` is not a duration",
        ),
        (
            route("provider = \"github\"\nsecrets = [\"env:NOPE\"]"),
            "test.toml:9:12: routes[0].secrets[0]: environment variable NOPE is not set",
        ),
        (
            route("provider = \"github\"\nsecrets = [\"env:EMPTY\"]"),
            "test.toml:9:12: routes[0].secrets[0]: environment variable EMPTY is empty",
        ),
        (
            route("provider = \"github\"\nsecrets = [\"hunter2\"]"),
            "test.toml:9:12: routes[0].secrets[0]: a secret must be a reference, `env:NAME` or `file:/path`",
        ),
        (
            route("provider = \"github\"\nsecrets = [\"file:/nonexistent/secret\"]"),
            "test.toml:9:12: routes[0].secrets[0]: cannot read secret file /nonexistent/secret",
        ),
        (
            route("provider = \"github\"\nsecrets = []"),
            "test.toml:9:11: routes[0].secrets: must list at least one secret",
        ),
        (
            route("provider = \"github\""),
            "test.toml:5:8: routes[0].secrets: missing: a verified route needs at least one secret",
        ),
        (
            route("secrets = [\"env:GH\"]"),
            "test.toml:5:8: routes[0].provider: missing: every verified route needs a provider",
        ),
        (
            route("provider = \"githab\"\nsecrets = [\"env:GH\"]"),
            "test.toml:8:12: routes[0].provider: unknown provider `githab`; known providers: github, gitlab",
        ),
        (
            route("verify = \"none\""),
            "test.toml:8:10: routes[0].verify: verify = \"none\" also needs `allow_unsigned = true` in [server]",
        ),
        (
            route(&format!("{gh}allow_legacy_signature = true").replace("github", "gitlab")),
            "test.toml:10:26: routes[0].allow_legacy_signature: provider `gitlab` has no legacy signature scheme",
        ),
        (
            route(gh).replace("http://127.0.0.1:3000", "ftp://x"),
            "test.toml:7:12: routes[0].upstream: `ftp://x` must be an http:// or https:// URL",
        ),
        (
            route(gh).replace("\"/gh\"", "\"gh\""),
            "test.toml:6:8: routes[0].path: `gh` must start with `/`",
        ),
        (
            route(gh).replace("\"gh\"", "\"g h\""),
            "test.toml:5:8: routes[0].name: must be non-empty and use only letters",
        ),
        (
            route(&format!("{gh}methods = [\"P OST\"]")),
            "test.toml:10:12: routes[0].methods[0]: not an HTTP method",
        ),
        (
            route(&format!(
                "{gh}sign_forwarded = {{ header = \"X-Sig\", secret = \"env:NOPE\" }}"
            )),
            "test.toml:10:47: routes[0].sign_forwarded.secret: environment variable NOPE is not set",
        ),
        (
            format!(
                "{}\n[[routes]]\nname = \"gh\"\npath = \"/other\"\nupstream = \"http://h:1\"\n{gh}",
                route(gh)
            ),
            "test.toml:13:8: routes[1].name: route name `gh` is already used by routes[0]",
        ),
        (
            format!(
                "{}\n[[routes]]\nname = \"gh2\"\npath = \"/gh\"\nupstream = \"http://h:1\"\n{gh}",
                route(gh)
            ),
            "test.toml:14:8: routes[1].path: route `gh2` (/gh) is ambiguous with route `gh` (/gh)",
        ),
        (
            SERVER.to_string(),
            "test.toml: routes: no routes: add at least one [[routes]] table",
        ),
        (
            route(gh).replace("127.0.0.1:8080", "localhost:8080"),
            "test.toml:2:10: server.listen: `localhost:8080` is not an IP:port address",
        ),
        (
            "[server\nlisten = 1".to_string(),
            "test.toml:1:8: unclosed table, expected `]`",
        ),
        (
            route(gh).replace("[server]", "[servers]"),
            "test.toml:1:2: servers: unknown field `servers`",
        ),
    ];
    for (source, expected) in &cases {
        let error = error_of(source);
        assert!(
            error.starts_with(expected),
            "\nexpected: {expected}\n     got: {error}\nconfig:\n{source}"
        );
    }
}

#[test]
fn unsigned_routes_need_both_switches() {
    let open = "verify = \"none\"";
    assert!(parse(&route(open)).is_err());
    let config = parse(&route(open).replace("[server]", "[server]\nallow_unsigned = true")).unwrap();
    assert!(matches!(
        config.routes.routes()[0].verification,
        hookfence::config::Verification::Unsigned
    ));
    let via_env = Config::parse(Path::new("test.toml"), &route(open), &|name| {
        (name == "HOOKFENCE_ALLOW_UNSIGNED").then(|| "true".to_string())
    });
    assert!(via_env.is_ok());
    let error = error_of(
        &route("verify = \"none\"\nsecrets = [\"env:GH\"]").replace("[server]", "[server]\nallow_unsigned = true"),
    );
    assert!(error.contains("verify = \"none\" takes no secrets"), "{error}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let source = route("provider = \"github\"\nsecrets = [\"env:NOPE1\", \"env:NOPE2\"]\nmethods = []");
    let errors = parse(&source).unwrap_err().0;
    let keys: Vec<_> = errors.iter().filter_map(|e| e.key.clone()).collect();
    assert_eq!(
        keys,
        vec!["routes[0].methods", "routes[0].secrets[0]", "routes[0].secrets[1]"]
    );
}

#[test]
fn secret_files_resolve_relative_to_the_config_and_lose_one_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gh.secret"), "from-a-file\n").unwrap();
    std::fs::write(dir.path().join("empty.secret"), "\n").unwrap();
    let path = dir.path().join("hookfence.toml");
    let config = Config::parse(
        &path,
        &route("provider = \"github\"\nsecrets = [\"file:gh.secret\"]"),
        &env,
    );
    assert!(config.is_ok(), "{}", config.unwrap_err());
    let errors = Config::parse(
        &path,
        &route("provider = \"github\"\nsecrets = [\"file:empty.secret\"]"),
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        errors.contains("routes[0].secrets[0]: secret file") && errors.ends_with("empty.secret is empty"),
        "{errors}"
    );
}

#[test]
fn errors_never_contain_secret_values() {
    let source = route("provider = \"github\"\nsecrets = [\"env:GH\"]\nmax_body = \"x\"");
    let error = parse(&source).unwrap_err().to_string();
    assert!(!error.contains("gh-secret"), "{error}");
    let config = parse(&route("provider = \"github\"\nsecrets = [\"env:GH\"]")).unwrap();
    assert!(
        !format!("{config:?}").contains("gh-secret"),
        "secret visible in Debug output"
    );
}

#[test]
fn check_command_on_the_shipped_example_config() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/hookfence.toml");
    let env = [
        ("GITHUB_WEBHOOK_SECRET", "a"),
        ("GITLAB_WEBHOOK_TOKEN", "b"),
        ("HOOKFENCE_FORWARD_SECRET", "c"),
    ];
    let (ok, stdout, stderr) = hookfence_command(&["check", "--config", example], &env);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ok, listening on 127.0.0.1:8080"), "{stdout}");
    assert!(stdout.contains("github") && stdout.contains("/hooks/github") && stdout.contains("X-Hub-Signature-256"));
    assert!(
        stdout.contains("gitlab") && stdout.contains("X-Gitlab-Token"),
        "{stdout}"
    );

    // Without the secrets: refused, each missing one named with its line.
    let (ok, _, stderr) = hookfence_command(&["check", "--config", example], &[]);
    assert!(!ok);
    assert!(
        stderr.contains(
            "hookfence.toml:32:12: routes[0].secrets[0]: environment variable GITHUB_WEBHOOK_SECRET is not set"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("routes[1].sign_forwarded.secret: environment variable HOOKFENCE_FORWARD_SECRET is not set"),
        "{stderr}"
    );
    // Exactly the three missing variables: no error cascades from them.
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
}

#[test]
fn run_refuses_to_start_on_a_broken_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, route("provider = \"github\"")).unwrap();
    let (ok, _, stderr) = hookfence_command(&["run", "--config", path.to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(
        stderr.contains("broken.toml:5:8: routes[0].secrets: missing"),
        "{stderr}"
    );
    let (ok, _, stderr) = hookfence_command(&["check", "--config", "/nonexistent.toml"], &[]);
    assert!(!ok);
    assert!(stderr.contains("/nonexistent.toml: cannot read config"), "{stderr}");
}

/// The options of the provider catalogue, each refused with its key.
#[test]
fn provider_options_name_file_line_and_key() {
    let cases: Vec<(String, &str)> = vec![
        (
            route("provider = \"square\"\nsecrets = [\"env:GH\"]"),
            "test.toml:5:8: routes[0].public_url: missing: this provider signs the URL it calls",
        ),
        (
            route("provider = \"square\"\nsecrets = [\"env:GH\"]\npublic_url = \"https://x.test/a/b\""),
            "test.toml:10:14: routes[0].public_url: `https://x.test/a/b` must be a scheme and host only",
        ),
        (
            route("provider = \"github\"\nsecrets = [\"env:GH\"]\nreplay_window = \"5m\""),
            "test.toml:10:17: routes[0].replay_window: this scheme signs no timestamp",
        ),
        (
            route("provider = \"standard-webhooks\"\nsecrets = [\"env:GH\"]"),
            "test.toml:9:12: routes[0].secrets[0]: the key is not valid base64 (optionally after `whsec_`)",
        ),
        (
            route("provider = \"discord\"\nsecrets = [\"env:GH\"]"),
            "test.toml:9:12: routes[0].secrets[0]: the key is not valid hex (expected hex, 32 bytes)",
        ),
        (
            route("provider = \"gitlab\"\nsecrets = [\"env:GH\"]\nanswer_ping = true"),
            "test.toml:10:15: routes[0].answer_ping: this provider has no test event to answer",
        ),
        (
            route("secrets = [\"env:GH\"]\nevents = [\"push\"]\n[routes.custom]\nheader = \"X-Sig\"\nalgorithm = \"sha256\""),
            "test.toml:9:10: routes[0].events: the route has no event source: set `event_type`",
        ),
        (
            route("provider = \"github\"\nsecrets = [\"env:GH\"]\nevents = []"),
            "test.toml:10:10: routes[0].events: an empty allow-list would refuse every delivery",
        ),
        (
            route("provider = \"github\"\nsecrets = [\"env:GH\"]\ndelivery_id = \"body:/id\""),
            "test.toml:10:15: routes[0].delivery_id: `body:/id` must be `header:<name>` or `json:<pointer>`",
        ),
        (
            route("provider = \"github\"\nsecrets = [\"env:GH\"]\n[routes.custom]\nheader = \"X\"\nalgorithm = \"sha256\""),
            "test.toml:10:1: routes[0].custom: a route has either a `provider` or a `custom` scheme, not both",
        ),
        (
            route("secrets = [\"env:GH\"]\n[routes.custom]\nheader = \"X-Sig\""),
            "test.toml:9:1: routes[0].custom: missing `algorithm`",
        ),
        (
            route("secrets = [\"env:GH\"]\n[routes.custom]\nheader = \"X-Sig\"\nalgorithm = \"sha256\"\nsigned = \"{timestamp}.{body}\""),
            "test.toml:9:1: routes[0].custom: `{timestamp}` is signed but the scheme says nowhere where the timestamp is",
        ),
        (
            route("secrets = [\"env:GH\"]\n[routes.custom]\nheader = \"X-Sig\"\nalgorithm = \"sha256\"\ntimestamp_header = \"X-Ts\""),
            "test.toml:9:1: routes[0].custom: the timestamp is not part of the signed content",
        ),
        (
            route("secrets = [\"env:GH\"]\n[routes.custom]\nheader = \"X-Sig\"\nalgorithm = \"md5\""),
            "test.toml:11:13: routes[0].custom.algorithm: unknown variant `md5`, expected one of `sha1`, `sha256`, `sha512`, `ed25519`",
        ),
        (
            route("provider = \"github\"\ntenant_param = \"app_id\"\n[routes.tenant_secrets]\n\"1\" = \"env:GH\""),
            "test.toml:9:16: routes[0].tenant_param: the path has no `{app_id}` parameter",
        ),
        (
            route("provider = \"github\"\n[routes.tenant_secrets]\n\"1\" = \"env:GH\""),
            "test.toml:9:1: routes[0].tenant_param: missing: per-tenant secrets need `tenant_param`",
        ),
        (
            route("provider = \"github\"\ntenant_param = \"app_id\"\n[routes.tenant_secrets]\n\"1\" = \"env:NOPE\"")
                .replace("\"/gh\"", "\"/gh/{app_id}\""),
            "test.toml:11:7: routes[0].tenant_secrets.1: environment variable NOPE is not set",
        ),
    ];
    for (source, expected) in &cases {
        let error = error_of(source);
        assert!(
            error.starts_with(expected),
            "\nexpected: {expected}\n     got: {error}\nconfig:\n{source}"
        );
    }
}

#[test]
fn tenant_secrets_files_are_checked_without_quoting_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("apps.toml"), "\"1\" = \"a-secret-value\"\n\"2\" = [\n").unwrap();
    let source = route("provider = \"github\"\ntenant_param = \"app_id\"\ntenant_secrets_file = \"apps.toml\"")
        .replace("\"/gh\"", "\"/gh/{app_id}\"");
    let error = Config::parse(&dir.path().join("hookfence.toml"), &source, &env)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("routes[0].tenant_secrets_file:") && error.contains("apps.toml:2: must be a TOML table"),
        "{error}"
    );
    assert!(!error.contains("a-secret-value"), "{error}");
}

#[test]
fn dedup_options_name_file_line_and_key() {
    let gh = "provider = \"github\"\nsecrets = [\"env:GH\"]";
    let with_dedup = |table: &str, route_extra: &str| {
        route(&format!("{gh}\n{route_extra}")).replace("[server]", &format!("[dedup]\n{table}\n\n[server]"))
    };
    let cases: Vec<(String, &str)> = vec![
        (
            with_dedup("backend = \"redis\"", ""),
            "test.toml:2:11: dedup.url: missing: backend = \"redis\" needs `url`",
        ),
        (
            with_dedup("backend = \"redis\"\nurl = \"redis://:hunter2@127.0.0.1:6379\"", ""),
            "test.toml:3:7: dedup.url: a URL with a password must come from `env:NAME` or `file:/path`",
        ),
        (
            with_dedup("backend = \"redis\"\nurl = \"http://127.0.0.1\"", ""),
            "test.toml:3:7: dedup.url: redis InvalidClientConfig",
        ),
        (
            with_dedup("backend = \"redis\"\nurl = \"env:NOPE\"", ""),
            "test.toml:3:7: dedup.url: environment variable NOPE is not set",
        ),
        (
            with_dedup("backend = \"redis\"\nurl = \"redis://a\"\ncluster = [\"redis://b\"]", ""),
            "test.toml:4:11: dedup.cluster: give either `url` (one server) or `cluster` (seed nodes)",
        ),
        (
            with_dedup("capacity = 0", ""),
            "test.toml:2:12: dedup.capacity: must be at least 1",
        ),
        (
            with_dedup("capacity = 10\nmax_memory = \"1MiB\"", ""),
            "test.toml:3:14: dedup.max_memory: give either `max_memory` (a budget) or `capacity` (a number of ids)",
        ),
        (
            with_dedup("max_memory = 8", ""),
            "test.toml:2:14: dedup.max_memory: must hold at least one id (40 bytes)",
        ),
        (
            with_dedup("backend = \"redis\"\nurl = \"redis://a\"\nmax_memory = \"1MiB\"", ""),
            "test.toml:4:14: dedup.max_memory: belongs to backend = \"memory\"",
        ),
        (
            with_dedup("backend = \"memory\"\nurl = \"redis://a\"", ""),
            "test.toml:3:7: dedup.url: belongs to backend = \"redis\"",
        ),
        (
            with_dedup("in_flight_ttl = \"20s\"", ""),
            "test.toml:8:8: routes[0].upstream_timeout: [dedup] in_flight_ttl (20s) must exceed connect_timeout + 2 x upstream_timeout (65s)",
        ),
        (
            route("secrets = [\"env:GH\"]\ndedup = true\n[routes.custom]\nheader = \"X-Sig\"\nalgorithm = \"sha256\""),
            "test.toml:9:9: routes[0].dedup: the route has no delivery id source: set `delivery_id`",
        ),
        (
            route(&format!("{gh}\ndedup_policy = \"fail_sometimes\"")),
            "test.toml:10:16: routes[0].dedup_policy: unknown variant `fail_sometimes`, expected `fail_open` or `fail_closed`",
        ),
    ];
    for (source, expected) in &cases {
        let error = error_of(source);
        assert!(
            error.starts_with(expected),
            "\nexpected: {expected}\n     got: {error}\nconfig:\n{source}"
        );
    }
    let good = with_dedup(
        "backend = \"redis\"\nurl = \"env:REDIS_URL\"\nttl = \"24h\"\nin_flight_ttl = \"2m\"",
        "dedup_policy = \"fail_closed\"",
    );
    let config = Config::parse(Path::new("test.toml"), &good, &|name| match name {
        "REDIS_URL" => Some("rediss://user:pass@redis.internal:6380/2".into()),
        other => env(other),
    });
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.dedup.ttl, std::time::Duration::from_secs(24 * 3600));
    assert!(
        !format!("{:?}", config.dedup).contains("pass"),
        "the URL's password leaks into Debug"
    );
}

#[test]
fn queue_options_name_file_line_and_key() {
    let gh = "provider = \"github\"\nsecrets = [\"env:GH\"]";
    let with_queue = |table: &str, route_extra: &str| {
        route(&format!("{gh}\n{route_extra}")).replace("[server]", &format!("[queue]\n{table}\n\n[server]"))
    };
    let queued = "delivery = \"queued\"";
    let cases: Vec<(String, &str)> = vec![
        (
            route(&format!("{gh}\ndelivery = \"later\"")),
            "test.toml:10:12: routes[0].delivery: unknown variant `later`, expected one of `direct`, `queued`, `fallback`",
        ),
        (
            route(&format!("{gh}\nordering_key = \"json:/repository/full_name\"")),
            "test.toml:10:16: routes[0].ordering_key: only for a route with delivery = \"queued\" or \"fallback\"",
        ),
        (
            route(&format!("{gh}\n{queued}\nqueued_status = 302")),
            "test.toml:11:17: routes[0].queued_status: must be a 2xx status (a sender retries anything else)",
        ),
        (
            route(&format!("{gh}\n{queued}\nordering_key = \"body:/x\"")),
            "test.toml:11:16: routes[0].ordering_key: `body:/x` must be `header:<name>` or `json:<pointer>`",
        ),
        (
            route(&format!("{gh}\n{queued}\nretry = {{ retry_statuses = [429, 500] }}")),
            "test.toml:11:28: routes[0].retry.retry_statuses: 500 is not a 4xx status",
        ),
        (
            route(&format!("{gh}\n{queued}\nretry = {{ base = \"10s\", cap = \"1s\" }}")),
            "test.toml:11:31: routes[0].retry.cap: must be at least base (10s)",
        ),
        (
            route(&format!("{gh}\n{queued}\nretry = {{ max_attempts = 0 }}")),
            "test.toml:11:26: routes[0].retry.max_attempts: must be at least 1",
        ),
        (
            with_queue("max_bytes = \"1MiB\"", queued),
            "test.toml:13:12: routes[0].max_body: a queued route's max_body (26214400 bytes) must fit in [queue] max_bytes (1048576 bytes)",
        ),
        (
            with_queue("backend = \"redis\"", queued),
            "test.toml:2:11: queue.url: missing: backend = \"redis\" needs `url`",
        ),
        (
            with_queue("backend = \"redis\"\nurl = \"redis://127.0.0.1\"\nclaim_timeout = \"30s\"", queued),
            "test.toml:15:12: routes[0].upstream_timeout: [queue] claim_timeout (30s) must exceed the longest attempt, connect_timeout + 3 x (connect_timeout + upstream_timeout) (1m 50s)",
        ),
        (
            with_queue("backend = \"redis\"\nurl = \"redis://127.0.0.1\"\ndata_dir = \"/var/lib/hookfence\"", queued),
            "test.toml:4:12: queue.data_dir: belongs to backend = \"embedded\"",
        ),
        (
            with_queue("claim_timeout = \"1m\"", queued),
            "test.toml:2:17: queue.claim_timeout: belongs to backend = \"redis\"",
        ),
        (
            with_queue("workers = 0", queued),
            "test.toml:2:11: queue.workers: must be at least 1",
        ),
        (
            with_queue("dead_letter_ttl = \"0s\"", queued),
            "test.toml:2:19: queue.dead_letter_ttl: a duration must be greater than zero",
        ),
        (
            route(&format!("verify = \"none\"\n{queued}")).replace("[server]\n", "[server]\nallow_unsigned = true\n"),
            "test.toml:10:12: routes[0].delivery: an unsigned route cannot queue",
        ),
        (
            route(&format!("{gh}\n{queued}"))
                .replace("[server]\n", "[server]\nadmin_token = \"hunter2\"\n"),
            "test.toml:2:15: server.admin_token: a secret must be a reference",
        ),
    ];
    for (source, expected) in &cases {
        let error = error_of(source);
        assert!(
            error.starts_with(expected),
            "\nexpected: {expected}\n     got: {error}\nconfig:\n{source}"
        );
    }
    // A Redis queue without a URL of its own uses the dedup store's.
    let good = route(&format!("{gh}\ndelivery = \"fallback\"\nordering_key = \"header:X-Repo\"\nretry = {{ max_age = \"1h\", retry_statuses = [409] }}"))
        .replace(
            "[server]",
            "[dedup]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:6390\"\n\n[queue]\nbackend = \"redis\"\n\n[server]",
        );
    let config = parse(&good).unwrap_or_else(|e| panic!("{e}"));
    let route = &config.routes.routes()[0];
    assert_eq!(route.delivery.mode, hookfence::delivery::Mode::Fallback);
    assert_eq!(route.delivery.queued_status, 202);
    assert_eq!(route.delivery.retry.retry_statuses, [409]);
    assert_eq!(route.delivery.retry.max_age, std::time::Duration::from_secs(3600));
    assert_eq!(
        config.queue.backend,
        hookfence::delivery::QueueBackend::Redis(config_dedup_target(&config))
    );
}

fn config_dedup_target(config: &Config) -> hookfence::redis_connection::Target {
    match &config.dedup.backend {
        hookfence::dedup::Backend::Redis(target) => target.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_signed_timestamp_without_a_documented_window_asks_for_replay_window() {
    let warnings = |extra: &str| -> Vec<String> {
        let source = format!(
            "{SERVER}\n[[routes]]\nname = \"cal\"\npath = \"/cal\"\nupstream = \"http://127.0.0.1:3000\"\nprovider = \"calendly\"\nsecrets = [\"env:GH\"]\n{extra}\n"
        );
        let config = parse(&source).expect("a warning, not an error");
        config.warnings.iter().map(ToString::to_string).collect()
    };
    let unbounded = warnings("");
    assert!(
        unbounded.iter().any(|w| w.contains("routes[0].replay_window")
            && w.contains("signs a timestamp but documents no window")
            && w.contains("test.toml:")),
        "{unbounded:?}"
    );
    assert!(warnings("replay_window = \"5m\"").is_empty());
    // A preset with a documented window, or none signed, says nothing.
    let github = parse(&route("provider = \"github\"\nsecrets = [\"env:GH\"]")).unwrap();
    assert!(github.warnings.is_empty(), "{:?}", github.warnings);
}
