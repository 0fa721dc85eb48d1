#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) for a fixed time each.
# Usage: scripts/fuzz.sh [seconds per target, default 60]
# cargo-fuzz needs nightly features; with a stable toolchain they are
# enabled with RUSTC_BOOTSTRAP=1. Findings land in fuzz/artifacts/<target>.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

SECONDS_PER_TARGET=${1:-60}
ensure_packages "${BUILD_PACKAGES[@]}"
ensure_rust
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi
for target in verify config routing http1 http1_diff json; do
  echo "==> fuzzing $target for ${SECONDS_PER_TARGET}s" >&2
  cargo fuzz run "$target" -- -max_total_time="$SECONDS_PER_TARGET" -max_len=4096
done
