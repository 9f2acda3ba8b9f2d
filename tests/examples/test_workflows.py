"""examples/workflows (004) against its stand-in Zuora API, on both backends."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conveyor import Conveyor
from conveyor.cli import cli
from examples.workflows.integration import SYNC_ALL, make_app
from examples.workflows.remote import ZuoraApi, seeded

runner = CliRunner(env={"COLUMNS": "200", "CONVEYOR_APP": None, "CONVEYOR_DATABASE_URL": None})


@pytest.fixture
def api() -> Iterator[ZuoraApi]:
    remote = seeded()
    remote.start()
    yield remote
    remote.stop()


@pytest.fixture
def workflows(database_url: str, api: ZuoraApi) -> Iterator[Conveyor]:
    app = make_app(database_url, api.url)
    app.migrate()
    yield app
    app.close()


def ids(app: Conveyor, **filters: object) -> list[str]:
    return sorted(r.external_id for r in app.records("workflows", limit=1000, **filters))


def runs(app: Conveyor) -> dict[str, dict[str, object]]:
    return {run.owner: run.stats for run in app.sync_runs("workflows", limit=3)}


def test_sync_all_customers_pages_downloads_extracts_and_caches_the_token(
    workflows: Conveyor, api: ZuoraApi
) -> None:
    app = workflows
    app.enqueue(SYNC_ALL)
    app.run_worker(burst=True)

    # Paginated per customer (acme's 60 workflows are two pages of 50), one export each.
    assert api.hits["/workflows"] == 4
    assert sum(n for path, n in api.hits.items() if path.endswith("/export")) == 65
    assert runs(app)["acme"] == {
        "created": 60, "updated": 0, "unchanged": 0, "deleted": 0, "total": 60, "errors": 0,
    }  # fmt: skip
    assert len(ids(app, owner="globex")) == 3
    tasks = app.records("workflows", kind="tasks", owner="initech")
    assert sorted(t.external_id for t in tasks) == [
        "initech-wf001-t1", "initech-wf001-t2", "initech-wf002-t1", "initech-wf002-t2",
    ]  # fmt: skip
    assert tasks[0].data["name"] in ("Callout notify", "Query")
    assert api.tokens == 1  # one OAuth token for every request of the three syncs
    [batch] = app.batches.list()  # "sync all customers" is a batch, with its progress
    assert (batch.state, batch.done, batch.failed, batch.total) == ("succeeded", 3, 0, 3)
    assert batch.callback_job_id is not None
    assert app.get_job(batch.callback_job_id).state == "succeeded"

    # Zuora changes: one renamed, one gone, one new; a throttle waited out in place.
    api.put("acme", "acme-wf001", "Renamed", ["Callout notify"])
    api.remove("globex", "globex-wf003")
    api.put("initech", "initech-wf003", "New", ["Query"])
    api.throttle = 2
    app.enqueue(SYNC_ALL)
    app.run_worker(burst=True)
    stats = runs(app)
    assert (stats["acme"]["updated"], stats["acme"]["unchanged"]) == (1, 59)
    assert stats["globex"]["deleted"] == 1 and "globex-wf003" in ids(app, deleted=True)
    assert stats["initech"]["created"] == 1
    assert api.tokens == 1
    acme_tasks = [r.external_id for r in app.records("workflows", kind="tasks", owner="acme")]
    assert "acme-wf001-t2" not in acme_tasks  # the renamed workflow lost its second task

    # Tasks re-extracted from the stored exports: not one call to Zuora.
    calls = sum(api.hits.values())
    assert len(app.reextract("workflows")) == 3
    assert sum(api.hits.values()) == calls


def test_a_revoked_customer_is_refused_before_any_page(workflows: Conveyor, api: ZuoraApi) -> None:
    api.revoked.add("globex")
    job = workflows.sync("workflows", "globex")
    workflows.run_worker(burst=True)
    failed = workflows.get_job(job)
    assert failed.state == "dead" and "refused owner 'globex' (403" in (failed.last_error or "")
    assert api.hits["/me"] == 1 and api.hits["/workflows"] == 0


def test_a_failed_sync_is_tried_3_times_60_s_apart(workflows: Conveyor, api: ZuoraApi) -> None:
    api.outage = True
    job = workflows.sync("workflows", "acme")
    workflows.run_worker(burst=True)
    failed = workflows.get_job(job)
    assert (failed.state, failed.attempts, failed.max_attempts) == ("retrying", 1, 3)
    wait = (failed.run_at - datetime.now(UTC)).total_seconds()
    assert 50 < wait <= 60
    assert ids(workflows) == []


def test_the_token_is_fetched_again_when_its_lifetime_ends(
    workflows: Conveyor, api: ZuoraApi
) -> None:
    api.token_lifetime = 2.0  # a short-lived token is refreshed halfway: after 1 s
    workflows.sync_now("workflows", "initech")
    workflows.sync_now("workflows", "initech")
    assert api.tokens == 1
    time.sleep(1.2)
    workflows.sync_now("workflows", "initech")
    assert api.tokens == 2


def test_hourly_schedule_and_the_cli(
    workflows: Conveyor,
    database_url: str,
    api: ZuoraApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schedule = workflows.schedules.get("sync-workflows")
    assert (schedule.cron, schedule.task) == ("0 * * * *", SYNC_ALL)

    name = f"workflows_cli_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "from examples.workflows.integration import make_app\n"
        f"app = make_app({database_url!r}, {api.url!r})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        base = ["--database-url", database_url, "--app", f"{name}:app", "sync", "workflows"]
        now = runner.invoke(cli, [*base, "--owner", "globex", "--now"])
        assert now.exit_code == 0, now.output
        assert len(ids(workflows, owner="globex")) == 3
        queued = runner.invoke(cli, [*base, "--all"])
        assert queued.exit_code == 0, queued.output
        pending = workflows.list_jobs(task="conveyor.sync", state="queued")
        assert sorted(j.payload["owner"] for j in pending) == ["acme", "globex", "initech"]
    finally:
        sys.modules.pop(name, None)
