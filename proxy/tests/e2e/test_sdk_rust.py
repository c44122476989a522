"""The official AWS SDK for Rust (`aws-sdk-s3`, default settings) against the proxy, in front of
SeaweedFS.

The client is the standalone Cargo project `sdk_rust/` (its own workspace, so the root
workspace's builds never compile it; its `//!` doc lists every check). This test builds it with
`cargo build --locked` (bounded; into CARGO_TARGET_DIR when set, else `sdk_rust/target`; cargo
missing is a failure, not a skip) and runs it against a proxy of this module whose one bucket
has SeaweedFS as its only backend. The client does a 40 MiB multipart upload with the SDK's own
calls and default checksums, downloads it whole, by part and by range, round-trips a small object,
lists, aborts a second upload, and checks every value that comes back; it exits non-zero naming
the check that failed. Afterwards the test looks at SeaweedFS directly: the multipart object's
bytes are there, under its physical key, at their full size.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

import conftest
from harness import (
    E2E_DIR,
    REGION,
    RW_ACCESS_KEY,
    RW_SECRET_KEY,
    Server,
    ensure_bucket,
    free_ports,
    list_physical,
    physical_prefix,
)

SDK_DIR = E2E_DIR / "sdk_rust"
SDK_BIN_NAME = "s3o-e2e-sdk-rust"
# A clean build of the client is 2 minutes on 2 idle cores, 4 on busy ones (aws-sdk-s3 is one
# big crate); a rebuild with nothing changed is under a second. .ci/test builds it before the suite.
BUILD_TIMEOUT_SECS = 1200
RUN_TIMEOUT_SECS = 240
BUCKET = "sdk-rust"
REAL_BUCKET = "sdk-rust-seaweed"
MIB = 1024 * 1024
# The multipart object: 40 MiB and a bit, so 7 parts of 6 MiB (the last one shorter).
BIG_SIZE = 40 * MIB + 12_345


def _tail(text: str, chars: int = 12_000) -> str:
    return text if len(text) <= chars else "[...]\n" + text[-chars:]


def build_client(name: str = SDK_BIN_NAME) -> Path:
    """`cargo build --locked` of sdk_rust/ (both its binaries); returns the binary `name`. Fails
    (never skips) without cargo."""
    cargo = shutil.which("cargo") or next(
        (str(p) for p in [Path.home() / ".cargo/bin/cargo"] if p.is_file()), None)
    if cargo is None:
        pytest.fail("cargo is not installed: it is needed to build the aws-sdk-s3 client in "
                    f"{SDK_DIR} (CI always has it)", pytrace=False)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or SDK_DIR / "target").resolve()
    cmd = [cargo, "build", "--locked", "--manifest-path", str(SDK_DIR / "Cargo.toml")]
    env = {**os.environ, "CARGO_TARGET_DIR": str(target), "CARGO_TERM_COLOR": "never"}
    started = time.monotonic()
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECS,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        pytest.fail(f"building the aws-sdk-s3 client took over {BUILD_TIMEOUT_SECS} s: {' '.join(cmd)}\n"
                    f"{_tail(out)}", pytrace=False)
    if res.returncode != 0:
        pytest.fail(f"building the aws-sdk-s3 client failed (exit {res.returncode}): {' '.join(cmd)}\n"
                    f"{_tail(res.stdout + res.stderr)}", pytrace=False)
    binary = target / "debug" / name
    if not binary.is_file():
        pytest.fail(f"cargo built, but {binary} is not there\n{_tail(res.stderr)}", pytrace=False)
    print(f"built {binary} in {time.monotonic() - started:.1f} s")
    return binary


# --------------------------------------------------------------------------------------------
# The proxy of this module: one bucket, SeaweedFS its only backend


@dataclass
class SdkProxy:
    endpoint: str
    server: Server


def _write_config(path: Path, port: int, data_dir: Path, seaweed) -> None:
    q = json.dumps  # a JSON string is a valid TOML basic string
    path.write_text("\n".join([
        "[server]", f"listen = {q(f'127.0.0.1:{port}')}", f"data_dir = {q(str(data_dir))}",
        "threads = 2", f"region = {q(REGION)}", "shutdown_grace_secs = 5", "",
        "[[backends]]", 'name = "seaweed"', 'kind = "s3"', f"endpoint = {q(seaweed.endpoint)}",
        f"region = {q(REGION)}", f"bucket = {q(REAL_BUCKET)}", f"access_key = {q(seaweed.access_key)}",
        f"secret_key = {q(seaweed.secret_key)}", "path_style = true", "",
        "[[buckets]]", f"name = {q(BUCKET)}", 'backends = ["seaweed"]', 'placement = "pack"', "",
        "[[credentials]]", f"access_key = {q(RW_ACCESS_KEY)}", f"secret_key = {q(RW_SECRET_KEY)}",
        'buckets = ["*"]', 'access = "read-write"', "create_buckets = false", "",
    ]))


@pytest.fixture(scope="module")
def sdk_proxy(tmp_path_factory, seaweed):
    """s3-orchestrator with bucket `sdk-rust` on SeaweedFS only."""
    ensure_bucket(seaweed.client, REAL_BUCKET)
    root = tmp_path_factory.mktemp("sdk-rust-proxy")
    (port,) = free_ports(1)
    config = root / "s3-orchestrator.toml"
    _write_config(config, port, root / "meta", seaweed)
    with conftest.private_proxy(root, "s3-orchestrator (sdk-rust)", config, port) as server:
        yield SdkProxy(f"http://127.0.0.1:{port}", server)


# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(BUILD_TIMEOUT_SECS + RUN_TIMEOUT_SECS + 60)
def test_sdk_rust_multipart_and_downloads(sdk_proxy, seaweed):
    binary = build_client()
    prefix = f"sdk-rust/{uuid.uuid4().hex[:12]}/"
    cmd = [str(binary), "--endpoint", sdk_proxy.endpoint, "--bucket", BUCKET, "--prefix", prefix,
           "--size", str(BIG_SIZE)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": RW_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": RW_SECRET_KEY,
                "AWS_REGION": REGION})
    started = time.monotonic()
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECS,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the aws-sdk-s3 client did not finish within {RUN_TIMEOUT_SECS} s: {' '.join(cmd)}\n"
                    f"stdout:\n{_tail(str(e.stdout))}\nstderr:\n{_tail(str(e.stderr))}", pytrace=False)
    elapsed = time.monotonic() - started
    print(res.stdout)
    if res.returncode != 0:
        pytest.fail(f"the aws-sdk-s3 client exited {res.returncode}: {' '.join(cmd)}\n"
                    f"stdout:\n{_tail(res.stdout)}\nstderr (one line per HTTP exchange, then the failure):\n"
                    f"{_tail(res.stderr)}", pytrace=False)
    assert "all checks passed" in res.stdout, res.stdout
    # Every check of the client's doc printed its ok line (7 UploadParts among them).
    oks = [line for line in res.stdout.splitlines() if line.startswith("ok: ")]
    assert sum(line.startswith("ok: UploadPart ") for line in oks) == 7, res.stdout
    assert len(oks) == 19, res.stdout
    print(f"aws-sdk-s3 client: {elapsed:.1f} s")

    # The bytes are on SeaweedFS, under the physical key of the object, at their full size (one
    # object: the upload was assembled by SeaweedFS's own multipart); the aborted upload left none.
    physical = list_physical(seaweed.client, REAL_BUCKET)
    big = {k: size for k, size in physical.items() if k.startswith(physical_prefix(BUCKET, prefix + "big.bin"))}
    assert list(big.values()) == [BIG_SIZE], (big, physical)
    aborted = [k for k in physical if k.startswith(physical_prefix(BUCKET, prefix + "aborted.bin"))]
    assert aborted == [], physical
