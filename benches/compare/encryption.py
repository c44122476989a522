#!/usr/bin/env python3
"""The cost of encryption at rest and the gain of the object cache (see benches/encryption.sh):
the same loads through s3-orchestrator into a bucket stored as sent and a bucket sealed with
AES-256-GCM (64 KiB chunks), and 4 KiB GETs through a proxy with the object cache (every read a
hit once warm) and one without (every read goes to the backend). Reads come from `s3o-loadtest
serve-backend --storage memory` (sealed bodies must read back as written), writes go to its
`blackhole` storage (a PUT load would fill memory). Content hashes are on
in every case (the default), as users run it. The proxies run two core threads; the load
generator and the backend share the machine's cores with them: compare rows of one run.
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
KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

CONFIG = """
[server]
listen = "127.0.0.1:{port}"
threads = 2
data_dir = "{data}"

[[backends]]
name = "mem"
kind = "s3"
endpoint = "http://127.0.0.1:{mport}"
bucket = "{real}"
access_key = "x"
secret_key = "y"

[[backends]]
name = "hole"
kind = "s3"
endpoint = "http://127.0.0.1:{hport}"
bucket = "{real}"
access_key = "x"
secret_key = "y"

[[backends]]
name = "hole-md5"
kind = "s3"
endpoint = "http://127.0.0.1:{hport}"
bucket = "{real}-md5"
access_key = "x"
secret_key = "y"
etag_from_backend = false

[[buckets]]
name = "plain"
backends = ["mem"]

[[buckets]]
name = "plain-md5-put"
backends = ["hole-md5"]

[[buckets]]
name = "sealed"
backends = ["mem"]
encrypt = true

[[buckets]]
name = "plain-put"
backends = ["hole"]

[[buckets]]
name = "sealed-put"
backends = ["hole"]
encrypt = true

[encryption]
key = "{key}"

[cache]
enabled = {cache}
max_object_bytes = 65536
max_total_bytes = 67108864
ttl_secs = 3600

[[credentials]]
access_key = "{ak}"
secret_key = "{sk}"
"""


def start_proxy(tmp, name, ports, cache):
    port = free_port()
    config = os.path.join(tmp, f"{name}.toml")
    with open(config, "w") as f:
        f.write(CONFIG.format(port=port, data=os.path.join(tmp, f"meta-{name}"), mport=ports[0], hport=ports[1],
                              real=f"real-{name}",
                              key=KEY, cache="true" if cache else "false", ak=AK, sk=SK))
    proc = subprocess.Popen([PROXY, "serve", "--config", config], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, f"{name}.log"), "w"), env={**os.environ, "RUST_LOG": "warn"})
    wait_port(port, proc, f"s3-orchestrator ({name})")
    return port, proc


def run_case(tmp, port, bucket, conc, args):
    out = os.path.join(tmp, f"{bucket}-{time.time_ns()}.json")
    return run_load(port, bucket, conc, args, out, DURATION, "2s", "e")


def line(case, what, r):
    print(f"{case:<18} {what:<12} {r['ops_per_sec']:>9.1f} op/s  {r['mb_per_sec']:>8.1f} MB/s  "
          f"p50 {r['latency_ms']['p50']:8.2f} ms  p99 {r['latency_ms']['p99']:8.2f} ms  errors {r['errors']}", flush=True)


def main():
    tmp = tempfile.mkdtemp(prefix="s3o-encryption-")
    procs = []
    rows = []
    try:
        # Reads from memory (few prepared objects); writes drained (a PUT load would fill memory,
        # every version having a physical key of its own until the cleanup queue deletes it).
        ports = (free_port(), free_port())
        for p, storage in zip(ports, ("memory", "blackhole")):
            backend = subprocess.Popen([LOADTEST, "serve-backend", "--listen", f"127.0.0.1:{p}", "--threads", "1",
                                        "--storage", storage], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(backend)
            wait_port(p, backend, f"backend ({storage})")
        port, proxy = start_proxy(tmp, "nocache", ports, cache=False)
        procs.append(proxy)
        big = [
            ("PUT 64 MiB c=2", 2, "-put", ["--workload", "put", "--size", "64MiB", "--objects", "4"]),
            ("GET 64 MiB c=2", 2, "", ["--workload", "get", "--size", "64MiB", "--objects", "4", "--prepare"]),
        ]
        for case, conc, suffix, args in big:
            pair = {}
            for bucket in ("plain", "sealed") + (("plain-md5",) if suffix else ()):
                r = run_case(tmp, port, bucket + suffix, conc, args)
                pair[bucket] = r
                line(case, bucket, r)
            rows.append((case, "sealed / plain", pair["plain"], pair["sealed"]))
            if "plain-md5" in pair:
                # A sealed body's ETag is its plaintext's MD5, computed by us; a plain PUT to an S3
                # backend takes the backend's ETag instead. Against a plain PUT that computes the
                # MD5 too (`etag_from_backend = false`, as for `fs` backends), what sealing costs.
                rows.append((case, "sealed / plain with our MD5", pair["plain-md5"], pair["sealed"]))
        cport, cproxy = start_proxy(tmp, "cache", ports, cache=True)
        procs.append(cproxy)
        small = ["--workload", "get", "--size", "4KiB", "--objects", "64", "--prepare"]
        miss = run_case(tmp, port, "plain", 16, small)
        line("GET 4 KiB c=16", "cache off", miss)
        hit = run_case(tmp, cport, "plain", 16, small)
        line("GET 4 KiB c=16", "cache hits", hit)
        rows.append(("GET 4 KiB c=16", "hit / miss", miss, hit))
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("| case | baseline op/s | MB/s | p50 ms | compared op/s | MB/s | p50 ms | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for case, what, a, b in rows:
        ratio = b["mb_per_sec"] / a["mb_per_sec"] if a["mb_per_sec"] else float("nan")
        print(f"| {case} ({what}) | {a['ops_per_sec']:.1f} | {a['mb_per_sec']:.1f} | {a['latency_ms']['p50']:.2f} | "
              f"{b['ops_per_sec']:.1f} | {b['mb_per_sec']:.1f} | {b['latency_ms']['p50']:.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
