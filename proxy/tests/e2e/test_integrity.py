"""The bytes between the proxy and its backends are checked at both ends, on real servers: every
upload carries a check the backend makes (the client's checksum header, signed payload hash or
trailer checksum, or else the proxy's own CRC32C as an aws-chunked trailer), and whole-object
reads come back intact."""

import base64
import os
import uuid

import pytest

from harness import BUCKETS, RW_ACCESS_KEY, RW_SECRET_KEY, is_record, make_client, physical_prefix

BUCKET = "e2e-spread"  # one seaweed and one moto backend


def uid() -> str:
    return uuid.uuid4().hex[:12]


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c_b64(data: bytes) -> str:
    c = 0xFFFFFFFF
    for b in data:
        c = (c >> 8) ^ _TABLE[(c ^ b) & 0xFF]
    return base64.b64encode((c ^ 0xFFFFFFFF).to_bytes(4, "big")).decode()


@pytest.fixture(scope="module")
def no_checksum_client(proxy_tls):
    """boto3 that sends no checksum of its own (as before botocore 1.36, or other SDKs): over
    https it signs no payload hash either (UNSIGNED-PAYLOAD), so nothing checks the body but
    what the proxy adds."""
    return make_client(proxy_tls.endpoint, RW_ACCESS_KEY, RW_SECRET_KEY, verify=str(proxy_tls.ca_bundle),
                       request_checksum_calculation="when_required",
                       response_checksum_validation="when_required",
                       s3={"payload_signing_enabled": False})


def test_each_backend_keeps_the_proxys_crc32c_of_an_upload(proxy, no_checksum_client):
    base = f"integrity/{uid()}/"
    objects = {f"{base}{i}": os.urandom(20_000 + 997 * i) for i in range(6)}
    for k, v in objects.items():
        no_checksum_client.put_object(Bucket=BUCKET, Key=k, Body=v)
    seen = set()
    for name in BUCKETS[BUCKET][0]:
        b = proxy.backends[name]
        for k, v in objects.items():
            prefix = physical_prefix(BUCKET, k)
            found = b.server.client.list_objects_v2(Bucket=b.bucket, Prefix=prefix).get("Contents", [])
            for o in (o for o in found if not is_record(o["Key"])):
                got = b.server.client.get_object(Bucket=b.bucket, Key=o["Key"], ChecksumMode="ENABLED")
                assert got["Body"].read() == v, "stored decoded, byte for byte"
                if b.server is proxy.backends["spread-seaweed"].server:
                    # SeaweedFS verifies a trailer (a wrong one is refused) and keeps it; moto
                    # decodes aws-chunked bodies but keeps no trailer checksum.
                    assert got.get("ChecksumCRC32C") == crc32c_b64(v), (name, k, got)
                seen.add((name, k))
    assert {k for _, k in seen} == set(objects), "every object was found on a backend"
    assert {n for n, _ in seen} == set(BUCKETS[BUCKET][0]), "spread placement used both servers"
    for k, v in objects.items():
        assert no_checksum_client.get_object(Bucket=BUCKET, Key=k)["Body"].read() == v


def test_a_client_checksum_header_goes_to_the_backend_as_sent(proxy, s3):
    """boto3 over http sends its CRC32 as a header: the backend keeps that one."""
    key = f"integrity/{uid()}/crc32"
    data = os.urandom(50_000)
    put = s3.put_object(Bucket=BUCKET, Key=key, Body=data, ChecksumAlgorithm="CRC32")
    for name in BUCKETS[BUCKET][0]:
        b = proxy.backends[name]
        listed = b.server.client.list_objects_v2(Bucket=b.bucket, Prefix=physical_prefix(BUCKET, key))
        for o in (o for o in listed.get("Contents", []) if not is_record(o["Key"])):
            head = b.server.client.head_object(Bucket=b.bucket, Key=o["Key"], ChecksumMode="ENABLED")
            assert head.get("ChecksumCRC32") == put["ChecksumCRC32"], (name, head)
    got = s3.get_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ChecksumCRC32"] == put["ChecksumCRC32"]
