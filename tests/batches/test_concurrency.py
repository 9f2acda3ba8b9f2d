"""Exactly one callback per batch while several workers (each its own app, store and pool)
finish the members of many small batches at the same moment. (Without the batch row's lock in
`batch_lock`, two last members finishing together each see the other unfinished and the batch
never ends: this test then fails on PostgreSQL, measured 3 runs out of 3.)"""

from __future__ import annotations

import threading
from typing import Any

from conveyor import Conveyor

WORKERS = 4
BATCHES = 15
MEMBERS = 6


def _app(url: str) -> Conveyor:
    app = Conveyor(url)

    @app.task
    def member(payload: dict) -> None:
        pass

    @app.task
    def callback(payload: dict) -> None:
        pass

    return app


def test_many_workers_finish_members_together_and_each_batch_calls_back_once(
    database_url: str,
) -> None:
    maker = _app(database_url)
    batches = [
        maker.batch([("member", {"n": n}) for n in range(MEMBERS)], on_complete="callback")
        for _ in range(BATCHES)
    ]
    errors: list[BaseException] = []

    def work() -> None:
        app = _app(database_url)
        try:
            app.run_worker(burst=True, concurrency=3, install_signal_handlers=False, middleware=[])
        except BaseException as error:
            errors.append(error)
        finally:
            app.close()

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    maker.run_worker(burst=True, install_signal_handlers=False, middleware=[])  # the callbacks
    callbacks: list[Any] = maker.list_jobs(task="callback", limit=1000)
    assert sorted(job.payload["batch_id"] for job in callbacks) == sorted(b.id for b in batches)
    for batch in batches:
        view = maker.batches.get(batch.id)
        assert (view.state, view.done, view.pending) == ("succeeded", MEMBERS, 0)
    assert {job.state for job in callbacks} == {"succeeded"}
    maker.close()
