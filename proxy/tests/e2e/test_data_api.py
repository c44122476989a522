"""The data API (seed 003, part 2) over real S3 servers: one virtual bucket on SeaweedFS and one
on moto. An upload through the API reads back through the S3 port (boto3) and the other way;
copy-prefix moves 500 objects across the two backends with NDJSON progress; a zip of 200
objects opens with Python's zipfile, every byte equal; a share with a password and a download
cap of 2 serves twice and then answers 410; CORS rules set through the API answer a browser's
preflight on the S3 port; a lifecycle rule set through the API expires objects (a shortened
day); a real backend's own buckets are worked on directly, and copies cross between them and the
orchestrated store."""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest

from conftest import private_proxy
from harness import (RW_ACCESS_KEY, RW_SECRET_KEY, ApiBrowser, ensure_bucket, free_ports, make_client,
                     wait_for)

SEAL_KEY = "6b" * 32
ADMIN_PW = "data-api-admin-password"
WEED_BUCKET, MOTO_BUCKET = "e2e-data-weed", "e2e-data-moto"


def write_config(root: Path, port: int, admin_port: int, seaweed, moto) -> Path:
    config = root / "proxy.toml"
    config.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
threads = 2
data_dir = "{root}/meta"
shutdown_grace_secs = 5

[admin]
listen = "127.0.0.1:{admin_port}"

[access]
secret_key = "{SEAL_KEY}"
share_per_minute = 100

[access.bootstrap_admin]
username = "root"
password = "{ADMIN_PW}"

[lifecycle]
interval_secs = 1
day_secs = 1

[[backends]]
name = "weed"
kind = "s3"
endpoint = "{seaweed.endpoint}"
bucket = "{WEED_BUCKET}"
access_key = "{seaweed.access_key}"
secret_key = "{seaweed.secret_key}"

[[backends]]
name = "moto"
kind = "s3"
endpoint = "{moto.endpoint}"
bucket = "{MOTO_BUCKET}"
access_key = "{moto.access_key}"
secret_key = "{moto.secret_key}"

[[buckets]]
name = "on-weed"
backends = ["weed"]

[[buckets]]
name = "on-moto"
backends = ["moto"]

[[credentials]]
access_key = "{RW_ACCESS_KEY}"
secret_key = "{RW_SECRET_KEY}"
buckets = ["*"]
create_buckets = true
""")
    return config


@pytest.fixture(scope="module")
def stack(tmp_path_factory, seaweed, moto):
    root = tmp_path_factory.mktemp("data-api")
    ensure_bucket(seaweed.client, WEED_BUCKET)
    ensure_bucket(moto.client, MOTO_BUCKET)
    port, admin_port = free_ports(2)
    config = write_config(root, port, admin_port, seaweed, moto)
    with private_proxy(root, "s3-orchestrator (data API)", config, port) as server:
        server.wait_port(admin_port)
        api = ApiBrowser(f"http://127.0.0.1:{admin_port}")
        status, body = api.call("POST", "/auth/login/local", {"username": "root", "password": ADMIN_PW})
        assert status == 200, body
        if body["must_change_pw"]:
            status, _ = api.call("POST", "/api/me/password",
                                 {"current_password": ADMIN_PW, "new_password": ADMIN_PW + "-2"})
            assert status == 200
        s3 = make_client(f"http://127.0.0.1:{port}", RW_ACCESS_KEY, RW_SECRET_KEY)
        yield api, s3, port


def form(key: str, data: bytes) -> tuple[bytes, str]:
    b = "e2eBoundaryDataApi"
    head = (f"--{b}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n{key}\r\n"
            f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + data + f"\r\n--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"


def test_upload_through_the_api_reads_through_s3_and_back(stack):
    api, s3, _ = stack
    data = bytes((i * 31 + 7) % 256 for i in range(3 * 1024 * 1024 + 17))
    body, ct = form("up/big.bin", data)
    status, _, text = api.raw("POST", "/api/backends/orchestrator/buckets/on-weed/object", body, {"Content-Type": ct})
    assert status == 201, text
    assert s3.get_object(Bucket="on-weed", Key="up/big.bin")["Body"].read() == data
    s3.put_object(Bucket="on-moto", Key="from-s3.txt", Body=b"written by boto3")
    status, _, got = api.raw("GET", "/api/backends/orchestrator/buckets/on-moto/object?key=from-s3.txt")
    assert (status, got) == (200, b"written by boto3")


def test_copy_prefix_of_500_objects_across_backends(stack):
    api, s3, _ = stack
    for i in range(500):
        s3.put_object(Bucket="on-weed", Key=f"many/{i:03}.txt", Body=f"object {i}".encode())
    status, headers, text = api.raw(
        "POST", "/api/backends/orchestrator/buckets/on-weed/objects/copy-prefix",
        json.dumps({"src_prefix": "many/", "dst_prefix": "copied/", "dst_bucket": "on-moto"}).encode(),
        {"Content-Type": "application/json"})
    assert status == 200 and headers.get("Content-Type") == "application/x-ndjson"
    lines = [json.loads(line) for line in text.decode().splitlines()]
    assert lines[0] == {"dst_prefix": "copied/", "event": "start", "src_prefix": "many/"}
    assert sum(1 for line in lines if line["event"] == "object") == 500
    assert lines[-1]["event"] == "done" and lines[-1]["copied"] == 500 and lines[-1]["failed"] == 0
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="on-moto", Prefix="copied/")
    assert sum(len(p.get("Contents", [])) for p in pages) == 500
    assert s3.get_object(Bucket="on-moto", Key="copied/499.txt")["Body"].read() == b"object 499"


def test_a_zip_of_200_objects_opens_with_zipfile(stack):
    api, s3, _ = stack
    want = {}
    for i in range(200):
        body = bytes((i + j) % 256 for j in range(i * 50 + 1))
        s3.put_object(Bucket="on-weed", Key=f"zipme/{i:03}.bin", Body=body)
        want[f"zipme/{i:03}.bin"] = body
    status, headers, archive = api.raw("GET", "/api/backends/orchestrator/buckets/on-weed/objects/zip?key=zipme/")
    assert status == 200 and headers.get("Content-Type") == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(archive))
    assert z.testzip() is None
    assert {i.filename: z.read(i) for i in z.infolist()} == want


def test_a_share_with_a_password_and_a_cap_of_two(stack):
    api, s3, _ = stack
    s3.put_object(Bucket="on-weed", Key="shared/report.txt", Body=b"quarterly numbers")
    status, share = api.call("POST", "/api/shares", {"backend_id": "orchestrator", "bucket": "on-weed",
                                                     "key": "shared/report.txt", "password": "open sesame",
                                                     "max_downloads": 2})
    assert status == 201, share
    visitor = ApiBrowser(api.base)
    code = share["code"]
    assert visitor.raw("GET", f"/s/{code}/raw")[0] == 401
    status, info = visitor.call("POST", f"/s/{code}/unlock", {"password": "open sesame"})
    assert status == 200 and info["downloads_left"] == 2
    for _ in range(2):
        status, _, body = visitor.raw("GET", f"/s/{code}/raw")
        assert (status, body) == (200, b"quarterly numbers")
    status, _, body = visitor.raw("GET", f"/s/{code}/raw")
    assert status == 410 and json.loads(body)["error"]["code"] == "exhausted"


def test_cors_set_through_the_api_answers_a_preflight(stack):
    api, _, port = stack
    rules = {"rules": [{"allowed_origins": ["https://app.example"], "allowed_methods": ["GET", "PUT"],
                        "allowed_headers": ["*"], "max_age_seconds": 300}]}
    assert api.call("PUT", "/api/backends/orchestrator/buckets/on-weed/cors", rules)[0] == 204
    req = urllib.request.Request(f"http://127.0.0.1:{port}/on-weed/page.html", method="OPTIONS", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert "PUT" in r.headers["Access-Control-Allow-Methods"]
    other = urllib.request.Request(f"http://127.0.0.1:{port}/on-weed/page.html", method="OPTIONS", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(other, timeout=30)
    assert e.value.code == 403


def test_a_lifecycle_rule_set_through_the_api_expires_objects(stack):
    api, s3, _ = stack
    rules = {"rules": [{"id": "tmp", "prefix": "tmp/", "enabled": True, "expiration_days": 2}]}
    assert api.call("PUT", "/api/backends/orchestrator/buckets/on-moto/lifecycle", rules)[0] == 204
    s3.put_object(Bucket="on-moto", Key="tmp/scratch", Body=b"temporary")
    s3.put_object(Bucket="on-moto", Key="keep/this", Body=b"kept")

    def gone():
        try:
            s3.head_object(Bucket="on-moto", Key="tmp/scratch")
            return False
        except s3.exceptions.ClientError:
            return True

    # Two one-second days, then the next pass of the one-second worker.
    wait_for("tmp/scratch expired", gone, timeout=30)
    assert s3.get_object(Bucket="on-moto", Key="keep/this")["Body"].read() == b"kept"


def test_a_real_backends_own_buckets_are_reached_directly(stack, seaweed):
    """Buckets of a real backend other than the one holding our objects: created, listed, written,
    read (with a range), tagged, copied to and from the orchestrated store, shared, emptied and
    deleted through the API, and seen as such by the backend itself; the bucket holding our
    physical objects is refused."""
    api, s3, _ = stack
    own = "e2e-direct-own"
    base = f"/api/backends/weed/buckets/{own}"
    assert api.call("POST", "/api/backends/weed/buckets", {"name": own}) == (201, {"name": own})
    status, listed = api.call("GET", "/api/backends/weed/buckets")
    assert status == 200 and {own, WEED_BUCKET} <= {b["name"] for b in listed["buckets"]}
    status, refused = api.call("GET", f"/api/backends/weed/buckets/{WEED_BUCKET}/objects")
    assert (status, refused["error"]["code"]) == (403, "forbidden")

    data = bytes((i * 7 + 3) % 256 for i in range(2 * 1024 * 1024 + 5))
    body, ct = form("docs/a.bin", data)
    status, _, text = api.raw("POST", f"{base}/object", body, {"Content-Type": ct})
    assert status == 201, text
    assert json.loads(text)["size"] == len(data)
    assert seaweed.client.get_object(Bucket=own, Key="docs/a.bin")["Body"].read() == data

    status, page = api.call("GET", f"{base}/objects?delimiter=/")
    assert status == 200 and page["common_prefixes"] == ["docs/"] and page["objects"] == []
    status, page = api.call("GET", f"{base}/objects?prefix=docs/")
    assert [(o["key"], o["size"]) for o in page["objects"]] == [("docs/a.bin", len(data))]
    status, info = api.call("GET", f"{base}/object/info?key=docs/a.bin")
    assert status == 200 and info["size"] == len(data) and info["content_type"] == "application/octet-stream"
    status, headers, part = api.raw("GET", f"{base}/object?key=docs/a.bin", headers={"Range": "bytes=10-19"})
    assert (status, part, headers["Content-Range"]) == (206, data[10:20], f"bytes 10-19/{len(data)}")

    assert api.call("PUT", f"{base}/object/tags?key=docs/a.bin", {"tags": {"team": "blue"}})[0] in (200, 204)
    status, tags = api.call("GET", f"{base}/object/tags?key=docs/a.bin")
    assert status == 200 and tags["tags"] == {"team": "blue"}

    # Real bucket → orchestrated store → real bucket, bytes equal at every step.
    status, copied = api.call("POST", f"{base}/object/copy", {
        "src_key": "docs/a.bin", "dst_backend": "orchestrator", "dst_bucket": "on-moto", "dst_key": "from-real.bin"})
    assert status in (200, 201), copied
    assert s3.get_object(Bucket="on-moto", Key="from-real.bin")["Body"].read() == data
    status, copied = api.call("POST", "/api/backends/orchestrator/buckets/on-moto/object/copy", {
        "src_key": "from-real.bin", "dst_backend": "weed", "dst_bucket": own, "dst_key": "back.bin"})
    assert status in (200, 201), copied
    assert seaweed.client.get_object(Bucket=own, Key="back.bin")["Body"].read() == data

    status, share = api.call("POST", "/api/shares", {"backend_id": "weed", "bucket": own, "key": "back.bin"})
    assert status == 201, share
    status, _, got = ApiBrowser(api.base).raw("GET", f"/s/{share['code']}/raw")
    assert (status, got) == (200, data)

    assert api.call("POST", f"{base}/objects/folder", {"key": "empty"})[0] == 201
    # (Whether a bucket that is not empty may go is the backend's call: SeaweedFS lets it.)
    status, result = api.call("POST", f"{base}/objects/delete",
                              {"keys": [{"key": "docs/a.bin"}, {"key": "back.bin"}]})
    assert status == 200, result
    assert api.call("DELETE", f"{base}/object?key=empty/")[0] == 204
    assert seaweed.client.list_objects_v2(Bucket=own).get("KeyCount", 0) == 0
    assert api.call("DELETE", base)[0] == 204
    status, listed = api.call("GET", "/api/backends/weed/buckets")
    assert own not in {b["name"] for b in listed["buckets"]}


def test_a_backend_added_through_the_api_serves_at_once(stack, moto):
    """An S3 endpoint added as a UI-managed backend (moto here) is tested, created and served
    without a restart: its own buckets are listed and written through the API, an object of the
    orchestrated store is copied into one, and the endpoint itself holds the bytes; removed, it
    is gone."""
    api, s3, _ = stack
    spec = {"endpoint": moto.endpoint, "access_key": moto.access_key, "secret_key": moto.secret_key}
    status, probe = api.call("POST", "/api/admin/backends/test", spec)
    assert status == 200 and probe["healthy"] is True, probe
    status, made = api.call("POST", "/api/admin/backends", {"id": "moto-ui", "name": "Moto (UI)", **spec})
    assert status == 201 and made["source"] == "db" and made["secret_set"] is True, made
    assert "secret_key" not in made
    wait_for("the new backend is served",
             lambda: any(b["id"] == "moto-ui" for b in api.call("GET", "/api/backends")[1]["backends"]),
             timeout=10)
    assert api.call("POST", "/api/backends/moto-ui/buckets", {"name": "ui-made"}) == (201, {"name": "ui-made"})
    assert "ui-made" in {b["Name"] for b in moto.client.list_buckets()["Buckets"]}
    # The bucket holding the orchestrator's objects on that service stays out of reach, whichever
    # backend names it.
    status, listed = api.call("GET", "/api/backends/moto-ui/buckets")
    assert status == 200 and {"ui-made", MOTO_BUCKET} <= {b["name"] for b in listed["buckets"]}
    status, refused = api.call("GET", f"/api/backends/moto-ui/buckets/{MOTO_BUCKET}/objects")
    assert (status, refused["error"]["code"]) == (403, "forbidden")

    s3.put_object(Bucket="on-weed", Key="to-ui.txt", Body=b"from the orchestrated store")
    status, copied = api.call("POST", "/api/backends/orchestrator/buckets/on-weed/object/copy", {
        "src_key": "to-ui.txt", "dst_backend": "moto-ui", "dst_bucket": "ui-made", "dst_key": "copied.txt"})
    assert status in (200, 201), copied
    assert moto.client.get_object(Bucket="ui-made", Key="copied.txt")["Body"].read() == b"from the orchestrated store"
    status, _, got = api.raw("GET", "/api/backends/moto-ui/buckets/ui-made/object?key=copied.txt")
    assert (status, got) == (200, b"from the orchestrated store")

    assert api.call("DELETE", "/api/backends/moto-ui/buckets/ui-made/object?key=copied.txt")[0] == 204
    assert api.call("DELETE", "/api/backends/moto-ui/buckets/ui-made")[0] == 204
    assert api.call("DELETE", "/api/admin/backends/moto-ui")[0] == 204
    wait_for("the removed backend is gone",
             lambda: api.call("GET", "/api/backends/moto-ui/buckets")[0] == 404, timeout=10)


def test_multipart_walks_and_zips_on_a_real_backends_own_bucket(stack, seaweed):
    """On a real bucket of SeaweedFS: a multipart upload through the API (parts streamed to the
    backend's own upload), metadata changed in place, a zip of a folder and a delete by prefix."""
    api, _, _ = stack
    own = "e2e-direct-parts"
    base = f"/api/backends/weed/buckets/{own}"
    assert api.call("POST", "/api/backends/weed/buckets", {"name": own})[0] == 201
    status, started = api.call("POST", f"{base}/multipart?key=big/one.bin", {"content_type": "application/x-e2e"})
    assert status == 201, started
    q = "key=big/one.bin&upload_id=" + urllib.parse.quote(started["upload_id"], safe="")
    first = bytes((i * 13) % 256 for i in range(5 * 1024 * 1024))
    parts = []
    for n, data in [(1, first), (2, b"and the rest")]:
        status, _, text = api.raw("PUT", f"{base}/multipart/parts/{n}?{q}", data)
        assert status == 200, text
        parts.append({"PartNumber": n, "ETag": json.loads(text)["etag"]})
    status, done = api.call("POST", f"{base}/multipart/complete?{q}", {"parts": parts})
    assert status == 200 and done["size"] == len(first) + 12, done
    got = seaweed.client.get_object(Bucket=own, Key="big/one.bin")
    assert got["Body"].read() == first + b"and the rest" and got["ContentType"] == "application/x-e2e"
    status, info = api.call("PUT", f"{base}/object/metadata?key=big/one.bin", {"metadata": {"stage": "done"}})
    assert status == 200 and info["metadata"] == {"stage": "done"}, info
    assert seaweed.client.head_object(Bucket=own, Key="big/one.bin")["Metadata"] == {"stage": "done"}
    status, headers, archive = api.raw("GET", f"{base}/objects/zip?key=big/")
    assert status == 200 and headers.get("Content-Type") == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(archive))
    assert z.read("big/one.bin") == first + b"and the rest"
    status, _, text = api.raw("POST", f"{base}/objects/delete-prefix", json.dumps({"prefix": "big/"}).encode(),
                              {"Content-Type": "application/json"})
    assert status == 200 and json.loads(text.decode().splitlines()[-1])["deleted"] == 1
    assert seaweed.client.list_objects_v2(Bucket=own).get("KeyCount", 0) == 0
    assert api.call("DELETE", base)[0] == 204
