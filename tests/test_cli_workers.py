"""`conveyor worker` without tasks, and what `stats` / `jobs show` say about jobs no worker runs."""

from __future__ import annotations

import json

from conveyor import Conveyor
from tests.test_cli import (  # noqa: F401  (_in_tests_dir: --app modules import from tests/)
    _in_tests_dir,
    enqueue,
    error_line,
    invoke,
    ok,
    order,
    show_json,
)


def test_a_worker_without_app_refuses_to_start(database_url: str) -> None:
    job_id = order(database_url, 1)
    result = invoke(database_url, "worker", "--burst", app=None)
    assert error_line(result) == (
        "Error: no tasks registered: pass --app module:attr or set CONVEYOR_APP"
    )
    assert result.stdout == ""
    job = show_json(database_url, job_id)
    assert (job["state"], job["attempts"], job["errors"]) == ("queued", 0, [])


def test_stats_and_show_name_the_jobs_no_live_worker_can_run(database_url: str) -> None:
    waiting = order(database_url, 1)
    served = enqueue(database_url, "ping")  # queue "other"
    enqueue(database_url, "ping", None, "--queue", "default")
    registry = Conveyor(database_url)
    registry.store.register_worker("host:7:abc", "host", 7, ["other"], ["ping"], 30.0)
    registry.close()

    document = json.loads(ok(invoke(database_url, "stats", "--json")))
    [worker] = document["workers"]
    assert (worker["worker_id"], worker["queues"], worker["tasks"]) == (
        "host:7:abc",
        ["other"],
        ["ping"],
    )
    assert worker["last_seen_at"].endswith("+00:00")
    assert document["no_worker"] == [
        {
            "task": "ping",
            "queue": "default",
            "jobs": 1,
            "reason": "no running worker has task 'ping' on queue 'default'",
        },
        {
            "task": "record_order",
            "queue": "default",
            "jobs": 1,
            "reason": "no running worker has task 'record_order'",
        },
    ]
    text = ok(invoke(database_url, "stats"))
    assert "host:7:abc" in text
    assert "No worker for task 'record_order' on queue 'default': 1 queued" in text

    assert show_json(database_url, waiting)["no_worker"] == (
        "no running worker has task 'record_order'"
    )
    assert show_json(database_url, served)["no_worker"] is None
    shown = ok(invoke(database_url, "jobs", "show", str(waiting)))
    assert "Waiting" in shown and "no running worker has task 'record_order'" in shown
    assert "Waiting" not in ok(invoke(database_url, "jobs", "show", str(served)))


def test_stats_without_workers(database_url: str) -> None:
    empty = json.loads(ok(invoke(database_url, "stats", "--json")))
    assert (empty["workers"], empty["no_worker"]) == ([], [])
    assert ok(invoke(database_url, "stats")).splitlines() == ["No jobs.", "No running workers."]
