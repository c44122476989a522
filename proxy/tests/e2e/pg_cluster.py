"""A throwaway PostgreSQL cluster for end-to-end tests: a module-scoped `postgres` fixture.

The cluster listens only on a Unix socket in its own temp directory (not under pytest's 0700
temp root: the `postgres` user must reach it), with trust authentication, and is stopped and
removed at the end of the module. Binaries come from `$S3O_PG_BIN`, else `pg_config --bindir`,
else the newest /usr/lib/postgresql/*/bin; without them a test using the fixture is skipped
(failed if S3O_REQUIRE_POSTGRES=1). Under root the cluster runs as the `postgres` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import EXTRA_LOGS
from harness import log_tail

def find_pg_bin() -> Path | None:
    """The directory of initdb and pg_ctl: $S3O_PG_BIN, `pg_config --bindir`, newest Debian one."""
    def has(d: Path) -> bool:
        return (d / "initdb").is_file() and (d / "pg_ctl").is_file()
    if os.environ.get("S3O_PG_BIN"):
        d = Path(os.environ["S3O_PG_BIN"])
        return d if has(d) else None
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and has(Path(out.stdout.strip())):
            return Path(out.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    found = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if has(d)]
    found.sort(key=lambda d: [int(p) if p.isdigit() else 0 for p in d.parent.name.split(".")])
    return found[-1] if found else None


def no_postgres(why: str):
    if os.environ.get("S3O_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"S3O_REQUIRE_POSTGRES=1 but {why}", pytrace=False)
    pytest.skip(why)


@dataclass
class Postgres:
    bin: Path
    dir: Path
    user: tuple[int, int] | None

    @property
    def url(self) -> str:
        return f"host={self.dir} port=5432 user=postgres dbname=postgres"

    @property
    def log(self) -> Path:  # written by the server (pg_ctl -l)
        return self.dir / "server.log"

    def run(self, tool: str, *args: str, timeout: float = 90) -> None:
        ids = {"user": self.user[0], "group": self.user[1], "extra_groups": []} if self.user else {}
        try:
            out = subprocess.run([str(self.bin / tool), *args], cwd=self.dir, capture_output=True,
                                 text=True, timeout=timeout, stdin=subprocess.DEVNULL, **ids)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{tool} did not finish within {timeout} s\n{log_tail(self.log)}", pytrace=False)
        if out.returncode != 0:
            pytest.fail(f"{tool} {' '.join(args)} exited {out.returncode}:\n{out.stdout}{out.stderr}\n"
                        f"{log_tail(self.log)}", pytrace=False)

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop", timeout=60)


@pytest.fixture(scope="module")
def postgres():
    """A fresh cluster listening only on a Unix socket in its own directory (not under pytest's
    0700 temp root: the `postgres` user must reach it)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        no_postgres("no PostgreSQL server binaries (initdb, pg_ctl): install the postgresql package "
                    "or set S3O_PG_BIN")
    user = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            no_postgres("running as root and there is no `postgres` user to run PostgreSQL as")
        user = (pw.pw_uid, pw.pw_gid)
    pg = Postgres(bin_dir, Path(tempfile.mkdtemp(prefix="s3o-e2e-pg-")), user)
    try:
        if user:
            os.chown(pg.dir, *user)
        pg.run("initdb", "-D", str(pg.dir / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8",
               "--locale=C", "--no-sync")
        pg.run("pg_ctl", "-D", str(pg.dir / "data"), "-l", str(pg.log), "-o",
               f"-k {pg.dir} -c listen_addresses='' -p 5432 -c max_connections=300", "-w", "-t", "60",
               "start")
        EXTRA_LOGS.append(("postgres log", pg.log))
        yield pg
    finally:
        if (pg.dir / "data" / "postmaster.pid").exists():
            pg.stop()
        if ("postgres log", pg.log) in EXTRA_LOGS:
            EXTRA_LOGS.remove(("postgres log", pg.log))
        shutil.rmtree(pg.dir, ignore_errors=True)


