#!/usr/bin/env bash
# Instructions per delivery, counted by callgrind: a figure that does not move
# with the machine's load, so a small change to the data path can be measured
# (a timed run on a shared 2-core machine moves by ±25 %).
#
# Runs a release hookfence (threads = 1) under `valgrind --tool=callgrind` in
# front of an nginx upstream on loopback, warms it up with wrk, then counts the
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

SIZE=${1:-7168}
ROUTE=${2:-'verify = "none"'}

ensure_packages "${BUILD_PACKAGES[@]}" valgrind wrk nginx-light openssl
ensure_rust
cargo build --release --bin hookfence >&2
HOOKFENCE=$PWD/target/release/hookfence
PROFILE=$PWD/target/callgrind.out

WORK=$(mktemp -d)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/upstream/nginx.pid" ] && kill "$(cat "$WORK/upstream/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# valgrind starts hookfence slowly: wait up to 60 s.
wait_port() { for _ in $(seq 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

UPSTREAM_PORT=$(free_port)
mkdir -p "$WORK/upstream"
sed -e "s|UPSTREAM_PORT|$UPSTREAM_PORT|g" -e "s|PID_FILE|$WORK/upstream/nginx.pid|" \
    -e "s|ERROR_LOG|$WORK/upstream/error.log|" -e "s|TEMP_DIR|$WORK/upstream|g" \
    benches/load/nginx-upstream.conf > "$WORK/upstream/nginx.conf"
nginx -c "$WORK/upstream/nginx.conf" -p "$WORK/upstream"
wait_port "$UPSTREAM_PORT"

SECRET=load-benchmark-secret
export GH=$SECRET HOOKFENCE_ALLOW_UNSIGNED=true
BODY=$WORK/body.json
python3 -c "import sys; n=int(sys.argv[1]); head='{\"ref\":\"refs/heads/main\",\"data\":\"'; tail='\"}'; sys.stdout.write(head + 'x'*(n-len(head)-len(tail)) + tail)" "$SIZE" > "$BODY"
SIGNATURE="sha256=$(openssl dgst -sha256 -hmac "$SECRET" "$BODY" | sed 's/^.*= //')"

PORT=$(free_port)
cat > "$WORK/hookfence.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT"
threads = 1
allow_unsigned = true

[log]
level = "warn"

[[routes]]
name = "bench"
path = "/hooks/bench"
upstream = "http://127.0.0.1:$UPSTREAM_PORT"
$ROUTE
EOF
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out" \
  "$HOOKFENCE" run --config "$WORK/hookfence.toml" 2>"$WORK/hookfence.log" &
HF_PID=$!
PIDS+=("$HF_PID")
wait_port "$PORT"

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
