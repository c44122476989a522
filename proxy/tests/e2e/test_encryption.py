"""Encryption at rest and integrity against real processes: three SeaweedFS servers of this
module's own and one private proxy per test (orch_harness.py), written to with boto3 and checked
from the backends' own listings as well as through the proxy:

- sealed objects are unreadable on the backend (no 16-byte run of any plaintext appears in any
  physical object), read back whole and by Range at chunk boundaries, as multipart uploads and
  as copies, with the plaintext's size and ETag;
- 1,000 objects encrypted with `POST /admin/api/encrypt-existing` while the proxy is SIGKILLed in
  the middle and restarted (the run resumes), then decrypted again, their MD5s unchanged;
- a key rotation, then a restart with only the new key (and the old one among the previous keys,
  then without it) reads every object;
- a copy whose bytes were overwritten on its backend behind our back is found by the scrubber and
  repaired from the replica.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request

import pytest
from boto3.s3.transfer import TransferConfig

from orch_harness import (
    MIB,
    TOKEN,
    Backends,
    Be,
    body,
    md5,
    orch_proxy,
    put_many,
    three_weeds,
    wait_for,
)

KEY_OLD = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
KEY_NEW = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
CHUNK = 65536


@pytest.fixture(scope="module")
def weeds(tmp_path_factory):
    yield from three_weeds(tmp_path_factory, "seal")


def admin_post(p, path: str, doc: dict | None = None, timeout: float = 300) -> tuple[int, dict]:
    """A POST to the proxy's admin API with a JSON body, waiting up to `timeout` s."""
    data = json.dumps(doc).encode() if doc is not None else b""
    req = urllib.request.Request(f"http://127.0.0.1:{p.admin_port}{path}", method="POST", data=data,
                                 headers={"X-Admin-Token": TOKEN, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def leaks(plain: bytes, stored: bytes) -> bool:
    """Whether any 16-byte run of `plain` (sampled every 7 bytes) appears in `stored`."""
    if len(plain) < 16:
        return False
    runs = {plain[i:i + 16] for i in range(0, len(plain) - 15, 7)}
    return any(stored[i:i + 16] in runs for i in range(len(stored) - 15))


def sealed_len(n: int) -> int:
    return n + 16 * max(1, -(-n // CHUNK))


def encryption(key_id: str, key: str, enabled: bool = True) -> dict:
    """An `[encryption]` section (previous keys are appended by with_previous())."""
    return {"enabled": enabled, "key_id": key_id, "key": key}


def with_previous(p, previous: list[tuple[str, str]]) -> None:
    """Appends `[[encryption.previous_keys]]` tables to the proxy's config file."""
    text = p.config.read_text()
    for key_id, key in previous:
        text += f'[[encryption.previous_keys]]\nid = "{key_id}"\nkey = "{key}"\n\n'
    p.config.write_text(text)


def restart(p) -> None:
    code = p.server.stop()
    assert code == 0, f"the proxy did not stop cleanly (exit {code})"
    p.start()


# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_sealed_objects_are_unreadable_on_the_backend_and_read_back_exactly(weeds, tmp_path):
    """Bucket `sec` (one copy on backend s1) seals what it stores. Objects of 0, 1, 65535, 65536,
    65537 and 1 MiB + 7 bytes, a 12 MiB multipart upload (5 MiB parts) and a copy of it: each
    reads back whole with the plaintext's length and ETag (a single PUT's is its MD5), by Range
    at and across chunk boundaries, and by part number; each physical object on s1 is the sealed
    length (16 bytes more per 64 KiB chunk) and holds no 16-byte run of any plaintext."""
    backends = [Be("s1", 0, "seal-s1")]
    buckets = [{"name": "sec", "backends": ["s1"], "encrypt": True}]
    sections = {"encryption": encryption("k-old", KEY_OLD, enabled=False)}
    with orch_proxy(tmp_path / "p", weeds, backends, buckets, sections) as p:
        s3 = p.s3
        objects = {f"o{n}": body(n, n) for n in (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, MIB + 7)}
        for k, data in objects.items():
            r = s3.put_object(Bucket="sec", Key=k, Body=data)
            assert r["ETag"] == f'"{md5(data)}"', k
        big = body(12 * MIB, 99)
        cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
        s3.upload_fileobj(io.BytesIO(big), "sec", "big", Config=cfg)
        s3.copy_object(Bucket="sec", Key="big-copy", CopySource={"Bucket": "sec", "Key": "big"})
        objects["big"] = big
        objects["big-copy"] = big
        for k, data in objects.items():
            got = s3.get_object(Bucket="sec", Key=k)
            assert got["ContentLength"] == len(data) and md5(got["Body"].read()) == md5(data), k
        for k in ("o65537", f"o{MIB + 7}", "big"):
            data = objects[k]
            for a, b in [(0, 0), (CHUNK - 1, CHUNK), (CHUNK, 2 * CHUNK - 1), (len(data) - 3, len(data) - 1),
                         (5 * MIB - 10, 5 * MIB + 10)]:
                if b >= len(data):
                    continue
                r = s3.get_object(Bucket="sec", Key=k, Range=f"bytes={a}-{b}")
                assert r["Body"].read() == data[a:b + 1], (k, a, b)
        part2 = s3.get_object(Bucket="sec", Key="big", PartNumber=2)["Body"].read()
        assert part2 == big[5 * MIB:10 * MIB]
        seen = Backends(weeds, backends)
        copies = seen.by_object()
        for k, data in objects.items():
            (c,) = copies[("sec", k)]
            stored = seen.read(c)
            if k == "big":
                # Sealed part by part: 5 MiB, 5 MiB and 2 MiB runs.
                assert len(stored) == sealed_len(5 * MIB) * 2 + sealed_len(2 * MIB), k
            else:
                assert len(stored) == sealed_len(len(data)), k
            assert not leaks(data, stored), f"{k}: plaintext on the backend"


@pytest.mark.timeout(600)
def test_encrypt_then_decrypt_1000_objects_across_a_kill(weeds, tmp_path):
    """1,000 objects stored as sent in bucket `plain` (one copy each on p1). `POST
    /admin/api/encrypt-existing` runs while the proxy is SIGKILLed in the middle; restarted, a
    second request finishes the job (it resumes where the first stopped and skips what is
    done). Every object then reads back with its MD5 and its current copy on p1 holds no
    plaintext; `decrypt-existing` stores them as sent again, byte for byte."""
    backends = [Be("p1", 1, "seal-p1")]
    buckets = [{"name": "plain", "backends": ["p1"]}]
    sections = {"encryption": encryption("k-old", KEY_OLD, enabled=False)}
    with orch_proxy(tmp_path / "p", weeds, backends, buckets, sections) as p:
        objects = {f"k{i:04d}": body(1000 + (i % 7) * 900, i) for i in range(1000)}
        put_many(p.s3, "plain", objects, threads=8)
        done: dict = {}

        def first_run() -> None:
            try:
                done["r"] = admin_post(p, "/admin/api/encrypt-existing")
            except OSError as e:  # the proxy is killed under it: its connection drops
                done["r"] = repr(e)

        t = threading.Thread(target=first_run, daemon=True)
        t.start()
        # Killed once some objects were rewritten (their new copies show in p1's own listing).
        seen = Backends(weeds, backends)
        wait_for("encrypt-existing to make progress", lambda: len(seen.listing("p1")) > 1020, 120, every=0.05)
        p.kill()
        t.join(30)
        p.start()
        status, doc = admin_post(p, "/admin/api/encrypt-existing")
        assert status == 200 and doc["status"] == "complete" and doc["failed"] == 0, doc
        assert 0 < doc["encrypted"] < 1000, f"the second run should finish the first's work: {doc}"
        status, doc = admin_post(p, "/admin/api/encrypt-existing")
        assert (status, doc) == (200, {"status": "complete", "encrypted": 0, "failed": 0, "total": 0}), doc

        def current(sealed: bool) -> None:
            seen = Backends(weeds, backends)
            by_key = {pk: c for c in seen.copies("p1") for pk in [c.physical_key]}
            bad = []
            for k, data in objects.items():
                got = p.s3.get_object(Bucket="plain", Key=k)["Body"].read()
                if md5(got) != md5(data):
                    bad.append((k, "read"))
                ((_, pkey),) = p.locations("plain", k)
                stored = seen.read(by_key[pkey])
                if sealed and (len(stored) != sealed_len(len(data)) or leaks(data, stored)):
                    bad.append((k, "not sealed"))
                if not sealed and stored != data:
                    bad.append((k, "not as sent"))
            assert not bad, bad[:5]

        current(sealed=True)
        status, doc = admin_post(p, "/admin/api/decrypt-existing")
        assert (status, doc) == (200, {"status": "complete", "decrypted": 1000, "failed": 0, "total": 1000}), doc
        current(sealed=False)


@pytest.mark.timeout(240)
def test_a_rotated_key_can_leave_the_config(weeds, tmp_path):
    """Objects sealed under `k-old`; the proxy restarted with `k-new` current and `k-old` among
    the previous keys; `POST /admin/api/rotate-encryption-key` re-wraps every data key; restarted
    with `k-new` alone, every object reads back with its MD5."""
    backends = [Be("r1", 2, "seal-r1")]
    buckets = [{"name": "rot", "backends": ["r1"], "encrypt": True}]
    with orch_proxy(tmp_path / "p", weeds, backends, buckets, {"encryption": encryption("k-old", KEY_OLD)}) as p:
        objects = {f"r{i}": body(3000 + i * 1000, i) for i in range(40)}
        put_many(p.s3, "rot", objects, threads=4)
        p.reconfigure(backends, buckets, {"encryption": encryption("k-new", KEY_NEW)})
        with_previous(p, [("k-old", KEY_OLD)])
        restart(p)
        status, doc = admin_post(p, "/admin/api/rotate-encryption-key", {"old_key_id": "k-new"})
        assert status == 400 and "current" in doc["error"], doc
        status, doc = admin_post(p, "/admin/api/rotate-encryption-key", {"old_key_id": "k-old"})
        assert (status, doc) == (200, {"status": "complete", "rotated": 40, "failed": 0, "total": 40}), doc
        p.reconfigure(backends, buckets, {"encryption": encryption("k-new", KEY_NEW)})
        for k, data in objects.items():
            assert md5(p.s3.get_object(Bucket="rot", Key=k)["Body"].read()) == md5(data), k


@pytest.mark.timeout(240)
def test_the_scrubber_repairs_a_copy_changed_behind_our_back(weeds, tmp_path):
    """Bucket `twice` keeps two copies (backends c1 and c2 on two SeaweedFS servers). One copy's
    bytes are overwritten through c2's own S3 API; `POST /admin/api/scrub` finds the mismatch and
    repairs it from c1; afterwards both current copies, read from the backends themselves, are
    the object's bytes, and a second scrub finds nothing."""
    backends = [Be("c1", 0, "scrub-c1"), Be("c2", 1, "scrub-c2")]
    buckets = [{"name": "twice", "backends": ["c1", "c2"], "replication": 2}]
    sections = {"integrity": {"scrub_interval_secs": 0}}
    with orch_proxy(tmp_path / "p", weeds, backends, buckets, sections) as p:
        data = body(3 * MIB + 5, 1)
        p.s3.put_object(Bucket="twice", Key="x", Body=data)
        locs = dict(p.locations("twice", "x"))
        assert set(locs) == {"c1", "c2"}, locs
        seen = Backends(weeds, backends)
        bad = bytearray(data)
        bad[MIB] ^= 0xFF
        seen.client("c2").put_object(Bucket="scrub-c2", Key=locs["c2"], Body=bytes(bad))
        status, doc = admin_post(p, "/admin/api/scrub", {"batch_size": 100})
        assert status == 200 and doc["mismatches"] == 1 and doc["repaired"] == 1, doc
        after = dict(p.locations("twice", "x"))
        assert set(after) == {"c1", "c2"} and after["c2"] != locs["c2"], after
        for backend, pkey in after.items():
            stored = seen.client(backend).get_object(Bucket=seen.specs[backend].bucket, Key=pkey)["Body"].read()
            assert md5(stored) == md5(data), backend
        status, doc = admin_post(p, "/admin/api/scrub", {})
        assert status == 200 and doc["mismatches"] == 0 and doc["checked"] >= 2, doc
        assert md5(p.s3.get_object(Bucket="twice", Key="x")["Body"].read()) == md5(data)
