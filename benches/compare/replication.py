#!/usr/bin/env python3
"""The cost of synchronous replication (see benches/replication.sh): the same PUT loads through
one s3-orchestrator into buckets of replication factor 1, 2 and 3 over three backends that are
all the blackhole `s3o-loadtest serve-backend` (one process, three real buckets), so a factor-N
PUT moves the body to the backend N times while reading it from the client once. The proxy runs
two core threads; the load generator and the backend share the machine's cores with it: compare
rows of one run, not runs of different days.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import AK, LOADTEST, PROXY, SK, free_port, run_load, wait_port  # noqa: E402

SHORT = "--short" in sys.argv
DURATION = "3s" if SHORT else "10s"
CASES = [
    ("PUT 1 MiB c=8", 8, ["--workload", "put", "--size", "1MiB"]),
    ("PUT 64 MiB c=2", 2, ["--workload", "put", "--size", "64MiB"]),
]
FACTORS = [1, 2, 3]

CONFIG = """
[server]
listen = "127.0.0.1:{port}"
threads = 2
data_dir = "{data}"
{backends}
[[buckets]]
name = "factor1"
backends = ["fast1", "fast2", "fast3"]
replication = 1
[[buckets]]
name = "factor2"
backends = ["fast1", "fast2", "fast3"]
replication = 2
[[buckets]]
name = "factor3"
backends = ["fast1", "fast2", "fast3"]
replication = 3
[[credentials]]
access_key = "{ak}"
secret_key = "{sk}"
"""

BACKEND = """
[[backends]]
name = "fast{i}"
kind = "s3"
endpoint = "http://127.0.0.1:{bport}"
bucket = "real{i}"
access_key = "x"
secret_key = "y"
"""


def run_case(port, bucket, conc, args, out):
    return run_load(port, bucket, conc, args, out, DURATION, "1s", "r")


def main():
    tmp = tempfile.mkdtemp(prefix="s3o-replication-")
    backend = proxy = None
    rows = []
    try:
        bport, port = free_port(), free_port()
        backend = subprocess.Popen([LOADTEST, "serve-backend", "--listen", f"127.0.0.1:{bport}", "--threads", "1",
                                    "--storage", "blackhole"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(bport, backend, "backend")
        config = os.path.join(tmp, "proxy.toml")
        with open(config, "w") as f:
            f.write(CONFIG.format(port=port, data=os.path.join(tmp, "meta"), ak=AK, sk=SK,
                                  backends="".join(BACKEND.format(i=i, bport=bport) for i in (1, 2, 3))))
        proxy = subprocess.Popen([PROXY, "serve", "--config", config], stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(tmp, "proxy.log"), "w"), env={**os.environ, "RUST_LOG": "warn"})
        wait_port(port, proxy, "s3-orchestrator")
        for case, conc, args in CASES:
            for n in FACTORS:
                r = run_case(port, f"factor{n}", conc, args, os.path.join(tmp, f"{n}-{time.time_ns()}.json"))
                rows.append((case, n, r))
                print(f"{case:<16} factor {n}  {r['ops_per_sec']:>8.1f} PUT/s  {r['mb_per_sec']:>8.1f} MB/s from the client  "
                      f"p50 {r['latency_ms']['p50']:8.2f} ms  p99 {r['latency_ms']['p99']:8.2f} ms  errors {r['errors']}",
                      flush=True)
    finally:
        for p in (proxy, backend):
            if p:
                p.terminate()
                p.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("| case | factor | PUT/s | client MB/s | backend MB/s | p50 ms | p99 ms | vs factor 1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = {case: r["ops_per_sec"] for case, n, r in rows if n == 1}
    for case, n, r in rows:
        ratio = r["ops_per_sec"] / base[case] if base.get(case) else float("nan")
        print(f"| {case} | {n} | {r['ops_per_sec']:.1f} | {r['mb_per_sec']:.1f} | {r['mb_per_sec'] * n:.1f} | "
              f"{r['latency_ms']['p50']:.2f} | {r['latency_ms']['p99']:.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
