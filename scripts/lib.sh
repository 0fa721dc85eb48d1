# Shared by the scripts: install missing Debian packages (as root, after one
# `apt-get update`) and check the Rust toolchain.

# What building hookfence needs beyond Rust: pingora's zlib-ng is built with
# cmake and a C compiler.
BUILD_PACKAGES=(cmake build-essential pkg-config)
# What the test suite needs beyond building: a real redis-server for the
# Redis tests, a headless browser and its WebDriver for the console tests.
TEST_PACKAGES=(redis-server chromium chromium-driver)

ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing missing packages: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found. install a Rust toolchain (tested with 1.95) from https://rustup.rs." >&2
    exit 1
  fi
}

# The independent Python tools the tests run, from PyPI at pinned versions,
# in a venv under target/ (nothing is installed system-wide):
# kubernetes-validate and check-jsonschema validate the deployment examples
# against the Kubernetes and Compose schemas they carry (tests/deploy.rs);
# standardwebhooks, the Standard Webhooks reference library, verifies what
# `sign_forwarded` signs (tests/sign_forwarded.rs); selenium drives Debian's
# chromium through chromium-driver in the console tests (tests/console.rs).
TEST_TOOLS=(check-jsonschema==0.39.0 kubernetes-validate==1.37.0 standardwebhooks==1.1.0 selenium==4.51.0)
TEST_TOOLS_VENV=target/tools/venv

ensure_test_tools() {
  local pins="${TEST_TOOLS[*]}"
  if [ "$(cat "$TEST_TOOLS_VENV/.pins" 2>/dev/null)" = "$pins" ]; then
    return 0
  fi
  ensure_packages python3-venv
  echo "==> installing the test tools: $pins" >&2
  rm -rf "$TEST_TOOLS_VENV"
  python3 -m venv "$TEST_TOOLS_VENV"
  "$TEST_TOOLS_VENV/bin/pip" install -q --disable-pip-version-check "${TEST_TOOLS[@]}"
  echo "$pins" > "$TEST_TOOLS_VENV/.pins"
}
