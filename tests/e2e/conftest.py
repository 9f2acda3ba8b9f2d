"""A harness that starts real worker processes on the test's database and always stops them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conveyor import Conveyor
from conveyor.job import FINAL_STATES, Job

from .apps import LOG_URL_VARIABLE, Recorder, Run, make_app
from .own_postgres import OwnPostgres, binaries

RUNNER = Path(__file__).with_name("runner.py")
T = TypeVar("T")


def wait_for(
    what: str, check: Callable[[], T], timeout: float, explain: Callable[[], str] = str
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{explain()}")
        time.sleep(0.02)


class Process:
    """A runner process; its stdout and stderr go to files in the test's folder."""

    def __init__(self, args: Sequence[str], folder: Path, name: str, env: dict[str, str]):
        self.name = name
        self.stdout_path = folder / f"{name}.out"
        self.stderr_path = folder / f"{name}.err"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, str(RUNNER), *args], stdout=out, stderr=err, env=env
            )
        self.pid = self.popen.pid

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def tail(self, lines: int = 15) -> str:
        text = "\n".join(self.stderr().splitlines()[-lines:])
        return f"--- {self.name} (pid {self.pid}, exit {self.popen.poll()}) stderr:\n{text}"

    def started(self) -> bool:
        """The worker logged `worker.started`: its signal handlers are in place."""
        if self.popen.poll() is not None:
            pytest.fail(f"{self.name} exited early\n{self.tail()}")
        return '"worker.started"' in self.stderr()

    def terminate(self) -> None:
        self.popen.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} still running after {timeout} s\n{self.tail()}")


class Harness:
    """The test's database (`app` on it, `log` of task runs) and the processes it started."""

    def __init__(self, url: str, folder: Path, log_url: str | None = None) -> None:
        self.url = url
        self.folder = folder
        self.log_url = log_url  # the log elsewhere: a test that restarts the jobs' database
        self.app: Conveyor = make_app(url)
        self.log = Recorder(log_url or url)
        self.log.create_table()
        self.processes: list[Process] = []

    def spawn(self, *args: str, name: str, lease: float | None = None) -> Process:
        env = dict(os.environ)
        env.pop("CONVEYOR_LEASE_SECONDS", None)
        if lease is not None:
            env["CONVEYOR_LEASE_SECONDS"] = str(lease)
        env.pop(LOG_URL_VARIABLE, None)
        if self.log_url is not None:
            env[LOG_URL_VARIABLE] = self.log_url
        process = Process(args, self.folder, name, env)
        self.processes.append(process)
        return process

    def worker(
        self,
        name: str,
        *,
        concurrency: int = 4,
        burst: bool = False,
        grace: float = 30.0,
        lease: float | None = None,
        ready: bool = True,
        poll_interval: float = 0.5,
    ) -> Process:
        args = ["worker", self.url, f"--concurrency={concurrency}", f"--grace={grace}"]
        args.append(f"--poll-interval={poll_interval}")
        process = self.spawn(*args, *(["--burst"] if burst else []), name=name, lease=lease)
        if ready:
            wait_for(f"{name} to start", process.started, 20, process.tail)
        return process

    def explain(self) -> str:
        counts = self.app.stats()
        return "\n".join([f"job states: {counts}", *(p.tail() for p in self.processes)])

    def wait_final(self, ids: Sequence[int], timeout: float) -> dict[int, str]:
        def final() -> dict[int, str] | None:
            states = self.app.store.states(ids)
            done = all(states.get(i) in FINAL_STATES for i in ids)
            return states if done else None

        return wait_for(f"{len(ids)} jobs to finish", final, timeout, self.explain)

    def wait_runs(self, what: str, check: Callable[[list[Run]], Any], timeout: float) -> Any:
        return wait_for(what, lambda: check(self.log.runs()), timeout, self.explain)

    def job(self, job_id: int) -> Job:
        return self.app.get_job(job_id)

    def close(self) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                process.kill()
        self.app.close()
        self.log.close()


@pytest.fixture
def harness(database_url: str, tmp_path: Path) -> Iterator[Harness]:
    """Every test on both backends; stray processes are killed whatever happened."""
    h = Harness(database_url, tmp_path)
    try:
        yield h
    finally:
        h.close()


@pytest.fixture(scope="session")
def own_postgres_server() -> Iterator[OwnPostgres]:
    """A PostgreSQL server of this session's own, which tests may stop and restart."""
    bin_dir = binaries()
    if bin_dir is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are required on CI")
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    server = OwnPostgres(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def own_postgres(own_postgres_server: OwnPostgres) -> OwnPostgres:
    """The own server, running (a test before may have stopped it)."""
    own_postgres_server.start()
    return own_postgres_server
