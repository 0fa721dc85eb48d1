#!/usr/bin/env bash
# Instructions per delivery, counted by callgrind: a figure that does not move
# with the machine's load, so a small change to the data path can be measured
# (a timed run on a shared 2-core machine moves by ±25 %).
#
# Runs hookfence's `profiling` build (the release build with symbols and
# line tables; the release binary itself is stripped) with threads = 1 under
# `valgrind --tool=callgrind` in front of an nginx upstream on loopback, warms
# it up with wrk, then counts the
# user-space instructions of a second wrk run (4 connections, signed GitHub
# deliveries with unique ids) and divides by the requests wrk completed. Kernel
# work is not counted: for that, see the CPU column of benches/load.sh.
#
# Usage: benches/instructions.sh [body bytes, default 7168] [route lines]
#   e.g. benches/instructions.sh 65536 'provider = "github"
#        secrets = ["env:GH"]'
# The default route is `verify = "none"`. Prints the total per delivery and
# the functions above 1 % of it (inclusive), and leaves the profile in
# target/callgrind.out for callgrind_annotate or kcachegrind.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source benches/load/lib.sh

SIZE=${1:-7168}
ROUTE=${2:-'verify = "none"'}

ensure_packages "${BUILD_PACKAGES[@]}" valgrind wrk nginx-light openssl
ensure_rust
# HOOKFENCE_BIN=/path/to/another/build counts that build instead (a
# "before" figure); it needs symbols to name functions.
if [ -z "${HOOKFENCE_BIN:-}" ]; then
  cargo build --profile profiling --bin hookfence >&2
fi
HOOKFENCE=${HOOKFENCE_BIN:-$PWD/target/profiling/hookfence}
PROFILE=$PWD/target/callgrind.out

WORK=$(mktemp -d)
chmod 755 "$WORK"
PIDS=()
trap cleanup EXIT

UPSTREAM_PORT=$(free_port)
start_nginx upstream
wait_port "$UPSTREAM_PORT"

export GH=$SECRET HOOKFENCE_ALLOW_UNSIGNED=true
BODY=$(body_file "$SIZE")
SIGNATURE=$(github_signature "$BODY")

PORT=$(free_port)
hookfence_config "$WORK/hookfence.toml" "$PORT" 1 "" "$ROUTE"

valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out" \
  "$HOOKFENCE" run --config "$WORK/hookfence.toml" 2>"$WORK/hookfence.log" &
HF_PID=$!
PIDS+=("$HF_PID")
wait_port "$PORT" 600   # valgrind starts hookfence slowly

drive() { # seconds
  BODY_FILE=$BODY SIGNATURE=$SIGNATURE wrk -t1 -c4 -d"$1s" --timeout 10s \
    -s benches/load/post.lua "http://127.0.0.1:$PORT/hooks/bench" | grep '^RESULT'
}
drive 3 >/dev/null                               # warm-up: pools, allocator, caches
callgrind_control --instr=on "$HF_PID" >/dev/null 2>&1
result=$(drive 10)
callgrind_control --instr=off "$HF_PID" >/dev/null 2>&1
callgrind_control --dump "$HF_PID" >/dev/null 2>&1
echo "$result" | grep -q 'non200=0 ' || { echo "error: some answers were not 200: $result" >&2; exit 1; }

# The dump is part 1 (`callgrind.out.1`); the file without a number is
# written when hookfence exits, with nothing counted.
cp "$WORK/callgrind.out.1" "$PROFILE"
requests=$(echo "$result" | sed 's/.*requests=\([0-9]*\).*/\1/')
echo "$SIZE-byte body, ${ROUTE//$'\n'/; }: $requests deliveries counted"
callgrind_annotate --inclusive=yes --auto=no "$PROFILE" 2>/dev/null | awk -v n="$requests" '
  /PROGRAM TOTALS/ { gsub(",", "", $1); total = $1; printf "%.0f instructions per delivery (user space)\n", total / n; next }
  total && /^ *[0-9,]+ \( *[0-9.]+%\) / {
    ir = $1; gsub(",", "", ir); if (ir / total < 0.01) exit
    name = $0; sub(/^[^%]*%\) +/, "", name); sub(/^[^:]*:/, "", name); sub(/ \[.*$/, "", name)
    printf "%8.0f  %s\n", ir / n, substr(name, 1, 120)
  }'
