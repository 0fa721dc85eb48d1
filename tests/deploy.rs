//! What can be checked of the container and the deployment examples on a
//! machine that cannot build the image: the Kubernetes manifests against
//! the Kubernetes API schemas (kubernetes-validate, strict), the compose
//! files against the Compose Specification (check-jsonschema), both from
//! PyPI (scripts/test.sh installs them under target/tools), and the
//! Dockerfile's ENTRYPOINT + CMD + STOPSIGNAL run with the binary as the
//! container would run them.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{free_port, github_signature, post, tool, Client, IO_TIMEOUT};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The Kubernetes version the manifests are checked against.
const KUBERNETES: &str = "1.31.0";

/// Runs `tool args…`; whether it passed, and what it printed.
fn validate(tool_name: &str, args: &[&str], file: &Path) -> (bool, String) {
    let output = Command::new(tool(tool_name))
        .args(args)
        .arg(file)
        .output()
        .expect("run the validator");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// `file` with `from` replaced by `to`, written to a temporary copy: a
/// deliberately broken manifest, to show the validator can fail.
fn broken_copy(file: &Path, from: &str, to: &str) -> (tempfile::TempDir, PathBuf) {
    let text = std::fs::read_to_string(file).expect("read");
    assert!(text.contains(from), "{} holds `{from}`", file.display());
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join(file.file_name().expect("a file name"));
    std::fs::write(&copy, text.replacen(from, to, 1)).expect("write");
    (dir, copy)
}

#[test]
fn the_kubernetes_manifests_match_the_kubernetes_api_schemas() {
    let manifest = Path::new(ROOT).join("examples/kubernetes/hookfence-sidecar.yaml");
    let args = ["--strict", "--kubernetes-version", KUBERNETES];
    let (ok, output) = validate("kubernetes-validate", &args, &manifest);
    assert!(ok, "{output}");
    assert!(output.contains("passed for resource deployment/billing"), "{output}");

    let (_dir, broken) = broken_copy(&manifest, "containerPort:", "containerPorts:");
    let (ok, output) = validate("kubernetes-validate", &args, &broken);
    assert!(!ok, "a misspelt field is caught: {output}");
}

#[test]
fn the_compose_files_match_the_compose_specification() {
    let args = ["--builtin-schema", "vendor.compose-spec"];
    for example in ["sidecar", "edge"] {
        let file = Path::new(ROOT)
            .join("examples")
            .join(example)
            .join("docker-compose.yml");
        let (ok, output) = validate("check-jsonschema", &args, &file);
        assert!(ok, "{example}: {output}");

        let (_dir, broken) = broken_copy(&file, "volumes:", "volumez:");
        let (ok, output) = validate("check-jsonschema", &args, &broken);
        assert!(!ok, "{example}: a misspelt key is caught: {output}");
    }
}

/// One Dockerfile instruction's JSON array (`ENTRYPOINT ["…"]`).
fn exec_form(dockerfile: &str, instruction: &str) -> Vec<String> {
    let line = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{instruction} ")))
        .unwrap_or_else(|| panic!("the Dockerfile has {instruction}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{instruction} is in exec form (a JSON array): {e}"))
}

/// The image's command line (ENTRYPOINT + CMD) started with the binary,
/// the container's mounts (`/etc/hookfence`, `/var/lib/hookfence`) mapped to
/// temporary directories holding the sidecar example's config: it serves,
/// and the image's STOPSIGNAL stops it cleanly.
#[test]
fn the_container_command_line_runs_the_binary_and_stops_on_its_stopsignal() {
    let dockerfile = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).expect("Dockerfile");
    let entrypoint = exec_form(&dockerfile, "ENTRYPOINT");
    let cmd = exec_form(&dockerfile, "CMD");
    assert_eq!(entrypoint, ["/usr/local/bin/hookfence"]);
    assert!(
        dockerfile.contains(&format!("COPY --from=build {0} {0}", entrypoint[0])),
        "the ENTRYPOINT is the binary the build stage installs"
    );
    let stop_signal = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("STOPSIGNAL "))
        .expect("STOPSIGNAL")
        .trim()
        .trim_start_matches("SIG")
        .to_owned();

    let mounts = tempfile::tempdir().expect("tempdir");
    let (etc, data) = (mounts.path().join("etc"), mounts.path().join("data"));
    std::fs::create_dir_all(&etc).expect("mkdir");
    std::fs::create_dir_all(&data).expect("mkdir");
    let (port, admin) = (free_port(), free_port());
    let config = std::fs::read_to_string(Path::new(ROOT).join("examples/sidecar/hookfence.toml"))
        .expect("sidecar config")
        .replace("0.0.0.0:8080", &format!("127.0.0.1:{port}"))
        .replace("0.0.0.0:9090", &format!("127.0.0.1:{admin}"))
        .replace("/var/lib/hookfence", data.to_str().expect("UTF-8"));
    std::fs::write(etc.join("hookfence.toml"), config).expect("write config");
    let args: Vec<String> = cmd
        .iter()
        .map(|a| a.replace("/etc/hookfence", etc.to_str().expect("UTF-8")))
        .collect();

    let mut child = Command::new(env!("CARGO_BIN_EXE_hookfence"))
        .args(&args)
        .env("GITHUB_WEBHOOK_SECRET", "container-secret")
        .env("GITLAB_WEBHOOK_TOKEN", "container-token")
        .env("HOOKFENCE_FORWARD_SECRET", "container-forward")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the entrypoint");
    let addr = format!("127.0.0.1:{port}").parse().expect("address");
    let deadline = Instant::now() + IO_TIMEOUT;
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the container's command exited"
        );
        assert!(Instant::now() < deadline, "the container's command never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let health = Client::connect(format!("127.0.0.1:{admin}").parse().expect("address"))
        .send(b"GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .response();
    assert_eq!(health.status, 200);
    // A forged delivery is refused: the routes of the mounted config are live.
    let body = b"{}";
    let forged = github_signature(b"not-the-secret", body);
    let answer = post(addr, "/hooks/github", &[("X-Hub-Signature-256", &forged)], body);
    assert_eq!(answer.status, 401);

    let killed = Command::new("kill")
        .arg(format!("-{stop_signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "SIG{stop_signal} did not stop it");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "a clean stop on the image's STOPSIGNAL");
}

/// The release profile (what users and the image run) stays stripped and
/// without debug info; symbols for profiling come from the `profiling`
/// profile (BENCHMARKS.md has the sizes: 14.7 MB against 124.6 MB).
#[test]
fn the_release_profile_ships_a_stripped_binary_and_profiling_keeps_symbols() {
    let manifest: toml::Table = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml"))
        .expect("Cargo.toml")
        .parse()
        .expect("TOML");
    let profile = |name: &str| manifest["profile"][name].as_table().cloned().expect("a profile table");
    let release = profile("release");
    assert_eq!(release.get("strip"), Some(&toml::Value::Boolean(true)));
    assert!(
        matches!(
            release.get("debug"),
            None | Some(toml::Value::Boolean(false)) | Some(toml::Value::Integer(0))
        ),
        "no debug info in the release binary: {release:?}"
    );
    let profiling = profile("profiling");
    assert_eq!(profiling.get("inherits"), Some(&toml::Value::String("release".into())));
    assert_eq!(profiling.get("strip"), Some(&toml::Value::String("none".into())));
    assert!(profiling.get("debug").is_some_and(|d| d != &toml::Value::Integer(0)));
}
