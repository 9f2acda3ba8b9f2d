"""Workers outlive their database: a PostgreSQL restart or outage is waited out, nothing is lost,
order is kept, `LISTEN` is re-opened; the application's calls fail fast, never hang.

Each test runs on a server of its own (`own_postgres`), which it stops or restarts.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conveyor import Conveyor
from conveyor.errors import StoreUnavailable
from conveyor.events import StoreOutageEnded, StoreOutageStarted, WorkerEvent
from conveyor.store.postgres import PostgresStore
from conveyor.store.postgres import connection as postgres_connection

from .apps import Run
from .conftest import Harness, wait_for
from .own_postgres import OwnPostgres

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LEASE = 6.0
LONG_POLL = 30.0  # longer than any wait below: only a NOTIFY can wake an idle worker in time
KEYS = 10


@pytest.fixture
def outage(own_postgres: OwnPostgres, tmp_path: Path) -> Iterator[Harness]:
    """Jobs on the own server; the tasks log to SQLite, which the restarts do not touch."""
    h = Harness(own_postgres.database(), tmp_path, log_url=f"sqlite:///{tmp_path / 'log.db'}")
    try:
        yield h
    finally:
        h.close()


def wave(rng: random.Random, per_key: int, unkeyed: int, seqs: Counter[str]) -> list[Any]:
    """Payloads in enqueue order: `per_key` jobs of every key interleaved at random with
    `unkeyed` jobs; each key's `seq` counts on from `seqs`."""
    slots: list[str | None] = [f"customer:{k}" for k in range(KEYS) for _ in range(per_key)]
    slots += [None] * unkeyed
    rng.shuffle(slots)
    payloads: list[dict[str, Any]] = []
    for key in slots:
        payload: dict[str, Any] = {"sleep": rng.uniform(0.05, 0.12)}
        if key is not None:
            payload.update(key=key, seq=seqs[key])
            seqs[key] += 1
        payloads.append(payload)
    return payloads


def events(stderr: str, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if f'"worker.{name}"' in line]


def test_workers_ride_out_a_restart_under_load_and_keep_each_keys_order(
    outage: Harness, own_postgres: OwnPostgres
) -> None:
    workers = [
        outage.worker(f"worker-{n}", lease=LEASE, poll_interval=LONG_POLL, ready=False)
        for n in range(3)
    ]
    for worker in workers:
        wait_for(f"{worker.name} to start", worker.started, 20, worker.tail)
    rng, seqs = random.Random(7), Counter[str]()
    first = wave(rng, 8, unkeyed=10, seqs=seqs)
    ids = [outage.app.enqueue("step", payload) for payload in first]
    outage.wait_runs("work under way", lambda runs: len(runs) >= 20, 20)

    own_postgres.restart()  # every session is terminated mid-run, the listeners' too
    second = wave(rng, 8, unkeyed=10, seqs=seqs)
    ids += [outage.app.enqueue("step", payload) for payload in second]  # no stale connection
    outage.wait_final(ids, timeout=40)

    time.sleep(0.5)  # the workers are idle now, waiting up to LONG_POLL for a wake-up
    last = outage.app.enqueue("step", {"seq": 99})
    outage.wait_final([last], timeout=10)  # woken by a NOTIFY through a re-opened LISTEN

    for worker in workers:
        assert worker.popen.poll() is None, f"a worker exited\n{worker.tail()}"
        worker.terminate()
    for worker in workers:
        assert worker.wait(15) == 0, worker.tail()
        stderr = worker.stderr()
        assert "Error:" not in stderr and "Traceback" not in stderr, worker.tail()
        down, back = events(stderr, "store_unavailable"), events(stderr, "store_available")
        assert len(down) == len(back) <= 1, f"one warning each way per outage\n{worker.tail()}"

    states = outage.app.store.states([*ids, last])
    assert set(states.values()) == {"succeeded"}, Counter(states.values())
    runs = outage.log.runs()
    ran = Counter(run.job_id for run in runs)
    assert set(ran) == {*ids, last} and set(ran.values()) == {1}, "each job ran exactly once"
    assert all(run.outcome == "ok" for run in runs)

    by_key: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if run.key is not None:
            by_key[run.key].append(run)
    assert len(by_key) == KEYS
    for key, key_runs in by_key.items():
        key_runs.sort(key=lambda r: r.started)
        for before, after in pairwise(key_runs):
            assert before.finished is not None and after.started >= before.finished, (
                f"{key}: {after} overlapped {before}"
            )
        assert [r.seq for r in key_runs] == list(range(16)), f"{key}: out of order"
    assert len({run.pid for run in runs}) == 3, "all three workers worked"


def test_after_a_restart_a_notify_wakes_an_idle_worker_at_once(
    outage: Harness, own_postgres: OwnPostgres
) -> None:
    worker = outage.worker("idle", poll_interval=LONG_POLL)
    warm = outage.app.enqueue("step", {"seq": 0})
    outage.wait_final([warm], timeout=10)

    own_postgres.restart()
    time.sleep(1.0)  # the worker is idle; its LISTEN connection was terminated
    job_id = outage.app.enqueue("step", {"seq": 1})
    outage.wait_final([job_id], timeout=10)  # well before the LONG_POLL safety net

    assert worker.popen.poll() is None, worker.tail()
    worker.terminate()
    assert worker.wait(15) == 0, worker.tail()
    assert "Error:" not in worker.stderr() and "Traceback" not in worker.stderr(), worker.tail()


class Events:
    """The worker's lifecycle events, in order (a subscriber of `app.events`)."""

    def __init__(self) -> None:
        self.seen: list[WorkerEvent] = []

    def __call__(self, event: WorkerEvent) -> None:
        self.seen.append(event)

    def names(self) -> list[str]:
        return [event.name for event in self.seen]


def test_an_outage_is_logged_once_and_the_running_job_is_written_after_it(
    own_postgres: OwnPostgres, capsys: pytest.CaptureFixture[str]
) -> None:
    app = Conveyor(own_postgres.database())
    release = threading.Event()

    @app.task
    async def waits(payload: Any) -> str:
        while not release.is_set():
            await asyncio.sleep(0.01)
        return "done"

    @app.task
    def after(payload: Any) -> str:
        return "after"

    job_id = app.enqueue("waits")
    seen = Events()
    app.events.subscribe(seen, WorkerEvent)
    worker = app.worker(concurrency=2, poll_interval=0.2, install_signal_handlers=False)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(worker.run())
        except BaseException as error:  # reported by the test
            failures.append(error)

    thread = threading.Thread(target=run, name="test-worker")
    thread.start()
    try:
        wait_for("the job to start", lambda: app.store.states([job_id])[job_id] == "running", 10)
        own_postgres.stop()
        release.set()  # the job ends while the store is down: its outcome has to wait
        wait_for("the outage to be noticed", lambda: "worker.store_unavailable" in seen.names(), 10)
        time.sleep(2.0)  # an outage of many retries
        assert not failures, failures
        own_postgres.start()
        wait_for("the store to be back", lambda: "worker.store_available" in seen.names(), 10)
        wait_for("the outcome", lambda: app.store.states([job_id])[job_id] == "succeeded", 10)
        next_id = app.enqueue("after")
        wait_for("the next job", lambda: app.store.states([next_id])[next_id] == "succeeded", 10)
    finally:
        release.set()
        own_postgres.start()
        worker.request_stop()
        thread.join(30)
    assert not thread.is_alive() and not failures, failures

    outage = [e for e in seen.seen if isinstance(e, StoreOutageStarted | StoreOutageEnded)]
    assert [type(e) for e in outage] == [StoreOutageStarted, StoreOutageEnded]
    began, ended = outage
    assert isinstance(began, StoreOutageStarted) and began.error
    assert isinstance(ended, StoreOutageEnded) and ended.outage_seconds >= 2.0
    job = app.get_job(job_id)
    assert (job.state, job.attempts, job.result) == ("succeeded", 1, "done")
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "store_" in line]
    assert [(line["event"], line["level"]) for line in logged] == [
        ("worker.store_unavailable", "warning"),
        ("worker.store_available", "warning"),
    ]
    app.close()


@pytest.mark.timeout(40)  # the hang guard: before, each call waited 30 s for the pool
def test_enqueue_with_the_server_down_raises_store_unavailable(own_postgres: OwnPostgres) -> None:
    app = Conveyor(own_postgres.database())

    @app.task
    def noop(payload: Any) -> None: ...

    app.enqueue("noop")  # the pool is open, its connections idle
    own_postgres.stop()
    try:
        for _ in range(3):
            with pytest.raises(StoreUnavailable):
                app.enqueue("noop")
    finally:
        own_postgres.start()
    assert app.enqueue("noop") > 0, "the store answers again once the server does"
    app.close()


def test_a_restart_is_invisible_to_the_next_call(own_postgres: OwnPostgres) -> None:
    """Connections the restart killed are found dead in the pool, never handed out."""
    app = Conveyor(own_postgres.database())

    @app.task
    def noop(payload: Any) -> None: ...

    ids = [app.enqueue("noop") for _ in range(3)]
    own_postgres.restart()
    ids += [app.enqueue("noop") for _ in range(3)]
    assert len(app.store.states(ids)) == 6
    app.close()


def test_a_dropped_session_is_replaced_before_use(
    own_postgres: OwnPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pg_terminate_backend` on connections used a moment ago: the pool sees them ended
    (their sockets turned readable) and replaces them; the next calls never notice."""
    monkeypatch.setattr(postgres_connection, "CHECK_AFTER_IDLE", 3600.0)  # not idle
    url = own_postgres.database()
    app = Conveyor(url)

    @app.task
    def noop(payload: Any) -> None: ...

    app.enqueue("noop")
    database = url.rsplit("/", 1)[1]
    sessions = "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    with psycopg.connect(own_postgres.admin_url, autocommit=True) as admin:
        admin.execute(f"SELECT pg_terminate_backend(pid) {sessions}", (database,))

        def ended() -> bool:
            row = admin.execute(f"SELECT count(*) {sessions}", (database,)).fetchone()
            return row is not None and row[0] == 0

        wait_for("the sessions to end", ended, 10)
    ids = [app.enqueue("noop") for _ in range(3)]
    assert len(app.store.states(ids)) == 3
    app.close()


def test_the_listener_reopens_after_a_restart_and_wakes_once(own_postgres: OwnPostgres) -> None:
    url = own_postgres.database()
    store = PostgresStore(url)
    woken = threading.Event()
    stop = store.wake_listener(woken.set)
    assert stop is not None
    app = Conveyor(url)

    @app.task
    def noop(payload: Any) -> None: ...

    try:
        own_postgres.restart()
        # Notifications sent while it was closed are lost: on reconnecting it wakes once.
        wait_for("the wake-up after reconnecting", woken.is_set, 10)
        woken.clear()
        app.enqueue("noop")
        wait_for("the NOTIFY of an enqueue", woken.is_set, 10)
    finally:
        stop()
        store.close()
        app.close()
