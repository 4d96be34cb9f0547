#!/usr/bin/env python3
"""An HTTP proxy in front of moto's server that pages EC2 DescribeSecurityGroups answers.

moto ignores MaxResults/NextToken and answers in one page. This proxy strips them, forwards,
then serves the groups `--page-size` at a time with a NextToken, as AWS does, so driftwatch's
multi-page path is tested against real HTTP. `--fail-page K` answers page K with an EC2
RequestLimitExceeded error (HTTP 503), to test that a partial listing never yields deletes.
Every other request is forwarded unchanged. GET /proxy/stats returns call counts as JSON.

Usage: ec2_paging_proxy.py --upstream URL --page-size N [--fail-page K] --port-file FILE
"""
import argparse
import json
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--upstream", required=True)
ap.add_argument("--page-size", type=int, required=True)
ap.add_argument("--fail-page", type=int, default=0)
ap.add_argument("--port-file", required=True)
args = ap.parse_args()
stats = {"describe_security_groups_calls": 0, "pages_served": 0, "failures_served": 0}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body, ctype="text/xml"):
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, body):
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(args.upstream + self.path, data=body, headers=headers, method=self.command)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read(), r.headers.get("content-type", "text/xml")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers.get("content-type", "text/xml")

    def do_GET(self):
        if self.path == "/proxy/stats":
            return self.reply(200, json.dumps(stats).encode(), "application/json")
        self.reply(*self.forward(None))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        if form.get("Action") != ["DescribeSecurityGroups"]:
            return self.reply(*self.forward(body))
        stats["describe_security_groups_calls"] += 1
        start = int(form.pop("NextToken", ["0"])[0])
        form.pop("MaxResults", None)
        page = start // args.page_size + 1
        if page == args.fail_page:
            stats["failures_served"] += 1
            err = (b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded'
                   b'</Code><Message>Request limit exceeded.</Message></Error></Errors>'
                   b'<RequestID>proxy</RequestID></Response>')
            return self.reply(503, err)
        status, answer, ctype = self.forward(urllib.parse.urlencode(form, doseq=True).encode())
        if status != 200:
            return self.reply(status, answer, ctype)
        root = ET.fromstring(answer)
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        ET.register_namespace("", ns.strip("{}"))
        info = root.find(f"{ns}securityGroupInfo")
        items = list(info) if info is not None else []
        for it in items:
            info.remove(it)
        for it in items[start:start + args.page_size]:
            info.append(it)
        old = root.find(f"{ns}nextToken")
        if old is not None:
            root.remove(old)
        if start + args.page_size < len(items):
            ET.SubElement(root, f"{ns}nextToken").text = str(start + args.page_size)
        stats["pages_served"] += 1
        self.reply(200, ET.tostring(root, xml_declaration=True, encoding="UTF-8"), ctype)


server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
with open(args.port_file, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
