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
#   memory     the same, deduplicating in memory, its store filled with
#              FILL (default 1,000,000) delivered ids before it is measured
#   redis      the same, deduplicating in a local redis-server
#   queued     the github route with delivery = "queued" on the embedded
#              store (fsync on): the sender is answered once the delivery is
#              on disk; workers forward it. Also printed: how many deliveries
#              reached the upstream during the run, the backlog at its end
#              and how long the workers took to drain it.
# Each target runs RUNS times (default 3), the runs interleaved, and the
# table gives the median and the spread (lowest–highest) of each figure.
# At 7 KiB and 64 KiB bodies, 32 connections; requests/s, p50, p99, CPU time
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
#   SCENARIOS="github queued" SIZES=7168 RUNS=5 SKIP_MEMORY=1 benches/load.sh 10   # a subset
#   THREADS=1 FILL=1000000 HOOKFENCE_BIN=/tmp/hookfence-old benches/load.sh 5
# Needs: wrk, nginx, redis-server, openssl (installed if missing, as root),
# and a release build (made if missing). Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source benches/load/lib.sh

DURATION=${1:-10}
CONNECTIONS=32
# Threads of each proxy under test (hookfence's `threads`, nginx's
# worker_processes, the floor's) and of wrk. THREADS=1 gives each proxy one
# core's worth of threads, the way issue 17 compares them.
THREADS=${THREADS:-2}
SCENARIOS=${SCENARIOS:-direct nginx floor unsigned github memory redis queued}
SIZES=${SIZES:-7168 65536}
# Runs of each target, interleaved; the table shows medians and spreads.
RUNS=${RUNS:-3}
# Delivered ids the memory scenario's store holds before it is measured.
FILL=${FILL:-1000000}
wanted() { [[ " $SCENARIOS " == *" $1 "* ]]; }

ensure_packages "${BUILD_PACKAGES[@]}" wrk nginx-light redis-server openssl
ensure_rust
cargo build --release --bin hookfence --example floor_proxy >&2
# HOOKFENCE_BIN=/path/to/an/older/hookfence measures another build (a
# "before" figure) with the same script and machine; for `perf record`, point
# it at the symbolised build: cargo build --profile profiling, then
# HOOKFENCE_BIN=target/profiling/hookfence.
HOOKFENCE=${HOOKFENCE_BIN:-$PWD/target/release/hookfence}
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

GITHUB='provider = "github"
secrets = ["env:GH"]'

# Starts the hookfence of a scenario; its pid and port end up in
# HF_PID_<scenario> / HF_PORT_<scenario> / HF_ADMIN_<scenario>.
start_scenario() { # scenario size
  case $1 in
    unsigned) start_hookfence "$1" "" 'verify = "none"' ;;
    github) start_hookfence "$1" "" "$GITHUB
dedup = false" ;;
    memory) start_hookfence "$1" "" "$GITHUB" ;;
    redis) start_hookfence "$1" "[dedup]
backend = \"redis\"
url = \"redis://127.0.0.1:$REDIS_PORT\"" "$GITHUB" ;;
    # Answered 200 (queued_status), so that non-200 still counts errors.
    queued) start_hookfence "$1" "[queue]
data_dir = \"$WORK/queue-$2\"
max_bytes = \"16GiB\"
max_deliveries = 100000000" "$GITHUB
dedup = false
delivery = \"queued\"
queued_status = 200" ;;
  esac
  printf -v "HF_PID_$1" %s "$HF_PID"
  printf -v "HF_PORT_$1" %s "$HF_PORT"
  printf -v "HF_ADMIN_$1" %s "$HF_ADMIN"
}

# Sends deliveries to the memory scenario until its store holds $FILL ids:
# the cost of deduplicating must not be read off an empty store.
fill_memory_store() { # body-file
  local committed
  HF_ADMIN=$HF_ADMIN_memory
  while :; do
    committed=$(metric 'hookfence_dedup_operations_total{backend="memory",operation="commit",result="ok"}')
    [ "${committed%.*}" -ge "$FILL" ] && break
    BODY_FILE=$1 SIGNATURE=$(github_signature "$1") wrk -t "$THREADS" -c "$CONNECTIONS" -d 10s \
      -s benches/load/post.lua "http://127.0.0.1:$HF_PORT_memory/hooks/bench" >/dev/null
  done
  echo "memory store filled: ${committed%.*} ids" >&2
}

# Where each run's RESULT lines go: $WORK/results/<size>/<target>.
mkdir -p "$WORK/results"
QUEUE_NOTES=()
for size in $SIZES; do
  body=$(body_file $size)
  results="$WORK/results/$size"
  mkdir -p "$results"
  SCENARIO_PIDS=()
  if wanted floor; then
    FLOOR_PORT=$(free_port)
    "$FLOOR" "127.0.0.1:$FLOOR_PORT" "127.0.0.1:$UPSTREAM_PORT" "$THREADS" --verify &
    PIDS+=($!)
    FLOOR_PID=$!
    wait_port "$FLOOR_PORT"
  fi
  for scenario in unsigned github memory redis queued; do
    wanted $scenario || continue
    start_scenario $scenario $size
    SCENARIO_PIDS+=("$HF_PID")
  done
  wanted memory && fill_memory_store "$body"
  # Runs interleaved: a noisy moment of the machine falls on one run of
  # every target, not on all runs of one.
  for run in $(seq "$RUNS"); do
    echo "size $size, run $run of $RUNS" >&2
    for target in direct nginx floor unsigned github memory redis queued; do
      wanted $target || continue
      case $target in
        direct) url="http://127.0.0.1:$UPSTREAM_PORT/hooks/bench"; pid=$UPSTREAM_PID ;;
        nginx) url="http://127.0.0.1:$PROXY_PORT/hooks/bench"; pid=$NGINX_PROXY_PID ;;
        floor) url="http://127.0.0.1:$FLOOR_PORT/hooks/bench"; pid=$FLOOR_PID ;;
        *) port_var="HF_PORT_$target"; pid_var="HF_PID_$target"
           url="http://127.0.0.1:${!port_var}/hooks/bench"; pid=${!pid_var} ;;
      esac
      if [ "$target" = queued ]; then
        HF_ADMIN=$HF_ADMIN_queued
        delivered_before=$(metric 'hookfence_queue_attempts_total{result="delivered",route="bench"}')
      fi
      result=$(run_wrk "$url" "$body" $CONNECTIONS "$pid")
      echo "$result" >> "$results/$target"
      if [ "$target" = queued ]; then
        delivered=$(metric 'hookfence_queue_attempts_total{result="delivered",route="bench"}')
        delivered=$(( ${delivered%.*} - ${delivered_before%.*} ))
        accepted=$(echo "$result" | sed 's/.*requests=\([0-9]*\).*/\1/')
        backlog=$(metric 'hookfence_queue_deliveries{route="bench",state="pending"}')
        drain_start=$(date +%s.%N)
        while [ "$(metric 'hookfence_queue_deliveries{route="bench",state="pending"}')" != 0 ]; do sleep 0.2; done
        drained=$(awk -v a="$drain_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        QUEUE_NOTES+=("$((size / 1024)) KiB queued, run $run: $accepted accepted, $delivered reached the upstream during the ${DURATION} s run ($(awk -v d="$delivered" -v t="$DURATION" 'BEGIN { printf "%.0f", d / t }')/s), backlog ${backlog%.*} at its end, drained in $drained s")
      fi
    done
  done
  # Peak RSS of each process over its runs.
  echo "$(peak_rss_mib "$NGINX_PROXY_PID")" > "$results/nginx.rss"
  if wanted floor; then
    peak_rss_mib "$FLOOR_PID" > "$results/floor.rss"
    kill "$FLOOR_PID"; wait "$FLOOR_PID" 2>/dev/null || true
  fi
  for scenario in unsigned github memory redis queued; do
    wanted $scenario || continue
    pid_var="HF_PID_$scenario"
    peak_rss_mib "${!pid_var}" > "$results/$scenario.rss"
    kill "${!pid_var}"; wait "${!pid_var}" 2>/dev/null || true
  done
done
python3 benches/load/summarize.py "$WORK/results" "$RUNS"
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

