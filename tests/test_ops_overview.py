"""The operator service's overview reads, on both backends: throughput per minute over the last
hour (every minute present, the current one last), the oldest wait per queue and state, dead jobs
grouped by task and error class, and the error-text filter's bulk actions."""

from __future__ import annotations

from itertools import pairwise

import pytest

from conveyor import ConfigurationError, Conveyor


@pytest.fixture
def app_with_jobs(app: Conveyor) -> Conveyor:
    @app.task(max_attempts=1)
    def charge(payload: dict[str, int]) -> None:
        if payload["n"] % 2:
            raise RuntimeError(f"declined {payload['n']}")

    @app.task(max_attempts=1, queue="mail")
    def mail(payload: dict[str, int]) -> None:
        raise ValueError("no address")

    for n in range(5):
        app.enqueue("charge", {"n": n})
    app.enqueue("mail", {"n": 0})
    app.run_worker(burst=True, install_signal_handlers=False)
    app.enqueue("mail", {"n": 1}, delay=600)
    return app


def test_throughput_has_every_minute_of_the_hour(app_with_jobs: Conveyor) -> None:
    minutes = app_with_jobs.ops.throughput(60)
    assert len(minutes) == 60
    assert [b.at - a.at for a, b in pairwise(minutes)] == [60.0] * 59
    assert minutes[-1].at <= app_with_jobs.store.clock() < minutes[-1].at + 60
    assert sum(m.succeeded for m in minutes) == 3 and sum(m.dead for m in minutes) == 3
    assert sum(m.total for m in minutes) == 6
    assert len(app_with_jobs.ops.throughput(5)) == 5


def test_oldest_waits_and_dead_groups(app_with_jobs: Conveyor) -> None:
    ops = app_with_jobs.ops
    waits = ops.oldest_waits()
    assert set(waits) == {"mail"} and set(waits["mail"]) == {"queued"}
    assert 0 <= waits["mail"]["queued"] < 60
    groups = [(g.task, g.connection, g.error_class, g.count) for g in ops.dead_groups()]
    assert groups == [("charge", None, "RuntimeError", 2), ("mail", None, "ValueError", 1)]
    dead = ops.dead_in_group("charge", None, "RuntimeError")
    assert [job.payload["n"] for job in dead] == [3, 1]
    assert len(ops.dead_in_group("charge", None, "RuntimeError", limit=0)) == 1  # at least one
    assert ops.dead_in_group("charge", "shop", "RuntimeError") == []


def test_the_error_filter_acts_on_what_it_lists(app_with_jobs: Conveyor) -> None:
    ops = app_with_jobs.ops
    found = ops.list_jobs(error="DECLINED 3")
    assert [job.payload for job in found] == [{"n": 3}]
    declined = sorted(job.id for job in ops.list_jobs(task="charge", state="dead"))
    assert len(declined) == 2
    assert ops.retry(filter=ops.job_filter(state="dead", error="declined")) == declined
    assert [job.task for job in ops.list_jobs(state="dead")] == ["mail"]
    with pytest.raises(ConfigurationError, match="unknown job filter 'errors'"):
        ops.job_filter(errors="x")
