"""Versioning and object lock with real clients at default settings, through the session proxy
(its buckets spread over SeaweedFS, moto and an fs backend):

- the aws CLI: put-bucket-versioning, put-object (version ids), list-object-versions,
  get-object --version-id, delete-object (a delete marker), delete-object --version-id;
- the aws CLI: create-bucket --object-lock-enabled-for-bucket, put-object-retention,
  get-object-retention;
- boto3: GOVERNANCE retention removable only with BypassGovernanceRetention by a caller
  allowed to (`bypass_governance` in its credential); COMPLIANCE retention by no one; legal hold;
- boto3: ListObjectVersions pages (paginator, MaxKeys=1..3) never skip or repeat a version.
"""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
from botocore.exceptions import ClientError

from harness import NOBYPASS_ACCESS_KEY, NOBYPASS_SECRET_KEY, error_of, make_client


def uid() -> str:
    return uuid.uuid4().hex[:10]


def in_a_day() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)


@pytest.fixture
def versioned(s3):
    """A new bucket with versioning enabled (by boto3)."""
    name = f"ver-{uid()}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def test_aws_cli_versions(aws, s3, tmp_path):
    bucket = f"cli-ver-{uid()}"
    aws.run("s3api", "create-bucket", "--bucket", bucket)
    aws.run("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
    got = json.loads(aws.run("s3api", "get-bucket-versioning", "--bucket", bucket).stdout)
    assert got["Status"] == "Enabled"
    ids = []
    for i, text in enumerate([b"first", b"second"]):
        src = tmp_path / f"v{i}"
        src.write_bytes(text)
        out = json.loads(aws.run("s3api", "put-object", "--bucket", bucket, "--key", "doc.txt",
                                 "--body", str(src)).stdout)
        ids.append(out["VersionId"])
    assert ids[0] != ids[1]
    listed = json.loads(aws.run("s3api", "list-object-versions", "--bucket", bucket).stdout)
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(ids[1], True), (ids[0], False)]
    out = tmp_path / "old.txt"
    meta = json.loads(aws.run("s3api", "get-object", "--bucket", bucket, "--key", "doc.txt",
                              "--version-id", ids[0], str(out)).stdout)
    assert (out.read_bytes(), meta["VersionId"]) == (b"first", ids[0])
    deleted = json.loads(aws.run("s3api", "delete-object", "--bucket", bucket, "--key", "doc.txt").stdout)
    assert deleted["DeleteMarker"] is True
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="doc.txt")
    assert error_of(exc)[1] == 404
    listed = json.loads(aws.run("s3api", "list-object-versions", "--bucket", bucket).stdout)
    assert [m["VersionId"] for m in listed["DeleteMarkers"]] == [deleted["VersionId"]]
    for version in [deleted["VersionId"], *ids]:
        aws.run("s3api", "delete-object", "--bucket", bucket, "--key", "doc.txt", "--version-id", version)
    assert "Versions" not in json.loads(aws.run("s3api", "list-object-versions", "--bucket", bucket).stdout)
    aws.run("s3api", "delete-bucket", "--bucket", bucket)


def test_aws_cli_object_retention(aws, s3, tmp_path):
    bucket = f"cli-lock-{uid()}"
    aws.run("s3api", "create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket")
    src = tmp_path / "kept.bin"
    src.write_bytes(b"kept for a day")
    version = json.loads(aws.run("s3api", "put-object", "--bucket", bucket, "--key", "kept.bin",
                                 "--body", str(src)).stdout)["VersionId"]
    until = in_a_day().strftime("%Y-%m-%dT%H:%M:%SZ")
    aws.run("s3api", "put-object-retention", "--bucket", bucket, "--key", "kept.bin", "--version-id", version,
            "--retention", f"Mode=GOVERNANCE,RetainUntilDate={until}")
    got = json.loads(aws.run("s3api", "get-object-retention", "--bucket", bucket, "--key", "kept.bin",
                             "--version-id", version).stdout)
    assert got["Retention"]["Mode"] == "GOVERNANCE"
    refused = aws.run("s3api", "delete-object", "--bucket", bucket, "--key", "kept.bin", "--version-id", version,
                      check=False)
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr, refused.stderr
    aws.run("s3api", "delete-object", "--bucket", bucket, "--key", "kept.bin", "--version-id", version,
            "--bypass-governance-retention")
    aws.run("s3api", "delete-bucket", "--bucket", bucket)


def test_boto3_governance_yields_to_a_permitted_bypass_and_compliance_to_no_one(s3, proxy):
    bucket = f"lock-{uid()}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    other = make_client(proxy.endpoint, NOBYPASS_ACCESS_KEY, NOBYPASS_SECRET_KEY)
    gov = s3.put_object(Bucket=bucket, Key="gov", Body=b"g", ObjectLockMode="GOVERNANCE",
                        ObjectLockRetainUntilDate=in_a_day())["VersionId"]
    head = s3.head_object(Bucket=bucket, Key="gov")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    for client, bypass in [(s3, False), (other, True), (other, False)]:
        with pytest.raises(ClientError) as exc:
            client.delete_object(Bucket=bucket, Key="gov", VersionId=gov, BypassGovernanceRetention=bypass)
        assert error_of(exc) == ("AccessDenied", 403), (client is s3, bypass)
    s3.delete_object(Bucket=bucket, Key="gov", VersionId=gov, BypassGovernanceRetention=True)

    comp = s3.put_object(Bucket=bucket, Key="comp", Body=b"c")["VersionId"]
    s3.put_object_retention(Bucket=bucket, Key="comp", VersionId=comp,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_a_day()})
    for client in (s3, other):
        with pytest.raises(ClientError) as exc:
            client.delete_object(Bucket=bucket, Key="comp", VersionId=comp, BypassGovernanceRetention=True)
        assert error_of(exc) == ("AccessDenied", 403)
        with pytest.raises(ClientError) as exc:
            client.put_object_retention(Bucket=bucket, Key="comp", VersionId=comp, BypassGovernanceRetention=True,
                                        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_a_day()})
        assert error_of(exc) == ("AccessDenied", 403)
    # A plain DELETE only hides it behind a marker; the retained version reads back.
    assert s3.delete_object(Bucket=bucket, Key="comp")["DeleteMarker"] is True
    assert s3.get_object(Bucket=bucket, Key="comp", VersionId=comp)["Body"].read() == b"c"

    held = s3.put_object(Bucket=bucket, Key="held", Body=b"h", ObjectLockLegalHoldStatus="ON")["VersionId"]
    assert s3.get_object_legal_hold(Bucket=bucket, Key="held", VersionId=held)["LegalHold"]["Status"] == "ON"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=bucket, Key="held", VersionId=held, BypassGovernanceRetention=True)
    assert error_of(exc) == ("AccessDenied", 403)
    s3.put_object_legal_hold(Bucket=bucket, Key="held", VersionId=held, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=bucket, Key="held", VersionId=held)


def test_boto3_version_pages_never_skip_or_repeat(s3, versioned):
    want = []
    for key in ["a", "b/1", "b/2", "c"]:
        for i in range(3):
            want.append((key, s3.put_object(Bucket=versioned, Key=key, Body=f"{key}{i}".encode())["VersionId"]))
        if key == "b/2":
            want.append((key, s3.delete_object(Bucket=versioned, Key=key)["VersionId"]))
    for size in (1, 2, 3):
        got = []
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=versioned, PaginationConfig={"PageSize": size})
        for page in pages:
            entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
            assert len(entries) <= size
            got += [(e["Key"], e["VersionId"]) for e in entries]
        assert sorted(got) == sorted(want) and len(got) == len(set(got)), size
    delimited = s3.list_object_versions(Bucket=versioned, Delimiter="/")
    assert [p["Prefix"] for p in delimited["CommonPrefixes"]] == ["b/"]
