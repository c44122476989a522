"""The backend servers themselves, without the proxy: if these fail, the proxy tests' failures
say nothing about the proxy."""

import os
import uuid

import pytest

from harness import error_of, list_physical, make_client, quoted_md5


@pytest.fixture(params=["seaweed", "moto"])
def backend(request):
    return request.getfixturevalue(request.param)


def test_backend_round_trip(backend):
    c = backend.client
    bucket = f"e2e-direct-{uuid.uuid4().hex[:8]}"
    c.create_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in c.list_buckets()["Buckets"]]
    data = os.urandom(5 * 1024 * 1024 + 17)
    put = c.put_object(Bucket=bucket, Key="dir/big.bin", Body=data, Metadata={"color": "blue"})
    assert put["ETag"] == quoted_md5(data)
    got = c.get_object(Bucket=bucket, Key="dir/big.bin")
    assert got["Body"].read() == data
    assert got["ETag"] == quoted_md5(data)
    assert got["Metadata"] == {"color": "blue"}
    part = c.get_object(Bucket=bucket, Key="dir/big.bin", Range="bytes=10-19")
    assert part["Body"].read() == data[10:20]
    assert list_physical(c, bucket) == {"dir/big.bin": len(data)}
    c.delete_object(Bucket=bucket, Key="dir/big.bin")
    assert list_physical(c, bucket) == {}
    c.delete_bucket(Bucket=bucket)


def test_seaweed_checks_signatures(seaweed):
    bad = make_client(seaweed.endpoint, seaweed.access_key, "not-the-secret")
    with pytest.raises(Exception) as e:
        bad.list_buckets()
    assert error_of(e) == ("SignatureDoesNotMatch", 403)
