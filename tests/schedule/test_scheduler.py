"""The scheduler on both backends: fires, catch-up after downtime, exactly once across
schedulers sharing a store, the built-in maintenance, `app.schedule` errors and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.errors import ConfigurationError
from conveyor.schedule.scheduler import Scheduler
from tests.test_cli import TESTS_DIR, invoke, ok

T0 = datetime(2026, 12, 7, 8, 59, 30, tzinfo=UTC).timestamp()  # Monday, 09:59:30 Amsterdam


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(app: Conveyor, clock: Clock) -> Scheduler:
    @app.task(name="report")
    def report(payload: dict[str, str] | None = None) -> None: ...

    return Scheduler(app.schedules, lambda: app.store, app.tasks.enqueue, clock)


def fired_keys(app: Conveyor) -> list[str]:
    rows = app.store.list_jobs(app.ops.job_filter(task="report", limit=1000))
    return sorted(str(job.idempotency_key) for job in rows)


def test_a_fire_is_enqueued_once_with_its_cron_key(app: Conveyor) -> None:
    clock = Clock()
    scheduler = make(app, clock)
    app.schedule("weekly", "0 10 * * MON", "report", tz="Europe/Amsterdam", payload={"a": "b"})
    assert scheduler.tick() == []  # first sight: starts from now, fires no past
    clock.now += 60
    [fired] = scheduler.tick()
    assert fired.fire_at == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert scheduler.tick() == []
    [job] = app.store.list_jobs(app.ops.job_filter(task="report"))
    assert job.idempotency_key == "cron:weekly:2026-12-07T09:00:00Z"
    assert job.payload == {"a": "b"}


@pytest.mark.parametrize(("policy", "count"), [("once", 1), ("all", 3), ("none", 0)])
def test_missed_fires_are_caught_up_by_policy(app: Conveyor, policy: str, count: int) -> None:
    clock = Clock()
    scheduler = make(app, clock)
    app.schedule("hourly", "0 * * * *", "report", catch_up=policy)
    scheduler.tick()
    clock.now += 3 * 3600  # down for three fires
    assert len(scheduler.tick()) == count
    assert len(fired_keys(app)) == count
    [view] = [v for v in scheduler.views() if v.name == "hourly"]
    assert (view.last_run is None) == (count == 0)  # skipped fires are not a run
    clock.now += 3600  # back to normal: the next fire fires, whatever the policy
    assert len(scheduler.tick()) == 1


def test_three_schedulers_on_one_store_fire_each_time_once(database_url: str) -> None:
    apps = [Conveyor(database_url) for _ in range(3)]
    clock = Clock()
    schedulers = [make(a, clock) for a in apps]
    for a in apps:
        a.schedule("minutely", "* * * * *", "report")
    try:
        schedulers[0].tick()
        for step in range(5):
            clock.now += 60
            if step == 2:  # one scheduler "restarts": a fresh instance on the same store
                apps[2].close()
                apps[2] = Conveyor(database_url)
                schedulers[2] = make(apps[2], clock)
                apps[2].schedule("minutely", "* * * * *", "report")
            barrier = threading.Barrier(3)

            def tick(s: Scheduler, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                s.tick()

            threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        keys = fired_keys(apps[0])
        assert len(keys) == 5 and len(set(keys)) == 5
        assert keys[0] == "cron:minutely:2026-12-07T09:00:00Z"
    finally:
        for a in apps:
            a.close()


def test_builtin_maintenance_runs_in_one_scheduler(database_url: str) -> None:
    apps = [Conveyor(database_url), Conveyor(database_url)]
    clock = Clock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC).timestamp())
    schedulers = [make(a, clock) for a in apps]
    try:
        for s in schedulers:
            s.tick()
        clock.now += 3600  # past 03:00 UTC on the 1st: the monthly prune
        ran = [f for s in schedulers for f in s.tick() if f.schedule == "conveyor.prune"]
        assert len(ran) == 1 and ran[0].job_id is None
    finally:
        for a in apps:
            a.close()


def test_bad_schedules_are_refused_in_one_line(app: Conveyor) -> None:
    make(app, Clock())
    cases = [
        (("x", "61 * * * *", "report"), {}, "bad cron expression"),
        (("x", "0 * * * *", "report"), {"tz": "Mars/Base"}, "unknown time zone"),
        (("x", "0 * * * *", "nope"), {}, "unknown task 'nope'"),
        (("x", "0 * * * *", "report"), {"catch_up": "twice"}, "catch_up must be"),
        (("x", "0 * * * *"), {}, "needs a task"),
    ]
    for args, options, message in cases:
        with pytest.raises(ConfigurationError, match=message):
            app.schedule(*args, **options)
    app.schedule("x", "0 * * * *", "report")
    with pytest.raises(ConfigurationError, match="declared twice"):
        app.schedule("x", "0 * * * *", "report")
    app.schedule("conveyor.prune", "0 4 2 * *")  # a built-in moved
    assert app.schedules.get("conveyor.prune").cron == "0 4 2 * *"
    app.schedules.disable("conveyor.idempotency")
    assert "conveyor.idempotency" not in [s.name for s in app.schedules]


def test_cli_lists_schedules_with_next_run_and_inactive_builtins(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(TESTS_DIR)  # --app cli_app:app is imported from there
    rows = [
        json.loads(line)
        for line in ok(invoke(database_url, "schedule", "list", "--json")).splitlines()
    ]
    by_name = {row["name"]: row for row in rows}
    assert by_name["hourly-report"]["cron"] == "0 * * * *"
    assert by_name["hourly-report"]["next_run"].endswith(":00:00Z")
    assert by_name["hourly-report"]["last_run"] is None
    assert by_name["conveyor.digest"]["status"].startswith("inactive: no task")
    assert by_name["conveyor.prune"]["status"] == "active"
    assert "hourly-report" in ok(invoke(database_url, "schedule", "list"))


@pytest.mark.serial  # three scheduler processes on a clock
def test_three_scheduler_processes_and_a_restart_fire_each_time_once(
    database_url: str, tmp_path: Path
) -> None:
    clock, stop = tmp_path / "clock", tmp_path / "stop"

    def set_clock(value: float) -> None:  # atomically: a reader never sees a half-written file
        (tmp_path / "clock.new").write_text(str(value))
        os.replace(tmp_path / "clock.new", clock)

    set_clock(T0)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    script = Path(__file__).with_name("scheduler_process.py")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(script), database_url, str(clock), str(stop)], env=environment
        )

    processes = [start() for _ in range(3)]
    app = Conveyor(database_url)
    try:
        deadline = time.monotonic() + 30
        while "minutely" not in app.store.last_fires():  # one of them saw the schedule
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        for step in range(5):
            if step == 2:  # a crash and a restart
                processes[0].kill()
                processes[0].wait(10)
                processes[0] = start()
            set_clock(T0 + 60 * (step + 1))
            time.sleep(0.6)
        stop.touch()
        assert [p.wait(30) for p in processes[1:]] == [0, 0]
        processes[0].wait(30)
        jobs = app.store.list_jobs(app.ops.job_filter(task="report", limit=100))
        keys = sorted(str(job.idempotency_key) for job in jobs)
        assert keys == [f"cron:minutely:2026-12-07T09:0{minute}:00Z" for minute in range(5)]
    finally:
        stop.touch()
        for p in processes:
            if p.poll() is None:
                p.kill()
        app.close()
