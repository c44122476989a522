"""schemathesis against the second API of the admin port (seed 003: `/api/*`, `/auth/*`, `/s/*`,
`/healthz`, `/readyz`, `/metrics`), as its own OpenAPI document (`GET /api/openapi.json`,
`admin/openapi-api.json`) describes it: a proxy with `[access]` and a bootstrap admin over
SeaweedFS, one virtual bucket holding a few objects and a share of one of them (the document's
examples name them, so the object routes act on real objects), then every documented operation
fuzzed with the admin's session cookie and CSRF header: no 5xx, and every response matches the
document (status, content type, body schema)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from conftest import private_proxy
from harness import RW_ACCESS_KEY, RW_SECRET_KEY, ApiBrowser, ensure_bucket, free_ports, make_client

SEAL_KEY = "5c" * 32
ADMIN_PW = "schema-api-admin-password"
REAL_BUCKET = "e2e-data-schema"
BUCKET = "schema-fuzz"
DOCUMENT = Path(__file__).resolve().parents[3] / "admin" / "openapi-api.json"

# Operations left out of the fuzzing: logging in with generated credentials (the per-address
# limit and the account lockout), logging out (it would end the session the run uses), the
# OpenID Connect redirects (no provider here; they share the login limit) and changing the
# admin's own password.
EXCLUDED_PATHS = ["/auth/login/local", "/auth/logout", "/auth/login/oidc", "/auth/callback",
                  "/api/me/password"]

# 501 `not_supported` is documented (and expected) on the routes of a real backend's buckets
# (the fuzzing may name `weed`: what its own buckets do not serve); a share of an unknown backend
# is 502 `backend_error` "backend unavailable", as the seed answers it. Any other 5xx fails the
# run.
SCHEMATHESIS_TOML = r"""
[[operations]]
include-path-regex = "^/api/backends/\\{bid\\}/buckets"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "501"]

[[operations]]
include-path = "/api/shares"
include-method = "POST"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502"]
"""


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
api_per_minute = 0
share_per_minute = 0

[access.bootstrap_admin]
username = "root"
password = "{ADMIN_PW}"

[[backends]]
name = "weed"
kind = "s3"
endpoint = "{seaweed.endpoint}"
bucket = "{REAL_BUCKET}"
access_key = "{seaweed.access_key}"
secret_key = "{seaweed.secret_key}"

[[buckets]]
name = "{BUCKET}"
backends = ["weed"]

[[credentials]]
access_key = "{RW_ACCESS_KEY}"
secret_key = "{RW_SECRET_KEY}"
buckets = ["*"]
""")
    return config


def schemathesis_bin() -> Path:
    return Path(sys.executable).parent / "schemathesis"


def test_schemathesis_finds_no_server_error_and_no_schema_violation_in_the_data_api(tmp_path, seaweed):
    ensure_bucket(seaweed.client, REAL_BUCKET)
    port, admin_port = free_ports(2)
    config = write_config(tmp_path, port, admin_port, seaweed)
    with private_proxy(tmp_path, "s3-orchestrator (data API schemathesis)", config, port) as server:
        server.wait_port(admin_port)
        api = ApiBrowser(f"http://127.0.0.1:{admin_port}")
        status, body = api.call("POST", "/auth/login/local", {"username": "root", "password": ADMIN_PW})
        assert status == 200, body
        if body["must_change_pw"]:
            status, body = api.call("POST", "/api/me/password",
                                    {"current_password": ADMIN_PW, "new_password": ADMIN_PW + "-2"})
            assert status == 200, body
        # Objects the document's examples name, and a share of one of them.
        s3 = make_client(f"http://127.0.0.1:{port}", RW_ACCESS_KEY, RW_SECRET_KEY)
        for key, data, ctype in [("fuzz/a.txt", b"hello, schema", "text/plain"),
                                 ("fuzz/b.bin", bytes(range(256)) * 8, "application/octet-stream"),
                                 ("fuzz/sub/c.txt", b"nested", "text/plain"),
                                 ("top.txt", b"at the root", "text/plain")]:
            s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType=ctype)
        # The share's object is not one the examples name (the fuzzing deletes those).
        s3.put_object(Bucket=BUCKET, Key="keep/shared.txt", Body=b"shared", ContentType="text/plain")
        status, share = api.call("POST", "/api/shares", {"backend_id": "orchestrator", "bucket": BUCKET,
                                                         "key": "keep/shared.txt"})
        assert status == 201, share
        # The document, served without a session (as admin/openapi-api.json holds it).
        doc = json.loads(DOCUMENT.read_text())
        with urllib.request.urlopen(f"{api.base}/api/openapi.json", timeout=30) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "application/json"
            assert json.loads(r.read()) == doc
        assert doc["openapi"] == "3.1.0"
        doc["components"]["parameters"]["code"]["example"] = share["code"]
        schema = tmp_path / "openapi-api.json"
        schema.write_text(json.dumps(doc))
        session, csrf = api.cookie("stowage_session"), api.cookie("stowage_csrf")
        assert session and csrf
        settings = tmp_path / "schemathesis.toml"
        settings.write_text(SCHEMATHESIS_TOML)
        cmd = [str(schemathesis_bin()), "--config-file", str(settings), "run", str(schema), "--url", api.base,
               "-H", f"Cookie: stowage_session={session}; stowage_csrf={csrf}",
               "-H", f"X-CSRF-Token: {csrf}",
               "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                           "response_schema_conformance",
               "--max-examples", "20", "--workers", "1", "--request-timeout", "30", "--no-color"]
        for path in EXCLUDED_PATHS:
            cmd += ["--exclude-path", path]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=480, cwd=tmp_path)
        (tmp_path / "schemathesis.out").write_text(out.stdout + out.stderr)
        assert out.returncode == 0, out.stdout[-12000:] + out.stderr[-2000:]
        # The session survived the run (nothing logged it out or locked it).
        assert api.call("GET", "/api/me")[0] == 200
