#!/usr/bin/env python3
"""Re-verify a driftwatch ledger export independently of driftwatch.

    driftwatch ledger export -o ledger.jsonl && python3 scripts/verify_ledger.py ledger.jsonl

Each line holds `seq`, `prev_hash`, `hash` and `body` (the canonical JSON that was hashed).
hash = sha256(prev_hash + body), prev_hash of the first entry = 64 zeros.
"""
import hashlib, json, sys

prev, expected_seq, problems = "0" * 64, 1, 0
for n, line in enumerate(open(sys.argv[1]), 1):
    e = json.loads(line)
    body = json.loads(e["body"])
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    checks = [(e["seq"] == expected_seq == body["seq"], "sequence gap or reorder"),
              (e["prev_hash"] == prev, "prev_hash does not link to the previous entry"),
              (canonical == e["body"], "body is not canonical JSON"),
              (hashlib.sha256((prev + e["body"]).encode()).hexdigest() == e["hash"], "hash mismatch")]
    for ok, what in checks:
        if not ok:
            print(f"line {n} (seq {e['seq']}): {what}")
            problems += 1
    prev, expected_seq = e["hash"], e["seq"] + 1
print(f"{'OK' if problems == 0 else 'FAILED'}: {expected_seq - 1} entries, head {prev}")
sys.exit(1 if problems else 0)
