#!/usr/bin/env python3
"""Side-by-side benchmark driver (see benches/compare.sh).

Starts `s3o-loadtest serve-backend` (blackhole S3: keeps sizes, returns zeros, checks no
signatures, so its cost stays the same for every target and run order), s3-orchestrator in front
of it (one `s3` backend), and three plain reverse proxies in front of the same backend (the
peers): nginx as configured before (`nginx`: no buffering, default buffer sizes), nginx tuned for
large bodies (`nginx-tuned`) and HAProxy (`haproxy`), then runs every load against all of them
with `s3o-loadtest run` and prints throughput, p50/p99, CPU per request of the process under test
(from /proc/PID/stat), the CPU per request of the whole chain (load generator + backend + proxy),
its peak RSS (sampled VmRSS), and the ratios us/direct, us/nginx and us/best peer (the peer with
the highest throughput in that case, named in the table). The chain
CPU gives a ceiling: when the whole chain shares this machine's cores, no run through us can serve
more than cores / (chain CPU per request) requests per second; divided by direct's measured rate
that is the highest us/direct the machine allows at our measured cost (printed as "max us/dir"). Everything listens on 127.0.0.1 only; every run is bounded in time.
"""
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REL = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
LOADTEST = os.path.join(REL, "s3o-loadtest")
PROXY = os.path.join(REL, "s3-orchestrator")
CONFIG = os.path.join(ROOT, "benches", "compare", "proxy.toml")


def credential():
    """The access and secret key of the [[credentials]] entry of CONFIG."""
    with open(CONFIG) as f:
        text = f.read().split("[[credentials]]", 1)[1]
    return tuple(re.search(rf'^{k} = "(.*)"', text, re.M).group(1) for k in ("access_key", "secret_key"))


AK, SK = credential()
TICK = os.sysconf("SC_CLK_TCK")
SHORT = "--short" in sys.argv
ROUNDS = 1 if SHORT else 3
# `BASELINE_PROXY=/path/to/older/s3-orchestrator`: that binary runs beside ours with the same
# config, as target "before", interleaved in the same run (a before/after comparison that the
# machine's drift does not skew).
BASELINE = os.environ.get("BASELINE_PROXY")
# `--admin-load`: our proxy also runs its admin port, polled (metrics and status, ADMIN_LOAD_HZ
# times a second each, 20 by default) for the whole run.
ADMIN_LOAD = "--admin-load" in sys.argv
ADMIN_HZ = float(os.environ.get("ADMIN_LOAD_HZ", "20"))
ADMIN_TOKEN = "bench-admin-token"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, what, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited early ({proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not start on port {port}")


def pids_of(pid):
    """The process and its children (nginx workers)."""
    out = [pid]
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except OSError:
            pass
    return total


def rss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class RssSampler(threading.Thread):
    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.peak, self.stop = pids, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pids))
            time.sleep(0.05)


def start_all(tmp):
    """Starts the backend, us and the peers; a peer that is missing or does not start is left out.
    Everything started is stopped again if starting fails."""
    procs = {}
    try:
        bport, pport = free_port(), free_port()
        procs["backend"] = subprocess.Popen(
            [LOADTEST, "serve-backend", "--listen", f"127.0.0.1:{bport}", "--threads", "1", "--storage", "blackhole"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "backend.log"), "w"))
        wait_port(bport, procs["backend"], "backend")
        env = {**os.environ, "RUST_LOG": "warn", "BENCH_PROXY_PORT": str(pport), "BENCH_PROXY_THREADS": "1",
               "BENCH_DATA_DIR": f"{tmp}/meta", "BENCH_BACKEND_PORT": str(bport)}
        config = CONFIG
        if ADMIN_LOAD:
            aport = free_port()
            config = os.path.join(tmp, "proxy-admin.toml")
            with open(CONFIG) as src, open(config, "w") as dst:
                dst.write(src.read() + f'\n[admin]\nlisten = "127.0.0.1:{aport}"\n\n[ui]\n'
                                       f'admin_token = "{ADMIN_TOKEN}"\n')
            env["BENCH_ADMIN_PORT"] = str(aport)
        procs["proxy"] = subprocess.Popen([PROXY, "serve", "--config", config], stdout=subprocess.DEVNULL,
                                          stderr=open(os.path.join(tmp, "proxy.log"), "w"), env=env)
        wait_port(pport, procs["proxy"], "s3-orchestrator")
        ports = {"direct": bport, "us": pport}
        if ADMIN_LOAD:
            ports["admin"] = aport
        if BASELINE:
            port = free_port()
            benv = {**env, "BENCH_PROXY_PORT": str(port), "BENCH_DATA_DIR": f"{tmp}/meta-before"}
            procs["before"] = subprocess.Popen([BASELINE, "serve", "--config", CONFIG], stdout=subprocess.DEVNULL,
                                               stderr=open(os.path.join(tmp, "before.log"), "w"), env=benv)
            wait_port(port, procs["before"], "s3-orchestrator (before)")
            ports["before"] = port
        for name, start in PEERS.items():
            port = free_port()
            proc = start(tmp, port, bport)
            if proc is None:
                print(f"{name}: not installed, left out", file=sys.stderr)
                continue
            try:
                wait_port(port, proc, name)
            except SystemExit as e:
                stop_all({name: proc})
                with open(os.path.join(tmp, f"{name}.log")) as f:
                    print(f"{e}, left out: {f.read()[-500:]}", file=sys.stderr)
                continue
            procs[name], ports[name] = proc, port
        return procs, ports
    except BaseException:
        stop_all(procs)
        raise


def stop_all(procs):
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


NGINX_COMMON = """
worker_processes 1;
daemon off;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}-error.log warn;
events {{ worker_connections 4096; }}
"""

# nginx as the comparison always ran it: request and response bodies unbuffered, default
# buffer sizes (proxy_buffer_size is one page, so bodies move a few KiB per read).
NGINX_PLAIN = NGINX_COMMON + """
http {{
  access_log off;
  client_body_temp_path {tmp}/{name}-body;
  proxy_temp_path {tmp}/{name}-proxy;
  upstream backend {{ server 127.0.0.1:{bport}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 0;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_buffering off;
    }}
  }}
}}
"""

# nginx tuned for large bodies: request bodies streamed in 1 MiB reads (no temp files),
# responses buffered in memory only (up to 8 MiB per request, never a temp file), keep-alive
# both ways with no per-connection request limit worth hitting. (Measured against
# proxy_buffering off with 256 KiB / 1 MiB proxy_buffer_size, and 64 x 64 KiB / 8 x 1 MiB /
# 16 x 1 MiB buffers: within this machine's noise of each other, none better across the cases.)
NGINX_TUNED = NGINX_COMMON + """
http {{
  access_log off;
  tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_temp_path {tmp}/{name}-body;
  proxy_temp_path {tmp}/{name}-proxy;
  upstream backend {{ server 127.0.0.1:{bport}; keepalive 128; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 0;
    client_body_buffer_size 1m;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_buffering on;
      proxy_buffer_size 64k;
      proxy_buffers 32 256k;
      proxy_busy_buffers_size 1m;
      proxy_max_temp_file_size 0;
    }}
  }}
}}
"""

# HAProxy in HTTP mode, one thread, keep-alive to the backend shared by all clients, 64 KiB
# buffers (measured against 16/128/256 KiB, and with `option splice-auto`: on loopback 64 KiB
# without splicing was the fastest).
HAPROXY = """
global
  nbthread 1
  maxconn 4096
  tune.bufsize 65536
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 600s
  timeout server 600s
frontend fe
  bind 127.0.0.1:{port}
  default_backend be
backend be
  server s1 127.0.0.1:{bport}
"""


def find(binary):
    path = shutil.which(binary) or f"/usr/sbin/{binary}"
    return path if os.path.exists(path) else None


def start_nginx(config, name):
    def start(tmp, port, bport):
        nginx = find("nginx")
        if not nginx:
            return None
        cfg = os.path.join(tmp, f"{name}.conf")
        with open(cfg, "w") as f:
            f.write(config.format(tmp=tmp, name=name, port=port, bport=bport))
        return subprocess.Popen([nginx, "-c", cfg, "-p", tmp], stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(tmp, f"{name}.log"), "w"))
    return start


def start_haproxy(tmp, port, bport):
    haproxy = find("haproxy")
    if not haproxy:
        return None
    cfg = os.path.join(tmp, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(HAPROXY.format(port=port, bport=bport))
    return subprocess.Popen([haproxy, "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, "haproxy.log"), "w"))


# The peers: plain reverse proxies in front of the same backend (no SigV4, no re-signing).
PEERS = {"nginx": start_nginx(NGINX_PLAIN, "nginx"), "nginx-tuned": start_nginx(NGINX_TUNED, "nginx-tuned"),
         "haproxy": start_haproxy}


# name, workload args, concurrency
CASES_FULL = [
    ("GET 4KiB c=1", ["--workload", "get", "--size", "4KiB", "--prepare"], 1),
    ("GET 4KiB c=64", ["--workload", "get", "--size", "4KiB", "--prepare"], 64),
    ("GET 1MiB c=8", ["--workload", "get", "--size", "1MiB", "--prepare", "--objects", "16"], 8),
    ("PUT 1MiB unsigned c=8", ["--workload", "put", "--size", "1MiB", "--payload", "unsigned"], 8),
    ("PUT 1MiB chunked-crc32c c=8", ["--workload", "put", "--size", "1MiB", "--payload", "chunked-crc32c"], 8),
    ("GET 64MiB c=2", ["--workload", "get", "--size", "64MiB", "--prepare", "--objects", "2"], 2),
    ("PUT 64MiB unsigned c=2", ["--workload", "put", "--size", "64MiB", "--payload", "unsigned"], 2),
    ("PUT 64MiB chunked-crc32c c=2", ["--workload", "put", "--size", "64MiB", "--payload", "chunked-crc32c"], 2),
    ("mixed 4KiB-256KiB c=16", ["--workload", "mixed", "--size-range", "4KiB-256KiB", "--prepare",
                                "--payload", "chunked-crc32c"], 16),
]
CASES_SHORT = [CASES_FULL[0], CASES_FULL[1], CASES_FULL[5], CASES_FULL[7]]


def targets(procs):
    """direct, the peers that started, us."""
    return ["direct"] + [p for p in PEERS if p in procs] + (["before"] if "before" in procs else []) + ["us"]


def best_peer(row):
    """The peer with the highest throughput in a result row, or None."""
    peers = [(row[p]["ops"], p) for p in PEERS if row.get(p)]
    return max(peers)[1] if peers else None


class AdminPoller(threading.Thread):
    """Polls the admin port's /metrics and /admin/api/status, ADMIN_HZ times a second each, on
    one keep-alive connection, until finished."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.polls, self.stop = port, 0, threading.Event()
        self.start()

    def run(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.wait(1 / ADMIN_HZ):
            for path in ("/metrics", "/admin/api/status"):
                conn.request("GET", path, headers={"X-Admin-Token": ADMIN_TOKEN})
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise SystemExit(f"admin port: {path} answered {r.status}")
                self.polls += 1

    def finish(self):
        self.stop.set()
        self.join()


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_load(port, bucket, conc, args, out, duration, warmup, prefix):
    """One `s3o-loadtest run` against the proxy on `port`; its JSON `total` (written to `out`)."""
    cmd = [LOADTEST, "run", "--endpoint", f"http://127.0.0.1:{port}", "--access-key", AK, "--secret-key", SK,
           "--bucket", bucket, "--prefix", f"{prefix}{time.time_ns()}/", "--concurrency", str(conc), "--threads", "1",
           "--duration", duration, "--warmup", warmup, "--json", out] + args
    log = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900).stdout
    if not os.path.exists(out):
        raise SystemExit(f"{bucket}: the load generator failed:\n{log[-2000:]}")
    with open(out) as f:
        return json.load(f)["total"]


def run_case(target, port, args, conc, duration, tmp, watch, backend):
    bucket = "bench" if target in ("us", "before") else "real"
    out = os.path.join(tmp, f"r-{target}-{time.time_ns()}.json")
    cmd = [LOADTEST, "run", "--endpoint", f"http://127.0.0.1:{port}", "--access-key", AK, "--secret-key", SK,
           "--bucket", bucket, "--prefix", f"{target}/", "--concurrency", str(conc), "--threads", "1",
           "--duration", duration, "--warmup", "1s", "--json", out] + args
    if "--prepare" in args:
        # Upload the objects the reads need first, outside the measured CPU window.
        prep = [a for a in cmd if a != "--json" and a != out]
        prep = prep[:prep.index("--duration")] + ["--ops", "1", "--warmup", "0s"] + \
            [a for a in args]
        subprocess.run(prep, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        cmd = [a for a in cmd if a != "--prepare"]
    pids = pids_of(watch.pid)
    bpids = [] if watch is backend else pids_of(backend.pid)
    sampler = RssSampler(pids)
    sampler.start()
    c0, b0, g0 = cpu_ticks(pids), cpu_ticks(bpids), children_cpu()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    c1, b1, g1 = cpu_ticks(pids), cpu_ticks(bpids), children_cpu()
    sampler.stop.set()
    sampler.join()
    if not os.path.exists(out):
        print(p.stdout[-2000:], file=sys.stderr)
        return None
    with open(out) as f:
        r = json.load(f)
    total = r["total"]
    # CPU over warm-up + measured time divided by the requests of the measured part scaled to
    # that length (the warm-up runs the same load; the prepare step ran before).
    served = total["count"]
    measured = r.get("elapsed_s") or 1
    requests = served * (measured + r["run"].get("warmup_s", 0)) / measured
    return {
        "ops": total["ops_per_sec"], "mbps": total["mb_per_sec"], "p50": total["latency_ms"]["p50"],
        "p99": total["latency_ms"]["p99"], "errors": total["errors"],
        "cpu_us_per_req": ((c1 - c0) / TICK) * 1e6 / requests if requests else float("nan"),
        "chain_cpu_us_per_req": ((c1 - c0 + b1 - b0) / TICK + g1 - g0) * 1e6 / requests if requests else float("nan"),
        "rss_mib": sampler.peak / 1024, "env": r["environment"],
    }


def median_result(rs):
    """Per-metric median over rounds (None when any round failed); errors are summed."""
    if not rs or any(r is None for r in rs):
        return None
    out = dict(rs[0])
    for k, v in rs[0].items():
        if isinstance(v, (int, float)) and k != "errors":
            vals = sorted(r[k] for r in rs)
            out[k] = vals[len(vals) // 2]
    out["errors"] = sum(r["errors"] for r in rs)
    out["rounds"] = len(rs)
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="s3o-compare-")
    procs, ports = start_all(tmp)
    duration = "2s" if SHORT else "8s"
    cases = CASES_SHORT if SHORT else CASES_FULL
    if "--case" in sys.argv:
        # `--case TEXT`: only the cases whose name contains TEXT.
        want = sys.argv[sys.argv.index("--case") + 1]
        cases = [c for c in CASES_FULL if want in c[0]]
    results = []
    env = None
    try:
        for name, args, conc in cases:
            row = {"case": name}
            # Latency at concurrency 1 is within run-to-run noise of nginx's on a shared machine:
            # those cases run the three targets interleaved ROUNDS times and report the medians.
            rounds = ROUNDS if conc == 1 else 1
            runs = {}
            for _ in range(rounds):
                for target in targets(procs):
                    watch = procs["backend"] if target == "direct" else procs["proxy" if target == "us" else target]
                    poller = AdminPoller(ports["admin"]) if ADMIN_LOAD and target == "us" else None
                    res = run_case(target, ports[target], args, conc, duration, tmp, watch, procs["backend"])
                    if poller:
                        poller.finish()
                        if res:
                            res["admin_polls"] = poller.polls
                    runs.setdefault(target, []).append(res)
                    if res:
                        env = res["env"]
            for target, rs in runs.items():
                row[target] = median_result(rs)
            row["best_peer"] = best_peer(row)
            results.append(row)
            print_row(row, header=(len(results) == 1))
    finally:
        stop_all(procs)
    os.makedirs(os.path.join(ROOT, "target", "compare"), exist_ok=True)
    with open(os.path.join(ROOT, "target", "compare", "results.json"), "w") as f:
        json.dump({"environment": env, "short": SHORT, "results": results}, f, indent=1)
    if env:
        print(f"environment: {env.get('cpu_model')} | {env.get('cores')} cores | kernel {env.get('kernel')} | "
              f"driver {env.get('driver')} | {env.get('profile')} build | backend, nginx, haproxy and us each 1 "
              f"worker/thread; "
              f"load generator 1 thread; all on the same machine")
    print(f"peers: {', '.join(p for p in PEERS if p in procs)} (nginx: as before, unbuffered with default buffers; "
          "nginx-tuned: 1 MiB request reads, 32 x 256 KiB response buffers, no temp files; haproxy: "
          "64 KiB buffers, http-reuse always); us/best: against the fastest peer of the row")
    print("cpu/req: CPU time of the process under test (backend for direct) over the run / requests served;"
          " chain: load generator + backend + proxy; rss: peak VmRSS of the process under test;"
          f" max us/dir: ({os.cpu_count()} cores / our chain cpu/req) / direct ops/s, the best us/direct"
          " this machine allows at our measured CPU cost")
    if ROUNDS > 1:
        print(f"concurrency-1 rows: medians of {ROUNDS} rounds, all targets interleaved")
    shutil.rmtree(tmp, ignore_errors=True)


def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def print_row(row, header):
    if header:
        print(f"{'case':<30} {'target':<11} {'ops/s':>10} {'MB/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'cpu/req us':>10} {'chain us':>9} {'rss MiB':>8} {'err':>5}   {'us/direct':>9} {'us/nginx':>9} "
              f"{'us/best':>8} {'best peer':>11} {'max us/dir':>10}")
    us = row.get("us")
    for target in ["direct"] + list(PEERS) + ["before", "us"]:
        r = row.get(target)
        if r is None:
            if target in row:
                print(f"{row['case']:<30} {target:<11} failed")
            continue
        ratios = ""
        if target == "us" and us:
            d, n = row.get("direct"), row.get("nginx")
            best = row.get("best_peer")
            b = row.get(best) if best else None
            rd = us["ops"] / d["ops"] if d and d["ops"] else float("nan")
            rn = us["ops"] / n["ops"] if n and n["ops"] else float("nan")
            rb = us["ops"] / b["ops"] if b and b["ops"] else float("nan")
            uc = us.get("chain_cpu_us_per_req")
            ceiling = (os.cpu_count() * 1e6 / uc) / d["ops"] if uc and d and d["ops"] else float("nan")
            ratios = f"   {rd:>9.2f} {rn:>9.2f} {rb:>8.2f} {best or '-':>11} {ceiling:>10.2f}"
            before = row.get("before")
            if before and before["ops"]:
                ratios += f"   us/before {us['ops'] / before['ops']:.3f}"
            if "admin_polls" in us:
                ratios += f"   admin polls {us['admin_polls']}"
        print(f"{row['case']:<30} {target:<11} {fmt(r['ops'], '10.1f')} {fmt(r['mbps'], '9.1f')} "
              f"{fmt(r['p50'], '8.3f')} {fmt(r['p99'], '8.3f')} {fmt(r['cpu_us_per_req'], '10.1f')} "
              f"{fmt(r['chain_cpu_us_per_req'], '9.1f')} "
              f"{fmt(r['rss_mib'], '8.1f')} {r['errors']:>5}{ratios}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
