"""An `s3` backend reached over https: a second proxy whose only backend is SeaweedFS behind a
TLS relay with a throwaway CA, trusted through the backend's `ca_file`. Exercises the proxy's
rustls client path end to end (handshake, pooled TLS connections, streamed PUT and GET)."""

from __future__ import annotations

import os

import pytest
from botocore.exceptions import ClientError

from harness import (
    RW_ACCESS_KEY,
    RW_SECRET_KEY,
    WEED_ACCESS_KEY,
    WEED_SECRET_KEY,
    Server,
    TlsRelay,
    error_of,
    free_ports,
    list_physical,
    locate_proxy_binary,
    log_tail,
    make_client,
    make_test_ca_and_cert,
)

REAL_BUCKET = "e2e-https-backend"


def _start_proxy(root, relay_port: int, real_bucket: str, ca=None) -> tuple[Server, int]:
    """A proxy whose only backend is the relay at `relay_port`, trusting `ca` when given."""
    (port,) = free_ports(1)
    config = root / "proxy.toml"
    ca_line = f'ca_file = "{ca}"' if ca else ""
    config.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
threads = 1
data_dir = "{root}/meta"

[[backends]]
name = "seaweed-tls"
kind = "s3"
endpoint = "https://127.0.0.1:{relay_port}"
bucket = "{real_bucket}"
access_key = "{WEED_ACCESS_KEY}"
secret_key = "{WEED_SECRET_KEY}"
{ca_line}

[[buckets]]
name = "tls"
backends = ["seaweed-tls"]

[[credentials]]
access_key = "{RW_ACCESS_KEY}"
secret_key = "{RW_SECRET_KEY}"
""")
    server = Server.start("s3-orchestrator (https backend)",
                          [str(locate_proxy_binary()), "serve", "--config", str(config)],
                          root / "proxy.log", cwd=root, env={**os.environ, "RUST_LOG": "info"})
    server.wait_port(port)
    return server, port


@pytest.fixture(scope="module")
def https_proxy(seaweed, tmp_path_factory):
    root = tmp_path_factory.mktemp("https-backend")
    ca, cert, key = make_test_ca_and_cert(root)
    seaweed_port = int(seaweed.endpoint.rsplit(":", 1)[1])
    relay = TlsRelay(seaweed_port, cert, key).start()
    seaweed.client.create_bucket(Bucket=REAL_BUCKET)
    server, port = _start_proxy(root, relay.port, REAL_BUCKET, ca)
    yield make_client(f"http://127.0.0.1:{port}", RW_ACCESS_KEY, RW_SECRET_KEY), seaweed
    server.stop()
    relay.stop()


def test_round_trip_through_a_tls_backend(https_proxy):
    s3, seaweed = https_proxy
    bodies = {f"obj-{i}": os.urandom(n) for i, n in enumerate([0, 1, 70_000, 3 * 1024 * 1024 + 5])}
    for key, body in bodies.items():
        s3.put_object(Bucket="tls", Key=key, Body=body)
    for key, body in bodies.items():
        got = s3.get_object(Bucket="tls", Key=key)["Body"].read()
        assert got == body, key
    r = s3.get_object(Bucket="tls", Key="obj-3", Range="bytes=100-199")
    assert r["Body"].read() == bodies["obj-3"][100:200]
    # The bytes really are on the TLS backend.
    stored = list_physical(seaweed.client, REAL_BUCKET)
    assert sorted(stored.values()) == sorted(len(b) for b in bodies.values())
    s3.delete_object(Bucket="tls", Key="obj-0")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="tls")["Contents"]] == ["obj-1", "obj-2", "obj-3"]


def test_untrusted_certificate_is_refused(seaweed, tmp_path_factory):
    """Without `ca_file` the relay's certificate is not trusted: the proxy answers 503, never
    talks plaintext, and never stores anything. The backend bucket exists and takes writes over
    the same relay from a client that trusts the CA, so only the certificate check can refuse."""
    root = tmp_path_factory.mktemp("https-untrusted")
    ca, cert, key = make_test_ca_and_cert(root)
    seaweed_port = int(seaweed.endpoint.rsplit(":", 1)[1])
    relay = TlsRelay(seaweed_port, cert, key).start()
    bucket = f"{REAL_BUCKET}-untrusted"
    server = None
    try:
        trusting = make_client(f"https://127.0.0.1:{relay.port}", WEED_ACCESS_KEY, WEED_SECRET_KEY,
                               verify=str(ca))
        trusting.create_bucket(Bucket=bucket)
        trusting.put_object(Bucket=bucket, Key="probe", Body=b"reachable")
        assert trusting.get_object(Bucket=bucket, Key="probe")["Body"].read() == b"reachable"
        trusting.delete_object(Bucket=bucket, Key="probe")
        assert list_physical(trusting, bucket) == {}

        server, port = _start_proxy(root, relay.port, bucket)
        s3 = make_client(f"http://127.0.0.1:{port}", RW_ACCESS_KEY, RW_SECRET_KEY)
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="tls", Key="k", Body=b"secret")
        assert error_of(e) == ("ServiceUnavailable", 503)
        assert "TLS handshake: invalid peer certificate" in log_tail(server.log_path), log_tail(server.log_path)
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket="tls", Key="k")
        assert error_of(e)[1] == 404
        # Nothing arrived on the backend, under any name.
        assert list_physical(seaweed.client, bucket) == {}
    finally:
        if server:
            server.stop()
        relay.stop()
        try:
            seaweed.client.delete_bucket(Bucket=bucket)
        except ClientError:
            pass
