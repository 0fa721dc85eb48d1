//! The files a config reads: itself, every `file:` reference (secrets,
//! tokens, Redis URLs) and the keys that name a file (TLS certificates and
//! keys, tenant secret files, upstream CAs and client certificates). The
//! reload watcher ([`crate::reload`]) watches them. `env:` references are
//! not files: a process's environment changes only with a new process.

use std::path::{Path, PathBuf};

/// Keys whose string value is a path, wherever they appear.
const FILE_KEYS: [&str; 6] = [
    "tls_cert",
    "tls_key",
    "tenant_secrets_file",
    "ca",
    "client_cert",
    "client_key",
];

/// The config file, then every file its `source` references, relative
/// paths resolved from the config's directory; each once, in the order
/// they appear. A source that does not parse references only itself.
pub fn referenced(path: &Path, source: &str) -> Vec<PathBuf> {
    let base = path.parent().unwrap_or(Path::new("."));
    let mut files = vec![path.to_path_buf()];
    if let Ok(table) = source.parse::<toml::Table>() {
        for (key, value) in &table {
            collect(key, value, base, &mut files);
        }
    }
    files
}

fn collect(key: &str, value: &toml::Value, base: &Path, files: &mut Vec<PathBuf>) {
    let mut add = |file: PathBuf| {
        if !files.contains(&file) {
            files.push(file);
        }
    };
    match value {
        toml::Value::String(text) => {
            if let Some(file) = text.strip_prefix("file:") {
                add(base.join(file));
            } else if FILE_KEYS.contains(&key) {
                add(base.join(text));
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|item| collect(key, item, base, files)),
        toml::Value::Table(table) => table.iter().for_each(|(k, v)| collect(k, v, base, files)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::referenced;
    use std::path::{Path, PathBuf};

    #[test]
    fn every_kind_of_file_reference_is_found_once() {
        let source = r#"
[server]
tls_listen = "0.0.0.0:8443"
tls_cert = "tls/tls.crt"
tls_key = "/etc/tls/tls.key"
admin_token = "env:ADMIN"

[dedup]
backend = "redis"
url = "file:redis-url"

[[routes]]
name = "a"
secrets = ["file:/run/secrets/github", "env:OTHER", "file:/run/secrets/github"]
sign_forwarded = { header = "X-Sig", secret = "file:forward" }
upstream_tls = { ca = "ca.pem", client_cert = "client.pem", client_key = "client.key" }

[[routes]]
name = "b"
tenant_secrets_file = "tenants.toml"
[routes.tenant_secrets]
"1" = "file:tenant-1"
"#;
        let files = referenced(Path::new("/etc/hookfence/hookfence.toml"), source);
        let expected: Vec<PathBuf> = [
            "/etc/hookfence/hookfence.toml",
            "/etc/hookfence/tls/tls.crt",
            "/etc/tls/tls.key",
            "/etc/hookfence/redis-url",
            "/run/secrets/github",
            "/etc/hookfence/forward",
            "/etc/hookfence/ca.pem",
            "/etc/hookfence/client.pem",
            "/etc/hookfence/client.key",
            "/etc/hookfence/tenants.toml",
            "/etc/hookfence/tenant-1",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let mut sorted_files = files.clone();
        let mut sorted_expected = expected.clone();
        sorted_files.sort();
        sorted_expected.sort();
        assert_eq!(sorted_files, sorted_expected);
        assert_eq!(
            files[0],
            PathBuf::from("/etc/hookfence/hookfence.toml"),
            "the config first"
        );
    }
}
