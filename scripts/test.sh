#!/usr/bin/env bash
# Installs what the test suite needs and runs all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
ensure_rust
ensure_test_tools
cargo test --all-targets
