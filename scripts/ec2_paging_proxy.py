#!/usr/bin/env python3
"""An HTTP proxy in front of moto's server that pages AWS answers moto returns in one piece.

moto ignores MaxResults/NextToken and answers in one page. This proxy strips them, forwards,
then serves the groups `--page-size` at a time with a NextToken, as AWS does, so driftwatch's
multi-page path is tested against real HTTP. `--fail-page K` answers page K with an EC2
RequestLimitExceeded error (HTTP 503), to test that a partial listing never yields deletes.
`--split-gaad` serves IAM GetAccountAuthorizationDetails in four pages (users, groups, roles,
policies) with IsTruncated/Marker, as AWS pages it and moto does not. `--throttle-iam` answers
every IAM call with a Throttling error. `--latency-ms N` delays every forwarded request (AWS's
own latency, which moto does not have). Every other request is forwarded unchanged.
GET /proxy/stats returns call counts as JSON. GET /proxy/empty?n=N answers the next N
DescribeSecurityGroups calls with an empty, complete list (a wrong-account or broken answer
that looks like a mass delete).

Usage: ec2_paging_proxy.py --upstream URL --page-size N [--fail-page K] [--split-gaad]
                           [--throttle-iam] --port-file FILE
"""
import argparse
import json
import urllib.parse
import xml.etree.ElementTree as ET

from proxy_base import Forwarding, serve

ap = argparse.ArgumentParser()
ap.add_argument("--upstream", required=True)
ap.add_argument("--page-size", type=int, required=True)
ap.add_argument("--fail-page", type=int, default=0)
ap.add_argument("--port-file", required=True)
ap.add_argument("--split-gaad", action="store_true")
ap.add_argument("--throttle-iam", action="store_true")
ap.add_argument("--latency-ms", type=int, default=0)
args = ap.parse_args()
stats = {"describe_security_groups_calls": 0, "pages_served": 0, "failures_served": 0, "gaad_calls": 0,
         "empty_served": 0}
empty_next = [0]
GAAD_LISTS = ["UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"]
IAM_ACTIONS = {"GetAccountAuthorizationDetails", "ListAccessKeys", "GetLoginProfile"}


class Proxy(Forwarding):
    upstream = args.upstream
    latency_ms = args.latency_ms

    def do_GET(self):
        if self.path == "/proxy/stats":
            return self.reply(200, json.dumps(stats).encode(), "application/json")
        if self.path.startswith("/proxy/empty"):
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            empty_next[0] = int((q.get("n") or ["1"])[0])
            return self.reply(200, b"{}", "application/json")
        self.reply(*self.forward(None))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        action = (form.get("Action") or [""])[0]
        if args.throttle_iam and action in IAM_ACTIONS:
            stats["failures_served"] += 1
            err = (b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
                   b'<Code>Throttling</Code><Message>Rate exceeded</Message></Error>'
                   b'<RequestId>proxy</RequestId></ErrorResponse>')
            return self.reply(400, err)
        if args.split_gaad and action == "GetAccountAuthorizationDetails":
            return self.gaad(form)
        if action != "DescribeSecurityGroups":
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
        if empty_next[0] > 0:
            empty_next[0] -= 1
            stats["empty_served"] += 1
            items = []
        for it in items[start:start + args.page_size]:
            info.append(it)
        old = root.find(f"{ns}nextToken")
        if old is not None:
            root.remove(old)
        if start + args.page_size < len(items):
            ET.SubElement(root, f"{ns}nextToken").text = str(start + args.page_size)
        stats["pages_served"] += 1
        self.reply(200, ET.tostring(root, xml_declaration=True, encoding="UTF-8"), ctype)


    def gaad(self, form):
        stats["gaad_calls"] += 1
        page = int(form.pop("Marker", ["0"])[0])
        form.pop("MaxItems", None)
        status, answer, ctype = self.forward(urllib.parse.urlencode(form, doseq=True).encode())
        if status != 200:
            return self.reply(status, answer, ctype)
        root = ET.fromstring(answer)
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        ET.register_namespace("", ns.strip("{}"))
        result = root.find(f"{ns}GetAccountAuthorizationDetailsResult")
        for i, name in enumerate(GAAD_LISTS):
            lst = result.find(f"{ns}{name}")
            if lst is not None and i != page:
                for item in list(lst):
                    lst.remove(item)
        for tag in ("IsTruncated", "Marker"):
            old = result.find(f"{ns}{tag}")
            if old is not None:
                result.remove(old)
        last = page >= len(GAAD_LISTS) - 1
        ET.SubElement(result, f"{ns}IsTruncated").text = "false" if last else "true"
        if not last:
            ET.SubElement(result, f"{ns}Marker").text = str(page + 1)
        self.reply(200, ET.tostring(root, xml_declaration=True, encoding="UTF-8"), ctype)


serve(Proxy, args.port_file)
