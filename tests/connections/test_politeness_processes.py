"""Connection-wide politeness across two worker processes, on both backends: a 429 or 503 quiets
the connection for every worker, a 410 pauses it until `conveyor connections resume`, and the
jobs involved never use an attempt. The workers and the CLI are real processes
(`conveyor --app tests.connections.polite_app:app ...`) against a real HTTP server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.politeness import paused_prefix
from tests.http_sink import Request, Response, Sink

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.connections.polite_app:app"
JOBS = 20
# A request already on its way when the slow-down answer came back (sent before its worker could
# know) may arrive just after it; anything later inside the quiet window is a violation.
IN_FLIGHT = 0.3

pytestmark = pytest.mark.slow


class Workers:
    """Two worker processes of the politeness app on the test's database."""

    def __init__(self, database_url: str, sink: Sink, rate: str | None, folder: Path) -> None:
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            "CONVEYOR_DATABASE_URL": database_url,
            "POLITE_SINK_URL": sink.url,
            "POLITE_RATE": rate or "",
        }
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes]] = []

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "conveyor.cli", "--app", APP, *args]
        return subprocess.run(
            command, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )

    def start(self, app: Conveyor, count: int = 2) -> None:
        command = [
            sys.executable,
            "-m",
            "conveyor.cli",
            "--app",
            APP,
            "worker",
            "--concurrency",
            "4",
        ]
        for n in range(count):
            with (self.folder / f"worker{n}.err").open("wb") as err:
                self.processes.append(
                    subprocess.Popen(
                        command, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err
                    )
                )

        def started() -> bool:
            assert all(p.poll() is None for p in self.processes), self.logs()
            return len(app.workers()) >= count

        wait_for(started, self.logs, what="the workers to start")

    def stop(self) -> list[int | None]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return [process.returncode for process in self.processes]

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}:\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.folder.glob("worker*.err"))
        )


@pytest.fixture
def workers_of(
    database_url: str, sink: Sink, tmp_path: Path
) -> Iterator[Callable[[str | None], Workers]]:
    made: list[Workers] = []

    def make(rate: str | None) -> Workers:
        made.append(Workers(database_url, sink, rate, tmp_path))
        return made[-1]

    yield make
    for workers in made:
        workers.stop()


def wait_for(
    done: Callable[[], bool], logs: Callable[[], str], what: str, timeout: float = 40
) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"gave up waiting for {what}\n{logs()}"
        time.sleep(0.05)


def declare(app: Conveyor, sink: Sink, rate: str | None) -> None:
    app.connection("shop", sink.url, rate_limit=rate, breaker=False)


def succeeded(app: Conveyor, ids: list[int]) -> bool:
    return all(state == "succeeded" for state in app.ops.states(ids).values())


def quiet_violations(requests: list[Request], start: float, quiet: float) -> list[float]:
    """Requests that arrived inside the quiet window after an answer at `start`, past the time a
    request already in flight could take to land."""
    return [
        round(r.received_at - start, 3)
        for r in requests
        if start + IN_FLIGHT < r.received_at < start + quiet
    ]


def attempts(app: Conveyor, ids: list[int]) -> set[int]:
    return {app.get_job(job_id).attempts for job_id in ids}


@pytest.mark.parametrize("rate", ["50/s", None], ids=["rate-limited", "unlimited"])
def test_a_429_quiets_the_connection_for_every_worker(
    app: Conveyor, sink: Sink, workers_of: Callable[[str | None], Workers], rate: str | None
) -> None:
    """The issue's scenario: two workers, 20 deliveries at 50/s, the first answered 429 with
    Retry-After: 2. No request reaches the remote in the 2 s it asked for (from either worker),
    and every job succeeds on its one real attempt."""
    declare(app, sink, rate)
    sink.script("/x", [Response(429, headers={"Retry-After": "2"})])
    workers = workers_of(rate)
    workers.start(app)
    ids = [app.deliver("shop", "/x", {"n": n}) for n in range(JOBS)]
    wait_for(lambda: succeeded(app, ids), workers.logs, "every job to succeed")
    assert workers.stop() == [0, 0], workers.logs()
    requests = sink.requests_to("/x")
    assert [r.status for r in requests].count(429) == 1
    first = next(r for r in requests if r.status == 429)
    assert quiet_violations(requests, first.received_at, 2.0) == []
    assert len({r.headers["X-Worker-Pid"] for r in requests}) == 2
    assert len(requests) == JOBS + 1
    assert attempts(app, ids) == {1}  # the 429's job too: postponed, not retried


def test_503s_without_retry_after_back_off_connection_wide_and_grow(
    app: Conveyor, sink: Sink, workers_of: Callable[[str | None], Workers]
) -> None:
    """Two 503s without Retry-After in a row: 1 s of quiet, then 2 s, for both workers."""
    declare(app, sink, None)
    sink.script("/x", [Response(503), Response(503)])
    workers = workers_of(None)
    workers.start(app)
    ids = [app.deliver("shop", "/x", {"n": n}) for n in range(JOBS)]
    wait_for(lambda: succeeded(app, ids), workers.logs, "every job to succeed")
    assert workers.stop() == [0, 0], workers.logs()
    requests = sink.requests_to("/x")
    slowed = [r for r in requests if r.status == 503]
    assert len(slowed) == 2 and len(requests) == JOBS + 2
    assert quiet_violations(requests, slowed[0].received_at, 1.0) == []
    assert quiet_violations(requests, slowed[1].received_at, 2.0) == []  # the back-off grew
    assert attempts(app, ids) == {1}
    assert app.ops.holds() == []  # a success after the quiet cleared the back-off


def test_a_410_pauses_the_connection_until_resumed_from_the_cli(
    app: Conveyor, sink: Sink, workers_of: Callable[[str | None], Workers]
) -> None:
    """A 410 Gone pauses "shop" for every worker: its jobs wait, attempts unused, saying why;
    `connections list` and `stats` show it; `connections resume shop` makes them run at once."""
    declare(app, sink, None)
    sink.script("/x", [Response(410, json={"error": "gone"})])
    workers = workers_of(None)
    workers.start(app)
    ids = [app.deliver("shop", "/x", {"n": n}) for n in range(JOBS)]

    def waiting() -> list[int]:
        """The jobs that wait for the resume; the others went out before the 410 was known."""
        jobs = [app.get_job(job_id) for job_id in ids]
        if any(job.state not in ("queued", "succeeded") for job in jobs):
            return []
        held = [
            job.id for job in jobs if (job.postponed_reason or "").startswith(paused_prefix("shop"))
        ]
        done = sum(job.state == "succeeded" for job in jobs)
        return held if len(held) + done == JOBS else []

    wait_for(lambda: bool(waiting()), workers.logs, "every job to wait for the paused connection")
    gone = next(r for r in sink.requests_to("/x") if r.status == 410)
    assert quiet_violations(sink.requests_to("/x"), gone.received_at, float("inf")) == []
    held = waiting()
    assert len(held) >= JOBS // 2
    assert attempts(app, held) == {0}
    assert any("HTTP 410" in (app.get_job(i).postponed_reason or "") for i in held)

    listed = json.loads(workers.cli("connections", "list", "--json").stdout)
    assert listed["hold"]["hold"] == "paused" and listed["hold"]["until"] is None
    assert "HTTP 410 from POST" in listed["hold"]["reason"]
    stats = json.loads(workers.cli("stats", "--json").stdout)
    assert [(h["name"], h["hold"]) for h in stats["holds"]] == [("shop", "paused")]
    text = workers.cli("connections", "list").stdout
    assert "paused" in text and "HTTP 410" in text
    text = workers.cli("stats").stdout
    assert "Paused and slowed connections" in text and "until resumed" in text

    sink.default("/x", Response(200))
    resumed = workers.cli("connections", "resume", "shop")
    assert resumed.returncode == 0, resumed.stderr
    assert "Resumed shop" in resumed.stdout
    # Postponed for minutes by the pause, due at once by the resume:
    wait_for(lambda: succeeded(app, ids), workers.logs, "the jobs to run after the resume", 20)
    assert workers.stop() == [0, 0], workers.logs()
    assert attempts(app, ids) == {1}
    assert app.ops.holds() == []


def test_pause_and_resume_from_the_cli_and_unknown_names(
    app: Conveyor, sink: Sink, workers_of: Callable[[str | None], Workers]
) -> None:
    declare(app, sink, None)
    workers = workers_of(None)
    paused = workers.cli("connections", "pause", "shop", "--reason", "remote maintenance")
    assert paused.returncode == 0, paused.stderr
    holds = app.ops.holds()
    assert [(h.name, h.kind, h.reason) for h in holds] == [("shop", "paused", "remote maintenance")]
    job_id = app.deliver("shop", "/x", {"n": 1})
    workers.start(app, count=1)
    wait_for(
        lambda: app.get_job(job_id).postponed_reason is not None, workers.logs, "a postponement"
    )
    assert sink.requests_to("/x") == [] and app.get_job(job_id).attempts == 0
    unknown = workers.cli("connections", "resume", "nope")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert "unknown connection 'nope'" in unknown.stderr
    assert workers.cli("connections", "resume", "shop").returncode == 0
    wait_for(lambda: app.get_job(job_id).state == "succeeded", workers.logs, "the job to run", 20)
