#!/usr/bin/env python3
"""Scale-out benchmark (README, Performance): ACCOUNTS emulated accounts x 2 regions in moto,
each reached through AssumeRole, watched by 1 driftwatch replica and then by 3 sharded
replicas ([ha] replicas = 3) on one PostgreSQL store. For each replica it prints the scopes it
owns, the duration of a steady-state cycle (from driftwatch_cycle_duration_seconds, the cycle
after every member joined and the baselines were taken), the CPU time it spent per cycle
(utime + stime) and its resident memory (VmRSS, and VmHWM, the peak).

Run by scripts/bench_shard.sh, which starts moto and PostgreSQL and builds driftwatch:
    bench/shard_bench.py BIN MOTO_URL PG_URL PG_PASSWORD_FILE ACCOUNTS
"""
import concurrent.futures
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

BIN, MOTO, PG_URL, PG_PASSWORD_FILE, ACCOUNTS = sys.argv[1:6]
ACCOUNTS = int(ACCOUNTS)
REGIONS = ["us-east-1", "eu-west-1"]
GROUPS_PER_SCOPE = 3


def account(i):
    return f"{100000000000 + i:012d}"


def seed_account(i):
    sts = boto3.client("sts", endpoint_url=MOTO, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account(i)}:role/seed",
                        RoleSessionName="seed")["Credentials"]
    for region in REGIONS:
        ec2 = boto3.client("ec2", endpoint_url=MOTO, region_name=region,
                           aws_access_key_id=c["AccessKeyId"],
                           aws_secret_access_key=c["SecretAccessKey"],
                           aws_session_token=c["SessionToken"])
        for g in range(GROUPS_PER_SCOPE):
            gid = ec2.create_security_group(GroupName=f"svc-{g}", Description="bench")["GroupId"]
            ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": p, "ToPort": p,
                 "IpRanges": [{"CidrIp": "10.8.0.0/16"}]} for p in (443, 22)])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def new_database(name):
    password = open(PG_PASSWORD_FILE).read().strip()
    subprocess.run(["psql", "-X", "-q", "-d", PG_URL, "-c", f"CREATE DATABASE {name}"],
                   env=dict(os.environ, PGPASSWORD=password), check=True)
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def config(work, name, store_url, replicas, port):
    accounts = "".join(
        f'[[aws.accounts]]\nid = "{account(i)}"\nrole_arn = "arn:aws:iam::{account(i)}:role/reader"\n'
        for i in range(ACCOUNTS))
    os.makedirs(f"{work}/{name}/changes", exist_ok=True)
    path = f"{work}/{name}/driftwatch.toml"
    with open(path, "w") as f:
        f.write(f'''store = {{ url = "{store_url}", password_file = "{PG_PASSWORD_FILE}" }}
state_dir = "state"
interval_secs = 5
[records]
dir = "changes"
[aws]
endpoint_url = "{MOTO}"
regions = {json.dumps(REGIONS)}
services = ["ec2"]
max_attempts = 3
timeout_secs = 60
requests_per_second = 10000
burst = 10000
{accounts}[http]
listen = "127.0.0.1:{port}"
[[sinks]]
type = "log"
[ha]
election = "postgres"
identity = "{name}"
replicas = {replicas}
''')
    return path


def metrics(port):
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return ""


def value(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def cpu_secs(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    kb = lambda k: int(fields.get(k, "0 kB").split()[0]) / 1024
    return kb("VmRSS"), kb("VmHWM")


def run(label, replicas, work):
    store_url = new_database(f"bench_{label}")
    procs = []
    for r in range(replicas):
        name = f"replica-{r + 1}"
        port = free_port()
        cfg = config(work, name, store_url, replicas, port)
        log = open(f"{work}/{name}.log", "w")
        env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_EC2_METADATA_DISABLED="true", DRIFTWATCH_LOG="info")
        p = subprocess.Popen([BIN, "--config", cfg, "run"], stdout=subprocess.DEVNULL,
                             stderr=log, env=env, cwd=os.path.dirname(cfg))
        procs.append((name, port, p))
    try:
        deadline = time.time() + 900
        # Every member joined and every scope baselined (two cycles after that each).
        def settled():
            texts = [metrics(port) for _, port, _ in procs]
            members_ok = replicas == 1 or all(value(t, "driftwatch_shard_members") == replicas for t in texts)
            return members_ok and all(value(t, "driftwatch_cycles_total") >= 2 for t in texts)
        while not settled():
            if time.time() > deadline:
                sys.exit(f"{label}: the replicas did not settle in 15 minutes (logs in {work})")
            time.sleep(0.5)
        start = [(value(metrics(port), "driftwatch_cycles_total"),
                  value(metrics(port), "driftwatch_cycle_duration_seconds_sum"),
                  cpu_secs(p.pid)) for _, port, p in procs]
        rows = []
        for (name, port, p), (count0, sum0, cpu0) in zip(procs, start):
            while True:
                t = metrics(port)
                count, total = value(t, "driftwatch_cycles_total"), value(t, "driftwatch_cycle_duration_seconds_sum")
                if count > count0:
                    break
                if time.time() > deadline:
                    sys.exit(f"{label}: {name} ran no further cycle")
                time.sleep(0.2)
            scopes = value(t, "driftwatch_shard_scopes") if replicas > 1 else len(REGIONS) * ACCOUNTS
            cycle = (total - sum0) / (count - count0)
            # CPU over the measured cycles (and the idle time between, which costs ~nothing).
            cpu = (cpu_secs(p.pid) - cpu0) / (count - count0)
            rss, hwm = rss_mb(p.pid)
            rows.append((name, int(scopes), cycle, cpu, rss, hwm))
        return rows
    finally:
        for _, _, p in procs:
            p.terminate()
        for _, _, p in procs:
            p.wait(timeout=60)


def main():
    t = time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(seed_account, range(ACCOUNTS)))
    print(f"seeded {ACCOUNTS} accounts x {len(REGIONS)} regions x {GROUPS_PER_SCOPE} groups "
          f"in {time.time() - t:.1f} s", flush=True)
    work = tempfile.mkdtemp(prefix="driftwatch-shard-bench.")
    results = {}
    for label, replicas in (("one", 1), ("three", 3)):
        results[label] = run(label, replicas, work)
    print()
    print(f"{'setup':<12} {'replica':<10} {'scopes':>6} {'cycle s':>8} {'CPU s':>6} {'RSS MB':>7} {'peak MB':>8}")
    for label, rows in results.items():
        for name, scopes, cycle, cpu, rss, hwm in rows:
            print(f"{label:<12} {name:<10} {scopes:>6} {cycle:>8.2f} {cpu:>6.2f} {rss:>7.1f} {hwm:>8.1f}")
    one = results["one"][0]
    three = results["three"]
    print(f"\nsteady-state cycle: 1 replica {one[2]:.2f} s and {one[3]:.2f} s CPU; "
          f"3 sharded replicas {max(r[2] for r in three):.2f} s (the slowest) and "
          f"{max(r[3] for r in three):.2f} s CPU at most each; every replica against one moto "
          f"process on this machine's cores")


main()
