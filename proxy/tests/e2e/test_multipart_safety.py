"""Multipart data safety against a real SeaweedFS backend.

- A multipart upload whose backend dies before CompleteMultipartUpload: Complete fails with a 5xx,
  the previous version of the key stays readable and intact once the backend is back, and the
  upload can then be completed.
- AbortMultipartUpload, and the reaper (`multipart_expiry_secs`), leave no upload in progress on
  the backend once the cleanup grace has passed (listed directly on SeaweedFS with boto3).

These tests stop and restart SeaweedFS, so they run their own instance (and their own proxies)
rather than the session's shared one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from harness import (
    REGION,
    RW_ACCESS_KEY,
    RW_SECRET_KEY,
    WEED_ACCESS_KEY,
    WEED_SECRET_KEY,
    Server,
    Weed,
    ensure_bucket,
    error_of,
    free_ports,
    locate_proxy_binary,
    log_tail,
    make_client,
    physical_prefix,
    start_weed,
)

MIB = 1024 * 1024
PART = 5 * MIB
BUCKET = "mps"
# The proxy's cleanup grace before it deletes anything it has let go of (store/src/cleanup.rs),
# and how often its reaper looks for expired uploads (proxy/src/cleanup.rs).
CLEANUP_GRACE_SECS = 60
REAP_EVERY_SECS = 60


def uid() -> str:
    return uuid.uuid4().hex[:12]


def body(n: int, seed: int) -> bytes:
    """`n` deterministic bytes (distinct per seed)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}-{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


# --------------------------------------------------------------------------------------------
# A SeaweedFS of this module's own, which the tests stop and start again


@pytest.fixture(scope="module")
def weed(tmp_path_factory):
    w = start_weed(tmp_path_factory.mktemp("mps-seaweed"))
    yield w
    w.close()


# --------------------------------------------------------------------------------------------
# A proxy per test, in front of that SeaweedFS only


@dataclass
class Proxy:
    server: Server
    s3: object
    real_bucket: str


def start_proxy(root: Path, weed: Weed, real_bucket: str, limits: str = "") -> Proxy:
    ensure_bucket(weed.client, real_bucket)
    root.mkdir(parents=True, exist_ok=True)
    (port,) = free_ports(1)
    config = root / "s3-orchestrator.toml"
    config.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
data_dir = {json.dumps(str(root / "meta"))}
threads = 2
region = "{REGION}"
shutdown_grace_secs = 5

[limits]
backend_connect_timeout_secs = 3
body_timeout_secs = 20
{limits}

[[backends]]
name = "weed"
kind = "s3"
endpoint = "{weed.endpoint}"
region = "{REGION}"
bucket = "{real_bucket}"
access_key = "{WEED_ACCESS_KEY}"
secret_key = "{WEED_SECRET_KEY}"
path_style = true

[[buckets]]
name = "{BUCKET}"
backends = ["weed"]
placement = "pack"

[[credentials]]
access_key = "{RW_ACCESS_KEY}"
secret_key = "{RW_SECRET_KEY}"
buckets = ["*"]
access = "read-write"
create_buckets = true
""")
    server = Server.start("s3-orchestrator", [str(locate_proxy_binary().resolve()), "serve", "--config", str(config)],
                          root / "s3-orchestrator.log", cwd=root,
                          env={**os.environ, "RUST_LOG": "info", "RUST_BACKTRACE": "1"})
    server.wait_port(port)
    return Proxy(server, make_client(f"http://127.0.0.1:{port}", RW_ACCESS_KEY, RW_SECRET_KEY), real_bucket)


@pytest.fixture
def proxy_factory(tmp_path):
    started: list[Proxy] = []

    def make(weed: Weed, real_bucket: str, limits: str = "") -> Proxy:
        p = start_proxy(tmp_path / f"proxy-{len(started)}", weed, real_bucket, limits)
        started.append(p)
        return p

    yield make
    for p in started:
        code = p.server.stop()
        assert code == 0, f"s3-orchestrator exited with {code}\n{log_tail(p.server.log_path)}"


def backend_uploads(weed: Weed, real_bucket: str) -> list[dict]:
    """The multipart uploads in progress on the real bucket, listed on SeaweedFS directly."""
    return weed.client.list_multipart_uploads(Bucket=real_bucket).get("Uploads", [])


def backend_keys(weed: Weed, real_bucket: str, prefix: str = "") -> list[str]:
    resp = weed.client.list_objects_v2(Bucket=real_bucket, Prefix=prefix)
    return [o["Key"] for o in resp.get("Contents", [])]


def upload_parts(s3, key: str, parts: list[bytes]) -> tuple[str, list[dict]]:
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    done = []
    for n, p in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=n, Body=p)["ETag"]
        done.append({"PartNumber": n, "ETag": etag})
    return upload_id, done


# --------------------------------------------------------------------------------------------


def test_multipart_safety_backend_dies_before_complete(weed, proxy_factory):
    proxy = proxy_factory(weed, "mps-dies")
    s3 = proxy.s3
    key = f"dies/{uid()}.bin"
    v1 = body(300_000, 1)
    s3.put_object(Bucket=BUCKET, Key=key, Body=v1)
    parts = [body(PART, 2), body(200_000, 3)]
    upload_id, done = upload_parts(s3, key, parts)

    weed.stop()
    try:
        with pytest.raises(ClientError) as exc:
            s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id,
                                         MultipartUpload={"Parts": done})
        code, status = error_of(exc)
        assert 500 <= status < 600, (code, status)
    finally:
        weed.start()

    # The previous version is still there, whole. SeaweedFS's S3 API answers before its volume
    # server is back, meanwhile a read through the proxy is a 503: wait that out (bounded).
    deadline = time.monotonic() + 30
    while True:
        try:
            got = s3.get_object(Bucket=BUCKET, Key=key)
            break
        except ClientError as e:
            if error_of(e)[1] != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert got["Body"].read() == v1
    assert got["ETag"] == f'"{hashlib.md5(v1).hexdigest()}"'
    # The upload survived the failed completion and completes now.
    listed = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert [u["UploadId"] for u in listed] == [upload_id]
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)["Parts"]] == [1, 2]
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done})
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"".join(parts)
    assert backend_uploads(weed, proxy.real_bucket) == []


def test_multipart_safety_abort_and_expiry_leave_no_parts(weed, proxy_factory):
    # Uploads expire after 1 s; the reaper looks once a minute (first at start-up).
    proxy = proxy_factory(weed, "mps-abort", limits="multipart_expiry_secs = 1")
    started = time.monotonic()
    s3 = proxy.s3
    aborted_key, expired_key = f"aborted/{uid()}.bin", f"expired/{uid()}.bin"
    aborted_id, _ = upload_parts(s3, aborted_key, [body(PART, 4), body(1000, 5)])
    expired_id, _ = upload_parts(s3, expired_key, [body(1000, 6)])
    assert len(backend_uploads(weed, proxy.real_bucket)) == 2

    s3.abort_multipart_upload(Bucket=BUCKET, Key=aborted_key, UploadId=aborted_id)
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=BUCKET, Key=aborted_key, UploadId=aborted_id)
    assert error_of(exc) == ("NoSuchUpload", 404)
    listed = [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]
    assert aborted_id not in listed

    # The explicit abort is carried out on the backend after the cleanup grace; the expired upload
    # is aborted by the reaper's second look (REAP_EVERY_SECS after start-up), then after the
    # grace too. One bounded wait covers both.
    deadline = started + REAP_EVERY_SECS + CLEANUP_GRACE_SECS + 45
    left = backend_uploads(weed, proxy.real_bucket)
    while left and time.monotonic() < deadline:
        time.sleep(2)
        left = backend_uploads(weed, proxy.real_bucket)
    assert left == [], (
        f"uploads still in progress on the backend {time.monotonic() - started:.0f} s after start-up: {left}\n"
        f"{log_tail(proxy.server.log_path, 40)}")
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=BUCKET, Key=expired_key, UploadId=expired_id)
    assert error_of(exc) == ("NoSuchUpload", 404)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    # Neither upload left an object behind.
    for key in (aborted_key, expired_key):
        assert backend_keys(weed, proxy.real_bucket, physical_prefix(BUCKET, key)) == []
        with pytest.raises(ClientError) as exc:
            s3.head_object(Bucket=BUCKET, Key=key)
        assert error_of(exc)[1] == 404
