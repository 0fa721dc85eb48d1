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
