"""Batches and progress as operators see them, both backends: the HTTP API on a real server
(`/api/batches`, one batch, 404 JSON for an unknown one), `conveyor batches list|show` (text with
a progress bar, and JSON), and a job's progress in `conveyor jobs show` and `GET /api/jobs/ID`."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner, Result

from conveyor import Conveyor, current_job
from conveyor.cli import cli
from tests.web.conftest import running
from tests.web.test_api import call

runner = CliRunner(env={"COLUMNS": "160", "CONVEYOR_APP": None, "CONVEYOR_DATABASE_URL": None})


@pytest.fixture
def batched(app: Conveyor) -> Conveyor:
    """Two batches: one finished with a dead member, one still running; a job with progress."""

    @app.task(max_attempts=1)
    def member(payload: dict) -> None:
        current_job().progress(payload["n"], 4)  # type: ignore[union-attr]
        if payload["n"] == 3:
            raise ValueError("bad member")

    @app.task
    def alarm(payload: dict) -> None:
        pass

    app.batch([("member", {"n": n}) for n in range(4)], on_failure=alarm, name="first")
    app.run_worker(burst=True, install_signal_handlers=False, middleware=[])
    app.batch([("member", {"n": 1}), ("member", {"n": 2})], name="second")
    return app


def invoke(app: Conveyor, *args: str) -> Result:
    return runner.invoke(cli, ["--database-url", app.database_url, *args])


def test_the_api_lists_and_shows_batches_with_their_progress(batched: Conveyor) -> None:
    token = batched.ops.tokens.create("tests")
    with running(batched) as base:
        status, body, _ = call(base, "GET", "/api/batches?limit=1", token=token)
        assert status == 200 and [b["name"] for b in body["batches"]] == ["second"]
        second = body["batches"][0]
        assert second["counts"] == {
            "total": 2,
            "done": 0,
            "failed": 0,
            "cancelled": 0,
            "pending": 2,
        }
        assert (second["state"], second["progress"]) == ("running", 0.0)
        status, body, _ = call(base, "GET", f"/api/batches?before={body['next']}", token=token)
        [first] = body["batches"]
        assert (first["state"], first["counts"]["failed"], first["counts"]["done"]) == (
            "failed",
            1,
            3,
        )
        assert (first["progress"], first["on_failure"], body["next"]) == (1.0, "alarm", None)
        status, shown, _ = call(base, "GET", f"/api/batches/{first['id']}", token=token)
        assert status == 200 and shown == first
        status, missing, _ = call(base, "GET", "/api/batches/99999", token=token)
        assert status == 404 and missing == {"error": "no batch with id 99999"}
        assert call(base, "GET", "/api/batches?state=bogus", token=token)[0] == 422
        assert call(base, "GET", "/api/batches", token=None)[0] == 401
        [job] = batched.list_jobs(task="member", limit=1, state="dead")
        status, body, _ = call(base, "GET", f"/api/jobs/{job.id}", token=token)
        assert body["progress"] == {"done": 3, "total": 4, "ratio": 0.75}
        assert body["batch_id"] == first["id"] and body["parent_id"] is None


def test_the_cli_lists_and_shows_batches(batched: Conveyor) -> None:
    listed = invoke(batched, "batches", "list")
    assert listed.exit_code == 0, listed.output
    assert "first" in listed.stdout and "second" in listed.stdout and "━" in listed.stdout
    lines = invoke(batched, "batches", "list", "--json").stdout.splitlines()
    documents = [json.loads(line) for line in lines]
    assert [d["name"] for d in documents] == ["second", "first"]
    first_id = documents[1]["id"]
    shown = invoke(batched, "batches", "show", str(first_id))
    assert shown.exit_code == 0, shown.output
    assert "3 done, 1 failed, 0 cancelled, 0 pending of 4" in shown.stdout
    assert "100%" in shown.stdout and "alarm" in shown.stdout
    as_json = json.loads(invoke(batched, "batches", "show", str(first_id), "--json").stdout)
    assert as_json == documents[1]
    unknown = invoke(batched, "batches", "show", "424242")
    assert unknown.exit_code == 2 and unknown.stderr.strip().splitlines() == [
        "Error: no batch with id 424242"
    ]
    assert invoke(batched, "batches", "list", "--state", "bogus").exit_code == 2


def test_jobs_show_has_the_progress_batch_and_parent(batched: Conveyor) -> None:
    [job] = batched.list_jobs(task="member", state="dead", limit=1)
    shown = invoke(batched, "jobs", "show", str(job.id))
    assert shown.exit_code == 0, shown.output
    assert "3 of 4 (75%)" in shown.stdout
    assert re.search(rf"Batch\s+{job.batch_id}\s", shown.stdout)
