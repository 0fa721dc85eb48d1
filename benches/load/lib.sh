# Shared by benches/load.sh and benches/instructions.sh: ports, the nginx
# upstream (and proxy), the signed body, and a hookfence config with one
# `bench` route. Expects $WORK (a scratch directory), $UPSTREAM_PORT and,
# for the proxy, $PROXY_PORT.

SECRET=load-benchmark-secret

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits for a loopback port to accept connections, up to $2 tenths of a
# second (default 100).
wait_port() {
  for _ in $(seq "${2:-100}"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 never opened" >&2
  exit 1
}

# Starts benches/load/nginx-$1.conf as its own nginx under $WORK/$1.
start_nginx() { # upstream|proxy
  mkdir -p "$WORK/$1"
  chmod 755 "$WORK/$1"   # nginx workers (nobody) write body temp files here
  sed -e "s|UPSTREAM_PORT|$UPSTREAM_PORT|g" -e "s|PROXY_PORT|${PROXY_PORT:-}|g" \
      -e "s|PID_FILE|$WORK/$1/nginx.pid|" -e "s|ERROR_LOG|$WORK/$1/error.log|" -e "s|TEMP_DIR|$WORK/$1|g" \
      -e "s|PROXY_WORKERS|${THREADS:-2}|" \
      "benches/load/nginx-$1.conf" > "$WORK/$1/nginx.conf"
  nginx -c "$WORK/$1/nginx.conf" -p "$WORK/$1"
}

# Kills the processes in $PIDS and the nginxes, and removes $WORK: the
# scripts' EXIT trap.
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  stop_nginxes
  rm -rf "$WORK"
}

stop_nginxes() {
  local pidfile
  for pidfile in "$WORK"/*/nginx.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
}

# A JSON body of exactly $1 bytes; prints its path.
body_file() { # size
  local file="$WORK/body-$1.json"
  python3 -c "import sys; n=int(sys.argv[1]); head='{\"ref\":\"refs/heads/main\",\"data\":\"'; tail='\"}'; sys.stdout.write(head + 'x'*(n-len(head)-len(tail)) + tail)" "$1" > "$file"
  echo "$file"
}

# GitHub's signature of a body file, as post.lua sends it.
github_signature() { # body-file
  echo "sha256=$(openssl dgst -sha256 -hmac "$SECRET" "$1" | sed 's/^.*= //')"
}

# Writes a hookfence config: one `bench` route to the upstream.
hookfence_config() { # file port threads server-extra route-extra
  cat > "$1" <<CONFIG
[server]
listen = "127.0.0.1:$2"
threads = $3
allow_unsigned = true
$4

[log]
level = "warn"

[[routes]]
name = "bench"
path = "/hooks/bench"
upstream = "http://127.0.0.1:$UPSTREAM_PORT"
$5
CONFIG
}
