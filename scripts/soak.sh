#!/usr/bin/env bash
# Soak test: verified deliveries at a steady rate through hookfence (Redis
# dedup, fail_closed) for several minutes while Redis and the upstream are
# restarted, forged ones mixed in. Checks exactly-once delivery of every
# acknowledged delivery and that nothing forged got through; reports RSS.
# Loopback only. Usage: scripts/soak.sh [minutes, default 5] [deliveries/s, default 50]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_packages "${BUILD_PACKAGES[@]}" redis-server
ensure_rust
cargo build --release --bin hookfence --example soak >&2
./target/release/examples/soak "${1:-5}" "${2:-50}" target/release/hookfence
