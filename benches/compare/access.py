#!/usr/bin/env python3
"""Store-managed credentials on the request path (see benches/access.sh): mints 10,000 virtual
credentials through the admin port's multi-user API (one keep-alive connection, each mint one
store batch), then runs the same 4 KiB GET load signed with a config-file key and with one of the
minted keys, alternating, against the in-memory backend of `s3o-loadtest serve-backend`. The
proxy runs two core threads and shares the machine with the load generator: compare the rows of
one run.
"""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import AK, LOADTEST, PROXY, SK, free_port, wait_port  # noqa: E402

SHORT = "--short" in sys.argv
DURATION = "3s" if SHORT else "10s"
ROUNDS = 1 if SHORT else 2
CREDENTIALS = 10_000
PASSWORD = "bench-admin-password"

CONFIG = """
[server]
listen = "127.0.0.1:{port}"
threads = 2
data_dir = "{data}"

[admin]
listen = "127.0.0.1:{admin}"

[access]
secret_key = "{seal}"
api_per_minute = 0

[access.bootstrap_admin]
username = "bench"
password = "{password}"

[[backends]]
name = "fast"
kind = "s3"
endpoint = "http://127.0.0.1:{bport}"
bucket = "real"
access_key = "x"
secret_key = "y"

[[buckets]]
name = "bench"
backends = ["fast"]

[[credentials]]
access_key = "{ak}"
secret_key = "{sk}"
"""


class Api:
    """The multi-user API over one keep-alive connection."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""
        self.csrf = ""

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json", "Cookie": self.cookie, "X-CSRF-Token": self.csrf}
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";")[0]
                jar = dict(p.split("=", 1) for p in self.cookie.split("; ") if "=" in p)
                jar[name] = value
                self.cookie = "; ".join(f"{n}={v}" for n, v in jar.items())
                if name == "stowage_csrf":
                    self.csrf = value
        return r.status, (json.loads(data) if data else {})


def load(port, ak, sk, out, workload_args):
    cmd = [LOADTEST, "run", "--endpoint", f"http://127.0.0.1:{port}", "--access-key", ak, "--secret-key", sk,
           "--bucket", "bench", "--concurrency", "16", "--threads", "1", "--duration", DURATION, "--warmup", "1s",
           "--json", out] + workload_args
    log = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600).stdout
    if not os.path.exists(out):
        raise SystemExit(f"the load generator failed:\n{log[-2000:]}")
    with open(out) as f:
        return json.load(f)["total"]


def main():
    tmp = tempfile.mkdtemp(prefix="s3o-access-bench-")
    backend = proxy = None
    rows = []
    try:
        bport, port, admin = free_port(), free_port(), free_port()
        backend = subprocess.Popen([LOADTEST, "serve-backend", "--listen", f"127.0.0.1:{bport}", "--threads", "1",
                                    "--storage", "memory"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(bport, backend, "backend")
        config = os.path.join(tmp, "proxy.toml")
        with open(config, "w") as f:
            f.write(CONFIG.format(port=port, admin=admin, bport=bport, data=os.path.join(tmp, "meta"), ak=AK, sk=SK,
                                  seal="7e" * 32, password=PASSWORD))
        proxy = subprocess.Popen([PROXY, "serve", "--config", config], stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(tmp, "proxy.log"), "w"), env={**os.environ, "RUST_LOG": "warn"})
        wait_port(port, proxy, "s3-orchestrator")
        wait_port(admin, proxy, "admin port")
        api = Api(admin)
        status, _ = api.call("POST", "/auth/login/local", {"username": "bench", "password": PASSWORD})
        assert status == 200, status
        status, _ = api.call("POST", "/api/me/password", {"current_password": PASSWORD, "new_password": PASSWORD + "2"})
        assert status == 200, status
        started = time.monotonic()
        last = None
        for i in range(CREDENTIALS):
            status, cred = api.call("POST", "/api/me/s3-credentials",
                                    {"backend_id": "orchestrator", "buckets": ["bench"], "description": f"bench {i}"})
            assert status == 201, (status, cred)
            last = cred
        minted = time.monotonic() - started
        print(f"minted {CREDENTIALS} credentials in {minted:.1f} s ({CREDENTIALS / minted:.0f}/s)", flush=True)
        store_ak, store_sk = last["access_key"], last["secret_key"]
        # Reachable once the live snapshot holds them (within a second).
        deadline = time.monotonic() + 10
        prep = os.path.join(tmp, "prep.json")
        while True:
            try:
                load(port, store_ak, store_sk, prep, ["--workload", "put", "--size", "4KiB"])
                break
            except SystemExit:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for rnd in range(ROUNDS):
            cases = [("config key", AK, SK), ("store key (1 of 10,000)", store_ak, store_sk)]
            # ABBA: each round reverses the order, so a drift of the shared machine over the run
            # weighs on both cases alike.
            for name, ak, sk in cases if rnd % 2 == 0 else cases[::-1]:
                r = load(port, ak, sk, os.path.join(tmp, f"{rnd}-{time.time_ns()}.json"),
                         ["--workload", "get", "--size", "4KiB", "--prepare"])
                rows.append((name, r))
                print(f"GET 4KiB c=16  {name:<24} {r['ops_per_sec']:>9.1f} ops/s  p50 {r['latency_ms']['p50']:6.2f} ms  "
                      f"p99 {r['latency_ms']['p99']:6.2f} ms  errors {r['errors']}", flush=True)
        with urllib_get(admin) as metrics:
            line = next((l for l in metrics.splitlines() if l.startswith("s3o_access_credentials ")), "")
            print(f"live snapshot: {line}")
    finally:
        for p in (proxy, backend):
            if p:
                p.terminate()
                p.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("| signed with | GET 4 KiB ops/s (mean of rounds) | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for name in ("config key", "store key (1 of 10,000)"):
        rs = [r for n, r in rows if n == name]
        ops = sum(r["ops_per_sec"] for r in rs) / len(rs)
        p50 = sum(r["latency_ms"]["p50"] for r in rs) / len(rs)
        p99 = sum(r["latency_ms"]["p99"] for r in rs) / len(rs)
        print(f"| {name} | {ops:.0f} | {p50:.2f} | {p99:.2f} |")


class urllib_get:
    """The text of GET /metrics on the admin port."""

    def __init__(self, port):
        self.port = port

    def __enter__(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", "/metrics")
        return c.getresponse().read().decode()

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
