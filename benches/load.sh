#!/usr/bin/env bash
# Load benchmark: in one run, on loopback, compare
#   direct     wrk -> upstream (an nginx that answers `return 200`)
#   nginx      wrk -> nginx proxy_pass -> upstream (no verification; its own
#              nginx processes, apart from the upstream's)
#   floor      wrk -> examples/floor_proxy.rs -> upstream: the least a tokio
#              proxy can do for a signed delivery (parse, read the body, HMAC
#              it, forward it, relay the answer; no checks at all), as the
#              floor a tokio-based hookfence could reach
#   unsigned   wrk -> hookfence, verify = "none" route -> upstream
#   github     wrk -> hookfence verifying GitHub signatures, no dedup
#   memory     the same, deduplicating in memory
#   redis      the same, deduplicating in a local redis-server
#   queued     the github route with delivery = "queued" on the embedded
#              store (fsync on): the sender is answered once the delivery is
#              on disk; workers forward it. Also printed: how many deliveries
#              reached the upstream during the run, the backlog at its end
#              and how long the workers took to drain it.
# at 7 KiB and 64 KiB bodies, 32 connections; requests/s, p50, p99, CPU time
# per request of the proxy under test (user and system apart) and of the
# upstream, the machine's idle time per request, and the proxy's peak RSS.
# The proxy's CPU time per request is the steadiest figure on a shared
# machine: it does not depend on how the cores were divided between wrk,
# the upstream and the proxy; its system part is the kernel's socket work,
# which any proxy pays alike. Then peak RSS
# with 1000 concurrent 64 KiB deliveries, with the default body budget and
# with a 64 MiB one, and the memory of 1000 idle connections.
#
# Usage: benches/load.sh [seconds per run, default 10]
#   SCENARIOS="github queued" SIZES=7168 SKIP_MEMORY=1 benches/load.sh 10   # a subset
# Needs: wrk, nginx, redis-server, openssl (installed if missing, as root),
# and a release build (made if missing). Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source benches/load/lib.sh

DURATION=${1:-10}
CONNECTIONS=32
THREADS=2
SCENARIOS=${SCENARIOS:-direct nginx floor unsigned github memory redis queued}
SIZES=${SIZES:-7168 65536}
wanted() { [[ " $SCENARIOS " == *" $1 "* ]]; }

ensure_packages "${BUILD_PACKAGES[@]}" wrk nginx-light redis-server openssl
ensure_rust
cargo build --release --bin hookfence --example floor_proxy >&2
HOOKFENCE=$PWD/target/release/hookfence
FLOOR=$PWD/target/release/examples/floor_proxy

WORK=$(mktemp -d)
chmod 755 "$WORK"
PIDS=()
trap cleanup EXIT

# Peak resident memory (VmHWM) of a process and its children, in MiB.
peak_rss_mib() {
  local total=0 pid
  for pid in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
    total=$((total + $(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  echo $((total / 1024))
}

# CPU time of a process and its children, in clock ticks: "user system".
cpu_ticks() {
  local user=0 system=0 pid u s
  for pid in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
    read -r u s < <(awk '{print $14, $15}' "/proc/$pid/stat" 2>/dev/null || echo 0 0)
    user=$((user + u)); system=$((system + s))
  done
  echo "$user $system"
}

# Idle time of the whole machine, in clock ticks (/proc/stat, all CPUs).
idle_ticks() { awk '/^cpu / {print $5}' /proc/stat; }
TICKS_PER_SECOND=$(getconf CLK_TCK)

UPSTREAM_PORT=$(free_port); PROXY_PORT=$(free_port)
start_nginx upstream; start_nginx proxy
wait_port "$UPSTREAM_PORT"; wait_port "$PROXY_PORT"
NGINX_PROXY_PID=$(cat "$WORK/proxy/nginx.pid")
UPSTREAM_PID=$(cat "$WORK/upstream/nginx.pid")

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >/dev/null &
PIDS+=($!)
wait_port "$REDIS_PORT"

export GH=$SECRET HOOKFENCE_ALLOW_UNSIGNED=true

# One hookfence per scenario, fresh, so its peak RSS is its own.
start_hookfence() { # name dedup-table route-extra
  local port admin config
  port=$(free_port); admin=$(free_port); config="$WORK/$1.toml"
  hookfence_config "$config" "$port" "$THREADS" "admin_listen = \"127.0.0.1:$admin\"
$2" "$3"
  "$HOOKFENCE" run --config "$config" 2>"$WORK/$1.log" &
  PIDS+=($!)
  HF_PID=$!
  HF_PORT=$port
  HF_ADMIN=$admin
  wait_port "$port"
}

# A sample of hookfence's metrics (0 when absent).
metric() { # series
  curl -s "http://127.0.0.1:$HF_ADMIN/metrics" | awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}

# Prints wrk's RESULT line with, per request, the CPU time of the proxy
# under test (the processes `pids` and their children) appended as
# user_us= and system_us=, that of the upstream as upstream_us=, and the
# time the machine's CPUs stood idle as idle_us=. With every core busy, a
# proxy's requests/s follows what all of these add up to per request.
run_wrk() { # url body-file connections pids...
  local url=$1 body=$2 connections=$3 signature result requests
  local -a before after upstream_before upstream_after
  shift 3
  signature=$(github_signature "$body")
  read -r -a before < <(cpu_ticks "$@")
  read -r -a upstream_before < <(cpu_ticks "$UPSTREAM_PID")
  local idle_before; idle_before=$(idle_ticks)
  result=$(BODY_FILE=$body SIGNATURE=$signature wrk -t "$THREADS" -c "$connections" -d "${DURATION}s" --timeout 10s \
    -s benches/load/post.lua "$url" | grep '^RESULT')
  local idle_after; idle_after=$(idle_ticks)
  read -r -a after < <(cpu_ticks "$@")
  read -r -a upstream_after < <(cpu_ticks "$UPSTREAM_PID")
  requests=$(echo "$result" | sed 's/.*requests=\([0-9]*\).*/\1/')
  per_request() { awk -v t="$1" -v hz="$TICKS_PER_SECOND" -v n="$requests" \
    'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else printf "—" }'; }
  echo "$result user_us=$(per_request $((after[0] - before[0]))) system_us=$(per_request $((after[1] - before[1])))" \
    "upstream_us=$(per_request $((upstream_after[0] + upstream_after[1] - upstream_before[0] - upstream_before[1])))" \
    "idle_us=$(per_request $((idle_after - idle_before)))"
}

# One table row from a RESULT line: body, target, requests/s, p50, p99,
# non-200, the proxy's CPU per request (user + system), the upstream's, idle
# time per request, peak RSS.
row() { # label target rss result
  echo "$4" | awk -v l="$1" -v t="$2" -v r="$3" '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    cpu = (v["user_us"] == "—") ? "—" : sprintf("%.1f (%s + %s)", v["user_us"] + v["system_us"], v["user_us"], v["system_us"])
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", l, t, v["rps"], v["p50_ms"], v["p99_ms"], v["non200"], cpu, v["upstream_us"], v["idle_us"], r }'
}

GITHUB='provider = "github"
secrets = ["env:GH"]'

echo "| body | target | requests/s | p50 ms | p99 ms | non-200 | proxy CPU µs/request (user + system) | upstream CPU µs/request | idle µs/request | peak RSS MiB |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
QUEUE_NOTES=()
for size in $SIZES; do
  body=$(body_file $size)
  label="$((size / 1024)) KiB"
  if wanted direct; then
  row "$label" "direct (upstream)" "—" \
    "$(run_wrk "http://127.0.0.1:$UPSTREAM_PORT/hooks/bench" "$body" $CONNECTIONS "$UPSTREAM_PID")"
  fi
  if wanted nginx; then
  result=$(run_wrk "http://127.0.0.1:$PROXY_PORT/hooks/bench" "$body" $CONNECTIONS "$NGINX_PROXY_PID")
  row "$label" "nginx proxy_pass" "$(peak_rss_mib "$NGINX_PROXY_PID") (all workers, cumulative)" "$result"
  fi
  if wanted floor; then
  FLOOR_PORT=$(free_port)
  "$FLOOR" "127.0.0.1:$FLOOR_PORT" "127.0.0.1:$UPSTREAM_PORT" "$THREADS" --verify &
  PIDS+=($!)
  FLOOR_PID=$!
  wait_port "$FLOOR_PORT"
  result=$(run_wrk "http://127.0.0.1:$FLOOR_PORT/hooks/bench" "$body" $CONNECTIONS "$FLOOR_PID")
  rss=$(peak_rss_mib "$FLOOR_PID")
  kill "$FLOOR_PID"; wait "$FLOOR_PID" 2>/dev/null || true
  row "$label" "floor (tokio, HMAC, no checks)" "$rss" "$result"
  fi
  for scenario in unsigned github memory redis queued; do
    wanted $scenario || continue
    case $scenario in
      unsigned) start_hookfence $scenario "" 'verify = "none"' ;;
      github) start_hookfence $scenario "" "$GITHUB
dedup = false" ;;
      memory) start_hookfence $scenario "" "$GITHUB" ;;
      redis) start_hookfence $scenario "[dedup]
backend = \"redis\"
url = \"redis://127.0.0.1:$REDIS_PORT\"" "$GITHUB" ;;
      # Answered 200 (queued_status), so that non-200 still counts errors.
      queued) start_hookfence $scenario "[queue]
data_dir = \"$WORK/queue-$size\"
max_bytes = \"16GiB\"
max_deliveries = 100000000" "$GITHUB
dedup = false
delivery = \"queued\"
queued_status = 200" ;;
    esac
    result=$(run_wrk "http://127.0.0.1:$HF_PORT/hooks/bench" "$body" $CONNECTIONS "$HF_PID")
    rss=$(peak_rss_mib "$HF_PID")
    if [ "$scenario" = queued ]; then
      delivered=$(metric 'hookfence_queue_attempts_total{result="delivered",route="bench"}')
      accepted=$(echo "$result" | sed 's/.*requests=\([0-9]*\).*/\1/')
      backlog=$(metric 'hookfence_queue_deliveries{route="bench",state="pending"}')
      drain_start=$(date +%s.%N)
      while [ "$(metric 'hookfence_queue_deliveries{route="bench",state="pending"}')" != 0 ]; do sleep 0.2; done
      drained=$(awk -v a="$drain_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
      QUEUE_NOTES+=("$label queued: $accepted accepted, ${delivered%.*} reached the upstream during the ${DURATION} s run ($(awk -v d="$delivered" -v t="$DURATION" 'BEGIN { printf "%.0f", d / t }')/s), backlog ${backlog%.*} at its end, drained in $drained s")
    fi
    kill "$HF_PID"; wait "$HF_PID" 2>/dev/null || true
    row "$label" "hookfence $scenario" "$rss" "$result"
  done
done
for note in "${QUEUE_NOTES[@]}"; do echo; echo "$note"; done

[ -n "${SKIP_MEMORY:-}" ] && exit 0

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
  result=$(run_wrk "http://127.0.0.1:$HF_PORT/hooks/bench" "$body" 1000 "$HF_PID")
  rss=$(peak_rss_mib "$HF_PID")
  kill "$HF_PID"; wait "$HF_PID" 2>/dev/null || true
  echo "1000 connections, 64 KiB bodies, hookfence github ${budget:-(default budget)}: $result peak_rss_mib=$rss"
done

# Memory of 1000 idle keep-alive connections (opened, then one small
# request each).
start_hookfence idle "" "$GITHUB"
python3 benches/load/idle.py "$HF_PORT" "$HF_PID" 1000
kill "$HF_PID"; wait "$HF_PID" 2>/dev/null || true

