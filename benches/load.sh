#!/usr/bin/env bash
# Load benchmark: in one run, on loopback, compare
#   direct     wrk -> upstream (nginx `return 200`)
#   nginx      wrk -> nginx proxy_pass -> upstream (no verification)
#   unsigned   wrk -> hookfence, verify = "none" route -> upstream
#   github     wrk -> hookfence verifying GitHub signatures, no dedup
#   memory     the same, deduplicating in memory
#   redis      the same, deduplicating in a local redis-server
# at 7 KiB and 64 KiB bodies, 32 connections; requests/s, p50, p99, and peak
# RSS of the proxy under test. Then peak RSS with 1000 concurrent 64 KiB
# deliveries, with the default body budget and with a 64 MiB one.
#
# Usage: benches/load.sh [seconds per run, default 10]
# Needs: wrk, nginx, redis-server, openssl (installed if missing, as root),
# and a release build (made if missing). Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

DURATION=${1:-10}
CONNECTIONS=32
THREADS=2

ensure_packages "${BUILD_PACKAGES[@]}" wrk nginx-light redis-server openssl
ensure_rust
cargo build --release --bin hookfence >&2
HOOKFENCE=$PWD/target/release/hookfence

WORK=$(mktemp -d)
chmod 755 "$WORK"   # nginx workers (nobody) write body temp files here
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
# Peak resident memory (VmHWM) of a process and its children, in MiB.
peak_rss_mib() {
  local total=0 pid
  for pid in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
    total=$((total + $(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  echo $((total / 1024))
}

UPSTREAM_PORT=$(free_port); PROXY_PORT=$(free_port)
sed -e "s|UPSTREAM_PORT|$UPSTREAM_PORT|g" -e "s|PROXY_PORT|$PROXY_PORT|g" \
    -e "s|PID_FILE|$WORK/nginx.pid|" -e "s|ERROR_LOG|$WORK/nginx-error.log|" -e "s|TEMP_DIR|$WORK|g" \
    benches/load/nginx.conf > "$WORK/nginx.conf"
nginx -c "$WORK/nginx.conf" -p "$WORK"
wait_port "$UPSTREAM_PORT"; wait_port "$PROXY_PORT"

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >/dev/null &
PIDS+=($!)
wait_port "$REDIS_PORT"

SECRET=load-benchmark-secret
export GH=$SECRET HOOKFENCE_ALLOW_UNSIGNED=true

# One hookfence per scenario, fresh, so its peak RSS is its own.
start_hookfence() { # name dedup-table route-extra
  local port admin config
  port=$(free_port); admin=$(free_port); config="$WORK/$1.toml"
  cat > "$config" <<EOF
[server]
listen = "127.0.0.1:$port"
admin_listen = "127.0.0.1:$admin"
threads = $THREADS
allow_unsigned = true
$2

[log]
level = "warn"

[[routes]]
name = "bench"
path = "/hooks/bench"
upstream = "http://127.0.0.1:$UPSTREAM_PORT"
$3
EOF
  "$HOOKFENCE" run --config "$config" 2>"$WORK/$1.log" &
  PIDS+=($!)
  HF_PID=$!
  HF_PORT=$port
  wait_port "$port"
}

body_file() { # size
  local file="$WORK/body-$1.json"
  python3 -c "import sys; n=int(sys.argv[1]); head='{\"ref\":\"refs/heads/main\",\"data\":\"'; tail='\"}'; sys.stdout.write(head + 'x'*(n-len(head)-len(tail)) + tail)" "$1" > "$file"
  echo "$file"
}

run_wrk() { # url body-file connections
  local signature
  signature="sha256=$(openssl dgst -sha256 -hmac "$SECRET" "$2" | sed 's/^.*= //')"
  BODY_FILE=$2 SIGNATURE=$signature wrk -t "$THREADS" -c "$3" -d "${DURATION}s" --timeout 10s \
    -s benches/load/post.lua "$1" | grep '^RESULT'
}

GITHUB='provider = "github"
secrets = ["env:GH"]'

echo "| body | target | requests/s | p50 ms | p99 ms | non-200 | peak RSS MiB |"
echo "|---:|---|---:|---:|---:|---:|---:|"
for size in 7168 65536; do
  body=$(body_file $size)
  label="$((size / 1024)) KiB"
  result=$(run_wrk "http://127.0.0.1:$UPSTREAM_PORT/hooks/bench" "$body" $CONNECTIONS)
  echo "$result" | awk -v l="$label" '{split($2,a,"=");split($3,b,"=");split($4,c,"=");split($7,d,"="); printf "| %s | direct (upstream) | %s | %s | %s | %s | — |\n", l, a[2], b[2], c[2], d[2]}'
  result=$(run_wrk "http://127.0.0.1:$PROXY_PORT/hooks/bench" "$body" $CONNECTIONS)
  rss=$(peak_rss_mib "$(cat "$WORK/nginx.pid")")
  echo "$result" | awk -v l="$label" -v r="$rss" '{split($2,a,"=");split($3,b,"=");split($4,c,"=");split($7,d,"="); printf "| %s | nginx proxy_pass | %s | %s | %s | %s | %s (all workers, cumulative) |\n", l, a[2], b[2], c[2], d[2], r}'
  for scenario in unsigned github memory redis; do
    case $scenario in
      unsigned) start_hookfence $scenario "" 'verify = "none"' ;;
      github) start_hookfence $scenario "" "$GITHUB
dedup = false" ;;
      memory) start_hookfence $scenario "" "$GITHUB" ;;
      redis) start_hookfence $scenario "[dedup]
backend = \"redis\"
url = \"redis://127.0.0.1:$REDIS_PORT\"" "$GITHUB" ;;
    esac
    result=$(run_wrk "http://127.0.0.1:$HF_PORT/hooks/bench" "$body" $CONNECTIONS)
    rss=$(peak_rss_mib "$HF_PID")
    kill "$HF_PID"; wait "$HF_PID" 2>/dev/null || true
    echo "$result" | awk -v l="$label" -v s="$scenario" -v r="$rss" '{split($2,a,"=");split($3,b,"=");split($4,c,"=");split($7,d,"="); printf "| %s | hookfence %s | %s | %s | %s | %s | %s |\n", l, s, a[2], b[2], c[2], d[2], r}'
  done
done

# Memory with 1000 concurrent 64 KiB deliveries (verifying GitHub signatures;
# no dedup, whose remembered ids would grow RSS with the request count):
# once with the default body budget (256 MiB, which 1000 x 64 KiB fits), once
# with a 64 MiB budget, beyond which deliveries wait (up to 2 s) or get 503.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true   # 1000 client + 1000 upstream sockets
body=$(body_file 65536)
echo
for budget in "" 'max_in_flight_body = "64MiB"'; do
  start_hookfence thousand "$budget" "$GITHUB
dedup = false"
  result=$(run_wrk "http://127.0.0.1:$HF_PORT/hooks/bench" "$body" 1000)
  rss=$(peak_rss_mib "$HF_PID")
  kill "$HF_PID"; wait "$HF_PID" 2>/dev/null || true
  echo "1000 connections, 64 KiB bodies, hookfence github ${budget:-(default budget)}: $result peak_rss_mib=$rss"
done
