#!/usr/bin/env python3
"""A local webhook receiver for the demo: prints each driftwatch alert and appends it to a file.

Usage: webhook_receiver.py PORT OUTFILE

With DRIFTWATCH_WEBHOOK_HMAC_KEY set (the sink's hmac_key), every request must carry a valid
X-Driftwatch-Signature over X-Driftwatch-Timestamp and the body, with the timestamp within 300 s
of now (docs/webhook.md); one that does not gets 401 and is not recorded.
"""
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

port, outfile = int(sys.argv[1]), sys.argv[2]
key = os.environ.get("DRIFTWATCH_WEBHOOK_HMAC_KEY", "").encode()


def verify(key: bytes, body: bytes, timestamp: str, signature: str, window: int = 300) -> bool:
    """key: the hmac_key; body: the raw request body; the two header values."""
    pairs = dict(p.split("=", 1) for p in signature.split(",") if "=" in p)
    if pairs.get("t") != timestamp or not timestamp.isdigit():
        return False
    want = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, pairs.get("v1", "")):
        return False
    return abs(time.time() - int(timestamp)) <= window


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if key and not verify(key, body, self.headers.get("x-driftwatch-timestamp", ""),
                              self.headers.get("x-driftwatch-signature", "")):
            print("    [webhook receiver] refused: bad or stale signature", flush=True)
            self.send_response(401)
            self.end_headers()
            return
        try:
            alert = json.loads(body)
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        with open(outfile, "a") as f:
            f.write(json.dumps({"idempotency_key": self.headers.get("idempotency-key"), "alert": alert}) + "\n")
        findings = "; ".join(x["message"] for x in alert.get("findings", []))
        print(f"    [webhook receiver] {alert['title']}", flush=True)
        if findings:
            print(f"    [webhook receiver]   finding: {findings}", flush=True)
        print(f"    [webhook receiver]   drift {alert.get('drift_id')}, key {self.headers.get('idempotency-key')}", flush=True)
        self.send_response(200)
        self.end_headers()

    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), Handler).serve_forever()
