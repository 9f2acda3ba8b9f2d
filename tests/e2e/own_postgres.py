"""A PostgreSQL server of the test's own, on its own port and data directory, that the test may
stop and restart (never the shared server other tests use).

`initdb` refuses to run as root (tests run as root on CI): then the server runs as the `postgres`
OS user, its data directory and socket in a temporary folder owned by that user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from conveyor import Conveyor


def binaries() -> Path | None:
    """The newest PostgreSQL server binaries on this machine, if any."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnPostgres:
    """One throwaway cluster: `start`, `stop`, `restart` (fast mode), `database()` for a fresh,
    migrated database on it, `close` to stop it and remove its folder."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="conveyor-pg-"))  # short: socket paths
        self.data = self.folder / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N")
        self.options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c full_page_writes=off -c synchronous_commit=off -c max_connections=60"
        )

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")

    def _ctl(self, action: str, *args: str) -> None:
        log = str(self.folder / "server.log")
        self._run("pg_ctl", action, "-D", str(self.data), "-l", log, "-w", "-t", "60", *args)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def start(self) -> None:
        if not self.running():
            self._ctl("start", "-o", self.options)

    def stop(self) -> None:
        """Fast shutdown: every session is terminated (`AdminShutdown`), like an operator's."""
        if self.running():
            self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast", "-o", self.options)

    def database(self) -> str:
        """A new, migrated database on this server; its URL."""
        name = f"conveyor_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql://postgres@127.0.0.1:{self.port}/{name}"
        app = Conveyor(url)
        app.migrate()
        app.close()
        return url

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # not running
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
