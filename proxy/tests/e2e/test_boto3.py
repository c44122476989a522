"""boto3 (default settings) against s3-orchestrator backed by SeaweedFS, moto and a local directory.

Tests that take the `client` fixture run twice: over http (signed payload, `x-amz-checksum-crc32`
header) and over https through the TLS relay (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`, CRC32 trailer).
"""

from __future__ import annotations

import base64
import datetime
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from harness import (
    BUCKETS,
    PACK_FIRST_QUOTA,
    RO_ACCESS_KEY,
    RW_ACCESS_KEY,
    RW_SECRET_KEY,
    error_of,
    is_record,
    list_physical,
    physical_prefix,
    quoted_md5,
)

BUCKET = "e2e"
MIB = 1024 * 1024
URL_TIMEOUT_SECS = 30
PHYSICAL_KEY = re.compile(r"^[a-z0-9.-]+/[0-9a-f]{2}/[0-9a-f]{16}-[0-9a-f]{16}$")


def uid() -> str:
    return uuid.uuid4().hex[:12]


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def utf8_sorted(keys):
    return sorted(keys, key=lambda k: k.encode())


class SentHeaders:
    """Records the headers of requests a client sends for one operation (botocore event hook)."""

    def __init__(self, client, operation: str):
        self.client, self.event, self.requests = client, f"before-send.s3.{operation}", []

    def _hook(self, request, **_):
        self.requests.append({k.lower(): v for k, v in request.headers.items()})

    def __enter__(self):
        self.client.meta.events.register(self.event, self._hook, unique_id=f"e2e-{id(self)}")
        return self

    def __exit__(self, *exc):
        self.client.meta.events.unregister(self.event, unique_id=f"e2e-{id(self)}")


def as_str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


# --------------------------------------------------------------------------------------------
# Buckets


def test_configured_buckets_exist(s3):
    s3.head_bucket(Bucket=BUCKET)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    for name in BUCKETS:
        assert name in names, f"configured bucket {name} missing from ListBuckets: {names}"
    assert len(names) == len(set(names)), names


def test_create_head_list_delete_bucket(s3):
    name = f"e2e-created-{uid()}"
    s3.create_bucket(Bucket=name)
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert error_of(e)[1] == 404
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_delete_bucket_not_empty(s3):
    name = f"e2e-full-{uid()}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="keep/me", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert error_of(e) == ("BucketNotEmpty", 409)
    assert s3.get_object(Bucket=name, Key="keep/me")["Body"].read() == b"x"
    s3.delete_object(Bucket=name, Key="keep/me")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert error_of(e)[1] == 404


def test_no_such_bucket(s3):
    missing = f"e2e-missing-{uid()}"
    for call in (lambda: s3.get_object(Bucket=missing, Key="k"),
                 lambda: s3.list_objects_v2(Bucket=missing),
                 lambda: s3.put_object(Bucket=missing, Key="k", Body=b"data"),
                 lambda: s3.delete_bucket(Bucket=missing)):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=missing)
    assert error_of(e)[1] == 404


# --------------------------------------------------------------------------------------------
# Objects: PUT / GET / HEAD


def test_put_get_small_with_headers(client):
    key = f"small/{uid()}/hello.txt"
    data = b"hello, orchestrator\n" * 3
    meta = {"color": "blue", "owner": "e2e test suite"}
    put = client.put_object(Bucket=BUCKET, Key=key, Body=data, Metadata=meta, ContentType="text/plain",
                            ContentDisposition='attachment; filename="hello.txt"',
                            CacheControl="max-age=3600, must-revalidate")
    assert put["ETag"] == quoted_md5(data)
    # boto3 sends a CRC32 by default (header over http, trailer over https); the proxy verifies it
    # and answers with it.
    assert put.get("ChecksumCRC32") == crc32_b64(data), put

    got = client.get_object(Bucket=BUCKET, Key=key)
    assert got["Body"].read() == data
    assert got["ETag"] == quoted_md5(data)
    assert got["ContentLength"] == len(data)
    assert got["ContentType"] == "text/plain"
    assert got["ContentDisposition"] == 'attachment; filename="hello.txt"'
    assert got["CacheControl"] == "max-age=3600, must-revalidate"
    assert got["Metadata"] == meta
    assert isinstance(got["LastModified"], datetime.datetime)

    head = client.head_object(Bucket=BUCKET, Key=key)
    assert head["ETag"] == quoted_md5(data)
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "text/plain"
    assert head["ContentDisposition"] == 'attachment; filename="hello.txt"'
    assert head["CacheControl"] == "max-age=3600, must-revalidate"
    assert head["Metadata"] == meta
    assert head["LastModified"] == got["LastModified"]


def test_put_get_empty(client):
    key = f"empty/{uid()}"
    put = client.put_object(Bucket=BUCKET, Key=key, Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    got = client.get_object(Bucket=BUCKET, Key=key)
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert client.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == 0


def test_put_get_5mib_default_checksum(client):
    """5 MiB with boto3's default flexible checksum; the wire format depends on the transport, and
    the test checks the client really sent what the transport implies."""
    key = f"big/{uid()}.bin"
    data = os.urandom(5 * MIB)
    with SentHeaders(client, "PutObject") as sent:
        put = client.put_object(Bucket=BUCKET, Key=key, Body=data)
    h = sent.requests[-1]
    if client.meta.endpoint_url.startswith("https://"):
        assert as_str(h.get("x-amz-content-sha256")) == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", h
        assert as_str(h.get("x-amz-trailer")) == "x-amz-checksum-crc32", h
        assert "aws-chunked" in as_str(h.get("content-encoding", "")), h
        assert as_str(h.get("x-amz-decoded-content-length")) == str(len(data)), h
    else:
        assert re.fullmatch(r"[0-9a-f]{64}", as_str(h.get("x-amz-content-sha256"))), h
        assert as_str(h.get("x-amz-checksum-crc32")) == crc32_b64(data), h
    assert put["ETag"] == quoted_md5(data)
    # boto3 sends a CRC32 by default (header over http, trailer over https); the proxy verifies it
    # and answers with it.
    assert put.get("ChecksumCRC32") == crc32_b64(data), put

    # boto3 asks for and validates the response checksum when the server sends one.
    got = client.get_object(Bucket=BUCKET, Key=key)
    body = got["Body"].read()
    assert len(body) == len(data) and body == data
    assert got["ETag"] == quoted_md5(data)
    assert got["ContentLength"] == len(data)


def test_overwrite_replaces_object(s3):
    key = f"overwrite/{uid()}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"first version")
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"second, longer version")
    got = s3.get_object(Bucket=BUCKET, Key=key)
    assert got["Body"].read() == b"second, longer version"
    assert got["ETag"] == quoted_md5(b"second, longer version")
    listed = [o for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=key)["Contents"]]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [
        (key, len(b"second, longer version"), quoted_md5(b"second, longer version"))]


@pytest.mark.parametrize("key_tail", [
    "with space.txt", "plus+sign", "percent%20literal", "unicode-ünïcödé-日本", "tilde~and=equals&amp",
    "a/b/c/deep/nested/key", "(parens)[brackets]{braces}", "quote'apostrophe", "semi;colon,comma",
])
def test_special_character_keys(s3, key_tail):
    key = f"special/{uid()}/{key_tail}"
    data = key.encode()
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == len(data)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=key.rsplit("/", 1)[0] + "/")
    assert [o["Key"] for o in listed["Contents"]] == [key]
    s3.delete_object(Bucket=BUCKET, Key=key)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=BUCKET, Key=key)
    assert error_of(e) == ("NoSuchKey", 404)


# --------------------------------------------------------------------------------------------
# Ranges


@pytest.fixture(scope="module")
def hundred_bytes(s3):
    key = f"range/{uid()}"
    data = bytes(range(100))
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return key, data


@pytest.mark.parametrize("spec,start,end", [
    ("bytes=0-9", 0, 9),
    ("bytes=10-", 10, 99),
    ("bytes=-5", 95, 99),
    ("bytes=42-42", 42, 42),
    ("bytes=90-200", 90, 99),  # an end past the last byte is clamped
])
def test_range_get(s3, hundred_bytes, spec, start, end):
    key, data = hundred_bytes
    got = s3.get_object(Bucket=BUCKET, Key=key, Range=spec)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == data[start:end + 1]
    assert got["ContentRange"] == f"bytes {start}-{end}/100"
    assert got["ContentLength"] == end - start + 1
    assert got["ETag"] == quoted_md5(data)


@pytest.mark.parametrize("spec", ["bytes=100-", "bytes=1000-2000"])
def test_range_unsatisfiable(s3, hundred_bytes, spec):
    key, _ = hundred_bytes
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=BUCKET, Key=key, Range=spec)
    assert error_of(e) == ("InvalidRange", 416)


# --------------------------------------------------------------------------------------------
# Listing


LIST_KEYS = [
    "a.txt", "b.txt", "c.txt",
    "dir1/a", "dir1/b", "dir1/c",
    "dir1/sub/x", "dir1/sub/y", "dir1/sub/z/deep",
    "dir2/1", "dir2/2", "dir2/3", "dir2/4",
    "dir3/only",
    "logs/2024/01/01.log", "logs/2024/01/02.log", "logs/2024/02/01.log", "logs/2025/01/01.log",
    "z/last", "z/more/1", "z/more/2",
    "zz", "zzz/a", "dir1-not-a-dir", "dir1.txt",
]


@pytest.fixture(scope="module")
def listing_bucket(s3):
    """A bucket of its own (made with CreateBucket) holding exactly LIST_KEYS."""
    assert len(LIST_KEYS) == len(set(LIST_KEYS)) == 25
    name = f"e2e-list-{uid()}"
    s3.create_bucket(Bucket=name)
    for k in LIST_KEYS:
        s3.put_object(Bucket=name, Key=k, Body=k.encode())
    return name


def test_list_v2_all_in_one_page(s3, listing_bucket):
    r = s3.list_objects_v2(Bucket=listing_bucket)
    assert r["KeyCount"] == 25 and not r["IsTruncated"]
    assert [o["Key"] for o in r["Contents"]] == utf8_sorted(LIST_KEYS)
    for o in r["Contents"]:
        assert o["Size"] == len(o["Key"].encode())
        assert o["ETag"] == quoted_md5(o["Key"].encode())


def test_list_v2_paginator_max_keys_4(s3, listing_bucket):
    pages = list(s3.get_paginator("list_objects_v2").paginate(
        Bucket=listing_bucket, PaginationConfig={"PageSize": 4}))
    keys = []
    for p in pages:
        assert p["KeyCount"] <= 4
        assert len(p.get("Contents", [])) == p["KeyCount"]
        keys += [o["Key"] for o in p.get("Contents", [])]
    assert len(pages) == 7  # 25 keys, 4 a page
    assert all(p["IsTruncated"] for p in pages[:-1]) and not pages[-1]["IsTruncated"]
    assert len(keys) == len(set(keys)), "a key was listed twice"
    assert keys == utf8_sorted(LIST_KEYS)


def _walk_delimited(s3, bucket, prefix=""):
    contents, prefixes = [], []
    for p in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/", PaginationConfig={"PageSize": 4}):
        n = len(p.get("Contents", [])) + len(p.get("CommonPrefixes", []))
        assert p["KeyCount"] == n and n <= 4, p
        contents += [o["Key"] for o in p.get("Contents", [])]
        prefixes += [c["Prefix"] for c in p.get("CommonPrefixes", [])]
    assert len(contents) == len(set(contents)), f"a key was listed twice: {contents}"
    assert len(prefixes) == len(set(prefixes)), f"a common prefix was listed twice: {prefixes}"
    return contents, prefixes


def _expected_delimited(prefix):
    contents, prefixes = set(), set()
    for k in LIST_KEYS:
        if not k.startswith(prefix):
            continue
        rest = k[len(prefix):]
        if "/" in rest:
            prefixes.add(prefix + rest.split("/", 1)[0] + "/")
        else:
            contents.add(k)
    return utf8_sorted(contents), utf8_sorted(prefixes)


@pytest.mark.parametrize("prefix", ["", "dir1/", "logs/", "logs/2024/", "z", "nothing/"])
def test_list_v2_delimiter_paginated(s3, listing_bucket, prefix):
    contents, prefixes = _walk_delimited(s3, listing_bucket, prefix)
    want_contents, want_prefixes = _expected_delimited(prefix)
    assert contents == want_contents
    assert prefixes == want_prefixes


def test_list_v2_start_after(s3, listing_bucket):
    r = s3.list_objects_v2(Bucket=listing_bucket, StartAfter="dir2/2")
    assert [o["Key"] for o in r["Contents"]] == [k for k in utf8_sorted(LIST_KEYS) if k.encode() > b"dir2/2"]


def test_list_v1_marker(s3, listing_bucket):
    keys, marker, calls = [], "", 0
    while True:
        calls += 1
        assert calls <= 20, "ListObjects (v1) never stopped truncating"
        r = s3.list_objects(Bucket=listing_bucket, Marker=marker, MaxKeys=4)
        page = [o["Key"] for o in r.get("Contents", [])]
        assert len(page) <= 4
        keys += page
        if not r["IsTruncated"]:
            break
        marker = r.get("NextMarker", page[-1])
    assert calls == 7
    assert len(keys) == len(set(keys))
    assert keys == utf8_sorted(LIST_KEYS)


def test_list_v1_delimiter_next_marker(s3, listing_bucket):
    contents, prefixes, marker = [], [], ""
    for _ in range(20):
        r = s3.list_objects(Bucket=listing_bucket, Delimiter="/", Marker=marker, MaxKeys=3)
        contents += [o["Key"] for o in r.get("Contents", [])]
        prefixes += [c["Prefix"] for c in r.get("CommonPrefixes", [])]
        if not r["IsTruncated"]:
            break
        assert r.get("NextMarker"), "a truncated v1 listing with a delimiter must carry NextMarker"
        marker = r["NextMarker"]
    else:
        pytest.fail("ListObjects (v1) with a delimiter never stopped truncating")
    assert len(contents) == len(set(contents)) and len(prefixes) == len(set(prefixes))
    want_contents, want_prefixes = _expected_delimited("")
    assert contents == want_contents and prefixes == want_prefixes


def test_list_v1_paginator(s3, listing_bucket):
    keys = []
    for p in s3.get_paginator("list_objects").paginate(Bucket=listing_bucket, PaginationConfig={"PageSize": 6}):
        keys += [o["Key"] for o in p.get("Contents", [])]
    assert keys == utf8_sorted(LIST_KEYS)


# --------------------------------------------------------------------------------------------
# Deleting


def test_delete_object(s3):
    key = f"delete/{uid()}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"bye")
    assert s3.delete_object(Bucket=BUCKET, Key=key)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=BUCKET, Key=key)
    assert error_of(e) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=BUCKET, Key=key)
    assert error_of(e)[1] == 404
    # Deleting what is not there succeeds, as on S3.
    assert s3.delete_object(Bucket=BUCKET, Key=key)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=key)["KeyCount"] == 0


def test_delete_objects_verbose_and_quiet(s3):
    base = f"multidelete/{uid()}/"
    keys = [base + n for n in ("one", "two", "three", "four", "five")]
    for k in keys:
        s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode())
    missing = base + "never-existed"

    r = s3.delete_objects(Bucket=BUCKET, Delete={
        "Objects": [{"Key": k} for k in keys[:3] + [missing]], "Quiet": False})
    assert not r.get("Errors"), r.get("Errors")
    assert sorted(d["Key"] for d in r.get("Deleted", [])) == sorted(keys[:3] + [missing])
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=base).get("Contents", [])]
    assert left == sorted(keys[3:])

    r = s3.delete_objects(Bucket=BUCKET, Delete={
        "Objects": [{"Key": k} for k in keys[3:] + [missing]], "Quiet": True})
    assert not r.get("Errors"), r.get("Errors")
    assert not r.get("Deleted"), "Quiet mode reports only errors"
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=base)["KeyCount"] == 0
    for k in keys:
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket=BUCKET, Key=k)
        assert error_of(e)[1] == 404


def test_no_such_key(s3):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=BUCKET, Key=f"missing/{uid()}")
    assert error_of(e) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=BUCKET, Key=f"missing/{uid()}")
    assert error_of(e)[1] == 404


# --------------------------------------------------------------------------------------------
# Credentials


def test_read_only_credential(s3, s3_ro):
    key = f"readonly/{uid()}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"readable")
    assert s3_ro.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"readable"
    assert s3_ro.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == 8
    assert [o["Key"] for o in s3_ro.list_objects_v2(Bucket=BUCKET, Prefix=key)["Contents"]] == [key]

    denied = [
        lambda: s3_ro.put_object(Bucket=BUCKET, Key=key, Body=b"overwritten"),
        lambda: s3_ro.put_object(Bucket=BUCKET, Key=f"readonly/{uid()}", Body=b"new"),
        lambda: s3_ro.delete_object(Bucket=BUCKET, Key=key),
        lambda: s3_ro.create_bucket(Bucket=f"e2e-ro-{uid()}"),
        lambda: s3_ro.get_object(Bucket="e2e-spread", Key=key),  # outside its bucket list
        lambda: s3_ro.list_objects_v2(Bucket="e2e-spread"),
    ]
    for i, call in enumerate(denied):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == ("AccessDenied", 403), f"denied call #{i}"
    # DeleteObjects: S3 answers 200 with a per-key AccessDenied; refusing the whole request is as safe.
    try:
        r = s3_ro.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": key}]})
    except ClientError as e:
        assert error_of(e) == ("AccessDenied", 403)
    else:
        assert not r.get("Deleted"), r
        assert [(x["Key"], x["Code"]) for x in r.get("Errors", [])] == [(key, "AccessDenied")], r
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"readable"


def test_wrong_secret_is_signature_does_not_match(client_for):
    bad = client_for(RW_ACCESS_KEY, RW_SECRET_KEY[:-1] + "X")
    for call in (bad.list_buckets, lambda: bad.get_object(Bucket=BUCKET, Key="anything"),
                 lambda: bad.put_object(Bucket=BUCKET, Key=f"bad/{uid()}", Body=b"nope")):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == ("SignatureDoesNotMatch", 403)


def test_unknown_access_key(client_for):
    bad = client_for("AKIAE2EUNKNOWNKEY001", RW_SECRET_KEY)
    with pytest.raises(ClientError) as e:
        bad.list_buckets()
    assert error_of(e) == ("InvalidAccessKeyId", 403)


def test_read_only_key_cannot_be_used_with_other_secret(client_for):
    bad = client_for(RO_ACCESS_KEY, RW_SECRET_KEY)
    with pytest.raises(ClientError) as e:
        bad.get_object(Bucket=BUCKET, Key="anything")
    assert error_of(e) == ("SignatureDoesNotMatch", 403)


# --------------------------------------------------------------------------------------------
# Presigned URLs


def _fetch(url: str, method: str = "GET", data: bytes | None = None):
    # With a body urllib would default to a form Content-Type; send what `curl -T` would.
    headers = {"Content-Type": "application/octet-stream"} if data is not None else {}
    req = urllib.request.Request(url, method=method, data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=URL_TIMEOUT_SECS) as r:
        return r.status, r.headers, r.read()  # headers: case-insensitive lookups


def _fetch_error(url: str) -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as e:
        _fetch(url)
    body = e.value.read().decode(errors="replace")
    m = re.search(r"<Code>([^<]+)</Code>", body)
    return e.value.code, (m.group(1) if m else body)


@pytest.fixture(scope="module")
def presign_object(s3):
    key = f"presigned/{uid()}/file name.bin"
    data = os.urandom(1000)
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return key, data


def test_presigned_get(s3_presign, presign_object):
    key, data = presign_object
    url = s3_presign.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=300)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url, url
    status, headers, body = _fetch(url)
    assert status == 200
    assert body == data
    assert headers.get("ETag") == quoted_md5(data)


def test_presigned_get_with_response_overrides(s3_presign, presign_object):
    key, data = presign_object
    url = s3_presign.generate_presigned_url("get_object", ExpiresIn=300, Params={
        "Bucket": BUCKET, "Key": key, "ResponseContentType": "application/x-e2e",
        "ResponseContentDisposition": 'attachment; filename="x.bin"'})
    status, headers, body = _fetch(url)
    assert status == 200 and body == data
    assert headers.get("Content-Type") == "application/x-e2e"
    assert headers.get("Content-Disposition") == 'attachment; filename="x.bin"'


def test_presigned_put(s3, s3_presign):
    key = f"presigned-put/{uid()}"
    data = b"uploaded with a presigned URL"
    url = s3_presign.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=300)
    status, headers, _ = _fetch(url, method="PUT", data=data)
    assert status == 200
    assert headers.get("ETag") == quoted_md5(data)
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data


def test_presigned_expired(s3_presign, presign_object):
    key, _ = presign_object
    an_hour_ago = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(hours=1)
    with mock.patch("botocore.auth.get_current_datetime", return_value=an_hour_ago):
        url = s3_presign.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=60)
    assert an_hour_ago.strftime("X-Amz-Date=%Y%m%dT%H") in url, url
    status, code = _fetch_error(url)
    assert status == 403, code
    assert code == "AccessDenied", code


@pytest.mark.parametrize("tamper", ["signature", "key", "expires"])
def test_presigned_tampered(s3_presign, presign_object, tamper):
    key, _ = presign_object
    url = s3_presign.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=300)
    if tamper == "signature":
        sig = re.search(r"X-Amz-Signature=([0-9a-f]{64})", url).group(1)
        flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
        url = url.replace(f"X-Amz-Signature={sig}", f"X-Amz-Signature={flipped}")
    elif tamper == "key":
        url = url.replace("file%20name.bin", "other%20name.bin")
        assert "other%20name.bin" in url, url
    else:
        assert "X-Amz-Expires=300" in url
        url = url.replace("X-Amz-Expires=300", "X-Amz-Expires=600")
    status, code = _fetch_error(url)
    assert (status, code) == (403, "SignatureDoesNotMatch")


def test_presigned_default_sigv2(s3, presign_object):
    """boto3's default S3 presigning (default client settings) is SigV2
    (`AWSAccessKeyId=&Signature=&Expires=`): the URL fetched with urllib serves the object, and a
    wrong SigV2 signature is refused."""
    key, data = presign_object
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=300)
    assert "Signature=" in url and "AWSAccessKeyId=" in url, url
    status, _, body = _fetch(url)
    assert status == 200 and body == data
    bad = re.sub(r"Signature=[^&]+", "Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D", url)
    status, code = _fetch_error(bad)
    assert status == 403, (status, code)


# --------------------------------------------------------------------------------------------
# Where the bytes really are


def _physical_of(proxy, backend_names):
    """{backend name: {physical key: size}} listed directly on the real servers."""
    out = {}
    for name in backend_names:
        b = proxy.backends[name]
        out[name] = list_physical(b.server.client, b.bucket)
    return out


def _locate(physical, bucket, key):
    """[(backend, physical key)] holding bucket/key."""
    prefix = physical_prefix(bucket, key)
    return [(b, k) for b, keys in physical.items() for k in keys if k.startswith(prefix)]


def test_objects_land_on_backends(s3, proxy):
    """Each object of `e2e` is one physical object on seaweed or moto, with the same bytes."""
    base = f"landing/{uid()}/"
    objects = {base + str(i): os.urandom(500 + i) for i in range(6)}
    for k, v in objects.items():
        s3.put_object(Bucket=BUCKET, Key=k, Body=v)
    physical = _physical_of(proxy, BUCKETS[BUCKET][0])
    for name, keys in physical.items():
        for k in keys:
            # Buckets made with CreateBucket share these backends ([defaults]): every key is still
            # one of ours, named after its logical bucket.
            assert PHYSICAL_KEY.match(k), f"{name}: unexpected physical key {k!r} (see store/src/layout.rs)"
    for k, v in objects.items():
        where = _locate(physical, BUCKET, k)
        assert len(where) == 1, f"{k}: want exactly one physical object, found {where}"
        backend, pkey = where[0]
        assert physical[backend][pkey] == len(v)
        real = proxy.backends[backend]
        got = real.server.client.get_object(Bucket=real.bucket, Key=pkey)
        assert got["Body"].read() == v
        # Design rule 6: the backend object names its logical bucket, key and version, so a lost
        # index can be rebuilt from the backends.
        meta = got["Metadata"]
        assert meta.get("s3o-bucket") == BUCKET, meta
        enc = meta.get("s3o-key", "")
        assert base64.urlsafe_b64decode(enc + "=" * (-len(enc) % 4)).decode() == k, meta
        assert int(meta.get("s3o-version", "-1")) == int(pkey.rsplit("-", 1)[1], 16), meta


def test_spread_placement_uses_every_backend(s3, proxy):
    """`e2e-spread` spreads over two backends that nothing else uses: equal objects alternate."""
    bucket = "e2e-spread"
    backends = BUCKETS[bucket][0]
    n = 10
    objects = {f"spread/{i:02d}": os.urandom(2000) for i in range(n)}
    for k, v in objects.items():
        s3.put_object(Bucket=bucket, Key=k, Body=v)
    physical = _physical_of(proxy, backends)
    total = sum(len(keys) for keys in physical.values())
    assert total == n, f"want {n} physical objects in all, found {physical}"
    counts = {b: len(keys) for b, keys in physical.items()}
    assert min(counts.values()) >= n // 2 - 1, f"spread placement is lopsided: {counts}"
    for k, v in objects.items():
        where = _locate(physical, bucket, k)
        assert len(where) == 1, f"{k}: want exactly one physical object, found {where}"
        backend, pkey = where[0]
        assert physical[backend][pkey] == len(v)
        real = proxy.backends[backend]
        assert real.server.client.get_object(Bucket=real.bucket, Key=pkey)["Body"].read() == v
    # And the proxy reads every one of them back.
    for k, v in objects.items():
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == v


def test_pack_placement_fills_first_backend_then_next(s3, proxy):
    """`e2e-pack`: the first backend has room for two 4000-byte objects; the third goes on."""
    bucket = "e2e-pack"
    first, second = BUCKETS[bucket][0]
    size = 4000
    assert 2 * size <= PACK_FIRST_QUOTA < 3 * size
    objects = {f"pack/{i}": os.urandom(size) for i in range(3)}
    for k, v in objects.items():
        s3.put_object(Bucket=bucket, Key=k, Body=v)
    physical = _physical_of(proxy, [first, second])
    where = {k: _locate(physical, bucket, k) for k in objects}
    assert all(len(w) == 1 for w in where.values()), where
    assert [where[k][0][0] for k in objects] == [first, first, second], where
    for k, v in objects.items():
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == v


def test_fs_backend_holds_files(s3, proxy):
    bucket = "e2e-fs"
    root = proxy.backends["local"].fs_root / "objects"
    key = f"fs/{uid()}/file.bin"
    data = os.urandom(3000)
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    prefix = physical_prefix(bucket, key)
    files = [p for p in root.glob(prefix.rsplit("/", 1)[0] + "/*")
             if p.is_file() and str(p.relative_to(root)).startswith(prefix) and not is_record(p.name)]
    assert len(files) == 1, f"want one file for {key} under {root}, found {files}"
    assert files[0].read_bytes() == data
    # Design rule 6: the file names its logical bucket and key (extended attributes).
    assert os.getxattr(files[0], "user.s3o.bucket") == bucket.encode()
    assert os.getxattr(files[0], "user.s3o.key") == key.encode()
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data


# --------------------------------------------------------------------------------------------
# Multipart (through the transfer manager, as applications upload big files)


def test_multipart_upload_file(s3, tmp_path):
    data = os.urandom(20 * MIB + 123)
    src, dst = tmp_path / "big.bin", tmp_path / "big.out"
    src.write_bytes(data)
    key = f"multipart/{uid()}.bin"
    s3.upload_file(str(src), BUCKET, key)
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == len(data)
    assert re.fullmatch(r'"[0-9a-f]{32}-\d+"', head["ETag"]), head["ETag"]
    s3.download_file(BUCKET, key, str(dst))
    assert dst.read_bytes() == data
