#!/usr/bin/env python3
"""Multipart benchmark driver (see benches/multipart.sh).

The same stack as compare.py (blackhole `s3o-loadtest serve-backend`, s3-orchestrator with one
`s3` backend, the peers nginx / nginx-tuned / haproxy; every server one worker or thread), and
`s3o-loadtest transfer` doing what `aws s3 cp` does with its defaults: a multipart upload of one
big object with 8 MiB parts, 10 in flight (once with unsigned parts, once aws-chunked with a
CRC32C trailer, as recent aws cli versions send), then a download of it by 8 MiB ranged GETs, 10
in flight, after a HeadObject. Each transfer is timed from its first request to its last
response. For every target it prints the median MB/s over the rounds (targets interleaved in
each round), the CPU seconds per GiB of the process under test (backend for direct), its peak
RSS (sampled every 50 ms, highest over the rounds), and for us the ratios us/direct and us/best
peer (the fastest peer of that row, named). Writes target/compare/multipart.json.

    multipart.py [--size 1GiB] [--part-size 8MiB] [--concurrency 10] [--rounds 3] [--short]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as c  # noqa: E402


def arg(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


SHORT = "--short" in sys.argv
SIZE = arg("--size", "256MiB" if SHORT else "1GiB")
PART = arg("--part-size", "8MiB")
CONC = arg("--concurrency", "10")
ROUNDS = int(arg("--rounds", "1" if SHORT else "3"))

PHASES = [
    ("upload unsigned", ["--phase", "upload", "--payload", "unsigned"]),
    ("upload aws-chunked CRC32C", ["--phase", "upload", "--payload", "chunked-crc32c"]),
    ("download (ranged GETs)", ["--phase", "download"]),
]


def run_transfer(tmp, target, port, args, watch):
    bucket = "bench" if target == "us" else "real"
    out = os.path.join(tmp, f"t-{target}-{time.time_ns()}.json")
    cmd = [c.LOADTEST, "transfer", "--endpoint", f"http://127.0.0.1:{port}", "--access-key", c.AK,
           "--secret-key", c.SK, "--bucket", bucket, "--key", f"mp/{target}/object", "--size", SIZE,
           "--part-size", PART, "--concurrency", CONC, "--threads", "1", "--op-timeout", "300s",
           "--json", out] + args
    pids = c.pids_of(watch.pid)
    sampler = c.RssSampler(pids)
    sampler.start()
    c0 = c.cpu_ticks(pids)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    c1 = c.cpu_ticks(pids)
    sampler.stop.set()
    sampler.join()
    if p.returncode != 0 or not os.path.exists(out):
        print(f"{target}: {' '.join(args)}: {p.stdout[-1500:]}", file=sys.stderr)
        return None
    with open(out) as f:
        r = json.load(f)
    ph = r["upload"] or r["download"]
    gib = ph["bytes"] / 2**30
    return {"mbps": ph["mb_per_sec"], "seconds": ph["seconds"], "p50": ph["latency_ms"]["p50"],
            "p99": ph["latency_ms"]["p99"], "cpu_s_per_gib": (c1 - c0) / c.TICK / gib if gib else float("nan"),
            "rss_mib": sampler.peak / 1024, "env": r["environment"]}


def median(rs):
    if not rs or any(r is None for r in rs):
        return None
    out = dict(rs[0])
    for k in ("mbps", "seconds", "p50", "p99", "cpu_s_per_gib"):
        vals = sorted(r[k] for r in rs)
        out[k] = vals[len(vals) // 2]
    out["rss_mib"] = max(r["rss_mib"] for r in rs)
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="s3o-multipart-")
    procs, ports = c.start_all(tmp)
    targets = c.targets(procs)
    runs = {(ph, t): [] for ph, _ in PHASES for t in targets}
    env = None
    try:
        for rnd in range(ROUNDS):
            for t in targets:
                watch = procs["backend"] if t == "direct" else procs["proxy" if t == "us" else t]
                for ph, args in PHASES:
                    res = run_transfer(tmp, t, ports[t], args, watch)
                    runs[(ph, t)].append(res)
                    env = (res or {}).get("env", env)
            print(f"round {rnd + 1}/{ROUNDS} done", file=sys.stderr)
    finally:
        c.stop_all(procs)
    rows = []
    print(f"{'phase':<27} {'target':<11} {'MB/s':>8} {'s':>7} {'p50 ms':>8} {'p99 ms':>8} {'cpu s/GiB':>9} "
          f"{'rss MiB':>8}   {'us/direct':>9} {'us/best':>8} {'best peer':>11}")
    for ph, _ in PHASES:
        row = {"phase": ph}
        for t in targets:
            row[t] = median(runs[(ph, t)])
        peers = [(row[p]["mbps"], p) for p in c.PEERS if row.get(p)]
        row["best_peer"] = max(peers)[1] if peers else None
        rows.append(row)
        for t in targets:
            r = row[t]
            if r is None:
                print(f"{ph:<27} {t:<11} failed")
                continue
            ratios = ""
            if t == "us":
                d = row.get("direct")
                b = row.get(row["best_peer"]) if row["best_peer"] else None
                rd = r["mbps"] / d["mbps"] if d else float("nan")
                rb = r["mbps"] / b["mbps"] if b else float("nan")
                ratios = f"   {rd:>9.2f} {rb:>8.2f} {row['best_peer'] or '-':>11}"
            print(f"{ph:<27} {t:<11} {r['mbps']:>8.1f} {r['seconds']:>7.3f} {r['p50']:>8.1f} {r['p99']:>8.1f} "
                  f"{r['cpu_s_per_gib']:>9.3f} {r['rss_mib']:>8.1f}{ratios}")
    if env:
        print(f"environment: {env.get('cpu_model')} | {env.get('cores')} cores | kernel {env.get('kernel')} | "
              f"driver {env.get('driver')} | {env.get('profile')} build | backend (blackhole), peers and us "
              f"each 1 worker/thread; transfer 1 thread; all on the same machine")
    print(f"object {SIZE}, parts and ranges of {PART}, {CONC} requests in flight; MB/s, s, p50/p99 (per part or "
          f"range): medians of {ROUNDS} round(s), targets interleaved; cpu s/GiB: CPU seconds of the process "
          "under test (backend for direct) per GiB moved; rss: its peak VmRSS (highest round)")
    os.makedirs(os.path.join(c.ROOT, "target", "compare"), exist_ok=True)
    with open(os.path.join(c.ROOT, "target", "compare", "multipart.json"), "w") as f:
        json.dump({"environment": env, "size": SIZE, "part_size": PART, "concurrency": CONC, "rounds": ROUNDS,
                   "results": rows}, f, indent=1)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
