#!/usr/bin/env python3
"""A local webhook receiver for the demo: prints each driftwatch alert and appends it to a file.

Usage: webhook_receiver.py PORT OUTFILE
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, outfile = int(sys.argv[1]), sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
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
