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
from tests.web.dashboard.client import Client
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


def test_the_jobs_of_a_batch_through_the_api_the_cli_and_the_dashboard(
    batched: Conveyor,
) -> None:
    first, second = sorted(b.id for b in batched.batches.list())
    outside = batched.enqueue("member", {"n": 3})  # dead too, in no batch: never retried here
    batched.run_worker(burst=True, install_signal_handlers=False, middleware=[])
    assert batched.get_job(outside).state == "dead"
    members = {
        b: sorted((j.id for j in batched.list_jobs(limit=100) if j.batch_id == b), reverse=True)
        for b in (first, second)
    }
    assert len(members[first]) == 4 and len(members[second]) == 2
    token = batched.ops.tokens.create("tests")
    with running(batched) as base:
        status, body, _ = call(base, "GET", f"/api/jobs?batch_id={first}", token=token)
        assert status == 200 and [j["id"] for j in body["jobs"]] == members[first]
        assert {j["batch_id"] for j in body["jobs"]} == {first}
        path = f"/api/jobs?batch_id={first}&state=dead"
        [dead] = call(base, "GET", path, token=token)[1]["jobs"]
        assert dead["payload"] == {"n": 3}
        page = call(base, "GET", f"/api/jobs?batch_id={first}&limit=3", token=token)[1]
        rest = call(base, "GET", f"/api/jobs?batch_id={first}&before={page['next']}", token=token)
        assert [j["id"] for j in page["jobs"] + rest[1]["jobs"]] == members[first]
        for bad in ("0", "abc", "-1"):
            status, problem, _ = call(base, "GET", f"/api/jobs?batch_id={bad}", token=token)
            assert status == 422 and "batch_id" in json.dumps(problem), problem
        wrong = {"filter": {"batch_id": "x"}}
        status, problem, _ = call(base, "POST", "/api/jobs/retry", wrong, token=token)
        assert status == 400 and problem == {"error": "filter batch_id must be an integer, not 'x'"}
        chosen = {"filter": {"batch_id": first, "state": "dead"}}
        status, body, _ = call(base, "POST", "/api/jobs/retry", chosen, token=token)
        assert status == 200 and body == {"retried": [dead["id"]]}
        assert batched.get_job(outside).state == "dead"

        client = Client(base)
        assert client.login(token).status == 303
        listed = client.get(f"/dashboard/jobs?batch_id={second}")
        assert listed.status == 200
        shown = set(map(int, re.findall(r'name="ids" value="(\d+)"', listed.text)))
        assert shown == set(members[second])
        assert f'name="batch_id" value="{second}"' in listed.text  # kept in the filter form
        assert client.get("/dashboard/jobs?batch_id=x").status == 400
        batches = client.get("/dashboard/batches").text
        assert f'href="/dashboard/jobs?batch_id={first}"' in batches

    out = invoke(batched, "jobs", "list", "--batch", str(second), "--json")
    assert out.exit_code == 0, out.output
    assert [json.loads(line)["id"] for line in out.stdout.splitlines()] == members[second]
    assert invoke(batched, "jobs", "list", "--batch", "0").exit_code == 2
