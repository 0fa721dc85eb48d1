"""Crash check for the embedded delivery queue, run by hand:

    python3 scripts/crash_check.py [path/to/hookfence]   (default target/release/hookfence)

Sends 3000 signed GitHub deliveries, 16 at a time, to a `queued` route; kills
hookfence with SIGKILL 1.5 s in; restarts it; waits for the queue to drain.
Every delivery answered 202 before the kill must reach the upstream (at least
once). Exits 1 if one is missing.
"""
import hashlib, hmac, http.client, http.server, json, os, signal, socket, subprocess, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
import tempfile
D = tempfile.mkdtemp(prefix="hookfence-crash-"); SECRET = b"crash-check-secret"
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "release", "hookfence")
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
up_port, hf_port = free(), free()
received = {}; lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("content-length", 0)); self.rfile.read(n)
        i = self.headers.get("x-github-delivery")
        with lock: received[i] = received.get(i, 0) + 1
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", up_port), H)
# Answers cut off by the kill are expected; not worth a traceback each.
srv.handle_error = lambda *args: None
threading.Thread(target=srv.serve_forever, daemon=True).start()
open(f"{D}/hookfence.toml", "w").write(f'''[server]
listen = "127.0.0.1:{hf_port}"
admin_listen = "off"
[queue]
data_dir = "{D}/data"
[[routes]]
name = "github"
path = "/hooks/github"
upstream = "http://127.0.0.1:{up_port}"
provider = "github"
secrets = ["env:GH"]
delivery = "queued"
''')
def start():
    p = subprocess.Popen([BIN, "run", "--config", f"{D}/hookfence.toml"], env={**os.environ, "GH": SECRET.decode()},
                         stderr=open(f"{D}/hf.log", "a"))
    for _ in range(200):
        try: socket.create_connection(("127.0.0.1", hf_port), 0.1).close(); return p
        except OSError: time.sleep(0.05)
    sys.exit("hookfence did not start")
hf = start()
acked = set(); refused = 0
def send(i):
    global refused
    body = json.dumps({"n": i}).encode(); sig = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    try:
        c = http.client.HTTPConnection("127.0.0.1", hf_port, timeout=5)
        c.request("POST", "/hooks/github", body, {"X-GitHub-Delivery": f"d{i}", "X-Hub-Signature-256": sig, "X-GitHub-Event": "push"})
        r = c.getresponse(); r.read()
        if r.status == 202:
            with lock: acked.add(f"d{i}")
        else: refused += 1
    except Exception: pass
N = 3000
killer = threading.Timer(1.5, lambda: hf.send_signal(signal.SIGKILL)); killer.start()
with ThreadPoolExecutor(16) as ex: list(ex.map(send, range(N)))
hf.wait()
with lock: before = len(received)
print(f"acknowledged (202) before SIGKILL: {len(acked)}; upstream had {before} at the kill")
hf = start()
deadline = time.time() + 60
while time.time() < deadline:
    with lock:
        if acked <= set(received): break
    time.sleep(0.5)
with lock:
    missing = acked - set(received); dups = sum(1 for v in received.values() if v > 1)
print(f"after restart: upstream received {len(received)} distinct ids, {dups} more than once; acknowledged but missing: {len(missing)}")
hf.send_signal(signal.SIGTERM); hf.wait(10); srv.shutdown()
sys.exit(1 if missing else 0)
