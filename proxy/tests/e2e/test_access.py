"""The access layer end to end, as the README walks through it: an admin created by the CLI
(`s3-orchestrator user create --role admin`, password on stdin) logs in with curl (cookie jar,
CSRF header), changes the forced password, mints a credential scoped read-only to one bucket;
boto3 with its default settings can read that bucket, cannot write it, cannot see or touch
another, and is refused within a second once the credential is disabled; an anonymous binding
serves a plain curl GET and refuses a PUT; the audit log shows it all."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import private_proxy
from harness import RW_ACCESS_KEY, RW_SECRET_KEY, ensure_bucket, error_of, free_ports, locate_proxy_binary, make_client

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

REAL_BUCKET = "e2e-access"
SEAL_KEY = "5a" * 32
FIRST_PW = "first-admin-password"
ADMIN_PW = "second-admin-password"


def write_config(root: Path, port: int, admin_port: int, seaweed) -> Path:
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
anonymous_enabled = true

[[backends]]
name = "weed"
kind = "s3"
endpoint = "{seaweed.endpoint}"
bucket = "{REAL_BUCKET}"
access_key = "{seaweed.access_key}"
secret_key = "{seaweed.secret_key}"

[defaults]
backends = ["weed"]

[[credentials]]
access_key = "{RW_ACCESS_KEY}"
secret_key = "{RW_SECRET_KEY}"
create_buckets = true
""")
    return config


class Curl:
    """curl with a cookie jar, as a shell user drives the API."""

    def __init__(self, base: str, jar: Path):
        self.base, self.jar = base, jar

    def csrf(self) -> str:
        for line in self.jar.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) == 7 and parts[5] == "stowage_csrf":
                return parts[6]
        raise AssertionError("no stowage_csrf cookie in the jar")

    def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        args = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method, "-b", str(self.jar),
                "-c", str(self.jar), self.base + path]
        if method not in ("GET", "HEAD") and self.jar.exists() and self.jar.read_text().count("stowage_csrf"):
            args += ["-H", f"X-CSRF-Token: {self.csrf()}"]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
        out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
        text, _, status = out.rpartition("\n")
        return int(status), (json.loads(text) if text.strip() else {})


@pytest.fixture(scope="module")
def stack(tmp_path_factory, seaweed):
    root = tmp_path_factory.mktemp("access")
    ensure_bucket(seaweed.client, REAL_BUCKET)
    port, admin_port = free_ports(2)
    config = write_config(root, port, admin_port, seaweed)
    made = subprocess.run([str(locate_proxy_binary()), "user", "create", "--config", str(config),
                           "--username", "root", "--role", "admin"],
                          input=FIRST_PW + "\n", capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    with private_proxy(root, "s3-orchestrator (access)", config, port) as server:
        server.wait_port(admin_port)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}", root


def signed_in(admin_base: str, root: Path) -> Curl:
    c = Curl(admin_base, root / "cookies.txt")
    status, body = c.call("POST", "/auth/login/local", {"username": "root", "password": FIRST_PW})
    if status == 401:  # the password was changed by an earlier test of this module
        status, body = c.call("POST", "/auth/login/local", {"username": "root", "password": ADMIN_PW})
        assert status == 200, body
        return c
    assert (status, body["must_change_pw"]) == (200, True), body
    assert c.call("GET", "/api/admin/users")[0] == 403, "the forced change comes first"
    status, _ = c.call("POST", "/api/me/password", {"current_password": FIRST_PW, "new_password": ADMIN_PW})
    assert status == 200
    return c


def wait_until(what: str, ok, limit: float) -> float:
    start = time.monotonic()
    while not ok():
        assert time.monotonic() - start < limit, f"{what} not within {limit} s"
        time.sleep(0.02)
    return time.monotonic() - start


def denied(call) -> bool:
    try:
        call()
        return False
    except ClientError as e:
        return error_of(e)[1] == 403


def test_a_scoped_read_only_credential_through_boto3(stack):
    s3_url, admin_url, root = stack
    c = signed_in(admin_url, root)
    owner = make_client(s3_url, RW_ACCESS_KEY, RW_SECRET_KEY)
    for b in ("team-docs", "team-secret"):
        owner.create_bucket(Bucket=b)
        owner.put_object(Bucket=b, Key="readme.txt", Body=b"contents of " + b.encode())
    status, cred = c.call("POST", "/api/me/s3-credentials",
                          {"backend_id": "orchestrator", "buckets": ["team-docs"], "permission": "read-only",
                           "description": "e2e reader"})
    assert status == 201, cred
    akid, secret = cred["access_key"], cred["secret_key"]
    assert akid.startswith("AKIA") and len(akid) == 20 and len(secret) == 40
    reader = make_client(s3_url, akid, secret)
    wait_until("the new key", lambda: not denied(lambda: reader.head_bucket(Bucket="team-docs")), 1.0)
    assert reader.get_object(Bucket="team-docs", Key="readme.txt")["Body"].read() == b"contents of team-docs"
    listed = [o["Key"] for o in reader.list_objects_v2(Bucket="team-docs")["Contents"]]
    assert listed == ["readme.txt"]
    assert [b["Name"] for b in reader.list_buckets()["Buckets"]] == ["team-docs"]
    with pytest.raises(ClientError) as e:
        reader.put_object(Bucket="team-docs", Key="new.txt", Body=b"x")
    assert error_of(e) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        reader.get_object(Bucket="team-secret", Key="readme.txt")
    assert error_of(e) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        reader.delete_object(Bucket="team-secret", Key="readme.txt")
    assert error_of(e) == ("AccessDenied", 403)
    # The secret is never shown again, nor kept in the clear on disk.
    for path in ("/api/me/s3-credentials", "/api/admin/s3-credentials", "/api/admin/s3-proxy/credentials"):
        status, body = c.call("GET", path)
        assert status == 200 and secret not in json.dumps(body) and akid in json.dumps(body), path
    for f in (root / "meta").rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f"{f} holds the secret"
    # Disabled: refused within a second.
    status, body = c.call("PATCH", f"/api/me/s3-credentials/{akid}", {"enabled": False})
    assert (status, body["enabled"]) == (200, False)
    took = wait_until("the disabled key's refusal",
                      lambda: denied(lambda: reader.get_object(Bucket="team-docs", Key="readme.txt")), 1.0)
    print(f"disabled key refused after {took:.3f} s")
    # The audit log has the credential's life.
    status, audit = c.call("GET", "/api/admin/audit?action=s3_credential.")
    assert status == 200
    actions = [e["action"] for e in audit["events"]]
    assert "s3_credential.create" in actions and "s3_credential.update" in actions


def test_an_anonymous_binding_serves_curl_and_refuses_writes(stack):
    s3_url, admin_url, root = stack
    c = signed_in(admin_url, root)
    owner = make_client(s3_url, RW_ACCESS_KEY, RW_SECRET_KEY)
    owner.create_bucket(Bucket="public-site")
    owner.put_object(Bucket="public-site", Key="index.html", Body=b"<h1>hello</h1>", ContentType="text/html")

    def anon(method: str, path: str, data: bytes | None = None) -> int:
        args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, s3_url + path]
        if data is not None:
            args += ["--data-binary", data.decode()]
        return int(subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout)

    assert anon("GET", "/public-site/index.html") == 403
    status, body = c.call("POST", "/api/admin/s3-anonymous", {"backend_id": "orchestrator", "bucket": "public-site"})
    assert status == 200 and body["mode"] == "ReadOnly", body
    wait_until("the binding", lambda: anon("GET", "/public-site/index.html") == 200, 1.0)
    page = subprocess.run(["curl", "-sS", "--fail", s3_url + "/public-site/index.html"], capture_output=True,
                          timeout=60, check=True).stdout
    assert page == b"<h1>hello</h1>"
    assert anon("PUT", "/public-site/index.html", b"defaced") == 403
    assert anon("DELETE", "/public-site/index.html") == 403
    assert anon("GET", "/team-docs/readme.txt") == 403
    assert owner.get_object(Bucket="public-site", Key="index.html")["Body"].read() == b"<h1>hello</h1>"
    status, _ = c.call("DELETE", "/api/admin/s3-anonymous/orchestrator/public-site")
    assert status == 204
    wait_until("the binding's removal", lambda: anon("GET", "/public-site/index.html") == 403, 1.0)
