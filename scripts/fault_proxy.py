#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of moto's server, for the chaos suite (scripts/chaos.sh).

Every AWS query call (EC2, IAM, STS) goes through it. EC2 DescribeSecurityGroups is served
`--page-size` groups at a time with a NextToken, as AWS pages it and moto does not. With
probability `--rate` per call, and a generator seeded with `--seed` (one run is repeatable up
to thread timing), a call gets a fault instead of its answer, of one of these kinds:

  5xx        HTTP 500 InternalError (EC2) or 503 ServiceUnavailable (IAM, STS)
  throttle   EC2 RequestLimitExceeded (503), IAM/STS Throttling, half of them as HTTP 429
  reset      the request is read, then the connection is reset (RST, no answer)
  truncated  moto's answer cut in half: HTTP 200 declaring the whole body's Content-Length, half
             of it sent, then the connection closed. With `--cut-xml`, the cut body is sent
             whole instead, with a Content-Length that fits: HTTP is complete, the XML is not
             (README, Reliability: the AWS SDK accepts some such answers)
  cyclic     a DescribeSecurityGroups page past the first names an earlier token (A -> B -> A)
  slow       the answer is held `--slow-secs` (past the SDK's operation timeout), then sent
  empty      a first DescribeSecurityGroups page answered complete and empty (looks like a mass
             delete; never twice in a row, since two agreeing complete polls are believed)

A kind is drawn only where it applies (cyclic on a later EC2 page, empty on a first one). The
world behind the proxy does not change unless the test changes it, so any change driftwatch
ledgers that the test did not make is a false one.

GET /proxy/stats answers {"calls": {service: n}, "faults": {"service:kind": n}} as JSON.

Usage: fault_proxy.py --upstream URL --port-file FILE [--seed N] [--rate P] [--page-size N]
                      [--slow-secs S] [--cut-xml]
"""
import argparse
import json
import random
import socket
import struct
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

from proxy_base import Forwarding, serve

ap = argparse.ArgumentParser()
ap.add_argument("--upstream", required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--rate", type=float, default=0.05)
ap.add_argument("--page-size", type=int, default=2)
ap.add_argument("--slow-secs", type=float, default=1.5)
ap.add_argument("--cut-xml", action="store_true")
args = ap.parse_args()

# Relative weights of the kinds among the faults that apply to a call.
WEIGHTS = {"5xx": 3, "throttle": 3, "reset": 2, "truncated": 2, "cyclic": 2, "empty": 1, "slow": 1}
lock = threading.Lock()
rng = random.Random(args.seed)
stats = {"calls": {}, "faults": {}}
last_first_page_empty = [False]


def service_of(action):
    if action == "GetCallerIdentity":
        return "sts"
    if action.startswith("Describe"):
        return "ec2"
    return "iam"


def draw(service, action, start):
    """The fault for this call, or None."""
    with lock:
        stats["calls"][service] = stats["calls"].get(service, 0) + 1
        if rng.random() >= args.rate:
            if action == "DescribeSecurityGroups" and start == 0:
                last_first_page_empty[0] = False
            return None
        kinds = ["5xx", "throttle", "reset", "truncated", "slow"]
        if action == "DescribeSecurityGroups" and start >= args.page_size:
            kinds.append("cyclic")
        if action == "DescribeSecurityGroups" and start == 0 and not last_first_page_empty[0]:
            kinds.append("empty")
        kind = rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]
        if action == "DescribeSecurityGroups" and start == 0:
            last_first_page_empty[0] = kind == "empty"
        key = f"{service}:{kind}"
        stats["faults"][key] = stats["faults"].get(key, 0) + 1
        # Half the throttles as HTTP 429, decided here under the lock so runs repeat.
        return (kind, rng.random() < 0.5)


def error_body(service, code, message):
    if service == "ec2":
        return (f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
                f'<Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID>'
                f'</Response>').encode()
    ns = "https://iam.amazonaws.com/doc/2010-05-08/" if service == "iam" else \
        "https://sts.amazonaws.com/doc/2011-06-15/"
    kind = "Sender" if code == "Throttling" else "Receiver"
    return (f'<ErrorResponse xmlns="{ns}"><Error><Type>{kind}</Type><Code>{code}</Code>'
            f'<Message>{message}</Message></Error><RequestId>fault-proxy</RequestId>'
            f'</ErrorResponse>').encode()


class Proxy(Forwarding):
    upstream = args.upstream

    def reset(self):
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def do_GET(self):
        if self.path == "/proxy/stats":
            with lock:
                body = json.dumps(stats).encode()
            return self.reply(200, body, "application/json")
        self.reply(*self.forward(None))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        action = (form.get("Action") or [""])[0]
        service = service_of(action)
        start = 0
        if action == "DescribeSecurityGroups":
            start = int(form.pop("NextToken", ["0"])[0])
            form.pop("MaxResults", None)
            body = urllib.parse.urlencode(form, doseq=True).encode()
        fault = draw(service, action, start)
        kind, as_429 = fault if fault else (None, False)
        if kind == "5xx":
            code = "InternalError" if service == "ec2" else "ServiceUnavailable"
            return self.reply(500 if service == "ec2" else 503, error_body(service, code, "injected"))
        if kind == "throttle":
            code = "RequestLimitExceeded" if service == "ec2" else "Throttling"
            status = 429 if as_429 else (503 if service == "ec2" else 400)
            return self.reply(status, error_body(service, code, "Rate exceeded (injected)"))
        if kind == "reset":
            return self.reset()
        if kind == "slow":
            time.sleep(args.slow_secs)
        status, answer, ctype = self.forward(body)
        if status == 200 and action == "DescribeSecurityGroups":
            answer = self.page(answer, start, kind)
        try:
            if kind == "truncated" and not args.cut_xml:
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer[: len(answer) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if kind == "truncated":
                answer = answer[: len(answer) // 2]
            self.reply(status, answer, ctype)
        except (BrokenPipeError, ConnectionResetError):
            # A slow answer's client gave up at its timeout.
            self.close_connection = True

    def page(self, answer, start, kind):
        root = ET.fromstring(answer)
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        ET.register_namespace("", ns.strip("{}"))
        info = root.find(f"{ns}securityGroupInfo")
        items = list(info) if info is not None else []
        for it in items:
            info.remove(it)
        if kind == "empty":
            items = []
        for it in items[start:start + args.page_size]:
            info.append(it)
        old = root.find(f"{ns}nextToken")
        if old is not None:
            root.remove(old)
        if kind == "cyclic":
            # Back to the first token this listing was given: A -> B -> A (or A -> A).
            ET.SubElement(root, f"{ns}nextToken").text = str(args.page_size)
        elif start + args.page_size < len(items):
            ET.SubElement(root, f"{ns}nextToken").text = str(start + args.page_size)
        return ET.tostring(root, xml_declaration=True, encoding="UTF-8")


serve(Proxy, args.port_file)
