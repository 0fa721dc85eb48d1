#!/usr/bin/env bash
# Builds hookfence and runs it on config/hookfence.toml (in-memory, no Redis),
# with a demo backend on 127.0.0.1:3000 that prints every delivery it gets.
# Demo secrets are used for any of the example's variables not already set.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_packages "${BUILD_PACKAGES[@]}" curl openssl
ensure_rust
cargo build --release --bin hookfence --example echo_upstream

for var in GITHUB_WEBHOOK_SECRET:demo-github-secret GITLAB_WEBHOOK_TOKEN:demo-gitlab-token \
           HOOKFENCE_FORWARD_SECRET:demo-forward-secret; do
  name=${var%%:*}
  if [ -z "${!name:-}" ]; then
    export "$name=${var#*:}"
    echo "==> $name not set; using the demo value '${var#*:}'" >&2
  fi
done

upstream_pid=""
if (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null; then
  echo "==> something already listens on 127.0.0.1:3000; using it as the backend" >&2
else
  ./target/release/examples/echo_upstream 127.0.0.1:3000 &
  upstream_pid=$!
fi
trap '[ -n "$upstream_pid" ] && kill "$upstream_pid" 2>/dev/null' EXIT

./target/release/hookfence check --config config/hookfence.toml
./target/release/hookfence run --config config/hookfence.toml
