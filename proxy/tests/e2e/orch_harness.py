"""Helpers of the orchestration suites (test_orchestration.py, test_orchestration_rebalance.py):
three SeaweedFS servers hosting many real buckets, private proxies with short orchestration
timers, the backends' own view of what is stored (list, then HEAD each physical object for the
`x-amz-meta-s3o-*` labels), readers that keep checking objects, and the s3o-loadtest binary.

One proxy backend is one (SeaweedFS server, real bucket) pair, so a test has as many backends as
it likes on three processes, and each test uses real buckets of its own.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import EXTRA_LOGS
from harness import (  # noqa: F401 - wait_for is re-exported to the test modules
    wait_for,
    REGION,
    REPO,
    RW_ACCESS_KEY,
    RW_SECRET_KEY,
    STOP_TIMEOUT_SECS,
    WEED_ACCESS_KEY,
    WEED_SECRET_KEY,
    Server,
    Weed,
    ensure_bucket,
    free_ports,
    list_physical,
    locate_proxy_binary,
    log_tail,
    make_client,
    port_open,
    start_weed,
)

MIB = 1024 * 1024
TOKEN = "e2e-orchestration-admin-token-01234"
UI_KEY = "operator"
UI_PASSWORD = "orchestration e2e password"
# The cleanup queue deletes a copy that a move or a lost-copy replacement dropped only this long
# after the drop (store/src/rules.rs CLEANUP_GRACE_MS: a reader that looked the old location up
# just before the move still finds the bytes).
CLEANUP_GRACE_SECS = 60
# Bound of a wait for the cleanup queue: the grace, its 0.5 s polling, a few retries with backoff.
CLEANUP_WAIT_SECS = CLEANUP_GRACE_SECS + 75

# Short timers for the tests (seconds).
BASE_SECTIONS = {
    "limits": {"backend_connect_timeout_secs": 1, "body_timeout_secs": 20},
    "health": {"probe_interval_secs": 1, "failure_threshold": 2, "open_secs": 2},
    "replication": {"interval_secs": 1},
}


def body(n: int, seed: int) -> bytes:
    """`n` pseudo-random bytes, distinct per seed."""
    return random.Random(seed).randbytes(n)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def settle(what: str, probe, timeout: float, every: float = 1.0) -> float:
    """Calls `probe()` (-> a list of problems) until it returns none; returns the seconds that
    took. Fails after `timeout` s with the problems left. An AssertionError fails at once."""
    t0 = time.monotonic()
    while True:
        try:
            problems = probe()
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001 - e.g. a listing while a server restarts
            problems = [f"probe failed: {e!r}"]
        if not problems:
            return time.monotonic() - t0
        if time.monotonic() - t0 >= timeout:
            pytest.fail(f"{what}: not within {timeout:.0f} s; {len(problems)} problems left:\n"
                        + "\n".join(problems[:15]), pytrace=False)
        time.sleep(every)


# --------------------------------------------------------------------------------------------
# SeaweedFS


def three_weeds(tmp_path_factory, tag: str):
    """Generator for a module fixture: three `weed mini` servers, closed at the end (a test that
    killed one restarts it itself)."""
    weeds: list[Weed] = []
    try:
        for i in range(3):
            w = start_weed(tmp_path_factory.mktemp(f"{tag}-weed{i}"), name=f"seaweedfs-{tag}-{i}")
            weeds.append(w)
        yield weeds
    finally:
        for w in weeds:
            w.close()


def weed_alive(w: Weed) -> bool:
    return w.server.proc.poll() is None


# --------------------------------------------------------------------------------------------
# The proxy's configuration


@dataclass
class Be:
    """One proxy backend: a real bucket on one of the module's SeaweedFS servers."""

    name: str
    weed: int
    bucket: str
    extra: dict = field(default_factory=dict)  # quota_bytes, labels, monthly limits


def tv(v) -> str:
    """A TOML value: string, integer, float, boolean, list, or inline table (a dict)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(tv(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {tv(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML form for {v!r}")


def table(header: str, values: dict) -> str:
    return f"{header}\n" + "".join(f"{k} = {tv(v)}\n" for k, v in values.items()) + "\n"


_UI_HASH: list[str] = []


def ui_secret_hash() -> str:
    """The argon2id PHC hash of UI_PASSWORD, from `s3-orchestrator hash-password` (once)."""
    if not _UI_HASH:
        out = subprocess.run([str(locate_proxy_binary()), "hash-password"], input=UI_PASSWORD + "\n",
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.startswith("$argon2id$"), (out.returncode, out.stdout, out.stderr)
        _UI_HASH.append(out.stdout.strip())
    return _UI_HASH[0]


def write_config(path: Path, root: Path, port: int, admin_port: int, weeds: list[Weed], backends: list[Be],
                 buckets: list[dict], sections: dict) -> None:
    merged = {k: dict(v) for k, v in BASE_SECTIONS.items()}
    for k, v in sections.items():
        merged.setdefault(k, {}).update(v)
    text = table("[server]", {"listen": f"127.0.0.1:{port}", "data_dir": str(root / "meta"), "threads": 2,
                              "region": REGION, "shutdown_grace_secs": 5})
    text += table("[admin]", {"listen": f"127.0.0.1:{admin_port}", "usage_flush_secs": 1})
    text += table("[ui]", {"admin_token": TOKEN, "admin_key": UI_KEY, "admin_secret": ui_secret_hash()})
    for name, values in merged.items():
        text += table(f"[{name}]", values)
    for b in backends:
        w = weeds[b.weed]
        ensure_bucket(w.client, b.bucket)
        text += table("[[backends]]", {"name": b.name, "kind": "s3", "endpoint": w.endpoint, "region": REGION,
                                       "bucket": b.bucket, "access_key": WEED_ACCESS_KEY, "secret_key": WEED_SECRET_KEY,
                                       "path_style": True, **b.extra})
    for bk in buckets:
        text += table("[[buckets]]", bk)
    text += table("[[credentials]]", {"access_key": RW_ACCESS_KEY, "secret_key": RW_SECRET_KEY, "buckets": ["*"],
                                      "access": "read-write", "create_buckets": True})
    path.write_text(text)


# --------------------------------------------------------------------------------------------
# A private proxy


class Orch:
    """One s3-orchestrator process on its own config and data directory, with its admin port."""

    def __init__(self, root: Path, weeds: list[Weed], backends: list[Be], buckets: list[dict], sections: dict):
        self.root = root
        self.weeds = weeds
        self.port, self.admin_port = free_ports(2)
        self.config = root / "s3-orchestrator.toml"
        root.mkdir(parents=True, exist_ok=True)
        write_config(self.config, root, self.port, self.admin_port, weeds, backends, buckets, sections)
        self.server: Server | None = None
        self.starts = 0
        self.s3 = make_client(self.endpoint, RW_ACCESS_KEY, RW_SECRET_KEY, max_pool_connections=48)
        self._cookie: str | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        log = self.root / f"s3-orchestrator-{self.starts}.log"
        self.server = Server.start(f"s3-orchestrator ({self.root.name}, start {self.starts})",
                                   [str(locate_proxy_binary()), "serve", "--config", str(self.config)], log,
                                   cwd=self.root, env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info"),
                                                       "RUST_BACKTRACE": "1"})
        EXTRA_LOGS.append((f"proxy {self.root.name} log {log.name}", log))
        self.server.wait_port(self.port)
        self.server.wait_port(self.admin_port)
        # Answers, not only accepted connections (see kill()).
        self.server.wait_ready(lambda: self._http("GET", "/health", {})[0] == 200 or 1 / 0)
        self.server.wait_ready(self.s3.list_buckets)

    def reconfigure(self, backends: list[Be], buckets: list[dict], sections: dict) -> None:
        """Rewrites the config (same ports and data directory) and restarts the proxy gracefully."""
        write_config(self.config, self.root, self.port, self.admin_port, self.weeds, backends, buckets, sections)
        code = self.server.stop()
        assert code == 0 and not self.server.extra.get("killed"), \
            f"the proxy did not stop cleanly on SIGTERM (exit {code})\n{log_tail(self.server.log_path, 40)}"
        self.start()

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed beyond what the store committed. Returns once
        neither port accepts connections: the listening sockets of a killed io_uring process can
        outlive it for a moment (closed by the kernel's deferred ring teardown), accepting
        connections that are then reset, even after a new process bound the port."""
        os.kill(self.server.proc.pid, signal.SIGKILL)
        self.server.proc.wait(10)
        wait_for("the killed proxy's ports to close",
                 lambda: not port_open(self.port) and not port_open(self.admin_port), 10, every=0.02)

    @property
    def log_path(self) -> Path:
        return self.server.log_path

    # The admin port ---------------------------------------------------------------------------

    def _http(self, method: str, path: str, headers: dict, data: bytes | None = None) -> tuple[int, dict, dict]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}{path}", method=method, data=data,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                raw, status, hdrs = r.read(), r.status, dict(r.headers)
        except urllib.error.HTTPError as e:
            raw, status, hdrs = e.read(), e.code, dict(e.headers)
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {"raw": raw.decode(errors="replace")}
        return status, doc, hdrs

    def admin(self, method: str, path: str) -> tuple[int, dict]:
        status, doc, _ = self._http(method, path, {"X-Admin-Token": TOKEN}, b"" if method != "GET" else None)
        return status, doc

    def ui(self, method: str, path: str) -> tuple[int, dict]:
        """A UI API call with a session from the form login (made once)."""
        if self._cookie is None:
            form = urllib.parse.urlencode({"admin_key": UI_KEY, "admin_secret": UI_PASSWORD}).encode()
            status, doc, hdrs = self._http("POST", "/ui/login",
                                           {"Content-Type": "application/x-www-form-urlencoded"}, form)
            cookie = next((v for k, v in hdrs.items() if k.lower() == "set-cookie"), None)
            assert status == 200 and cookie, f"UI login answered {status} {doc} (set-cookie {cookie!r})"
            self._cookie = cookie.split(";")[0]
        status, doc, _ = self._http(method, path, {"Cookie": self._cookie}, b"" if method != "GET" else None)
        return status, doc

    def locations(self, bucket: str, key: str, missing_ok: bool = False) -> list[tuple[str, str]] | None:
        """(backend, physical key) of every copy of the current version, per the proxy (None for
        a missing object when `missing_ok`)."""
        q = urllib.parse.urlencode({"key": f"{bucket}/{key}"})
        status, doc = self.admin("GET", f"/admin/api/object-locations?{q}")
        if status == 404 and missing_ok:
            return None
        assert status == 200, f"object-locations {bucket}/{key}: {status} {doc}"
        return [(loc["BackendName"], loc["ObjectKey"]) for loc in doc["locations"]]

    def drain_status(self, backend: str) -> dict:
        status, doc = self.admin("GET", f"/admin/api/backends/{backend}/drain")
        assert status == 200, f"drain status of {backend}: {status} {doc}"
        return doc

    def rebalance(self, timeout: float = 90) -> dict:
        """Starts a rebalance through the UI API and waits (bounded) for its status to be done."""
        status, doc = self.ui("POST", "/ui/api/rebalance")
        assert (status, doc) == (202, {"status": "started"}), f"POST /ui/api/rebalance: {status} {doc}"
        return wait_for("the rebalance to finish",
                        lambda: (lambda d: d if d.get("status") in ("done", "error") else None)(
                            self.ui("GET", "/ui/api/rebalance/status")[1]), timeout, every=0.5)


@contextlib.contextmanager
def orch_proxy(root: Path, weeds: list[Weed], backends: list[Be], buckets: list[dict], sections: dict):
    """A started proxy; at the end it must still be running and stop cleanly on SIGTERM."""
    p = Orch(root, weeds, backends, buckets, sections)
    try:
        p.start()
        yield p
    finally:
        problem = None
        if p.server is not None:
            if p.server.proc.poll() is not None:
                problem = f"the proxy exited by itself with code {p.server.proc.returncode}"
            else:
                code = p.server.stop()
                if p.server.extra.get("killed") or code != 0:
                    problem = (f"the proxy did not stop cleanly on SIGTERM within {STOP_TIMEOUT_SECS:.0f} s "
                               f"(exit {code})")
        for entry in [e for e in EXTRA_LOGS if e[0].startswith(f"proxy {root.name} ")]:
            EXTRA_LOGS.remove(entry)
        if problem:
            pytest.fail(f"{problem}\n{log_tail(p.server.log_path, 60)}", pytrace=False)


def log_lines(p: Orch, *needles: str, limit: int = 20) -> str:
    """Lines of every log of `p` containing all of `needles` (for failure messages)."""
    out = []
    for log in sorted(p.root.glob("s3-orchestrator-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if not line.startswith("$ ") and all(n in line for n in needles):
                out.append(f"{log.name}: {line}")
    return "\n".join(out[-limit:])


# --------------------------------------------------------------------------------------------
# What the backends themselves hold


@dataclass(frozen=True)
class Copy:
    """One physical object on a backend, with the logical object its labels name."""

    backend: str
    physical_key: str
    size: int
    bucket: str
    key: str
    version: str


def _b64url(s: str) -> str:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).decode()


class Backends:
    """The proxy backends of a test as their SeaweedFS servers list them. Each physical object is
    HEADed once for its `x-amz-meta-s3o-bucket|key|version` labels (physical keys are never
    reused: every copy gets a fresh one)."""

    def __init__(self, weeds: list[Weed], backends: list[Be]):
        self.weeds = weeds
        self.specs = {b.name: b for b in backends}
        self._labels: dict[tuple[str, str], tuple[str, str, str] | None] = {}

    def client(self, name: str):
        return self.weeds[self.specs[name].weed].client

    def listing(self, name: str) -> dict[str, int]:
        """The backend's physical objects and their sizes, without the proxy's metadata records
        (`{physical}.meta` beside each copy and `.s3o/...`, where the proxy writes them): they are
        not copies, and quotas do not count them."""
        spec = self.specs[name]
        return {k: v for k, v in list_physical(self.client(name), spec.bucket).items()
                if not (k.endswith(".meta") or k.startswith(".s3o/"))}

    def copies(self, name: str) -> list[Copy]:
        out = []
        for pkey, size in self.listing(name).items():
            labels = self._labels.get((name, pkey))
            if labels is None:
                try:
                    meta = self.client(name).head_object(Bucket=self.specs[name].bucket, Key=pkey)["Metadata"]
                except ClientError as e:
                    if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                        continue  # deleted since the listing (the cleanup queue at work)
                    raise
                assert {"s3o-bucket", "s3o-key", "s3o-version"} <= set(meta), \
                    f"{name}:{pkey} lacks the s3o labels: {meta}"
                labels = (meta["s3o-bucket"], _b64url(meta["s3o-key"]), meta["s3o-version"])
                self._labels[(name, pkey)] = labels
            out.append(Copy(name, pkey, size, *labels))
        return out

    def by_object(self, names=None) -> dict[tuple[str, str], list[Copy]]:
        """(logical bucket, key) -> its physical copies over the backends `names` (default all)."""
        out: dict[tuple[str, str], list[Copy]] = {}
        for name in names or self.specs:
            for c in self.copies(name):
                out.setdefault((c.bucket, c.key), []).append(c)
        return out

    def used(self, name: str) -> int:
        return sum(self.listing(name).values())

    def read(self, c: Copy) -> bytes:
        return self.client(c.backend).get_object(Bucket=self.specs[c.backend].bucket, Key=c.physical_key)["Body"].read()


def copy_problems(found: dict[tuple[str, str], list[Copy]], want: dict[tuple[str, str], int], copies: int,
                  label=None) -> list[str]:
    """What differs from: every object of `want` (-> size) has exactly `copies` physical copies
    of its size, on distinct backends (and distinct values of `label(backend)`), and nothing
    else of ours is stored."""
    problems = []
    for obj, size in want.items():
        cs = found.get(obj, [])
        backends = sorted(c.backend for c in cs)
        if len(cs) != copies or len(set(backends)) != copies:
            problems.append(f"{obj}: {len(cs)} copies on {backends}")
        elif any(c.size != size for c in cs):
            problems.append(f"{obj}: sizes {[c.size for c in cs]}, want {size}")
        elif label and len({label(b) for b in backends}) != copies:
            problems.append(f"{obj}: copies on {backends} = {[label(b) for b in backends]}")
    for obj in found.keys() - want.keys():
        problems.append(f"{obj}: not written by the test, yet on {[c.backend for c in found[obj]]}")
    return problems


# --------------------------------------------------------------------------------------------
# Clients under way


class Reader(threading.Thread):
    """Keeps GETting objects (bucket, key) -> md5 through the proxy and comparing them, until
    stopped. Records each failure with its start and end times (time.monotonic())."""

    def __init__(self, endpoint: str, objects: dict[tuple[str, str], str], pause: float = 0.01):
        super().__init__(daemon=True, name="e2e-orch-reader")
        self.client = make_client(endpoint, RW_ACCESS_KEY, RW_SECRET_KEY)
        self.objects = dict(objects)
        self.keys = sorted(self.objects)
        self.pause = pause
        self.stop_event = threading.Event()
        self.ok = 0
        self.failures: list[tuple[float, float, tuple[str, str], str]] = []
        self.lock = threading.Lock()

    def add(self, obj: tuple[str, str], digest: str) -> None:
        with self.lock:
            self.objects[obj] = digest
            self.keys.append(obj)

    def run(self) -> None:
        rng = random.Random(7)
        while not self.stop_event.is_set():
            with self.lock:
                obj = rng.choice(self.keys)
                want = self.objects[obj]
            t0 = time.monotonic()
            try:
                got = md5(self.client.get_object(Bucket=obj[0], Key=obj[1])["Body"].read())
                what = None if got == want else f"md5 {got}, want {want}"
            except Exception as e:  # noqa: BLE001 - recorded
                what = repr(e)[:300]
            if what is None:
                self.ok += 1
            else:
                self.failures.append((t0, time.monotonic(), obj, what))
            if self.pause:
                time.sleep(self.pause)

    def finish(self) -> None:
        self.stop_event.set()
        self.join(30)
        assert not self.is_alive(), "the reader thread hangs (a GET does not end)"

    def failures_outside(self, windows: list[tuple[float, float]]) -> list:
        """Failures whose request did not overlap any of `windows` (e.g. while the proxy was down)."""
        return [f for f in self.failures if not any(f[0] <= w1 and f[1] >= w0 for w0, w1 in windows)]


def put_many(s3, bucket: str, objects: dict[str, bytes], threads: int = 8) -> None:
    """PUTs every object (key -> bytes) with a few threads; any failure fails the test."""
    items = list(objects.items())
    errors = []

    def work(part):
        for k, data in part:
            try:
                s3.put_object(Bucket=bucket, Key=k, Body=data)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append((k, repr(e)))

    ts = [threading.Thread(target=work, args=(items[i::threads],), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not any(t.is_alive() for t in ts), "PUT threads still running after 120 s"
    assert not errors, f"{len(errors)} PUTs failed: {errors[:5]}"


def check_all(s3, objects: dict[tuple[str, str], bytes]) -> None:
    """Every object reads back whole through the proxy and is listed with its size."""
    bad = []
    for (bucket, key), data in objects.items():
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if md5(got) != md5(data):
            bad.append((bucket, key, len(got), len(data)))
    assert not bad, f"{len(bad)} objects read back wrong: {bad[:5]}"
    for bucket in {b for b, _ in objects}:
        listed = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            listed.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        want = {k: len(d) for (b, k), d in objects.items() if b == bucket}
        missing = {k: s for k, s in want.items() if listed.get(k) != s}
        assert not missing, f"{len(missing)} objects of {bucket} not listed as written: {list(missing.items())[:5]}"


# --------------------------------------------------------------------------------------------
# s3o-loadtest


def locate_loadtest() -> Path:
    """The s3o-loadtest binary: `S3O_LOADTEST_BIN`, else beside the proxy binary, else the newest
    of target/{release,debug}."""
    override = os.environ.get("S3O_LOADTEST_BIN")
    candidates = [Path(override)] if override else []
    candidates.append(locate_proxy_binary().parent / "s3o-loadtest")
    candidates += [REPO / "target/release/s3o-loadtest", REPO / "target/debug/s3o-loadtest"]
    found = [c for c in candidates if c.is_file() and os.access(c, os.X_OK)]
    if not found:
        pytest.fail("no s3o-loadtest binary: build it (`cargo build --release -p s3o-loadtest`) or set "
                    f"S3O_LOADTEST_BIN; looked at {[str(c) for c in candidates]}", pytrace=False)
    return found[0]


class Load:
    """A bounded `s3o-loadtest run` against a proxy (its own prefix), in the background."""

    def __init__(self, root: Path, endpoint: str, bucket: str, prefix: str, workload: str, duration: str,
                 concurrency: int = 4, objects: int = 40, size_range: str = "1KiB-64KiB"):
        self.json_path = root / f"loadtest-{prefix.strip('/')}.json"
        self.log_path = root / f"loadtest-{prefix.strip('/')}.log"
        cmd = [str(locate_loadtest()), "run", "--endpoint", endpoint, "--access-key", RW_ACCESS_KEY,
               "--secret-key", RW_SECRET_KEY, "--region", REGION, "--bucket", bucket, "--prefix", prefix,
               "--workload", workload, "--size-range", size_range, "--concurrency", str(concurrency),
               "--threads", "1", "--duration", duration, "--warmup", "1s", "--objects", str(objects),
               "--prepare", "--op-timeout", "10s", "--json", str(self.json_path)]
        self.server = Server.start("s3o-loadtest", cmd, self.log_path, cwd=root)
        EXTRA_LOGS.append(("s3o-loadtest output", self.log_path))

    def wait_prepared(self, timeout: float = 60) -> None:
        def prepared():
            assert self.server.proc.poll() is None, f"s3o-loadtest exited early:\n{log_tail(self.log_path, 30)}"
            return "prepared" in self.log_path.read_text(errors="replace")
        wait_for("s3o-loadtest to prepare its objects", prepared, timeout, every=0.1)

    def result(self, timeout: float) -> tuple[int, dict]:
        """Waits for the run to end (bounded) and returns (exit code, JSON report)."""
        try:
            code = self.server.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.server.stop()
            pytest.fail(f"s3o-loadtest still running after {timeout} s\n{log_tail(self.log_path, 30)}", pytrace=False)
        finally:
            for entry in [e for e in EXTRA_LOGS if e[1] == self.log_path]:
                EXTRA_LOGS.remove(entry)
        assert self.json_path.is_file(), f"s3o-loadtest wrote no report (exit {code})\n{log_tail(self.log_path, 30)}"
        return code, json.loads(self.json_path.read_text())

    def stop(self) -> None:
        self.server.stop()
