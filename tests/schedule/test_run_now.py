"""Running a schedule now ("run now", like Oban's or Horizon's), both backends: through the
scheduler, `conveyor schedule run NAME` and `POST /api/schedules/{name}/run`; an unknown name is
one line and exit 2, or a 404; the cron fires are left as they were."""

from __future__ import annotations

import json

import pytest

from conveyor import Conveyor
from conveyor.errors import InvalidStateError
from conveyor.schedule.registry import UnknownSchedule
from tests.test_cli import TESTS_DIR, error_line, invoke, ok
from tests.web.conftest import running
from tests.web.test_api import call


def test_run_now_enqueues_each_time_and_leaves_the_cron_alone(app: Conveyor) -> None:
    @app.task(name="report")
    def report(payload: dict[str, str]) -> None: ...

    app.schedule("daily", "0 6 * * *", "report", payload={"team": "ops"}, queue="reports")
    app.scheduler.tick()  # first sight: remembered from now
    before = [(v.name, v.next_run, v.last_run) for v in app.scheduler.views()]
    first, second = app.scheduler.run_now("daily"), app.scheduler.run_now("daily")
    assert first.job_id is not None and second.job_id is not None
    assert first.job_id != second.job_id
    job = app.get_job(first.job_id)
    assert (job.task, job.payload, job.queue, job.idempotency_key) == (
        "report",
        {"team": "ops"},
        "reports",
        None,
    )
    assert [(v.name, v.next_run, v.last_run) for v in app.scheduler.views()] == before
    assert app.scheduler.tick() == []  # no cron fire was due, none is made up


def test_maintenance_runs_here_and_bad_names_are_refused(app: Conveyor) -> None:
    @app.task(name="noop")
    def noop() -> None: ...

    job_id = app.enqueue("noop")
    app.run_worker(burst=True, install_signal_handlers=False)
    app.store.prune(-1)  # nothing left for the built-in to prune but this one job, done now
    assert app.scheduler.run_now("conveyor.prune").job_id is None
    assert app.ops.states([job_id]) == {}
    with pytest.raises(UnknownSchedule, match="no schedule named 'nope'"):
        app.scheduler.run_now("nope")
    with pytest.raises(InvalidStateError, match="inactive: no task"):
        app.scheduler.run_now("conveyor.digest")  # no alert channel registered its task


def test_cli_schedule_run(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(TESTS_DIR)  # where --app cli_app:app is imported from
    out = ok(invoke(database_url, "schedule", "run", "hourly-report", "--json"))
    record = json.loads(out)
    assert record["schedule"] == "hourly-report" and isinstance(record["job_id"], int)
    shown = json.loads(ok(invoke(database_url, "jobs", "show", str(record["job_id"]), "--json")))
    assert shown["task"] == "ping"
    text = ok(invoke(database_url, "schedule", "run", "hourly-report"))
    assert text.startswith("Enqueued job ") and "hourly-report" in text
    line = error_line(invoke(database_url, "schedule", "run", "nope"))
    assert "no schedule named 'nope'" in line and "hourly-report" in line


def test_api_schedule_run(app: Conveyor) -> None:
    @app.task(name="report")
    def report() -> None: ...

    app.schedule("hourly", "0 * * * *", "report")
    token = app.ops.tokens.create("tests")
    with running(app) as base:
        status, body, _ = call(base, "POST", "/api/schedules/hourly/run", None, token)
        assert status == 201 and body["schedule"] == "hourly"
        assert app.get_job(body["job_id"]).task == "report"
        status, body, _ = call(base, "POST", "/api/schedules/conveyor.idempotency/run", None, token)
        assert (status, body["job_id"]) == (201, None)
        status, body, _ = call(base, "POST", "/api/schedules/nope/run", None, token)
        assert status == 404 and "nope" in body["error"]
        status, body, _ = call(base, "POST", "/api/schedules/conveyor.digest/run", None, token)
        assert status == 409 and "inactive" in body["error"]
        assert call(base, "POST", "/api/schedules/hourly/run")[0] == 401
