"""The admin port end to end, as an operator uses it: the README's curl walkthrough (form login,
dashboard with the session cookie, status with the token), the `s3-orchestrator admin` CLI,
UI uploads and downloads streamed through a real SeaweedFS backend, importing objects a backend
held before the proxy, usage counters and Prometheus metrics after real S3 traffic, HTTPS on the
admin port, and schemathesis fuzzing every documented endpoint against the OpenAPI document."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import private_proxy
from harness import (
    RW_ACCESS_KEY,
    RW_SECRET_KEY,
    ensure_bucket,
    free_ports,
    locate_proxy_binary,
    make_client,
    make_test_ca_and_cert,
)

TOKEN = "e2e-admin-token-0123456789"
ADMIN_KEY = "operator"
PASSWORD = "correct horse battery staple"
REAL_BUCKET = "e2e-admin"
BUCKET = "admin-e2e"


def hash_password(password: str) -> str:
    out = subprocess.run([str(locate_proxy_binary()), "hash-password"], input=password + "\n",
                         capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip()


def write_config(root: Path, port: int, admin_port: int, seaweed, tls: tuple[Path, Path] | None = None) -> Path:
    tls_lines = ""
    if tls:
        tls_lines = f'tls_cert_file = "{tls[0]}"\ntls_key_file = "{tls[1]}"\n'
    config = root / "proxy.toml"
    config.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
threads = 2
data_dir = "{root}/meta"
shutdown_grace_secs = 5

[admin]
listen = "127.0.0.1:{admin_port}"
usage_flush_secs = 1
{tls_lines}
[ui]
admin_key = "{ADMIN_KEY}"
admin_secret = "{hash_password(PASSWORD)}"
admin_token = "{TOKEN}"

[[backends]]
name = "weed"
kind = "s3"
endpoint = "{seaweed.endpoint}"
bucket = "{REAL_BUCKET}"
access_key = "{seaweed.access_key}"
secret_key = "{seaweed.secret_key}"
quota_bytes = 1073741824

[[backends]]
name = "disk"
kind = "fs"
path = "{root}/disk"

[[buckets]]
name = "{BUCKET}"
backends = ["weed", "disk"]

[[credentials]]
access_key = "{RW_ACCESS_KEY}"
secret_key = "{RW_SECRET_KEY}"
""")
    return config


class Admin:
    """The admin port of one proxy: HTTP helpers and the CLI."""

    def __init__(self, base: str, config: Path, s3_endpoint: str):
        self.base = base
        self.config = config
        self.s3 = make_client(s3_endpoint, RW_ACCESS_KEY, RW_SECRET_KEY)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def api(self, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        status, _, raw = self.request(method, path, data, {"X-Admin-Token": TOKEN, "Content-Type": "application/json"})
        return status, json.loads(raw)

    def cli(self, *args: str) -> str:
        out = subprocess.run([str(locate_proxy_binary()), "admin", "--config", str(self.config), *args],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout


@pytest.fixture(scope="module")
def admin(tmp_path_factory, seaweed):
    root = tmp_path_factory.mktemp("admin")
    ensure_bucket(seaweed.client, REAL_BUCKET)
    # An object the backend held before the proxy: `sync` imports it.
    seaweed.client.put_object(Bucket=REAL_BUCKET, Key="legacy/report.txt", Body=b"written before the proxy")
    port, admin_port = free_ports(2)
    config = write_config(root, port, admin_port, seaweed)
    with private_proxy(root, "s3-orchestrator (admin)", config, port) as server:
        server.wait_port(admin_port)
        yield Admin(f"http://127.0.0.1:{admin_port}", config, f"http://127.0.0.1:{port}")


def curl(*args: str) -> str:
    out = subprocess.run(["curl", "-sS", "--fail-with-body", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"curl {args}: {out.stdout}{out.stderr}"
    return out.stdout


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@needs_curl
def test_the_readme_walkthrough_works_as_written(admin, tmp_path):
    cookies = tmp_path / "cookies.txt"
    login = curl("-c", str(cookies), "-X", "POST", "-d", f"admin_key={ADMIN_KEY}&admin_secret={PASSWORD}",
                 f"{admin.base}/ui/login")
    assert json.loads(login) == {"ok": True}
    dashboard = json.loads(curl("-b", str(cookies), f"{admin.base}/ui/api/dashboard"))
    assert dashboard["BackendOrder"] == ["weed", "disk"]
    assert dashboard["QuotaStats"]["weed"]["BytesLimit"] == 1073741824
    assert set(dashboard["QuotaStats"]["weed"]) == {"BackendName", "BytesUsed", "BytesLimit", "UpdatedAt"}
    assert set(dashboard["UsageStats"]["weed"]) == {"APIRequests", "EgressBytes", "IngressBytes"}
    assert len(dashboard["UsagePeriod"]) == 7
    top = dashboard["TopLevelEntries"]
    assert {"name": f"{BUCKET}/", "isDir": True} .items() <= next(
        e for e in top["entries"] if e["name"] == f"{BUCKET}/").items()
    status = json.loads(curl("-H", f"X-Admin-Token: {TOKEN}", f"{admin.base}/admin/api/status"))
    assert status["db_healthy"] is True
    assert [b["name"] for b in status["backends"]] == ["weed", "disk"]
    # A wrong password is refused; the session cookie is not accepted once altered.
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-d",
                          f"admin_key={ADMIN_KEY}&admin_secret=wrong", f"{admin.base}/ui/login"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout == "401"


def test_cli_status_and_workers(admin):
    out = admin.cli("status")
    assert "metadata store: healthy" in out
    assert "weed" in out and "disk" in out
    parsed = json.loads(admin.cli("--json", "status"))
    assert parsed["backends"][0]["name"] == "weed"
    workers = json.loads(admin.cli("workers", "--json"))["workers"]
    assert {w["name"] for w in workers} >= {"cleanup_queue", "multipart_reaper", "usage_flush"}
    assert "log level: info" in admin.cli("log-level")
    assert "log level: debug" in admin.cli("log-level", "debug")
    assert admin.api("GET", "/admin/api/log-level") == (200, {"level": "debug"})
    assert "log level: info" in admin.cli("log-level", "info")


@needs_curl
def test_ui_upload_and_download_stream_through_the_backend(admin, tmp_path):
    cookies = tmp_path / "cookies.txt"
    curl("-c", str(cookies), "-X", "POST", "-d", f"admin_key={ADMIN_KEY}&admin_secret={PASSWORD}",
         f"{admin.base}/ui/login")
    body = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "upload.bin"
    src.write_bytes(body)
    key = f"ui/{uuid.uuid4().hex}/upload.bin"
    up = json.loads(curl("-b", str(cookies), "-F", f"key={BUCKET}/{key}", "-F", f"file=@{src}",
                         f"{admin.base}/ui/api/upload"))
    assert up["ok"] is True
    import hashlib
    assert up["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
    # The object is a normal S3 object.
    assert admin.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
    dest = tmp_path / "down"
    dest.mkdir()
    subprocess.run(["curl", "-sS", "--fail", "-b", str(cookies), "-OJ",
                    f"{admin.base}/ui/api/download?key={BUCKET}/{key}"], cwd=dest, check=True, timeout=60)
    assert (dest / "upload.bin").read_bytes() == body
    locations = admin.api("GET", f"/admin/api/object-locations?key={BUCKET}/{key}")
    assert locations[0] == 200
    loc = locations[1]["locations"]
    assert len(loc) == 1 and loc[0]["BackendName"] == "weed" and loc[0]["SizeBytes"] == len(body)
    # Delete through the UI: gone from S3, its bytes queued for cleanup.
    status, _, raw = admin.request("POST", "/ui/api/delete", json.dumps({"key": f"{BUCKET}/{key}"}).encode(),
                                   {"Cookie": cookies_header(cookies), "Content-Type": "application/json"})
    assert (status, json.loads(raw)) == (200, {"ok": True})
    with pytest.raises(Exception):
        admin.s3.head_object(Bucket=BUCKET, Key=key)


def cookies_header(path: Path) -> str:
    pairs = []
    for line in path.read_text().splitlines():
        if line.startswith("#HttpOnly_"):
            line = line[len("#HttpOnly_"):]
        elif line.startswith("#") or not line.strip():
            continue
        f = line.split("\t")
        pairs.append(f"{f[5]}={f[6]}")
    return "; ".join(pairs)


def login_cookie(admin: Admin) -> str:
    status, headers, _ = admin.request("POST", "/ui/login",
                                       f"admin_key={ADMIN_KEY}&admin_secret={PASSWORD}".encode(),
                                       {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    return headers.get("Set-Cookie").split(";")[0]


def test_sync_imports_preexisting_objects_once(admin):
    cookie = login_cookie(admin)
    body = json.dumps({"backend": "weed", "bucket": BUCKET}).encode()
    hdrs = {"Cookie": cookie, "Content-Type": "application/json"}
    status, _, raw = admin.request("POST", "/ui/api/sync", body, hdrs)
    first = json.loads(raw)
    assert status == 200 and first["ok"] is True and first["imported"] >= 1, first
    assert admin.s3.get_object(Bucket=BUCKET, Key="legacy/report.txt")["Body"].read() == b"written before the proxy"
    status, _, raw = admin.request("POST", "/ui/api/sync", body, hdrs)
    second = json.loads(raw)
    assert (status, second["imported"]) == (200, 0)
    assert second["skipped"] >= first["imported"]
    # The tree shows it with its size.
    status, _, raw = admin.request("GET", f"/ui/api/tree?prefix={BUCKET}/legacy/", None, {"Cookie": cookie})
    tree = json.loads(raw)
    assert status == 200
    assert {"name": f"{BUCKET}/legacy/report.txt", "isDir": False, "size": 24, "count": 0} in tree["entries"]


def test_usage_counters_and_metrics_follow_s3_traffic(admin):
    key = f"usage/{uuid.uuid4().hex}"
    before = {b["name"]: b for b in admin.api("GET", "/admin/api/status")[1]["backends"]}
    admin.s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 100_000)
    admin.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert admin.api("POST", "/admin/api/usage-flush") == (200, {"status": "flushed"})
    after = {b["name"]: b for b in admin.api("GET", "/admin/api/status")[1]["backends"]}
    assert after["weed"]["api_requests"] >= before["weed"]["api_requests"] + 2
    assert after["weed"]["ingress_bytes"] >= before["weed"]["ingress_bytes"] + 100_000
    assert after["weed"]["egress_bytes"] >= before["weed"]["egress_bytes"] + 100_000
    assert after["weed"]["object_count"] >= before["weed"]["object_count"] + 1
    status, headers, raw = admin.request("GET", "/metrics")
    text = raw.decode()
    assert status == 200 and headers.get("Content-Type", "").startswith("text/plain")
    assert 's3o_requests_total{operation="PutObject",status="200"}' in text
    assert 's3o_request_duration_seconds_bucket{operation="GetObject",le="+Inf"}' in text
    assert 's3o_backend_ingress_bytes_total{backend="weed"}' in text
    assert 's3o_worker_ticks_total{worker="usage_flush"}' in text
    assert "s3o_worker_consecutive_failures" in text
    ready = admin.request("GET", "/health/ready")
    assert ready[0] == 200, ready


def test_admin_port_over_https(tmp_path, seaweed):
    ensure_bucket(seaweed.client, REAL_BUCKET)
    _ca, cert, key = make_test_ca_and_cert(tmp_path / "tls")
    chain = tmp_path / "tls" / "chain.pem"
    chain.write_bytes(cert.read_bytes() + _ca.read_bytes())
    port, admin_port = free_ports(2)
    config = write_config(tmp_path, port, admin_port, seaweed, tls=(chain, key))
    with private_proxy(tmp_path, "s3-orchestrator (admin https)", config, port) as server:
        server.wait_port(admin_port)
        import ssl
        ctx = ssl.create_default_context(cafile=str(_ca))
        req = urllib.request.Request(f"https://127.0.0.1:{admin_port}/admin/api/status",
                                     headers={"X-Admin-Token": TOKEN})
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            assert json.loads(r.read())["db_healthy"] is True
        # The CLI trusts the configured chain.
        out = subprocess.run([str(locate_proxy_binary()), "admin", "--config", str(config), "status"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "metadata store: healthy" in out.stdout
        # A session cookie over TLS is Secure.
        login = urllib.request.Request(f"https://127.0.0.1:{admin_port}/ui/login",
                                       data=f"admin_key={ADMIN_KEY}&admin_secret={PASSWORD}".encode(),
                                       method="POST")
        with urllib.request.urlopen(login, context=ctx, timeout=30) as r:
            assert "Secure" in r.headers["Set-Cookie"]


def schemathesis_bin() -> Path:
    return Path(sys.executable).parent / "schemathesis"


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path, seaweed):
    """Every documented operation fuzzed with the token and a session cookie: no 5xx, and every
    response matches the OpenAPI document (status, content type, body schema)."""
    ensure_bucket(seaweed.client, REAL_BUCKET)
    port, admin_port = free_ports(2)
    config = write_config(tmp_path, port, admin_port, seaweed)
    with private_proxy(tmp_path, "s3-orchestrator (schemathesis)", config, port) as server:
        server.wait_port(admin_port)
        admin = Admin(f"http://127.0.0.1:{admin_port}", config, f"http://127.0.0.1:{port}")
        admin.s3.put_object(Bucket=BUCKET, Key="fuzz/a.txt", Body=b"hello")
        status, doc = admin.api("GET", "/admin/api/openapi.json")
        assert status == 200 and doc["openapi"].startswith("3.1")
        schema = tmp_path / "openapi.json"
        schema.write_text(json.dumps(doc))
        cookie = login_cookie(admin)
        cmd = [str(schemathesis_bin()), "run", str(schema), "--url", admin.base,
               "-H", f"X-Admin-Token: {TOKEN}", "-H", f"Cookie: {cookie}",
               "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                           "response_schema_conformance",
               # Logging in with generated credentials would lock this address out of the UI.
               "--exclude-path", "/ui/login",
               "--max-examples", "25", "--workers", "1", "--no-color"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
