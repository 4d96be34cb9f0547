"""What the test proxies in front of moto share (scripts/ec2_paging_proxy.py,
scripts/fault_proxy.py): a handler that answers and forwards to the upstream unchanged, and
the server loop that writes its port to a file."""
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Forwarding(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ""
    latency_ms = 0

    def log_message(self, *a):
        pass

    def reply(self, status, body, ctype="text/xml"):
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, body):
        """The upstream's (status, body, content type) for this request with `body`."""
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(self.upstream + self.path, data=body, headers=headers, method=self.command)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read(), r.headers.get("content-type", "text/xml")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers.get("content-type", "text/xml")


def serve(handler, port_file):
    """Listen on 127.0.0.1 (a free port, written to `port_file`) until killed."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    with open(port_file, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()
