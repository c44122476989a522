"""The index rebuild end to end: a proxy of its own over two SeaweedFS-backed backends (two real
buckets of the session's SeaweedFS), written to with boto3 (user metadata, content types, tags,
a multipart object, a replicated bucket, a versioned bucket with delete markers, object lock),
then stopped; its data directory is deleted, `s3-orchestrator rebuild-index` rebuilds the store
from the records on the backends, and the restarted proxy answers every listing, version, body,
header and tag as before.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

import conftest
from harness import (
    REGION,
    RW_ACCESS_KEY,
    RW_SECRET_KEY,
    ensure_bucket,
    free_ports,
    locate_proxy_binary,
    make_client,
)

MIB = 1024 * 1024


def uid() -> str:
    return uuid.uuid4().hex[:10]


def write_config(path, port, data_dir, seaweed, real_buckets) -> None:
    q = conftest._toml_str
    lines = [
        "[server]",
        f"listen = {q(f'127.0.0.1:{port}')}",
        f"data_dir = {q(str(data_dir))}",
        "threads = 2",
        f"region = {q(REGION)}",
        "shutdown_grace_secs = 5",
        "",
    ]
    for name, bucket in real_buckets.items():
        lines += [
            "[[backends]]",
            f"name = {q(name)}",
            'kind = "s3"',
            f"endpoint = {q(seaweed.endpoint)}",
            f"region = {q(REGION)}",
            f"bucket = {q(bucket)}",
            f"access_key = {q(seaweed.access_key)}",
            f"secret_key = {q(seaweed.secret_key)}",
            "path_style = true",
            "",
        ]
    lines += [
        "[[buckets]]",
        'name = "rb-both"',
        'backends = ["w1", "w2"]',
        "replication = 2",
        "",
        "[defaults]",
        'backends = ["w1", "w2"]',
        'placement = "spread"',
        "",
        "[[credentials]]",
        f"access_key = {q(RW_ACCESS_KEY)}",
        f"secret_key = {q(RW_SECRET_KEY)}",
        'buckets = ["*"]',
        'access = "read-write"',
        "create_buckets = true",
        "bypass_governance = true",
        "",
    ]
    path.write_text("\n".join(lines))


def drop_volatile(doc):
    """A response without what differs between two identical requests."""
    doc = dict(doc)
    doc.pop("ResponseMetadata", None)
    body = doc.pop("Body", None)
    if body is not None:
        doc["Body"] = body.read()
    return doc


def capture(s3, buckets):
    """Everything the test compares: listings, versions, every version's body, headers, tags,
    retention and legal hold."""
    seen = {}
    for bucket in buckets:
        seen[("list", bucket)] = drop_volatile(s3.list_objects_v2(Bucket=bucket))
        versions = drop_volatile(s3.list_object_versions(Bucket=bucket))
        seen[("versions", bucket)] = versions
        seen[("versioning", bucket)] = drop_volatile(s3.get_bucket_versioning(Bucket=bucket))
        for v in versions.get("Versions", []):
            key, vid = v["Key"], v["VersionId"]
            seen[("get", bucket, key, vid)] = drop_volatile(
                s3.get_object(Bucket=bucket, Key=key, VersionId=vid))
            seen[("tags", bucket, key, vid)] = drop_volatile(
                s3.get_object_tagging(Bucket=bucket, Key=key, VersionId=vid))
        for m in versions.get("DeleteMarkers", []):
            seen[("marker", bucket, m["Key"], m["VersionId"])] = (m["IsLatest"], m["LastModified"])
    return seen


def test_rebuild_index_restores_everything(seaweed, tmp_path):
    root = tmp_path
    real = {"w1": f"rebuild-w1-{uid()}", "w2": f"rebuild-w2-{uid()}"}
    for bucket in real.values():
        ensure_bucket(seaweed.client, bucket)
    (port,) = free_ports(1)
    config = root / "s3-orchestrator.toml"
    data_dir = root / "meta"
    write_config(config, port, data_dir, seaweed, real)
    endpoint = f"http://127.0.0.1:{port}"
    ver, lck = f"rb-ver-{uid()}", f"rb-lck-{uid()}"
    buckets = ["rb-both", ver, lck]

    with conftest.private_proxy(root, "s3-orchestrator-rebuild", config, port):
        s3 = make_client(endpoint, RW_ACCESS_KEY, RW_SECRET_KEY)
        s3.put_object(Bucket="rb-both", Key="docs/readme.txt", Body=b"replicated twice",
                      ContentType="text/plain", Metadata={"colour": "blue"}, Tagging="kind=doc")
        s3.put_object_tagging(Bucket="rb-both", Key="docs/readme.txt",
                              Tagging={"TagSet": [{"Key": "kind", "Value": "manual"}]})
        s3.create_bucket(Bucket=ver)
        s3.put_bucket_versioning(Bucket=ver, VersioningConfiguration={"Status": "Enabled"})
        first = s3.put_object(Bucket=ver, Key="k", Body=b"one", Metadata={"n": "1"})["VersionId"]
        s3.put_object(Bucket=ver, Key="k", Body=b"two", Metadata={"n": "2"}, ContentType="text/x-two")
        s3.delete_object(Bucket=ver, Key="k")
        s3.put_object(Bucket=ver, Key="k", Body=b"three", Tagging="latest=yes")
        s3.put_object_tagging(Bucket=ver, Key="k", VersionId=first,
                              Tagging={"TagSet": [{"Key": "old", "Value": "yes"}]})
        s3.put_object(Bucket=ver, Key="gone", Body=b"soon hidden")
        s3.delete_object(Bucket=ver, Key="gone")
        # A multipart object (boto3's client API: two parts).
        up = s3.create_multipart_upload(Bucket=ver, Key="big.bin", Metadata={"parts": "2"})
        parts = []
        for n, body in enumerate([b"a" * (5 * MIB), b"b" * 1000], start=1):
            etag = s3.upload_part(Bucket=ver, Key="big.bin", UploadId=up["UploadId"], PartNumber=n,
                                  Body=body)["ETag"]
            parts.append({"PartNumber": n, "ETag": etag})
        s3.complete_multipart_upload(Bucket=ver, Key="big.bin", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": parts})
        s3.create_bucket(Bucket=lck, ObjectLockEnabledForBucket=True)
        s3.put_object(Bucket=lck, Key="held", Body=b"keep me")
        s3.put_object_retention(Bucket=lck, Key="held", Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": "2099-01-01T00:00:00Z"})
        s3.put_object_legal_hold(Bucket=lck, Key="held", LegalHold={"Status": "ON"})
        before = capture(s3, buckets)
        before_lock = (drop_volatile(s3.get_object_retention(Bucket=lck, Key="held")),
                       drop_volatile(s3.get_object_legal_hold(Bucket=lck, Key="held")),
                       drop_volatile(s3.get_object_lock_configuration(Bucket=lck)))
    # The records sit beside the data on the real buckets.
    listed = [o["Key"] for b in real.values()
              for o in seaweed.client.list_objects_v2(Bucket=b).get("Contents", [])]
    assert any(k.endswith(".meta") for k in listed), listed
    assert any(k.startswith(".s3o/buckets/") for k in listed), listed

    shutil.rmtree(data_dir)
    binary = str(locate_proxy_binary())
    run = subprocess.run([binary, "rebuild-index", "--config", str(config)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "rebuilt: 3 buckets" in run.stdout, run.stdout
    # A second run finds a store that is not empty, and refuses.
    again = subprocess.run([binary, "rebuild-index", "--config", str(config), "--dry-run"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "not empty" in again.stderr, again.stdout + again.stderr

    with conftest.private_proxy(root, "s3-orchestrator-rebuilt", config, port):
        s3 = make_client(endpoint, RW_ACCESS_KEY, RW_SECRET_KEY)
        after = capture(s3, buckets)
        assert after.keys() == before.keys()
        for what, want in before.items():
            assert after[what] == want, what
        after_lock = (drop_volatile(s3.get_object_retention(Bucket=lck, Key="held")),
                      drop_volatile(s3.get_object_legal_hold(Bucket=lck, Key="held")),
                      drop_volatile(s3.get_object_lock_configuration(Bucket=lck)))
        assert after_lock == before_lock
        got = s3.get_object(Bucket="rb-both", Key="docs/readme.txt")
        assert (got["Body"].read(), got["Metadata"], got["ContentType"]) == (
            b"replicated twice", {"colour": "blue"}, "text/plain")
        # New versions come after the restored ones.
        new = s3.put_object(Bucket=ver, Key="k", Body=b"four")["VersionId"]
        latest = s3.list_object_versions(Bucket=ver, Prefix="k")["Versions"][0]
        assert (latest["VersionId"], latest["IsLatest"]) == (new, True)
        assert s3.get_object(Bucket=ver, Key="k")["Body"].read() == b"four"
        with pytest.raises(Exception):
            s3.delete_object(Bucket=lck, Key="held",
                             VersionId=before[("versions", lck)]["Versions"][0]["VersionId"])
