# Shared by the scripts: install missing Debian packages (as root, after one
# `apt-get update`) and check the Rust toolchain.

# What building hookfence needs beyond Rust: pingora's zlib-ng is built with
# cmake and a C compiler.
BUILD_PACKAGES=(cmake build-essential pkg-config)

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

# The schema validators tests/deploy.rs runs on the Kubernetes and compose
# examples, from PyPI at pinned versions, in a venv under target/ (nothing
# is installed system-wide). kubernetes-validate carries the Kubernetes
# OpenAPI schemas; check-jsonschema carries the Compose Specification's.
SCHEMA_TOOLS=(check-jsonschema==0.39.0 kubernetes-validate==1.37.0)
SCHEMA_TOOLS_VENV=target/tools/venv

ensure_schema_tools() {
  local pins="${SCHEMA_TOOLS[*]}"
  if [ "$(cat "$SCHEMA_TOOLS_VENV/.pins" 2>/dev/null)" = "$pins" ]; then
    return 0
  fi
  ensure_packages python3-venv
  echo "==> installing the schema validators: $pins" >&2
  rm -rf "$SCHEMA_TOOLS_VENV"
  python3 -m venv "$SCHEMA_TOOLS_VENV"
  "$SCHEMA_TOOLS_VENV/bin/pip" install -q --disable-pip-version-check "${SCHEMA_TOOLS[@]}"
  echo "$pins" > "$SCHEMA_TOOLS_VENV/.pins"
}
