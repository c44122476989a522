"""Big transfers and the operations real tools build them from: multipart uploads and ranged
downloads, CopyObject and UploadPartCopy, object tagging, conditional writes.

Clients, each with its default settings unless a test says otherwise: the aws CLI (`s3 cp`,
`s3 sync`, `s3api`), boto3's transfer manager, rclone and s3cmd (from the system: `.ci/test`
installs the Debian packages `rclone` and `s3cmd`).

They talk to a proxy of this module (`xfer`) whose two buckets each have one backend, so every test
runs once in front of SeaweedFS and once in front of moto and knows which one it exercises (in the
session proxy, `e2e` spreads objects over both by usage). The servers are the session's `seaweed`
and `moto`; the proxy's log is quoted in the report of a failing test, as for the session proxy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

import conftest
from harness import (
    REGION,
    RW_ACCESS_KEY,
    RW_SECRET_KEY,
    Server,
    TlsRelay,
    ensure_bucket,
    error_of,
    free_ports,
    make_client,
    make_test_ca_and_cert,
    quoted_md5,
)

MIB = 1024 * 1024
# Proxy bucket -> (session fixture of its only backend, the real bucket on that server).
XFER_BUCKETS = {
    "xfer-seaweed": ("seaweed", "transfers-seaweed"),
    "xfer-moto": ("moto", "transfers-moto"),
}
TOOL_TIMEOUT_SECS = 300


def uid() -> str:
    return uuid.uuid4().hex[:12]


# --------------------------------------------------------------------------------------------
# Files and digests


def write_random(path: Path, size: int) -> str:
    """Writes `size` random bytes to `path` (1 MiB at a time); returns their sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, MIB))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """relative path -> (size, sha256) of every file under `root`."""
    return {p.relative_to(root).as_posix(): (p.stat().st_size, sha256_file(p))
            for p in sorted(root.rglob("*")) if p.is_file()}


def multipart_etag(path: Path, part_size: int) -> str:
    """The ETag S3 gives a multipart upload of `path` in parts of `part_size`: the MD5 of the
    parts' binary MD5s, then `-<number of parts>`."""
    digests = []
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(part_size), b""):
            digests.append(hashlib.md5(chunk).digest())
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'


def age(path: Path, seconds: float = 3600) -> None:
    """Backdates a file, so `sync` tools (which re-send a local file newer than its object's
    LastModified, in whole seconds) do not upload it again just for being fresh."""
    t = time.time() - seconds
    os.utime(path, (t, t))


EMPTY = "a/b/empty"


def make_tree(root: Path) -> dict[str, tuple[int, str]]:
    """32 files in nested directories, 0 bytes to 20 MiB: an empty file, tiny files, sizes around
    the aws CLI's 8 MiB multipart threshold, and one 20 MiB file (three 8 MiB parts).

    The empty file: the aws CLI (1.46.3, vendoring botocore 1.43.62) sends its PUT with
    `Expect: 100-continue` and misreads the next response on that pooled connection if it gets
    the final answer instead of 100 Continue first (boto/botocore#3755); the proxy sends 100
    Continue even before an empty body, so the sync must not stall on it."""
    sizes = {
        EMPTY: 0,
        "two-bytes": 2,
        "one-byte": 1,
        "README.txt": 1234,
        "a/notes.md": 4096,
        "a/b/data.bin": 65_537,
        "a/b/c/deep.bin": 1 * MIB,
        "a/b/c/d/deeper.bin": 3 * MIB + 7,
        "big/just-under-threshold.bin": 8 * MIB - 1,
        "big/at-threshold.bin": 8 * MIB,
        "big/twenty.bin": 20 * MIB,
        "media/photo one.jpg": 300_000,
        "media/sub dir/clip.mov": 2 * MIB + 11,
    }
    for i in range(19):
        sizes[f"logs/{i // 5}/part-{i:02d}.log"] = 100 * i + 17
    for name, size in sizes.items():
        write_random(root / name, size)
        age(root / name)
    return tree(root)


# --------------------------------------------------------------------------------------------
# The proxy of this module


@dataclass
class XferProxy:
    endpoint: str
    port: int
    server: Server
    log_path: Path


def _write_config(path: Path, port: int, data_dir: Path, servers: dict) -> None:
    lines = ["[server]", f'listen = "127.0.0.1:{port}"', f"data_dir = {json.dumps(str(data_dir))}",
             "threads = 2", f'region = "{REGION}"', "shutdown_grace_secs = 5", ""]
    for bucket, (srv, real_bucket) in XFER_BUCKETS.items():
        s = servers[srv]
        lines += ["[[backends]]", f'name = "{bucket}"', 'kind = "s3"', f'endpoint = "{s.endpoint}"',
                  f'region = "{REGION}"', f'bucket = "{real_bucket}"', f'access_key = "{s.access_key}"',
                  f'secret_key = "{s.secret_key}"', "path_style = true", ""]
        lines += ["[[buckets]]", f'name = "{bucket}"', f'backends = ["{bucket}"]', 'placement = "pack"', ""]
    lines += ["[[credentials]]", f'access_key = "{RW_ACCESS_KEY}"', f'secret_key = "{RW_SECRET_KEY}"',
              'buckets = ["*"]', 'access = "read-write"', "create_buckets = true", ""]
    path.write_text("\n".join(lines))


@pytest.fixture(scope="module")
def xfer(tmp_path_factory, seaweed, moto):
    """s3-orchestrator with bucket `xfer-seaweed` on SeaweedFS only and `xfer-moto` on moto only."""
    servers = {"seaweed": seaweed, "moto": moto}
    for srv, real_bucket in XFER_BUCKETS.values():
        ensure_bucket(servers[srv].client, real_bucket)
    root = tmp_path_factory.mktemp("xfer-proxy")
    (port,) = free_ports(1)
    config = root / "s3-orchestrator.toml"
    _write_config(config, port, root / "meta", servers)
    with conftest.private_proxy(root, "s3-orchestrator (transfers)", config, port) as server:
        yield XferProxy(f"http://127.0.0.1:{port}", port, server, root / "s3-orchestrator.log")


@pytest.fixture(scope="module")
def xfer_tls(xfer, tmp_path_factory):
    """https in front of the module's proxy (harness.TlsRelay) and its CA bundle."""
    ca, cert, key = make_test_ca_and_cert(tmp_path_factory.mktemp("xfer-tls"))
    relay = TlsRelay(xfer.port, cert, key).start()
    yield f"https://127.0.0.1:{relay.port}", ca
    relay.stop()


@pytest.fixture(scope="module", params=list(XFER_BUCKETS))
def bucket(request) -> str:
    """Each test runs once per backend: `xfer-seaweed` (SeaweedFS), `xfer-moto` (moto)."""
    return request.param


@pytest.fixture(scope="module")
def xs3(xfer):
    """boto3 to the module's proxy over http, default settings (see harness.client_config)."""
    return make_client(xfer.endpoint, RW_ACCESS_KEY, RW_SECRET_KEY)


@pytest.fixture(scope="module", params=["http", "https"])
def xclient(request, xfer, xs3):
    """boto3 over http (signed payload, checksum header) and over https (aws-chunked, checksum
    trailer): the two ways the SDK sends upload bodies by default."""
    if request.param == "http":
        return xs3
    endpoint, ca = request.getfixturevalue("xfer_tls")
    return make_client(endpoint, RW_ACCESS_KEY, RW_SECRET_KEY, verify=str(ca))


@pytest.fixture(scope="module")
def xaws(xfer, tmp_path_factory):
    """The aws CLI (conftest.AwsCli: clean environment, no retries) against the module's proxy."""
    return conftest.AwsCli(xfer.endpoint, xfer.endpoint, Path("/nonexistent"),
                           tmp_path_factory.mktemp("xfer-awscli"))


def run_tool(cmd: list) -> subprocess.CompletedProcess:
    """Runs a client tool; fails the test with its output when it exits non-zero or hangs."""
    cmd = [str(c) for c in cmd]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECS,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"timed out after {TOOL_TIMEOUT_SECS} s: {' '.join(cmd)}\nstdout: {e.stdout}\n"
                    f"stderr: {e.stderr}", pytrace=False)
    if res.returncode != 0:
        pytest.fail(f"exited {res.returncode}: {' '.join(cmd)}\nstdout: {res.stdout[-6000:]}\n"
                    f"stderr: {res.stderr[-6000:]}", pytrace=False)
    return res


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"`{name}` is not installed (Debian: apt-get install {name}; .ci/test installs it)",
                    pytrace=False)
    return path


def list_keys(client, bucket: str, prefix: str) -> dict[str, int]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"][len(prefix):]] = o["Size"]
    return out


# --------------------------------------------------------------------------------------------
# aws CLI


@pytest.mark.timeout(900)
def test_awscli_cp_200mib_multipart_up_and_down(bucket, xaws, xs3, tmp_path):
    """Default settings: 8 MiB threshold and parts, so 25 UploadParts up and ranged GETs down."""
    src, dst = tmp_path / "big.bin", tmp_path / "big.out"
    digest = write_random(src, 200 * MIB)
    key = f"cli-cp/{uid()}/big.bin"
    url = f"s3://{bucket}/{key}"
    xaws.run("s3", "cp", str(src), url, timeout=600)
    head = xs3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == 200 * MIB
    assert head["ETag"] == multipart_etag(src, 8 * MIB), head["ETag"]
    src.unlink()  # keep the disk use of the test to one copy
    xaws.run("s3", "cp", url, str(dst), timeout=600)
    assert dst.stat().st_size == 200 * MIB
    assert sha256_file(dst) == digest


def test_awscli_sync_tree_up_and_back(bucket, xaws, xs3, tmp_path):
    up, down, again = tmp_path / "up", tmp_path / "down", tmp_path / "again"
    files = make_tree(up)
    assert len(files) == 32
    assert files[EMPTY][0] == 0
    prefix = f"cli-sync/{uid()}/"
    url = f"s3://{bucket}/{prefix}"
    xaws.run("s3", "sync", str(up), url, timeout=600)
    assert list_keys(xs3, bucket, prefix) == {k: size for k, (size, _) in files.items()}
    head = xs3.head_object(Bucket=bucket, Key=prefix + "big/twenty.bin")
    assert head["ETag"] == multipart_etag(up / "big/twenty.bin", 8 * MIB), head["ETag"]
    assert xs3.head_object(Bucket=bucket, Key=prefix + EMPTY)["ContentLength"] == 0

    xaws.run("s3", "sync", url, str(down), timeout=600)
    assert tree(down) == files
    assert (down / EMPTY).is_file() and (down / EMPTY).stat().st_size == 0
    # Nothing changed: a second sync each way sends nothing.
    assert xaws.run("s3", "sync", str(up), url).stdout.strip() == ""
    assert xaws.run("s3", "sync", url, str(down)).stdout.strip() == ""

    # Change the tree (one file replaced by a bigger one, one removed, one added) and mirror it.
    write_random(up / "a/b/data.bin", 9 * MIB)
    (up / "logs/0/part-00.log").unlink()
    write_random(up / "new/added.bin", 12_345)
    out = xaws.run("s3", "sync", "--delete", str(up), url, timeout=600).stdout
    assert f"delete: {url}logs/0/part-00.log" in out, out
    changed = tree(up)
    assert list_keys(xs3, bucket, prefix) == {k: size for k, (size, _) in changed.items()}
    xaws.run("s3", "sync", url, str(again), timeout=600)
    assert tree(again) == changed


def test_awscli_copy_object(bucket, xaws, xs3, tmp_path):
    """s3api copy-object (one CopyObject, metadata copied): the copy has the bytes, the ETag, the
    content type and the user metadata of the source, and the source stays."""
    data = os.urandom(6 * MIB + 5)
    src_key, dst_key = f"cli-copy/{uid()}/source.bin", f"cli-copy/{uid()}/copy.bin"
    put = xs3.put_object(Bucket=bucket, Key=src_key, Body=data, ContentType="application/x-test",
                         Metadata={"origin": "e2e", "n": "42"})
    assert put["ETag"] == quoted_md5(data)
    res = xaws.run("s3api", "copy-object", "--bucket", bucket, "--key", dst_key,
                   "--copy-source", f"{bucket}/{src_key}")
    out = json.loads(res.stdout)
    assert out["CopyObjectResult"]["ETag"] == quoted_md5(data), out

    got = xs3.get_object(Bucket=bucket, Key=dst_key)
    assert got["Body"].read() == data
    assert got["ETag"] == quoted_md5(data)
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"origin": "e2e", "n": "42"}
    assert xs3.get_object(Bucket=bucket, Key=src_key)["Body"].read() == data


def test_awscli_object_tagging_round_trip(bucket, xaws, xs3):
    key = f"cli-tags/{uid()}/tagged.txt"
    xs3.put_object(Bucket=bucket, Key=key, Body=b"tagged")
    tags = [{"Key": "project", "Value": "s3o"}, {"Key": "tier", "Value": "cold data"},
            {"Key": "empty", "Value": ""}]
    xaws.run("s3api", "put-object-tagging", "--bucket", bucket, "--key", key,
             "--tagging", json.dumps({"TagSet": tags}))
    got = json.loads(xaws.run("s3api", "get-object-tagging", "--bucket", bucket, "--key", key).stdout)
    assert sorted(got["TagSet"], key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"]), got

    # A second PutObjectTagging replaces the whole set.
    xaws.run("s3api", "put-object-tagging", "--bucket", bucket, "--key", key,
             "--tagging", json.dumps({"TagSet": [{"Key": "only", "Value": "this"}]}))
    got = json.loads(xaws.run("s3api", "get-object-tagging", "--bucket", bucket, "--key", key).stdout)
    assert got["TagSet"] == [{"Key": "only", "Value": "this"}], got
    assert xs3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(b"tagged")
    assert xs3.get_object(Bucket=bucket, Key=key).get("TagCount") == 1

    xaws.run("s3api", "delete-object-tagging", "--bucket", bucket, "--key", key)
    got = json.loads(xaws.run("s3api", "get-object-tagging", "--bucket", bucket, "--key", key).stdout)
    assert got["TagSet"] == [], got
    assert xs3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"tagged"


def test_put_object_with_tagging_header(bucket, xs3):
    """PutObject's `x-amz-tagging` (URL-encoded) sets the tags; GetObject reports their count."""
    key = f"tags-on-put/{uid()}.txt"
    xs3.put_object(Bucket=bucket, Key=key, Body=b"x", Tagging="team=storage&note=a%20b")
    got = xs3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    assert sorted(got, key=lambda t: t["Key"]) == [{"Key": "note", "Value": "a b"},
                                                    {"Key": "team", "Value": "storage"}]
    assert xs3.get_object(Bucket=bucket, Key=key).get("TagCount") == 2


# --------------------------------------------------------------------------------------------
# boto3 transfer manager

FIVE_MIB_PARTS = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)


def test_boto3_upload_download_file_8_parts(bucket, xclient, tmp_path):
    src, dst = tmp_path / "forty.bin", tmp_path / "forty.out"
    digest = write_random(src, 40 * MIB)
    key = f"boto3-mpu/{uid()}.bin"
    xclient.upload_file(str(src), bucket, key, Config=FIVE_MIB_PARTS)
    head = xclient.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == 40 * MIB
    assert head["ETag"].endswith('-8"'), head["ETag"]
    assert head["ETag"] == multipart_etag(src, 5 * MIB)
    # Above the threshold the download is 8 ranged GETs too.
    xclient.download_file(bucket, key, str(dst), Config=FIVE_MIB_PARTS)
    assert sha256_file(dst) == digest


def test_boto3_managed_copy(bucket, xs3, tmp_path):
    """`client.copy`: HeadObject, then (40 MiB, 5 MiB parts) a multipart upload of 8 UploadPartCopy."""
    src = tmp_path / "forty.bin"
    digest = write_random(src, 40 * MIB)
    key, copy_key = f"boto3-copy/{uid()}/src.bin", f"boto3-copy/{uid()}/dst.bin"
    xs3.upload_file(str(src), bucket, key, Config=FIVE_MIB_PARTS)
    xs3.copy({"Bucket": bucket, "Key": key}, bucket, copy_key, Config=FIVE_MIB_PARTS)
    head = xs3.head_object(Bucket=bucket, Key=copy_key)
    assert head["ContentLength"] == 40 * MIB
    # The ETag of a multipart object is opaque, only its form is S3's: SeaweedFS's own ETags for
    # UploadPartCopy parts are not the MD5s of the parts, so the upload tests' exact value is not
    # asked of a copy.
    assert re.fullmatch(r'"[0-9a-f]{32}-8"', head["ETag"]), head["ETag"]
    got = hashlib.sha256()
    body = xs3.get_object(Bucket=bucket, Key=copy_key)["Body"]
    for chunk in iter(lambda: body.read(MIB), b""):
        got.update(chunk)
    assert got.hexdigest() == digest
    # One part alone, by range: UploadPartCopy copied the right ranges in the right order.
    with open(src, "rb") as f:
        f.seek(17 * MIB)
        want = f.read(100)
    part = xs3.get_object(Bucket=bucket, Key=copy_key, Range=f"bytes={17 * MIB}-{17 * MIB + 99}")
    assert part["Body"].read() == want


def test_copy_object_between_backends(xs3):
    """CopyObject from the SeaweedFS bucket to the moto one: the bytes cross backends."""
    data = os.urandom(3 * MIB + 1)
    key = f"cross-copy/{uid()}.bin"
    xs3.put_object(Bucket="xfer-seaweed", Key=key, Body=data, Metadata={"from": "seaweed"})
    res = xs3.copy_object(Bucket="xfer-moto", Key=key, CopySource={"Bucket": "xfer-seaweed", "Key": key})
    assert res["CopyObjectResult"]["ETag"] == quoted_md5(data)
    got = xs3.get_object(Bucket="xfer-moto", Key=key)
    assert got["Body"].read() == data
    assert got["Metadata"] == {"from": "seaweed"}


# --------------------------------------------------------------------------------------------
# Conditional writes


def test_conditional_put_race_has_one_winner(bucket, xs3):
    """8 writers race `PutObject If-None-Match: *` on one new key: exactly one wins (200); every
    other gets 412 PreconditionFailed (or 409 ConditionalRequestConflict, which S3 may answer to
    a writer that lost while the winner was still in flight); the object is the winner's."""
    key = f"cond-race/{uid()}"
    writers = 8
    bodies = [f"writer {i} ".encode() * (1000 + i) for i in range(writers)]
    start = threading.Barrier(writers)
    results: list = [None] * writers

    def write(i: int) -> None:
        start.wait(timeout=30)
        try:
            results[i] = ("ok", xs3.put_object(Bucket=bucket, Key=key, Body=bodies[i], IfNoneMatch="*"))
        except ClientError as e:
            results[i] = ("error", error_of(e))
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = ("exception", repr(e))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(r is not None for r in results), results
    winners = [i for i, r in enumerate(results) if r[0] == "ok"]
    assert len(winners) == 1, results
    losers = [r for r in results if r[0] != "ok"]
    for r in losers:
        assert r[0] == "error" and r[1] in (("PreconditionFailed", 412), ("ConditionalRequestConflict", 409)), results
    assert len(losers) == writers - 1
    (w,) = winners
    got = xs3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == bodies[w]
    assert got["ETag"] == results[w][1]["ETag"] == quoted_md5(bodies[w])

    # Once the key exists, If-None-Match: * fails however long after.
    with pytest.raises(ClientError) as e:
        xs3.put_object(Bucket=bucket, Key=key, Body=b"late", IfNoneMatch="*")
    assert error_of(e) == ("PreconditionFailed", 412)
    assert xs3.get_object(Bucket=bucket, Key=key)["Body"].read() == bodies[w]


def test_conditional_put_if_match(bucket, xs3):
    """`If-Match: <etag>` replaces the object only while it still has that ETag."""
    key = f"cond-match/{uid()}"
    v1 = xs3.put_object(Bucket=bucket, Key=key, Body=b"version 1")["ETag"]
    v2 = xs3.put_object(Bucket=bucket, Key=key, Body=b"version 2", IfMatch=v1)["ETag"]
    assert v2 == quoted_md5(b"version 2")
    with pytest.raises(ClientError) as e:
        xs3.put_object(Bucket=bucket, Key=key, Body=b"version 3", IfMatch=v1)
    assert error_of(e) == ("PreconditionFailed", 412)
    got = xs3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == b"version 2"
    assert got["ETag"] == v2


# --------------------------------------------------------------------------------------------
# rclone


@pytest.fixture(scope="module")
def rclone_cmd(xfer, tmp_path_factory):
    """rclone with a config holding one remote, `proxy:`, for the module's proxy."""
    exe = need_tool("rclone")
    config = tmp_path_factory.mktemp("rclone") / "rclone.conf"
    config.write_text("\n".join([
        "[proxy]", "type = s3", "provider = Other", "env_auth = false",
        f"access_key_id = {RW_ACCESS_KEY}", f"secret_access_key = {RW_SECRET_KEY}",
        f"endpoint = {xfer.endpoint}", f"region = {REGION}", "force_path_style = true", ""]))
    # rclone's defaults upload files below 200 MiB (upload_cutoff) in one PUT: lower the cutoff
    # and the part size so the 25 MiB file below goes up as a multipart upload of 5 parts.
    # One try each, no low-level retries: a failure shows up as a failure, not as a slow pass.
    return [exe, "--config", str(config), "--s3-upload-cutoff", "10M", "--s3-chunk-size", "5M",
            "--retries", "1", "--low-level-retries", "1", "--contimeout", "10s", "--timeout", "60s"]


def test_rclone_copy_check_sync(bucket, rclone_cmd, xs3, tmp_path):
    src, down = tmp_path / "src", tmp_path / "down"
    for name, size in {"small.txt": 1000, "dir/mid.bin": 3 * MIB + 3, "dir/sub/empty": 0,
                       "dir/sub/tiny": 7, "large.bin": 25 * MIB}.items():
        write_random(src / name, size)
    prefix = f"rclone/{uid()}/"
    remote = f"proxy:{bucket}/{prefix}"

    run_tool(rclone_cmd + ["copy", src, remote])
    assert list_keys(xs3, bucket, prefix) == {k: size for k, (size, _) in tree(src).items()}
    assert xs3.head_object(Bucket=bucket, Key=prefix + "large.bin")["ETag"] == \
        multipart_etag(src / "large.bin", 5 * MIB)
    run_tool(rclone_cmd + ["check", src, remote])

    # Mirror a change: one file removed, one replaced (different size), one added.
    (src / "dir/sub/tiny").unlink()
    write_random(src / "small.txt", 2000)
    write_random(src / "dir/new.bin", 11 * MIB)
    run_tool(rclone_cmd + ["sync", src, remote])
    assert list_keys(xs3, bucket, prefix) == {k: size for k, (size, _) in tree(src).items()}
    run_tool(rclone_cmd + ["check", src, remote])
    # `check` compares sizes and MD5s; compare every byte too, from a fresh download.
    run_tool(rclone_cmd + ["copy", remote, down])
    assert tree(down) == tree(src)


# --------------------------------------------------------------------------------------------
# s3cmd


@pytest.fixture(scope="module")
def s3cmd_cmd(xfer, tmp_path_factory):
    """s3cmd with a config for the module's proxy: path style (host_bucket without %(bucket)s),
    http, SigV4."""
    exe = need_tool("s3cmd")
    host = f"127.0.0.1:{xfer.port}"
    config = tmp_path_factory.mktemp("s3cmd") / "s3cfg"
    config.write_text("\n".join([
        "[default]", f"access_key = {RW_ACCESS_KEY}", f"secret_key = {RW_SECRET_KEY}",
        f"host_base = {host}", f"host_bucket = {host}", "use_https = False",
        "signature_v2 = False", f"bucket_location = {REGION}", "progress_meter = False", ""]))
    return [exe, "-c", str(config)]


def s3cmd_run(cmd: list) -> subprocess.CompletedProcess:
    """s3cmd retries a failed request up to 5 times (not a 501) with no setting to turn that off:
    a request that needed a retry fails the test here, it should not have failed."""
    res = run_tool(cmd)
    assert "Retrying" not in res.stderr, res.stderr
    return res


def test_s3cmd_multipart_put_get(bucket, s3cmd_cmd, xs3, tmp_path):
    src, dst = tmp_path / "twenty.bin", tmp_path / "twenty.out"
    digest = write_random(src, 20 * MIB)
    key = f"s3cmd/{uid()}/twenty.bin"
    s3cmd_run(s3cmd_cmd + ["put", "--multipart-chunk-size-mb=5", src, f"s3://{bucket}/{key}"])
    head = xs3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == 20 * MIB
    assert head["ETag"] == multipart_etag(src, 5 * MIB), head["ETag"]
    s3cmd_run(s3cmd_cmd + ["get", f"s3://{bucket}/{key}", dst])
    assert sha256_file(dst) == digest
