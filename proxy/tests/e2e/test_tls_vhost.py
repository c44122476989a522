"""TLS on the proxy's own port (`[server] tls_listen`) and virtual-hosted-style addressing
(`[server] domains`), with real clients at their default settings.

A proxy of this module (one `fs` backend) serves plain HTTP on `listen` and HTTPS on
`tls_listen` with a certificate from a throwaway CA made here (`harness.ThrowawayCa`), for
127.0.0.1, localhost, s3.localhost and *.s3.localhost; its domain is `s3.localhost`.

- boto3 and the aws CLI over TLS to the proxy port itself (no relay): uploads with the https
  defaults (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`, CRC trailer), multipart, downloads, listings.
- rclone (Go's TLS, `--ca-cert`) and s3cmd (`ca_certs_file`) over TLS to the proxy port: a
  multipart copy and check, a multipart put and get; without the CA, rclone refuses the
  certificate.
- The certificate replaced on SIGHUP while a large download runs: the download completes intact
  on its connection; the next connection sees the new certificate; a bad certificate on a later
  SIGHUP is refused in the log and the new one stays.
- boto3 with `addressing_style: virtual` against `https://s3.localhost:PORT`, so each request
  goes to `<bucket>.s3.localhost`. glibc does not resolve `*.localhost` (nothing in this
  environment does, and /etc/hosts is not ours to edit), so the test maps those names to
  127.0.0.1 for its own process only, as `curl --resolve` would: the client still connects by
  that name, sends it as Host and SNI and checks it against the certificate.
- aws-sdk-s3 for Rust at its defaults (virtual-host addressing among them) against
  `https://s3.localhost:PORT`: the `s3o-e2e-sdk-rust-tls-vhost` binary of `sdk_rust/` (its `//!`
  doc lists the checks), with rustls trusting only the test CA and `*.s3.localhost` mapped to
  127.0.0.1 by a DNS resolver given to the SDK's HTTP client (`build_with_resolver`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

import conftest
import test_sdk_rust
from harness import (
    REGION,
    RW_ACCESS_KEY,
    RW_SECRET_KEY,
    ThrowawayCa,
    aws_cli_command,
    free_ports,
    make_client,
)

DOMAIN = "s3.localhost"
DNS_NAMES = ("localhost", DOMAIN, f"*.{DOMAIN}")
MIB = 1024 * 1024


@dataclass
class TlsProxy:
    http_endpoint: str
    https_endpoint: str
    tls_port: int
    ca: ThrowawayCa
    cert: Path
    key: Path
    log: Path
    server: object


def _write_config(path: Path, port: int, tls_port: int, root: Path, cert: Path, key: Path) -> None:
    q = json.dumps  # a JSON string is a valid TOML basic string
    path.write_text("\n".join([
        "[server]", f"listen = {q(f'127.0.0.1:{port}')}", f"tls_listen = {q(f'127.0.0.1:{tls_port}')}",
        f"tls_cert_file = {q(str(cert))}", f"tls_key_file = {q(str(key))}", f"domains = [{q(DOMAIN)}]",
        f"data_dir = {q(str(root / 'meta'))}", "threads = 2", f"region = {q(REGION)}",
        "shutdown_grace_secs = 5", "",
        "[[backends]]", 'name = "local"', 'kind = "fs"', f"path = {q(str(root / 'fs'))}", "",
        "[[credentials]]", f"access_key = {q(RW_ACCESS_KEY)}", f"secret_key = {q(RW_SECRET_KEY)}",
        'buckets = ["*"]', 'access = "read-write"', "create_buckets = true", "",
    ]))


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on 127.0.0.1:{port} after {timeout} s", pytrace=False)


@pytest.fixture(scope="module")
def tls_proxy(tmp_path_factory):
    root = tmp_path_factory.mktemp("tls-proxy")
    ca = ThrowawayCa(root / "tls")
    issued_cert, issued_key = ca.issue("first", DNS_NAMES)
    cert, key = root / "tls" / "served.pem", root / "tls" / "served.key"
    cert.write_bytes(issued_cert.read_bytes())
    key.write_bytes(issued_key.read_bytes())
    port, tls_port = free_ports(2)
    config = root / "s3-orchestrator.toml"
    _write_config(config, port, tls_port, root, cert, key)
    with conftest.private_proxy(root, "s3-orchestrator (tls)", config, port) as server:
        _wait_port(tls_port)
        yield TlsProxy(f"http://127.0.0.1:{port}", f"https://127.0.0.1:{tls_port}", tls_port, ca, cert, key,
                       root / "s3-orchestrator.log", server)


def uid() -> str:
    return uuid.uuid4().hex[:10]


def served_cert(port: int, ca: Path, server_name: str = "localhost") -> bytes:
    """The DER of the certificate a new TLS connection to `port` is shown (verified against `ca`)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
            return tls.getpeercert(binary_form=True)


def der_of(pem: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.read_text())


def wait_log(log: Path, needle: str, after: int, timeout: float = 15) -> str:
    """Waits for `needle` in the log past byte `after`; returns that part of the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_bytes()[after:].decode(errors="replace")
        if needle in text:
            return text
        time.sleep(0.05)
    pytest.fail(f"no {needle!r} in the proxy log within {timeout} s:\n"
                f"{log.read_bytes()[after:].decode(errors='replace')}", pytrace=False)


# --------------------------------------------------------------------------------------------


def test_boto3_over_tls_to_the_proxy_port(tls_proxy, tmp_path):
    s3 = make_client(tls_proxy.https_endpoint, RW_ACCESS_KEY, RW_SECRET_KEY, verify=str(tls_proxy.ca.path))
    bucket = f"tls-{uid()}"
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(3 * MIB + 5)
    s3.put_object(Bucket=bucket, Key="small", Body=body)
    got = s3.get_object(Bucket=bucket, Key="small")
    assert got["Body"].read() == body
    # The transfer manager: a multipart upload (four 8 MiB parts) and a ranged, parallel download over TLS.
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(24 * MIB + 123))
    s3.upload_file(str(src), bucket, "big.bin")
    dst = tmp_path / "big.out"
    s3.download_file(bucket, "big.bin", str(dst))
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == src.stat().st_size and head["ETag"].endswith('-4"'), head
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["big.bin", "small"]
    # The plain listener serves the same objects.
    plain = make_client(tls_proxy.http_endpoint, RW_ACCESS_KEY, RW_SECRET_KEY)
    assert plain.get_object(Bucket=bucket, Key="small")["Body"].read() == body


def test_aws_cli_over_tls_to_the_proxy_port(tls_proxy, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": RW_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": RW_SECRET_KEY,
                "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1",
                "AWS_PAGER": "", "AWS_CONFIG_FILE": os.environ["AWS_CONFIG_FILE"],
                "AWS_SHARED_CREDENTIALS_FILE": os.environ["AWS_SHARED_CREDENTIALS_FILE"]})

    def aws(*args: str) -> str:
        cmd = aws_cli_command() + ["--endpoint-url", tls_proxy.https_endpoint, "--ca-bundle",
                                   str(tls_proxy.ca.path), *args]
        res = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL)
        assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout}\n{res.stderr}"
        return res.stdout

    bucket = f"cli-{uid()}"
    aws("s3", "mb", f"s3://{bucket}")
    src = tmp_path / "file.bin"
    src.write_bytes(os.urandom(17 * MIB + 9))  # multipart at the CLI's 8 MiB threshold
    aws("s3", "cp", str(src), f"s3://{bucket}/dir/file.bin")
    assert "file.bin" in aws("s3", "ls", f"s3://{bucket}/dir/")
    dst = tmp_path / "file.out"
    aws("s3", "cp", f"s3://{bucket}/dir/file.bin", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    aws("s3", "rm", f"s3://{bucket}/dir/file.bin")
    aws("s3", "rb", f"s3://{bucket}")


def _tool(cmd: list, what: str) -> subprocess.CompletedProcess:
    """Runs a client tool (bounded); fails the test with its output when it fails."""
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, f"{what} exited {res.returncode}\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    return res


def test_rclone_and_s3cmd_over_tls_to_the_proxy_port(tls_proxy, tmp_path):
    """rclone (Go's TLS) and s3cmd (Python's ssl), each trusting only the test CA."""
    for tool in ("rclone", "s3cmd"):
        assert shutil.which(tool), f"`{tool}` is not installed (.ci/test installs it)"
    s3 = make_client(tls_proxy.https_endpoint, RW_ACCESS_KEY, RW_SECRET_KEY, verify=str(tls_proxy.ca.path))
    bucket = f"tools-{uid()}"
    s3.create_bucket(Bucket=bucket)
    src = tmp_path / "src"
    src.mkdir()
    files = {"small.txt": os.urandom(1000), "big.bin": os.urandom(12 * MIB + 7)}
    for name, data in files.items():
        (src / name).write_bytes(data)

    conf = tmp_path / "rclone.conf"
    conf.write_text("\n".join([
        "[tls]", "type = s3", "provider = Other", "env_auth = false", f"access_key_id = {RW_ACCESS_KEY}",
        f"secret_access_key = {RW_SECRET_KEY}", f"endpoint = {tls_proxy.https_endpoint}", f"region = {REGION}",
        "force_path_style = true", ""]))
    rclone = [shutil.which("rclone"), "--config", conf, "--ca-cert", tls_proxy.ca.path, "--retries", "1",
              "--low-level-retries", "1", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"]
    _tool(rclone + ["copy", src, f"tls:{bucket}/rclone"], "rclone copy")
    _tool(rclone + ["check", src, f"tls:{bucket}/rclone"], "rclone check")
    for name, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"rclone/{name}")["Body"].read() == data

    host = f"127.0.0.1:{tls_proxy.tls_port}"
    s3cfg = tmp_path / "s3cfg"
    s3cfg.write_text("\n".join([
        "[default]", f"access_key = {RW_ACCESS_KEY}", f"secret_key = {RW_SECRET_KEY}", f"host_base = {host}",
        f"host_bucket = {host}", "use_https = True", "check_ssl_certificate = True",
        f"ca_certs_file = {tls_proxy.ca.path}", "signature_v2 = False", f"bucket_location = {REGION}",
        "progress_meter = False", ""]))
    s3cmd = [shutil.which("s3cmd"), "-c", s3cfg]
    res = _tool(s3cmd + ["put", "--multipart-chunk-size-mb=5", src / "big.bin", f"s3://{bucket}/s3cmd/big.bin"],
                "s3cmd put")
    assert "Retrying" not in res.stderr, res.stderr
    dst = tmp_path / "big.out"
    _tool(s3cmd + ["get", f"s3://{bucket}/s3cmd/big.bin", dst], "s3cmd get")
    assert dst.read_bytes() == files["big.bin"]
    # Trusting nothing but the system's roots, the same tool refuses the proxy's certificate.
    untrusted = [c for c in rclone if c not in ("--ca-cert", tls_proxy.ca.path)]
    refused = subprocess.run([str(c) for c in untrusted + ["lsf", f"tls:{bucket}"]], capture_output=True,
                             text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert refused.returncode != 0 and "certificate" in refused.stderr, refused.stderr[-2000:]


def test_certificate_replaced_on_sighup_during_a_download(tls_proxy, tmp_path):
    s3 = make_client(tls_proxy.https_endpoint, RW_ACCESS_KEY, RW_SECRET_KEY, verify=str(tls_proxy.ca.path))
    bucket = f"reload-{uid()}"
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(96 * MIB)
    s3.put_object(Bucket=bucket, Key="large", Body=body)
    first = der_of(tls_proxy.cert)
    assert served_cert(tls_proxy.tls_port, tls_proxy.ca.path) == first

    # A download in progress: its first MiB read, the rest still to come on the same connection.
    stream = s3.get_object(Bucket=bucket, Key="large")["Body"]
    digest = hashlib.sha256(stream.read(MIB))

    new_cert, new_key = tls_proxy.ca.issue("second", DNS_NAMES)
    tls_proxy.cert.write_bytes(new_cert.read_bytes())
    tls_proxy.key.write_bytes(new_key.read_bytes())
    mark = tls_proxy.log.stat().st_size
    os.kill(tls_proxy.server.proc.pid, signal.SIGHUP)
    wait_log(tls_proxy.log, "TLS certificate reloaded", mark)
    assert served_cert(tls_proxy.tls_port, tls_proxy.ca.path) == der_of(new_cert)

    # The download goes on to the end on its connection, slowly enough to span the reload.
    done = threading.Event()
    result: dict[str, object] = {}

    def finish():
        try:
            while chunk := stream.read(4 * MIB):
                digest.update(chunk)
            result["sha"] = digest.digest()
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            result["error"] = e
        done.set()

    t = threading.Thread(target=finish, daemon=True)
    t.start()
    assert done.wait(120), "the download did not finish"
    assert "error" not in result, result
    assert result["sha"] == hashlib.sha256(body).digest(), "the download is intact"

    # A bad certificate is refused, the current one stays.
    tls_proxy.cert.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    mark = tls_proxy.log.stat().st_size
    os.kill(tls_proxy.server.proc.pid, signal.SIGHUP)
    text = wait_log(tls_proxy.log, "TLS certificate reload refused", mark)
    assert str(tls_proxy.cert) in text, text
    assert served_cert(tls_proxy.tls_port, tls_proxy.ca.path) == der_of(new_cert)
    assert s3.get_object(Bucket=bucket, Key="large", Range="bytes=0-9")["Body"].read() == body[:10]
    tls_proxy.cert.write_bytes(new_cert.read_bytes())


@pytest.fixture
def localhost_names(monkeypatch):
    """Resolves `s3.localhost` and its subdomains to 127.0.0.1 in this process (like
    `curl --resolve`); every other name as before."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and (host == DOMAIN or host.endswith("." + DOMAIN)):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("transport", ["https", "http"])
def test_boto3_virtual_host_addressing(tls_proxy, localhost_names, transport, tmp_path):
    port = tls_proxy.tls_port if transport == "https" else int(tls_proxy.http_endpoint.rsplit(":", 1)[1])
    endpoint = f"{transport}://{DOMAIN}:{port}"
    seen: list[str] = []
    s3 = make_client(endpoint, RW_ACCESS_KEY, RW_SECRET_KEY, verify=str(tls_proxy.ca.path),
                     s3={"addressing_style": "virtual"})
    s3.meta.events.register("before-send.s3", lambda request, **_: seen.append(request.url))
    bucket = f"vhost-{uid()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a/b c.txt", Body=b"virtual")
    assert s3.get_object(Bucket=bucket, Key="a/b c.txt")["Body"].read() == b"virtual"
    assert s3.head_object(Bucket=bucket, Key="a/b c.txt")["ContentLength"] == 7
    src = tmp_path / "mp.bin"
    src.write_bytes(os.urandom(18 * MIB))
    s3.upload_file(str(src), bucket, "mp.bin")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="a/")
    assert [o["Key"] for o in listed["Contents"]] == ["a/b c.txt"]
    # A presigned URL (SigV4) for the bucket's host name, fetched by a plain HTTP client.
    presigner = make_client(endpoint, RW_ACCESS_KEY, RW_SECRET_KEY, verify=str(tls_proxy.ca.path),
                            s3={"addressing_style": "virtual"}, signature_version="s3v4")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a/b c.txt"},
                                           ExpiresIn=60)
    assert url.startswith(f"{transport}://{bucket}.{DOMAIN}:{port}/"), url
    ctx = ssl.create_default_context(cafile=str(tls_proxy.ca.path))
    with urllib.request.urlopen(url, timeout=30, context=ctx if transport == "https" else None) as r:
        assert r.read() == b"virtual"
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a/b c.txt"}, {"Key": "mp.bin"}]})
    s3.delete_bucket(Bucket=bucket)
    # Every request went to the bucket's own host name, never path-style.
    urls = seen
    assert urls and all(u.startswith(f"{transport}://{bucket}.{DOMAIN}:{port}/") for u in urls), urls
    # The objects were where a path-style client finds them (before the delete: check one more).
    plain = make_client(tls_proxy.http_endpoint, RW_ACCESS_KEY, RW_SECRET_KEY)
    other = f"vhost-{uid()}"
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=other, Key="k", Body=b"seen both ways")
    assert plain.get_object(Bucket=other, Key="k")["Body"].read() == b"seen both ways"


SDK_TLS_VHOST_BIN = "s3o-e2e-sdk-rust-tls-vhost"
SDK_RUN_TIMEOUT_SECS = 240


@pytest.mark.timeout(test_sdk_rust.BUILD_TIMEOUT_SECS + SDK_RUN_TIMEOUT_SECS + 60)
def test_aws_sdk_rust_virtual_host_over_tls(tls_proxy):
    binary = test_sdk_rust.build_client(SDK_TLS_VHOST_BIN)
    bucket = f"sdk-vhost-{uid()}"
    endpoint = f"https://{DOMAIN}:{tls_proxy.tls_port}"
    cmd = [str(binary), "--endpoint", endpoint, "--ca", str(tls_proxy.ca.path), "--bucket", bucket,
           "--prefix", "dir/", "--size", str(13 * MIB + 4321)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": RW_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": RW_SECRET_KEY,
                "AWS_REGION": REGION})
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=SDK_RUN_TIMEOUT_SECS,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the aws-sdk-s3 client did not finish within {SDK_RUN_TIMEOUT_SECS} s: {' '.join(cmd)}\n"
                    f"stdout:\n{e.stdout}\nstderr:\n{test_sdk_rust._tail(str(e.stderr))}", pytrace=False)
    print(res.stdout)
    if res.returncode != 0:
        pytest.fail(f"the aws-sdk-s3 client exited {res.returncode}: {' '.join(cmd)}\n"
                    f"stdout:\n{test_sdk_rust._tail(res.stdout)}\nstderr (one line per HTTP exchange, "
                    f"then the failure):\n{test_sdk_rust._tail(res.stderr)}", pytrace=False)
    out = res.stdout.splitlines()
    assert out[-1].startswith("all checks passed"), res.stdout
    oks = [line for line in out if line.startswith("ok: ")]
    # The steps of the plain client (3 UploadParts here) plus the TLS, bucket, copy and wire checks.
    assert sum(line.startswith("ok: UploadPart ") for line in oks) == 3, res.stdout
    assert len(oks) == 23, res.stdout
    assert any("TLS handshake fails on the certificate" in line for line in oks), res.stdout

    # The wire, as the SDK sent it: every request over https to the bucket's own host name, no
    # bucket in the path; the names its resolver was asked for: the bucket's host only.
    host = f"{bucket}.{DOMAIN}:{tls_proxy.tls_port}"
    requests = [line.split(" ", 2)[1:] for line in out if line.startswith("vhost-request: ")]
    assert len(requests) >= 25, res.stdout
    methods = {m for m, _ in requests}
    assert methods >= {"PUT", "GET", "HEAD", "POST", "DELETE"}, methods
    for method, url in requests:
        assert url.startswith(f"https://{host}/"), (method, url)
        assert not url[len(f"https://{host}/"):].startswith(bucket), (method, url)
    assert ["PUT", f"https://{host}/"] in requests, "CreateBucket was not PUT / on the bucket's host"
    resolved = {line.split(" ", 1)[1] for line in out if line.startswith("resolved: ")}
    assert resolved == {f"{bucket}.{DOMAIN}"}, resolved
