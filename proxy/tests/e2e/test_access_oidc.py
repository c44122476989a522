"""OpenID Connect sign-in against a real OpenID provider running locally (the certified
`oidc-provider` npm package, proxy/tests/e2e/oidc/provider.mjs), driven by a script that follows
the redirects as a browser would: the first login creates the user with the role its `groups`
claim maps to and starts a session the API accepts; a wrong state and a tampered ID token (a
provider that signs with another key) are refused with 401 `oidc_failed`."""

from __future__ import annotations

import http.cookiejar
import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import private_proxy
from harness import Server, free_ports

pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="node and npm are needed for the OpenID provider")

HERE = Path(__file__).parent / "oidc"
CLIENT_ID = "s3o-e2e"
CLIENT_SECRET = "s3o-e2e-client-secret"


def install_provider() -> None:
    if not (HERE / "node_modules" / "oidc-provider").exists():
        out = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stdout + out.stderr


def start_provider(root: Path, port: int, redirect: str, name: str) -> Server:
    s = Server.start(name, ["node", str(HERE / "provider.mjs"), str(port), CLIENT_ID, CLIENT_SECRET, redirect],
                     root / f"{name}.log", cwd=HERE)
    s.wait_port(port)
    return s


def write_config(root: Path, port: int, admin_port: int, issuer_port: int) -> Path:
    config = root / "proxy.toml"
    config.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
threads = 1
data_dir = "{root}/meta"
shutdown_grace_secs = 5

[admin]
listen = "127.0.0.1:{admin_port}"

[access]
secret_key = "{'3c' * 32}"
login_per_15_minutes = 200     # the flows below make many logins from one address

[access.oidc]
issuer = "http://127.0.0.1:{issuer_port}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
redirect_url = "http://127.0.0.1:{admin_port}/auth/callback"
scopes = ["profile", "email", "groups"]
admin_values = ["storage-admins"]
user_values = ["storage-users"]
default_role = "readonly"

[[backends]]
name = "disk"
kind = "fs"
path = "{root}/disk"
""")
    return config


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """Cookies per host, redirects followed by hand so each hop can be checked."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def get(self, url: str):
        try:
            with self.opener.open(urllib.request.Request(url), timeout=30) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def follow(self, url: str, until: str, hops: int = 12):
        """GETs `url` and its redirects until one points at `until` (not fetched); that URL."""
        for _ in range(hops):
            status, headers, body = self.get(url)
            assert status in (302, 303), f"{url}: {status} {body[:300]!r}"
            url = urllib.parse.urljoin(url, headers["location"])
            if url.startswith(until):
                return url
        raise AssertionError("too many redirects")

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


def next_user(issuer: str, **account) -> None:
    req = urllib.request.Request(issuer + "/test/next-user", data=json.dumps(account).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    install_provider()
    root = tmp_path_factory.mktemp("oidc")
    port, admin_port, issuer_port, rogue_port = free_ports(4)
    redirect = f"http://127.0.0.1:{admin_port}/auth/callback"
    provider = start_provider(root, issuer_port, redirect, "oidc-provider")
    config = write_config(root, port, admin_port, issuer_port)
    try:
        with private_proxy(root, "s3-orchestrator (oidc)", config, port) as server:
            server.wait_port(admin_port)
            yield {"admin": f"http://127.0.0.1:{admin_port}", "issuer": f"http://127.0.0.1:{issuer_port}",
                   "root": root, "rogue_port": rogue_port, "redirect": redirect}
    finally:
        provider.stop()


def test_first_login_creates_the_user_with_its_mapped_role(stack):
    admin, issuer = stack["admin"], stack["issuer"]
    status, _, body = Browser().get(admin + "/api/auth/config")
    assert json.loads(body)["modes"] == ["local", "oidc"]
    next_user(issuer, id="sub-alice", username="alice", email="alice@example.org", groups=["storage-admins"])
    b = Browser()
    callback = b.follow(admin + "/auth/login/oidc", until=admin + "/auth/callback")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(callback).query)
    assert "code" in query and query["state"][0] == b.cookie("stowage_oidc_state")
    status, headers, _ = b.get(callback)
    assert (status, headers["location"]) == (302, "/"), headers
    status, _, body = b.get(admin + "/api/me")
    me = json.loads(body)
    assert status == 200, me
    assert (me["username"], me["role"], me["identity_source"]) == ("alice", "admin", f"oidc:127.0.0.1:{issuer.rsplit(':', 1)[1]}")
    # The admin may use the admin API; a second login finds the same user.
    assert b.get(admin + "/api/admin/users")[0] == 200
    next_user(issuer, id="sub-bob", username="bob", groups=["nothing-known"])
    b2 = Browser()
    b2.get(b2.follow(admin + "/auth/login/oidc", until=admin + "/auth/callback"))
    me2 = json.loads(b2.get(admin + "/api/me")[2])
    assert (me2["username"], me2["role"]) == ("bob", "readonly")
    users = json.loads(b.get(admin + "/api/admin/users?source=" + me["identity_source"])[2])["users"]
    assert sorted(u["username"] for u in users) == ["alice", "bob"]


def test_a_wrong_state_is_refused(stack):
    admin, issuer = stack["admin"], stack["issuer"]
    next_user(issuer, id="sub-carol", username="carol", groups=["storage-users"])
    b = Browser()
    callback = b.follow(admin + "/auth/login/oidc", until=admin + "/auth/callback")
    forged = callback.replace("state=", "state=x", 1)
    status, _, body = b.get(forged)
    assert (status, json.loads(body)["error"]["code"]) == (401, "oidc_failed")
    assert b.get(admin + "/api/me")[0] == 401
    # The flow's cookies were cleared: replaying the real callback fails too.
    status, _, _ = b.get(callback)
    assert status == 401


def set_tamper(issuer: str, on: bool) -> None:
    req = urllib.request.Request(issuer + "/test/tamper", data=json.dumps({"on": on}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200


def test_a_tampered_id_token_is_refused(stack):
    """The provider's token endpoint alters the ID token after signing it (a new subject and the
    admin group): the signature no longer verifies, nobody signs in, no user is created."""
    admin, issuer = stack["admin"], stack["issuer"]
    next_user(issuer, id="sub-dave", username="dave", groups=["storage-users"])
    set_tamper(issuer, True)
    try:
        b = Browser()
        callback = b.follow(admin + "/auth/login/oidc", until=admin + "/auth/callback")
        status, _, body = b.get(callback)
        assert (status, json.loads(body)["error"]["code"]) == (401, "oidc_failed")
        assert b.get(admin + "/api/me")[0] == 401
    finally:
        set_tamper(issuer, False)
    # A code that was altered is refused by the token endpoint, and so by us.
    b = Browser()
    callback = b.follow(admin + "/auth/login/oidc", until=admin + "/auth/callback")
    code = urllib.parse.parse_qs(urllib.parse.urlparse(callback).query)["code"][0]
    bad = callback.replace(code, code[:-1] + ("A" if code[-1] != "A" else "B"))
    status, _, body = b.get(bad)
    assert (status, json.loads(body)["error"]["code"]) == (401, "oidc_failed")
    # The untampered flow still works, and mallory never became a user.
    b = Browser()
    b.get(b.follow(admin + "/auth/login/oidc", until=admin + "/auth/callback"))
    assert json.loads(b.get(admin + "/api/me")[2])["username"] == "dave"
    next_user(issuer, id="sub-alice", username="alice", email="alice@example.org", groups=["storage-admins"])
    a = Browser()
    a.get(a.follow(admin + "/auth/login/oidc", until=admin + "/auth/callback"))
    names = [u["username"] for u in json.loads(a.get(admin + "/api/admin/users")[2])["users"]]
    assert "mallory" not in names and "dave" in names, names
