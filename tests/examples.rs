//! The shipped configs and deployment examples stay true: every example
//! config passes `hookfence check` (the real binary), the Kubernetes
//! ConfigMap carries the same config, and the Grafana dashboard and alert
//! rules only query metrics hookfence exports.

use std::path::{Path, PathBuf};
use std::process::Command;

use hookfence::telemetry::metrics::Metrics;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn example_configs() -> Vec<PathBuf> {
    let mut configs = vec![Path::new(ROOT).join("config/hookfence.toml")];
    for entry in std::fs::read_dir(Path::new(ROOT).join("examples")).unwrap() {
        let candidate = entry.unwrap().path().join("hookfence.toml");
        if candidate.exists() {
            configs.push(candidate);
        }
    }
    assert!(
        configs.len() >= 4,
        "expected the sidecar, edge and kubernetes configs: {configs:?}"
    );
    configs
}

/// A plausible value for each variable an example references.
fn value_for(variable: &str) -> &'static str {
    match variable {
        "REDIS_URL" => "redis://127.0.0.1:6379/0",
        v if v.starts_with("SVIX") => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        _ => "an-example-secret-value",
    }
}

fn referenced_variables(text: &str) -> Vec<String> {
    text.split("env:")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// `text` with each `file:` reference pointing at a file made under `dir`
/// that holds a plausible value.
fn with_secret_files(text: &str, dir: &Path) -> String {
    let mut rewritten = text.to_owned();
    for reference in text.split("\"file:").skip(1).filter_map(|rest| rest.split('"').next()) {
        let file = dir.join(reference.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let name = file.file_name().unwrap().to_str().unwrap();
        std::fs::write(&file, value_for(name)).unwrap();
        rewritten = rewritten.replace(
            &format!("\"file:{reference}\""),
            &format!("\"file:{}\"", file.display()),
        );
    }
    rewritten
}

#[test]
fn every_example_config_passes_check() {
    for config in example_configs() {
        let text = std::fs::read_to_string(&config).unwrap();
        // Run where the config's relative files (TLS) can exist; the files
        // its `file:` references name are made there too (an absolute path
        // such as a Kubernetes Secret mount is mapped under it).
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("hookfence.toml");
        std::fs::write(&copy, with_secret_files(&text, dir.path())).unwrap();
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        if let Some(server) = parsed.get("server").and_then(|s| s.as_table()) {
            if let (Some(cert), Some(key)) = (server.get("tls_cert"), server.get("tls_key")) {
                let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
                for (file, pem) in [
                    (cert, generated.cert.pem()),
                    (key, generated.signing_key.serialize_pem()),
                ] {
                    let path = dir.path().join(file.as_str().unwrap());
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(path, pem).unwrap();
                }
            }
        }
        let variables = referenced_variables(&text);
        let output = Command::new(env!("CARGO_BIN_EXE_hookfence"))
            .args(["check", "--config"])
            .arg(&copy)
            .envs(variables.iter().map(|v| (v.as_str(), value_for(v))))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}:\n{}",
            config.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let routes = parsed.get("routes").and_then(|r| r.as_array()).map_or(0, Vec::len);
        let route_lines = stdout
            .lines()
            .skip(1)
            .filter(|line| !line.trim_start().starts_with("delivery queue:"))
            .count();
        assert_eq!(
            route_lines,
            routes,
            "{}: every route listed\n{stdout}",
            config.display()
        );
    }
}

#[test]
fn the_kubernetes_configmap_carries_the_example_config() {
    let config = std::fs::read_to_string(Path::new(ROOT).join("examples/kubernetes/hookfence.toml")).unwrap();
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("examples/kubernetes/hookfence-sidecar.yaml")).unwrap();
    let embedded = manifest
        .split("  hookfence.toml: |\n")
        .nth(1)
        .expect("the ConfigMap has hookfence.toml")
        .split("\n---")
        .next()
        .unwrap();
    let unindented: Vec<&str> = embedded.lines().map(|l| l.strip_prefix("    ").unwrap_or(l)).collect();
    assert_eq!(unindented.join("\n").trim_end(), config.trim_end());
}

/// Every `hookfence_*` name the dashboard and alert rules query exists.
#[test]
fn dashboards_and_alerts_query_real_metrics() {
    let metrics = Metrics::new();
    metrics.route("github", "github", &["env:GH".to_owned()]);
    metrics.queue.route("github");
    metrics.dedup_backend("redis");
    let exported = metrics.render();
    for file in [
        "examples/grafana/hookfence-dashboard.json",
        "examples/edge/hookfence-alerts.yml",
    ] {
        let text = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
        if file.ends_with(".json") {
            serde_json::from_str::<serde_json::Value>(&text).expect("valid JSON");
        }
        let names: Vec<&str> = text
            .match_indices("hookfence_")
            .map(|(at, _)| {
                let rest = &text[at..];
                &rest[..rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len())]
            })
            .collect();
        assert!(!names.is_empty(), "{file} queries no hookfence metric");
        for name in names {
            assert!(
                exported
                    .lines()
                    .any(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))),
                "{file} queries `{name}`, which hookfence does not export"
            );
        }
    }
}
