"""A throwaway PostgreSQL server for benchmarks: Debian's binaries, a fresh cluster in a temp dir.

Prefect's server on SQLite serialises writes: under the event load of a few hundred task runs a
single write (a concurrency-slot lease, a flow run's creation) was measured waiting 2-15 s. Teams
running many batches put Prefect on PostgreSQL; the benchmarks that measure that set-up use this.

PostgreSQL refuses to run as root, so when the benchmark runs as root the cluster belongs to the
``postgres`` system user (Debian's package creates it).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _common import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed (Debian: apt-get install -y postgresql)"
        )
    return found[-1]


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner else command


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a fresh cluster on a free loopback port; yield an async SQLAlchemy URL for Prefect."""
    owner = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
    data = root / "data"
    if owner:
        entry = pwd.getpwnam(owner)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    port = free_port()
    subprocess.run(
        _as_owner(
            [_bin("initdb"), "-D", str(data), "-U", "prefect", "--auth=trust", "-E", "UTF8"], owner
        ),
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=300"
    subprocess.run(
        _as_owner(
            [
                _bin("pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-o",
                options,
                "-w",
                "start",
            ],
            owner,
        ),
        check=True,
        capture_output=True,
    )
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(
            [_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
        ).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start; see {root / 'log'}")
            time.sleep(0.2)
        subprocess.run(
            [_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "prefect", "prefect"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+asyncpg://prefect@127.0.0.1:{port}/prefect"
    finally:
        subprocess.run(
            _as_owner([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], owner),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
