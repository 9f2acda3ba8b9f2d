"""The Zuora workflows demo (004): sync every customer, change Zuora, sync again, a customer
whose access is revoked, an outage, and tasks re-extracted without calling Zuora."""

from __future__ import annotations

from datetime import UTC, datetime

from conveyor import Conveyor

from .integration import SYNC_ALL, make_app
from .remote import seeded


def main(database_url: str) -> None:
    api = seeded()
    url = api.start()
    app = make_app(database_url, url)
    app.migrate()
    try:
        app.enqueue(SYNC_ALL)  # what the hourly schedule and "Sync all customers" do
        app.run_worker(burst=True)
        _report(app, "first sync")
        batch = app.batches.list(limit=1)[0]
        print(
            f"  batch {batch.name!r}: {batch.state}, {batch.done}/{batch.total} done,"
            f" callback job {batch.callback_job_id}"
        )
        tasks = len(app.records("workflows", kind="tasks", limit=1000))
        print(f"  {tasks} tasks extracted; {api.tokens} OAuth token for all of it (cached)")

        api.put("acme", "acme-wf001", "Workflow 1, renamed", ["Callout notify"])
        api.remove("globex", "globex-wf003")
        api.put("initech", "initech-wf003", "New workflow", ["Query"])
        api.throttle = 2  # two 429s with Retry-After: waited out in place
        app.enqueue(SYNC_ALL)
        app.run_worker(burst=True)
        _report(app, "after changes in Zuora")

        api.revoked.add("initech")
        job = app.sync("workflows", "initech")
        app.run_worker(burst=True)
        print(f"revoked customer: {app.get_job(job).state}: {app.get_job(job).last_error}"[:150])

        api.outage = True
        job = app.sync("workflows", "globex")
        app.run_worker(burst=True)
        failed = app.get_job(job)
        assert failed.run_at is not None
        wait = (failed.run_at - datetime.now(UTC)).total_seconds()
        print(
            f"outage: {failed.state}, attempt {failed.attempts} of {failed.max_attempts},"
            f" next in {wait:.0f} s"
        )
        api.outage = False

        calls = sum(api.hits.values())
        runs = app.reextract("workflows")
        print(
            f"re-extracted the tasks of {len(runs)} customers from stored exports:"
            f" {sum(api.hits.values()) - calls} calls to Zuora"
        )
    finally:
        api.stop()
    print("look at it: conveyor --app examples.workflows.integration:app serve  (dashboard)")


def _report(app: Conveyor, when: str) -> None:
    print(f"{when}:")
    for run in sorted(app.sync_runs("workflows", limit=3), key=lambda r: r.owner):
        stats = {k: v for k, v in run.stats.items() if k != "errors"}
        print(f"  {run.owner:8} {run.state:9} {stats}")
