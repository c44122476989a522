"""The aws CLI (v1 from PyPI, default settings) against s3-orchestrator.

`transport` runs a test over http and over https (the TLS relay): over https the CLI uploads with
its default `STREAMING-UNSIGNED-PAYLOAD-TRAILER` and a CRC32 trailer.
"""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from harness import error_of, quoted_md5

BUCKET = "e2e"
MIB = 1024 * 1024


def uid() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(params=["http", "https"])
def tls(request) -> bool:
    return request.param == "https"


def test_cp_small_file_up_and_down(aws, s3, tmp_path, tls):
    data = os.urandom(12_345)
    src, dst = tmp_path / "small.bin", tmp_path / "small.out"
    src.write_bytes(data)
    url = f"s3://{BUCKET}/cli/{uid()}/small.bin"
    out = aws.run("s3", "cp", str(src), url, tls=tls).stdout
    assert f"upload: {src} to {url}" in out or url in out, out
    head = s3.head_object(Bucket=BUCKET, Key=url.split("/", 3)[3])
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == quoted_md5(data)
    aws.run("s3", "cp", url, str(dst), tls=tls)
    assert dst.read_bytes() == data


def test_cp_text_file_keeps_content_type(aws, s3, tmp_path, tls):
    src = tmp_path / "page.html"
    src.write_text("<html><body>hello</body></html>\n")
    key = f"cli/{uid()}/page.html"
    aws.run("s3", "cp", str(src), f"s3://{BUCKET}/{key}", tls=tls)
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentType"] == "text/html"  # guessed by the CLI from the extension


def test_ls_prefix(aws, s3, tls):
    base = f"cli-ls/{uid()}/"
    s3.put_object(Bucket=BUCKET, Key=base + "one.txt", Body=b"1")
    s3.put_object(Bucket=BUCKET, Key=base + "two.txt", Body=b"22")
    s3.put_object(Bucket=BUCKET, Key=base + "sub/three.txt", Body=b"333")
    out = aws.run("s3", "ls", f"s3://{BUCKET}/{base}", tls=tls).stdout
    lines = [ln.split() for ln in out.splitlines() if ln.strip()]
    # "PRE sub/" for the common prefix, "date time size name" for the objects.
    assert ["PRE", "sub/"] in lines, out
    files = {ln[3]: int(ln[2]) for ln in lines if len(ln) == 4}
    assert files == {"one.txt": 1, "two.txt": 2}, out

    out = aws.run("s3", "ls", "--recursive", f"s3://{BUCKET}/{base}", tls=tls).stdout
    keys = {ln.split()[3]: int(ln.split()[2]) for ln in out.splitlines() if ln.strip()}
    assert keys == {base + "one.txt": 1, base + "two.txt": 2, base + "sub/three.txt": 3}, out


def test_ls_buckets(aws, tls):
    out = aws.run("s3", "ls", tls=tls).stdout
    names = [ln.split()[-1] for ln in out.splitlines() if ln.strip()]
    assert BUCKET in names, out
    for ln in out.splitlines():
        if ln.strip():
            assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \S+$", ln), ln


def test_rm(aws, s3, tls):
    key = f"cli-rm/{uid()}/gone.txt"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"soon gone")
    out = aws.run("s3", "rm", f"s3://{BUCKET}/{key}", tls=tls).stdout
    assert f"delete: s3://{BUCKET}/{key}" in out, out
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=BUCKET, Key=key)
    assert error_of(e)[1] == 404


def test_rm_recursive(aws, s3, tls):
    base = f"cli-rmr/{uid()}/"
    keys = [base + k for k in ("a", "b", "c/d", "c/e/f")]
    for k in keys:
        s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode())
    s3.put_object(Bucket=BUCKET, Key=base.rstrip("/") + "-sibling", Body=b"stays")
    out = aws.run("s3", "rm", "--recursive", f"s3://{BUCKET}/{base}", tls=tls).stdout
    for k in keys:
        assert f"delete: s3://{BUCKET}/{k}" in out, out
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=base)["KeyCount"] == 0
    assert s3.get_object(Bucket=BUCKET, Key=base.rstrip("/") + "-sibling")["Body"].read() == b"stays"


def test_sync_up_and_down(aws, tmp_path, tls):
    up, down = tmp_path / "up", tmp_path / "down"
    files = {"a.txt": b"alpha", "dir/b.bin": os.urandom(70_000), "dir/deeper/c": b""}
    for name, data in files.items():
        p = up / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        # Older than the uploads: sync re-uploads a local file newer than the object's
        # LastModified (whole seconds), so fresh files could be sent again below.
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    url = f"s3://{BUCKET}/cli-sync/{uid()}/"
    aws.run("s3", "sync", str(up), url, tls=tls)
    aws.run("s3", "sync", url, str(down), tls=tls)
    got = {str(p.relative_to(down)): p.read_bytes() for p in down.rglob("*") if p.is_file()}
    assert got == files
    # A second sync has nothing to do.
    assert aws.run("s3", "sync", str(up), url, tls=tls).stdout.strip() == ""


def test_cp_large_file_multipart(aws, tmp_path):
    """~20 MiB: past the CLI's 8 MiB threshold, so a multipart upload and ranged downloads."""
    data = os.urandom(20 * MIB + 4321)
    src, dst = tmp_path / "large.bin", tmp_path / "large.out"
    src.write_bytes(data)
    url = f"s3://{BUCKET}/cli-large/{uid()}.bin"
    res = aws.run("s3", "cp", str(src), url, tls=True, timeout=300, check=False)
    if res.returncode != 0:
        pytest.fail(f"aws s3 cp of a 20 MiB file failed ({res.returncode}):\n{res.stdout + res.stderr}")
    aws.run("s3", "cp", url, str(dst), tls=True, timeout=300)
    assert dst.stat().st_size == len(data)
    assert dst.read_bytes() == data
