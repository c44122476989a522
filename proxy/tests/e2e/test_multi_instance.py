"""Several proxies sharing one PostgreSQL metadata store, against real processes.

Three s3-orchestrator processes (A, B, C) use one throwaway PostgreSQL cluster (one schema) and
two SeaweedFS servers as backends (the session's `seaweed` and one of this module's own):

- `multi` spreads over both servers; a write through one proxy is read, listed and deleted
  through the others at once (boto3, and the aws CLI's default multipart upload of 9 MiB).
- Conditional PUTs (`If-None-Match: *`) of one new key by 8 writers over the three proxies:
  exactly one succeeds, the others get 412 PreconditionFailed (or S3's 409
  ConditionalRequestConflict), and every proxy serves the winner's bytes.
- `multi-capped` lives on one backend with a 10 MiB quota; 32 writers of distinct 1 MiB objects
  over the three proxies: at most 10 succeed, the rest get 507 InsufficientStorage at once, and
  the shared usage never goes over the quota (sampled on the admin API during the race).
- A is started first, so it takes the exclusive workers' leases (cleanup_queue,
  multipart_reaper). A is SIGKILLed while a single PUT is halfway through its body and a 64 MiB
  boto3 multipart upload is in flight: through B and C every object committed before stays
  whole, the interrupted overwrite leaves the previous version, the interrupted multipart key is
  absent (or whole) and its upload can be aborted through a survivor, and a survivor holds every
  lease within the lease TTL plus polling. A then restarts on its data directory and serves.
- A credential added to (then removed from) A's config file with a SIGHUP to A is accepted
  (then refused) by B and C too, within about a second.
- The access layer: a session made on A is valid on B; a credential minted on A signs requests
  on B and C within a second, and is refused there within a second of being disabled on A; an
  audit event written by B is read through A.
- `multi-sealed` encrypts and every instance caches small objects: a key overwritten through
  the three in turn is served current (whole and by range) by every proxy after each write.
- With all three up, each exclusive worker stays on one instance (renewing its lease between
  rare ticks), and only that one reports `active_here`.

The cluster is pg_cluster.py's (skipped without PostgreSQL binaries unless
S3O_REQUIRE_POSTGRES=1). Every wait is bounded; every process started here is stopped at the
end of the module (the proxies with SIGTERM, which must exit 0).
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import io
import json
import os
import signal
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import EXTRA_LOGS, AwsCli, S3Server
from pg_cluster import Postgres, postgres  # noqa: F401 - the fixture, used by `proxies`
from harness import (
    wait_for,
    REGION,
    RW_ACCESS_KEY,
    RW_SECRET_KEY,
    WEED_ACCESS_KEY,
    WEED_SECRET_KEY,
    Server,
    ensure_bucket,
    error_of,
    free_ports,
    list_physical,
    locate_proxy_binary,
    log_tail,
    make_client,
    md5_hex,
    start_weed,
)

MIB = 1024 * 1024
TOKEN = "e2e-multi-admin-token-0123456789"
BUCKET = "multi"                 # spread over both SeaweedFS servers
CAPPED = "multi-capped"          # one backend with a quota
SEALED = "multi-sealed"          # encrypted at rest, spread over both servers
SEAL_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
CAPPED_QUOTA = 10 * MIB
EXCLUSIVE_WORKERS = ("cleanup_queue", "multipart_reaper")
# Worker leases (proxy/src/workers.rs): 10 s TTL, standbys try every 1 s. A survivor must hold
# a dead instance's leases within this (TTL + poll + slack).
TAKEOVER_SECS = 15.0
JOIN_SECS = 60.0                 # most any client thread of this module may take


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def body(n: int, seed: int) -> bytes:
    """`n` deterministic bytes, distinct per seed."""
    block = hashlib.sha256(f"multi-{seed}".encode()).digest() * 2048  # 64 KiB
    return (block * (n // len(block) + 1))[:n]


def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def seaweed2(tmp_path_factory):
    """A second SeaweedFS server, so `multi` spreads over two real backends."""
    w = start_weed(tmp_path_factory.mktemp("multi-seaweed2"), name="seaweedfs-2")
    yield S3Server(w.name, w.endpoint, WEED_ACCESS_KEY, WEED_SECRET_KEY, w.server, w.client)
    w.close()


# --------------------------------------------------------------------------------------------
# Three proxies on that cluster


@dataclass
class Proxy:
    name: str
    root: Path
    port: int
    admin_port: int
    config: Path
    server: Server
    s3: object
    started: float = 0.0         # time.monotonic() at its (last) start

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def admin(self, path: str) -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}{path}", headers={"X-Admin-Token": TOKEN})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def workers(self) -> dict[str, dict]:
        return {w["name"]: w for w in self.admin("/admin/api/workers")["workers"]}

    def used(self, backend: str) -> int:
        return next(b["bytes_used"] for b in self.admin("/admin/api/status")["backends"] if b["name"] == backend)


# The access layer (seed 003): one sealing key and one first admin for every instance.
ACCESS_SEAL_KEY = "6d" * 32
ACCESS_FIRST_PW = "multi-first-password"


def toml(header: str, **values) -> str:
    """One TOML table; a JSON string, number, boolean or list of strings is valid TOML too."""
    return f"{header}\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()) + "\n"


def write_config(root: Path, port: int, admin_port: int, pg: Postgres, weeds: dict) -> Path:
    """One proxy's config: its own ports and data_dir; the same store, backends and buckets."""
    text = (toml("[server]", listen=f"127.0.0.1:{port}", data_dir=str(root / "meta"), threads=2, region=REGION,
                 shutdown_grace_secs=5)
            + toml("[limits]", backend_connect_timeout_secs=3, body_timeout_secs=20)
            + toml("[store]", engine="postgres", url=pg.url, pool_size=8, schema="s3o_multi")
            + toml("[admin]", listen=f"127.0.0.1:{admin_port}", usage_flush_secs=1)
            + toml("[ui]", admin_token=TOKEN)
            + toml("[access]", secret_key=ACCESS_SEAL_KEY, login_per_15_minutes=500)
            + toml("[access.bootstrap_admin]", username="multi", password=ACCESS_FIRST_PW)
            + toml("[[buckets]]", name=BUCKET, backends=["w1", "w2"], placement="spread")
            + toml("[[buckets]]", name=CAPPED, backends=["capped"], placement="pack")
            + toml("[[buckets]]", name=SEALED, backends=["w1", "w2"], placement="spread", encrypt=True)
            + toml("[encryption]", key=SEAL_KEY)
            + toml("[cache]", enabled=True, max_object_bytes=300_000, ttl_secs=600)
            + toml("[[credentials]]", access_key=RW_ACCESS_KEY, secret_key=RW_SECRET_KEY, buckets=["*"],
                   access="read-write", create_buckets=True))
    for name, w, bucket, quota in [("w1", weeds["one"], "multi-one", 1 << 30),
                                   ("w2", weeds["two"], "multi-two", 1 << 30),
                                   ("capped", weeds["two"], "multi-capped", CAPPED_QUOTA)]:
        ensure_bucket(w.client, bucket)
        text += toml("[[backends]]", name=name, kind="s3", endpoint=w.endpoint, region=REGION, bucket=bucket,
                     access_key=w.access_key, secret_key=w.secret_key, path_style=True, quota_bytes=quota)
    config = root / "s3-orchestrator.toml"
    config.write_text(text)
    return config


def launch(p: Proxy, log_name: str = "s3-orchestrator.log") -> None:
    """Starts (or restarts) proxy `p` on its config and waits for both of its ports."""
    log = p.root / log_name
    p.started = time.monotonic()
    p.server = Server.start(f"s3-orchestrator {p.name}", [str(locate_proxy_binary()), "serve", "--config",
                            str(p.config)], log, cwd=p.root,
                            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info"), "RUST_BACKTRACE": "1"})
    EXTRA_LOGS.append((f"proxy {p.name} log {log.name}", log))
    p.server.wait_port(p.port)
    p.server.wait_port(p.admin_port)


@pytest.fixture(scope="module")
def proxies(tmp_path_factory, postgres, seaweed, seaweed2):
    """A, B, C on one schema. A starts alone first and takes both exclusive workers' leases."""
    weeds = {"one": seaweed, "two": seaweed2}
    ports = free_ports(6)
    out: list[Proxy] = []
    try:
        for i, name in enumerate("ABC"):
            root = tmp_path_factory.mktemp(f"multi-{name}")
            config = write_config(root, ports[2 * i], ports[2 * i + 1], postgres, weeds)
            p = Proxy(name, root, ports[2 * i], ports[2 * i + 1], config, None,
                      make_client(f"http://127.0.0.1:{ports[2 * i]}", RW_ACCESS_KEY, RW_SECRET_KEY,
                                  max_pool_connections=32))
            launch(p)
            out.append(p)
            if name == "A":
                wait_for("A holds the exclusive workers' leases", lambda: all(
                    out[0].workers().get(n, {}).get("active_here") for n in EXCLUSIVE_WORKERS), 15)
        yield out
    finally:
        problems = []

        def stop(p: Proxy) -> None:
            if p.server.proc.poll() is not None:
                problems.append(f"{p.name} exited by itself with code {p.server.proc.returncode}")
                return
            code = p.server.stop()
            if p.server.extra.get("killed") or code != 0:
                problems.append(f"{p.name} did not stop cleanly on SIGTERM (exit {code})\n"
                                f"{log_tail(p.server.log_path, 40)}")
        stoppers = [threading.Thread(target=stop, args=(p,)) for p in out]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()  # bounded: Server.stop kills after STOP_TIMEOUT_SECS
        for entry in [e for e in EXTRA_LOGS if e[0].startswith("proxy ")]:
            EXTRA_LOGS.remove(entry)
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


def live(view: dict, now: float | None = None) -> bool:
    """Whether an instance's view of a worker's lease says it holds the lease now: `active_here`
    and not yet expired (`lease_expires` is RFC 3339; the store's clock is this machine's)."""
    if not view.get("active_here"):
        return False
    expires = datetime.datetime.fromisoformat(view["lease_expires"].replace("Z", "+00:00")).timestamp()
    return expires > (time.time() if now is None else now)


def run_threads(targets: list, timeout: float = JOIN_SECS) -> None:
    """Starts one thread per callable, all released at once by a barrier; joins them (bounded)."""
    barrier = threading.Barrier(len(targets))
    threads = [threading.Thread(target=lambda f=f: (barrier.wait(10), f()), daemon=True) for f in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(t.is_alive() for t in threads)
    assert stuck == 0, f"{stuck} client threads still running after {timeout} s (a request hangs)"


# --------------------------------------------------------------------------------------------


def test_writes_are_seen_at_once_through_every_instance(proxies, seaweed, seaweed2, tmp_path):
    """boto3 and the aws CLI: what one proxy writes, the others read, list and delete at once."""
    run = uid()
    objects = {f"cross-{run}/{i}": body(size, i) for i, size in
               enumerate([0, 1, 1000, 100_000, 1_000_000, 3 * MIB + 5])}
    for i, (key, data) in enumerate(objects.items()):
        writer, reader, lister = proxies[i % 3], proxies[(i + 1) % 3], proxies[(i + 2) % 3]
        etag = writer.s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"]
        assert etag == f'"{md5_hex(data)}"'
        got = reader.s3.get_object(Bucket=BUCKET, Key=key)
        assert (sha(got["Body"].read()), got["ETag"]) == (sha(data), etag), f"{key} via {reader.name}"
        listed = lister.s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("Contents", [])
        assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [(key, len(data), etag)], lister.name
    # Every proxy lists the same objects; the placement used both SeaweedFS servers.
    want = sorted((k, len(v)) for k, v in objects.items())
    for p in proxies:
        got = p.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"cross-{run}/").get("Contents", [])
        assert sorted((o["Key"], o["Size"]) for o in got) == want, p.name
    placed = {proxies[1].admin(f"/admin/api/object-locations?key={BUCKET}/{k}")["locations"][0]["BackendName"]
              for k in objects}
    assert placed == {"w1", "w2"}, f"spread placement used only {placed}"
    assert list_physical(seaweed.client, "multi-one") and list_physical(seaweed2.client, "multi-two")

    # The aws CLI: a 9 MiB upload (multipart at its default 8 MiB threshold) through A, listed
    # through B, downloaded through C, removed through B; gone through every proxy.
    big = body(9 * MIB + 123, 99)
    src, dst = tmp_path / "big.bin", tmp_path / "big.out"
    src.write_bytes(big)
    url = f"s3://{BUCKET}/cli-{run}/big.bin"
    cli = {p.name: AwsCli(p.endpoint, "", Path("/nonexistent"), tmp_path) for p in proxies}
    cli["A"].run("s3", "cp", str(src), url)
    assert f"{len(big)} big.bin" in " ".join(cli["B"].run("s3", "ls", f"s3://{BUCKET}/cli-{run}/").stdout.split())
    assert proxies[1].s3.head_object(Bucket=BUCKET, Key=f"cli-{run}/big.bin")["ETag"].endswith('-2"')
    cli["C"].run("s3", "cp", url, str(dst))
    assert sha(dst.read_bytes()) == sha(big)
    cli["B"].run("s3", "rm", url)
    for p in proxies:
        with pytest.raises(ClientError) as exc:
            p.s3.head_object(Bucket=BUCKET, Key=f"cli-{run}/big.bin")
        assert error_of(exc)[1] == 404, p.name

    # Deleted through another proxy than the writer's; gone through the third at once.
    for i, key in enumerate(objects):
        proxies[(i + 1) % 3].s3.delete_object(Bucket=BUCKET, Key=key)
        with pytest.raises(ClientError) as exc:
            proxies[(i + 2) % 3].s3.get_object(Bucket=BUCKET, Key=key)
        assert error_of(exc) == ("NoSuchKey", 404)
    for p in proxies:
        assert p.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"cross-{run}/").get("KeyCount") == 0, p.name


def test_sealed_and_cached_objects_stay_current_across_instances(proxies):
    """Bucket `multi-sealed` encrypts; every instance caches small objects. A key written
    through one proxy and read through all (filling each one's cache) is overwritten 20 times
    through the three in turn: after each overwrite every proxy serves the new bytes, never an
    older cached or sealed version; deleted through B, it is gone through A and C at once."""
    key = f"hot-{uid()}"
    for round in range(20):
        data = body(1000 + round * 5000, round)
        writer = proxies[round % 3]
        writer.s3.put_object(Bucket=SEALED, Key=key, Body=data)
        for p in proxies:
            got = p.s3.get_object(Bucket=SEALED, Key=key)["Body"].read()
            assert sha(got) == sha(data), f"round {round}: {p.name} served other bytes"
            got = p.s3.get_object(Bucket=SEALED, Key=key, Range="bytes=10-99")["Body"].read()
            assert got == data[10:100], f"round {round}: {p.name} served another range"
    proxies[1].s3.delete_object(Bucket=SEALED, Key=key)
    for p in (proxies[0], proxies[2]):
        with pytest.raises(ClientError) as exc:
            p.s3.get_object(Bucket=SEALED, Key=key)
        assert error_of(exc) == ("NoSuchKey", 404), p.name


def unsigned_get(p: Proxy, path: str) -> int:
    """The status of an unsigned GET of `path` through `p`."""
    try:
        with urllib.request.urlopen(f"{p.endpoint}{path}", timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_acl_changes_on_one_instance_hold_on_the_others(proxies):
    """A bucket made public-read through A lists unsigned through B and C within about a second
    (each core trusts a bucket record for at most one second), and private again through B is
    refused through A and C as soon; an object's ACL (read with the object) applies at once."""
    a, b, c = proxies
    bucket = f"acl-{uid()}"
    a.s3.create_bucket(Bucket=bucket)
    b.s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    took = []
    for setter, acl, want in [(a, "public-read", 200), (b, "private", 403)]:
        setter.s3.put_bucket_acl(Bucket=bucket, ACL=acl)
        t0 = time.monotonic()
        wait_for(f"{acl} seen by every instance",
                 lambda want=want: all(unsigned_get(p, f"/{bucket}") == want for p in proxies), 5, every=0.05)
        took.append(time.monotonic() - t0)
    assert all(t < 2.0 for t in took), took
    c.s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert [unsigned_get(p, f"/{bucket}/k") for p in proxies] == [200, 200, 200]
    a.s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    assert [unsigned_get(p, f"/{bucket}/k") for p in proxies] == [403, 403, 403]
    b.s3.delete_object(Bucket=bucket, Key="k")
    c.s3.delete_bucket(Bucket=bucket)
    print(f"bucket ACL change seen by all three instances in {took[0]:.2f} s (public) and {took[1]:.2f} s (private)")


def test_conditional_put_race_has_one_winner(proxies):
    """8 writers over A, B, C put one new key with `If-None-Match: *`, five rounds: one 200 a
    round; the losers get 412 PreconditionFailed (409 ConditionalRequestConflict is S3's other
    answer to a lost race); every proxy then serves the winner's bytes."""
    for rnd in range(5):
        key = f"race-{uid()}/key"
        bodies = [body(256 * 1024 + w, 1000 * rnd + w) for w in range(8)]
        results: dict[int, object] = {}

        def writer(w):
            try:
                results[w] = proxies[w % 3].s3.put_object(Bucket=BUCKET, Key=key, Body=bodies[w], IfNoneMatch="*")
            except Exception as e:  # noqa: BLE001 - recorded, judged below
                results[w] = e

        run_threads([lambda w=w: writer(w) for w in range(8)])
        winners = [w for w, r in results.items() if isinstance(r, dict)]
        losers = {w: (error_of(r) if isinstance(r, ClientError) else repr(r))
                  for w, r in results.items() if w not in winners}
        assert len(winners) == 1, f"round {rnd}: winners {winners}, losers {losers}"
        assert all(e in (("PreconditionFailed", 412), ("ConditionalRequestConflict", 409))
                   for e in losers.values()), f"round {rnd}: {losers}"
        won = bodies[winners[0]]
        for p in proxies:
            got = p.s3.get_object(Bucket=BUCKET, Key=key)
            assert (sha(got["Body"].read()), got["ETag"]) == (sha(won), f'"{md5_hex(won)}"'), p.name
        with pytest.raises(ClientError) as exc:
            proxies[rnd % 3].s3.put_object(Bucket=BUCKET, Key=key, Body=b"late", IfNoneMatch="*")
        assert error_of(exc) == ("PreconditionFailed", 412)


def test_quota_race_never_overcommits(proxies, seaweed2):
    """32 writers of distinct 1 MiB objects over A, B, C into a bucket whose only backend has a
    10 MiB quota: at most 10 succeed, the others get 507 InsufficientStorage, and the shared
    usage (sampled on B's admin API throughout) never exceeds the quota."""
    payloads = {f"q/{i:02d}": body(MIB, 5000 + i) for i in range(32)}
    results: dict[str, object] = {}
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], proxies[1].used("capped"))
            except Exception:  # noqa: BLE001 - a sample lost; the final check still runs
                pass
            time.sleep(0.02)

    def writer(i, key):
        try:
            results[key] = proxies[i % 3].s3.put_object(Bucket=CAPPED, Key=key, Body=payloads[key])
        except Exception as e:  # noqa: BLE001 - judged below
            results[key] = e

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        run_threads([lambda i=i, k=k: writer(i, k) for i, k in enumerate(payloads)])
    finally:
        done.set()
        sampler.join(10)
    elapsed = time.monotonic() - started
    ok = sorted(k for k, r in results.items() if isinstance(r, dict))
    refused = {k: (error_of(r) if isinstance(r, ClientError) else repr(r)) for k, r in results.items() if k not in ok}
    assert len(ok) <= 10, f"{len(ok)} uploads of 1 MiB accepted under a 10 MiB quota"
    assert ok, "no upload accepted at all"
    assert set(refused.values()) <= {("InsufficientStorage", 507)}, refused
    assert elapsed < 30, f"the race took {elapsed:.1f} s"
    assert peak[0] <= CAPPED_QUOTA, f"usage peaked at {peak[0]} bytes (quota {CAPPED_QUOTA})"
    for p in proxies:
        assert p.used("capped") == len(ok) * MIB, p.name
        listed = p.s3.list_objects_v2(Bucket=CAPPED, Prefix="q/").get("Contents", [])
        assert sorted(o["Key"] for o in listed) == ok, p.name
    for i, key in enumerate(ok):
        assert sha(proxies[(i + 1) % 3].s3.get_object(Bucket=CAPPED, Key=key)["Body"].read()) == sha(payloads[key])
    # The quota counts object bytes; each copy's metadata record (`.meta`, a few hundred bytes)
    # is bookkeeping beside it (see the README's quotas).
    physical = {k: n for k, n in list_physical(seaweed2.client, "multi-capped").items() if not k.endswith(".meta")}
    assert sum(physical.values()) <= CAPPED_QUOTA, physical
    print(f"quota race: {len(ok)} of 32 accepted, {len(refused)} refused ({set(refused.values())}) in "
          f"{elapsed:.2f} s; usage peak {peak[0]} bytes")


def test_exclusive_workers_stay_on_one_live_instance(proxies):
    """With every instance up, each exclusive worker runs on one instance only: exactly one reports
    `active_here`, its lease has not expired, and it stays where it started (A, the first up) —
    looked at more than one lease TTL after A started, several times over 2 s."""
    time.sleep(max(0.0, proxies[0].started + 13 - time.monotonic()))
    for _ in range(4):
        views = {p.name: p.workers() for p in proxies}
        now = time.time()
        for n in EXCLUSIVE_WORKERS:
            claims = {name: (v[n]["lease_holder"], v[n]["lease_expires"]) for name, v in views.items()
                      if v[n].get("active_here")}
            assert list(claims) == ["A"] and live(views["A"][n], now), f"{n}: active_here on {claims}"
        time.sleep(0.5)


def test_a_config_change_on_one_instance_reaches_the_others(proxies):
    """A credential added to A's config file, then SIGHUP to A: B and C accept it (they apply
    what A published, keeping their own ports); removed the same way, all three refuse it."""
    a = proxies[0]
    key, secret = f"AKIAMULTI{uid().upper()}", f"multi-secret-{uid()}-{uid()}"
    clients = {p.name: make_client(p.endpoint, key, secret) for p in proxies}
    original = a.config.read_text()

    def accepted_everywhere(want: bool):
        for name, s3 in clients.items():
            try:
                s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
                ok = True
            except ClientError as e:
                assert error_of(e) == ("InvalidAccessKeyId", 403), (name, error_of(e))
                ok = False
            if ok != want:
                return False
        return True

    assert accepted_everywhere(False)
    took = []
    for text, want in [(original + toml("[[credentials]]", access_key=key, secret_key=secret, buckets=[BUCKET],
                                        access="read-write"), True), (original, False)]:
        a.config.write_text(text)
        os.kill(a.server.proc.pid, signal.SIGHUP)
        t0 = time.monotonic()
        wait_for(f"the credential {'accepted' if want else 'refused'} by every instance",
                 lambda want=want: accepted_everywhere(want), 10, every=0.05)
        took.append(time.monotonic() - t0)
    assert a.server.proc.poll() is None and a.config.read_text() == original
    print(f"config change seen by all three instances {took[0]:.2f} s (added) and {took[1]:.2f} s (removed) "
          "after the SIGHUP")


class ApiSession:
    """A signed-in session of the multi-user API, usable on any instance (sessions live in the
    shared store)."""

    def __init__(self, p: Proxy, user: str, password: str):
        status, headers, body = self.raw(p, "POST", "/auth/login/local", {"username": user, "password": password})
        assert status == 200, body
        cookies = dict(c.split(";")[0].split("=", 1) for c in headers.get_all("Set-Cookie"))
        self.cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.csrf = cookies["stowage_csrf"]

    def raw(self, p: Proxy, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if getattr(self, "cookie", None):
            headers.update({"Cookie": self.cookie, "X-CSRF-Token": self.csrf})
        req = urllib.request.Request(f"http://127.0.0.1:{p.admin_port}{path}", data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def call(self, p: Proxy, method: str, path: str, body=None) -> tuple[int, dict]:
        status, _, raw = self.raw(p, method, path, body)
        return status, (json.loads(raw) if raw else {})


def first_admin(p: Proxy) -> ApiSession:
    """The first admin signed in on `p`, its forced password change done (by whichever test
    signed in first)."""
    try:
        s = ApiSession(p, "multi", ACCESS_FIRST_PW)
    except AssertionError:
        return ApiSession(p, "multi", ACCESS_FIRST_PW + "-2")
    if s.call(p, "GET", "/api/me")[1].get("must_change_pw"):
        status, _ = s.call(p, "POST", "/api/me/password",
                           {"current_password": ACCESS_FIRST_PW, "new_password": ACCESS_FIRST_PW + "-2"})
        assert status == 200
    return s


def test_access_changes_on_one_instance_reach_the_others(proxies):
    """The first admin (created once by whichever instance started first) signs in on A and
    uses that session on B; a credential minted on A signs requests on B and C within a second,
    and once disabled on A is refused by B and C within a second; audit events written by every
    instance are read through any."""
    a, b, c = proxies
    s = first_admin(a)
    status, me = s.call(b, "GET", "/api/me")
    assert (status, me["username"]) == (200, "multi"), "the session made on A is valid on B"
    status, users = s.call(c, "GET", "/api/admin/users?query=multi")
    assert status == 200 and len(users["users"]) == 1, "one first admin for three instances"
    status, cred = s.call(a, "POST", "/api/me/s3-credentials",
                          {"backend_id": "orchestrator", "buckets": [BUCKET], "permission": "read-only"})
    assert status == 201, cred
    clients = {p.name: make_client(p.endpoint, cred["access_key"], cred["secret_key"]) for p in (b, c)}

    def works(s3) -> bool:
        try:
            s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
            return True
        except ClientError as e:
            assert error_of(e)[1] == 403, error_of(e)
            return False

    t0 = time.monotonic()
    wait_for("the new key accepted by B and C", lambda: all(works(x) for x in clients.values()), 5, every=0.02)
    minted = time.monotonic() - t0
    with pytest.raises(ClientError) as denied:
        clients["B"].put_object(Bucket=BUCKET, Key=f"ro-{uid()}", Body=b"x")
    assert error_of(denied) == ("AccessDenied", 403)
    status, _ = s.call(a, "PATCH", f"/api/me/s3-credentials/{cred['access_key']}", {"enabled": False})
    assert status == 200
    t0 = time.monotonic()
    wait_for("the disabled key refused by B and C", lambda: not any(works(x) for x in clients.values()), 5,
             every=0.02)
    disabled = time.monotonic() - t0
    print(f"store credential usable on B and C {minted:.2f} s after minting on A, refused {disabled:.2f} s "
          "after disabling")
    assert minted < 1.0 and disabled < 1.0, (minted, disabled)
    wait_for("B's audit event of the refused write, read through A", lambda: any(
        e["user_id"] == cred["access_key"] and e["status"] == "denied"
        for e in s.call(a, "GET", "/api/admin/audit?action=s3.putobject")[1]["events"]), 5)


def test_a_backend_added_on_one_instance_is_served_by_all(proxies, seaweed):
    """A UI-managed backend created through A is served by B and C within a second (its
    buckets listed through them), and once removed through B is gone from all three."""
    a, b, c = proxies
    s = first_admin(a)
    spec = {"id": "shared-weed", "endpoint": seaweed.endpoint, "access_key": seaweed.access_key,
            "secret_key": seaweed.secret_key}
    status, made = s.call(a, "POST", "/api/admin/backends", spec)
    assert status == 201, made

    def served(p: Proxy) -> bool:
        return s.call(p, "GET", "/api/backends/shared-weed/buckets")[0] == 200

    t0 = time.monotonic()
    wait_for("the new backend served by B and C", lambda: served(b) and served(c), 5, every=0.02)
    took = time.monotonic() - t0
    print(f"a backend added on A served by B and C {took:.2f} s later")
    assert took < 1.0, took
    assert s.call(b, "DELETE", "/api/admin/backends/shared-weed")[0] == 204
    wait_for("the removed backend gone from every instance", lambda: not any(served(p) for p in proxies), 5,
             every=0.02)


class Throttled(io.RawIOBase):
    """A non-seekable source giving `data` at about `rate` bytes per second."""

    def __init__(self, data: bytes, rate: float):
        self.data, self.pos, self.rate = data, 0, rate

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = len(self.data) - self.pos if n is None or n < 0 else n
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        time.sleep(len(out) / self.rate)
        return out


def start_signed_put(p: Proxy, key: str, data: bytes, send: int) -> http.client.HTTPConnection:
    """A SigV4-signed PUT of `data` to `p` of which only the first `send` bytes are sent."""
    req = AWSRequest(method="PUT", url=f"{p.endpoint}/{BUCKET}/{key}", data=data,
                     headers={"Content-Length": str(len(data))})
    S3SigV4Auth(Credentials(RW_ACCESS_KEY, RW_SECRET_KEY), "s3", REGION).add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=30)
    conn.putrequest("PUT", f"/{BUCKET}/{key}", skip_accept_encoding=True)
    for name, value in req.headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(data[:send])
    return conn


def test_sigkill_mid_upload_loses_nothing_committed(proxies):
    """SIGKILL A while two uploads through it are in flight; the survivors keep every committed
    object whole and take A's worker leases; A restarts on its data directory."""
    a, b, c = proxies
    run = uid()
    before = a.workers()
    held = [n for n in EXCLUSIVE_WORKERS if live(before[n])]
    assert "cleanup_queue" in held, f"A does not hold cleanup_queue's lease: {before}"
    a_id = before["cleanup_queue"]["lease_holder"]

    # Committed before the kill, through all three (a multipart one through A).
    committed = {f"kill-{run}/a-small": (a, body(1000, 1)), f"kill-{run}/b-2mib": (b, body(2 * MIB, 2)),
                 f"kill-{run}/c-5mib": (c, body(5 * MIB + 7, 3)), f"kill-{run}/overwritten": (a, body(500_000, 4))}
    for key, (p, data) in committed.items():
        p.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    mpu = body(20 * MIB + 3, 5)
    a.s3.upload_fileobj(io.BytesIO(mpu), BUCKET, f"kill-{run}/a-multipart",
                        Config=TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB))
    committed[f"kill-{run}/a-multipart"] = (a, mpu)

    # In flight at the kill: an overwrite stopped halfway through its body, and a 64 MiB
    # transfer-manager multipart upload (8 MiB parts) some parts in.
    v2 = body(16 * MIB, 6)
    conn = start_signed_put(a, f"kill-{run}/overwritten", v2, 8 * MIB)
    big_key, big = f"kill-{run}/in-flight-multipart", body(64 * MIB, 7)
    progress, outcome = [0], []

    def upload():
        try:
            a.s3.upload_fileobj(Throttled(big, 32 * MIB), BUCKET, big_key,
                                Config=TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB,
                                                      max_concurrency=2),
                                Callback=lambda n: progress.__setitem__(0, progress[0] + n))
            outcome.append("completed")
        except Exception as e:  # noqa: BLE001 - expected: the proxy dies under it
            outcome.append(repr(e))

    uploader = threading.Thread(target=upload, daemon=True)
    uploader.start()

    def sent_24_mib():
        assert not outcome, f"the multipart upload ended before the kill: {outcome}"
        return progress[0] >= 24 * MIB
    wait_for("24 MiB of the multipart upload sent", sent_24_mib, 30, every=0.01)
    os.kill(a.server.proc.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    a.server.proc.wait(10)
    uploader.join(JOIN_SECS)
    assert not uploader.is_alive(), "the multipart upload still hangs after its proxy died"
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        conn.getresponse()
    conn.close()

    # A survivor holds every lease A held, within the TTL plus polling; never both survivors.
    def taken_over():
        views = {p.name: p.workers() for p in (b, c)}
        now = time.time()
        holders = {n: [v[n]["lease_holder"] for v in views.values() if live(v[n], now)] for n in held}
        assert all(len(h) <= 1 for h in holders.values()), f"two live holders: {views}"
        return views if all(len(h) == 1 and h[0] != a_id for h in holders.values()) else None
    wait_for(f"a survivor holds {held}", taken_over, TAKEOVER_SECS, every=0.25)
    takeover = time.monotonic() - killed_at

    # Every committed object, whole, through both survivors; the overwrite left the old version.
    for p in (b, c):
        listed = {o["Key"]: o["Size"] for o in p.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"kill-{run}/")
                  .get("Contents", [])}
        for key, (_, data) in committed.items():
            assert listed.get(key) == len(data), (p.name, key, listed)
            got = p.s3.get_object(Bucket=BUCKET, Key=key)
            assert sha(got["Body"].read()) == sha(data), f"{key} via {p.name}"
        # The interrupted multipart key: absent, or whole and correct.
        if big_key in listed:
            assert outcome == ["completed"] and listed[big_key] == len(big), (listed[big_key], outcome)
            assert sha(p.s3.get_object(Bucket=BUCKET, Key=big_key)["Body"].read()) == sha(big)
        else:
            with pytest.raises(ClientError) as exc:
                p.s3.head_object(Bucket=BUCKET, Key=big_key)
            assert error_of(exc)[1] == 404
    # Its upload is still in progress in the shared store: a survivor lists its parts (whole
    # 8 MiB ones) and aborts it.
    uploads = b.s3.list_multipart_uploads(Bucket=BUCKET, Prefix=big_key).get("Uploads", [])
    assert len(uploads) <= 1 and (uploads or outcome == ["completed"]), (uploads, outcome)
    for u in uploads:
        parts = c.s3.list_parts(Bucket=BUCKET, Key=big_key, UploadId=u["UploadId"]).get("Parts", [])
        assert parts and all(pt["Size"] == 8 * MIB for pt in parts), parts
        b.s3.abort_multipart_upload(Bucket=BUCKET, Key=big_key, UploadId=u["UploadId"])
        with pytest.raises(ClientError) as exc:
            c.s3.list_parts(Bucket=BUCKET, Key=big_key, UploadId=u["UploadId"])
        assert error_of(exc) == ("NoSuchUpload", 404)

    # A restarts on the data directory it was killed with, and serves the shared store.
    launch(a, "s3-orchestrator-restarted.log")
    got = a.s3.get_object(Bucket=BUCKET, Key=f"kill-{run}/c-5mib")
    assert sha(got["Body"].read()) == sha(committed[f"kill-{run}/c-5mib"][1])
    a.s3.put_object(Bucket=BUCKET, Key=f"kill-{run}/after", Body=b"after the restart")
    assert b.s3.get_object(Bucket=BUCKET, Key=f"kill-{run}/after")["Body"].read() == b"after the restart"
    print(f"leases {held} taken over {takeover:.1f} s after the kill; multipart upload: {outcome}, "
          f"{progress[0] / MIB:.0f} MiB sent")


def admin_call(p: Proxy, method: str, path: str) -> tuple[int, dict]:
    """An operator API call of any method on proxy `p`: (status, JSON body)."""
    req = urllib.request.Request(f"http://127.0.0.1:{p.admin_port}{path}", method=method,
                                 headers={"X-Admin-Token": TOKEN})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_a_drain_started_on_one_instance_holds_on_all(proxies):
    """A drain of w2 started through A: within about a second B and C also place nothing there
    (the drain state is a document in the shared store), one instance moves w2's objects to w1,
    and every instance sees the drain end and its objects readable. Runs last: it empties w2."""
    a, b, c = proxies
    run = uid()
    before = {f"pre-{run}/{i}": body(20_000 + i, 900 + i) for i in range(12)}
    for i, (key, data) in enumerate(before.items()):
        proxies[i % 3].s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    status, got = admin_call(a, "POST", "/admin/api/backends/w2/drain")
    assert (status, got) == (202, {"status": "drain started", "backend": "w2"})

    def draining_everywhere():
        return all(next(r for r in p.admin("/admin/api/status")["backends"] if r["name"] == "w2")["draining"]
                   for p in (b, c))
    wait_for("w2 draining on B and C", draining_everywhere, 5)
    after = {f"post-{run}/{i}": body(10_000 + i, 950 + i) for i in range(12)}
    for i, (key, data) in enumerate(after.items()):
        (b, c)[i % 2].s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        locs = a.admin(f"/admin/api/object-locations?key={BUCKET}/{key}")["locations"]
        assert [loc["BackendName"] for loc in locs] == ["w1"], (key, locs)

    def done():
        st = c.admin("/admin/api/backends/w2/drain")
        assert "error" not in st, st
        return not st["active"] and st["objects_remaining"] == 0 and st
    final = wait_for("the drain to finish", done, 120, every=0.5)
    assert final["objects_moved"] >= 1, final
    for key, data in {**before, **after}.items():
        for p in proxies:
            assert sha(p.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) == sha(data), (key, p.name)
    # Drained, w2 stays out of placement on every instance until its drain is cleared.
    for p in proxies:
        assert next(r for r in p.admin("/admin/api/status")["backends"] if r["name"] == "w2")["draining"]
    status, got = admin_call(b, "DELETE", "/admin/api/backends/w2/drain")
    assert (status, got) == (200, {"status": "drain cancelled", "backend": "w2"})
    # Each instance re-reads the drain state every second.
    wait_for("w2 taking copies again everywhere", lambda: not any(
        next(r for r in p.admin("/admin/api/status")["backends"] if r["name"] == "w2")["draining"]
        for p in proxies), 5)
    status, got = admin_call(c, "DELETE", "/admin/api/backends/w2/drain")
    assert (status, got) == (409, {"error": 'backend "w2" is not draining'})
