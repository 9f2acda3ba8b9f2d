"""Refresh under concurrency from several worker processes: however many jobs of however many
processes find the owner's token expired at once, the provider sees exactly one refresh, and
every job uses the token that one refresh stored. Both backends, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conveyor import Conveyor

from .provider import Provider
from .worker_app import make_app

PROCESSES = 3
CONCURRENCY = 4  # worker_app.py's
APP = Path(__file__).with_name("worker_app.py")


@pytest.mark.serial  # processes racing a token that expires in 2 s
def test_one_refresh_for_every_job_of_every_process(
    database_url: str, provider: Provider, secret_key: str, tmp_path: Path
) -> None:
    app: Conveyor = make_app(database_url, provider.url, tmp_path)
    provider.expires_in = 2
    access, refresh = provider.issue("alice")
    app.add_account("bank", "alice", access_token=access, refresh_token=refresh, expires_in=2)
    jobs = [app.enqueue("balance", {"n": n}) for n in range(PROCESSES * CONCURRENCY)]
    provider.expire_access("alice")  # expired before any job asks
    provider.refresh_delay = 0.3  # the other processes ask while the first one refreshes
    due = app.accounts.stored("bank", "alice").refresh_at or 0.0
    while time.time() < due:  # by the stored expiry too: every process decides to refresh
        time.sleep(0.05)
    src = Path(__file__).parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{Path(__file__).parent}"}
    logs = [(tmp_path / f"w{i}.err").open("wb") for i in range(PROCESSES)]
    workers = [
        subprocess.Popen(
            [sys.executable, str(APP), database_url, provider.url, str(tmp_path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        for log in logs
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("ready-*"))) < len(jobs):
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                tails = [(tmp_path / f"w{i}.err").read_text()[-2000:] for i in range(PROCESSES)]
                pytest.fail(f"the jobs did not all start: {tails}")
            time.sleep(0.02)
        pids = {path.name.split("-")[1] for path in tmp_path.glob("ready-*")}
        assert len(pids) == PROCESSES  # each process holds jobs waiting at the start line
        (tmp_path / "go").touch()
        for worker in workers:
            assert worker.wait(60) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
        for log in logs:
            log.close()
    results = [app.get_job(job_id) for job_id in jobs]
    assert [job.state for job in results] == ["succeeded"] * len(jobs)
    assert {job.result["user"] for job in results} == {"alice"}
    assert len({job.result["pid"] for job in results}) == PROCESSES
    assert provider.refresh_requests == 1
    assert provider.api_refusals == 0  # nobody sent the expired token: all used the new one
    [rotated] = provider.live_refresh_tokens("alice")
    assert app.accounts.open(app.accounts.stored("bank", "alice"))["refresh_token"] == rotated
    app.close()
