"""A legacy app that receives webhooks through hookfence, next to it.

It trusts nothing it did not verify itself: every delivery must carry the
X-Hookfence-Signature-256 header that hookfence adds (sign_forwarded), an
HMAC-SHA256 of the exact body under HOOKFENCE_FORWARD_SECRET.
Python standard library only.
"""

import hashlib
import hmac
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["HOOKFENCE_FORWARD_SECRET"].encode()


class Deliveries(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        presented = self.headers.get("X-Hookfence-Signature-256", "")
        if not hmac.compare_digest(expected, presented):
            self.answer(401, {"error": "not signed by hookfence"})
            return
        print(f"{self.path} {self.headers.get('X-GitHub-Event') or self.headers.get('X-Gitlab-Event')}: {len(body)} bytes", flush=True)
        self.answer(200, {"received": True})

    def answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


ThreadingHTTPServer(("0.0.0.0", 3000), Deliveries).serve_forever()
