#!/usr/bin/env python3
"""Metadata engines side by side (see benches/engines.sh): the same metadata-bound loads through
s3-orchestrator on sled (one proxy) and on PostgreSQL (one proxy, and three proxies sharing one
database), in front of the blackhole `s3o-loadtest serve-backend` so that the bytes cost almost
nothing and the metadata commit is what is measured.

Cases: PUT 4 KiB (every PUT is a durable metadata commit: a reservation and a version switch),
GET 4 KiB of prepared objects (a metadata read), ListObjectsV2 pages of 1,000 keys. With three
proxies the load is split evenly over them, from three load generators started together, and the
table shows the sum of their rates (and the worst p50/p99). Every proxy runs one core thread; the
PostgreSQL cluster is a throwaway one (initdb / pg_ctl on a Unix socket, fsync on, Debian's
defaults otherwise). Everything shares this machine's cores: compare rows of one run, not runs of
different days.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import AK, CONFIG, LOADTEST, PROXY, SK, free_port, wait_port  # noqa: E402

SHORT = "--short" in sys.argv
DURATION = "3s" if SHORT else "10s"
CASES = [
    ("PUT 4 KiB c=16", 16, ["--workload", "put", "--size", "4KiB"]),
    ("GET 4 KiB c=16", 16, ["--workload", "get", "--size", "4KiB", "--objects", "256", "--prepare"]),
    ("LIST 1000 keys c=4", 4, ["--workload", "list", "--size", "1KiB", "--objects", "1000", "--prepare"]),
]


def pg_bin():
    """The directory of PostgreSQL's initdb and pg_ctl."""
    cands = [os.environ.get("S3O_PG_BIN", "")]
    try:
        cands.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip())
    except OSError:
        pass
    base = "/usr/lib/postgresql"
    if os.path.isdir(base):
        cands += [os.path.join(base, v, "bin") for v in sorted(os.listdir(base), key=lambda v: int(v) if v.isdigit() else 0, reverse=True)]
    for c in cands:
        if c and os.path.exists(os.path.join(c, "initdb")):
            return c
    raise SystemExit("no PostgreSQL server binaries: apt-get install postgresql, or set S3O_PG_BIN")


class Cluster:
    """A throwaway PostgreSQL cluster on a Unix socket in `dir` (run as `postgres` under root)."""

    def __init__(self, tmp):
        self.bin, self.dir = pg_bin(), os.path.join(tmp, "pg")
        os.makedirs(self.dir)
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        data = os.path.join(self.dir, "data")
        self.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
        self.run("pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"), "-w", "-o",
                 f"-k {self.dir} -c listen_addresses='' -c max_connections=300", "start")

    def run(self, tool, *args):
        subprocess.run(self.as_user + [os.path.join(self.bin, tool), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def url(self):
        return f"host={self.dir} port=5432 user=postgres dbname=postgres"

    def stop(self):
        self.run("pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "fast", "-w", "stop")


def start_proxies(tmp, tag, n, backend_port, store_toml):
    """n proxies on one store; their processes and ports."""
    with open(CONFIG) as f:
        base = f.read()
    procs, ports = [], []
    for i in range(n):
        port = free_port()
        config = os.path.join(tmp, f"{tag}-{i}.toml")
        with open(config, "w") as f:
            f.write(base + store_toml)
        env = {**os.environ, "RUST_LOG": "warn", "BENCH_PROXY_PORT": str(port), "BENCH_PROXY_THREADS": "1",
               "BENCH_DATA_DIR": os.path.join(tmp, f"{tag}-meta-{i}"), "BENCH_BACKEND_PORT": str(backend_port)}
        p = subprocess.Popen([PROXY, "serve", "--config", config], stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(tmp, f"{tag}-{i}.log"), "w"), env=env)
        wait_port(port, p, f"s3-orchestrator {tag}-{i}")
        procs.append(p)
        ports.append(port)
    return procs, ports


def load(port, args, conc, out, prefix):
    return [LOADTEST, "run", "--endpoint", f"http://127.0.0.1:{port}", "--access-key", AK, "--secret-key", SK,
            "--bucket", "bench", "--prefix", prefix, "--concurrency", str(conc), "--threads", "1",
            "--duration", DURATION, "--warmup", "1s", "--json", out] + args


def run_case(tmp, ports, conc, args, tag):
    """Runs one case split over `ports`; the summed rate and the worst latencies."""
    prefix = f"{tag}-{time.time_ns()}/"
    if "--prepare" in args:
        prep = load(ports[0], args, conc, os.devnull, prefix)
        prep = [a for a in prep if a not in ("--json", os.devnull)]
        prep = prep[:prep.index("--duration")] + ["--ops", "1", "--warmup", "0s"] + args
        subprocess.run(prep, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600, check=True)
        args = [a for a in args if a != "--prepare"]
    share = max(1, conc // len(ports))
    outs = [os.path.join(tmp, f"r-{tag}-{i}-{time.time_ns()}.json") for i in range(len(ports))]
    runs = [subprocess.Popen(load(p, args, share, o, prefix), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for p, o in zip(ports, outs)]
    logs = [r.communicate(timeout=600)[0] for r in runs]
    results = []
    for o, log in zip(outs, logs):
        if not os.path.exists(o):
            raise SystemExit(f"{tag}: the load generator failed:\n{log[-2000:]}")
        with open(o) as f:
            results.append(json.load(f)["total"])
    return {
        "ops": sum(r["ops_per_sec"] for r in results),
        "p50": max(r["latency_ms"]["p50"] for r in results),
        "p99": max(r["latency_ms"]["p99"] for r in results),
        "errors": sum(r["errors"] for r in results),
    }


def main():
    tmp = tempfile.mkdtemp(prefix="s3o-engines-")
    os.chmod(tmp, 0o755)  # the cluster runs as postgres under root and must reach its directory
    backend = cluster = None
    rows = []
    try:
        bport = free_port()
        backend = subprocess.Popen([LOADTEST, "serve-backend", "--listen", f"127.0.0.1:{bport}", "--threads", "1",
                                    "--storage", "blackhole"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(bport, backend, "backend")
        cluster = Cluster(tmp)
        setups = [
            ("sled, 1 proxy", 1, ""),
            ("postgres, 1 proxy", 1, f'\n[store]\nengine = "postgres"\nurl = "{cluster.url()}"\nschema = "one"\n'),
            ("postgres, 3 proxies", 3, f'\n[store]\nengine = "postgres"\nurl = "{cluster.url()}"\nschema = "three"\n'),
        ]
        for name, n, store in setups:
            tag = name.split(",")[0] + str(n)
            procs, ports = start_proxies(tmp, tag, n, bport, store)
            try:
                for case, conc, args in CASES:
                    r = run_case(tmp, ports, conc, args, tag)
                    rows.append((case, name, r))
                    print(f"{case:<20} {name:<20} {r['ops']:>10.0f} ops/s  p50 {r['p50']:7.2f} ms  "
                          f"p99 {r['p99']:7.2f} ms  errors {r['errors']}", flush=True)
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(timeout=60)
    finally:
        if backend:
            backend.terminate()
        if cluster:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("| case | engine | ops/s | p50 ms | p99 ms | vs sled |")
    print("|---|---|---:|---:|---:|---:|")
    sled = {case: r["ops"] for case, name, r in rows if name.startswith("sled")}
    for case, name, r in sorted(rows, key=lambda x: [c[0] for c in CASES].index(x[0])):
        ratio = r["ops"] / sled[case] if sled.get(case) else float("nan")
        print(f"| {case} | {name} | {r['ops']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
