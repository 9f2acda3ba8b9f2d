"""The operator service (`app.ops`), on both backends: what the CLI, the HTTP API and the
dashboard act through. Actions by id, by several ids and by filter; their refusals explained."""

from __future__ import annotations

import pytest

from conveyor import ConfigurationError, Conveyor, Discard, JobNotFound, PayloadError
from conveyor import ops as ops_module
from conveyor.job import JobFilter
from conveyor.ops import CANCEL, DELETE, RETRY, Operations
from tests.connections.conftest import run_burst


@pytest.fixture
def ops(app: Conveyor) -> Operations:
    @app.task(queue="emails")
    def send(payload: dict[str, int]) -> None:
        if payload.get("fail"):
            raise Discard("refused")

    @app.task
    def count(payload: list[int]) -> int:
        return sum(payload)

    return app.ops


def dead_jobs(app: Conveyor, n: int, queue: str | None = None) -> list[int]:
    ids = [app.enqueue("send", {"fail": 1, "n": i}, queue=queue) for i in range(n)]
    run_burst(app, middleware=[])
    assert set(app.ops.states(ids).values()) == {"dead"}
    return ids


def test_get_and_list(app: Conveyor, ops: Operations) -> None:
    first = app.enqueue("send", {"n": 1})
    second = app.enqueue("count", [1, 2])
    assert ops.get_job(first).task == "send"
    assert [job.id for job in ops.list_jobs()] == [second, first]  # newest first
    assert [job.id for job in ops.list_jobs(queue="emails")] == [first]
    assert [job.id for job in ops.list_jobs(JobFilter(task="count"))] == [second]
    with pytest.raises(JobNotFound):
        ops.get_job(2**70)  # past what a store holds: not found, not an overflow
    with pytest.raises(ConfigurationError, match="unknown job filter 'colour'"):
        ops.list_jobs(colour="red")
    with pytest.raises(ConfigurationError, match="unknown state 'lost'"):
        ops.list_jobs(state="lost")


def test_retry_by_ids_and_by_filter(app: Conveyor, ops: Operations) -> None:
    emails = dead_jobs(app, 2)
    other = dead_jobs(app, 1, queue="other")
    assert ops.retry(filter=JobFilter(state="dead", queue="emails")) == emails
    assert ops.states(emails) == dict.fromkeys(emails, "queued")
    assert ops.states(other) == dict.fromkeys(other, "dead")
    assert ops.retry(other) == other
    assert ops.retry(filter=JobFilter(state="dead")) == []


def test_retry_with_an_edited_payload(app: Conveyor, ops: Operations) -> None:
    [job_id] = dead_jobs(app, 1)
    with pytest.raises(PayloadError):
        ops.retry([job_id], payload={"n": "not a number"})
    with pytest.raises(ConfigurationError, match="exactly one job"):
        ops.retry(filter=JobFilter(state="dead"), payload={"n": 2})
    assert ops.retry([job_id], payload={"n": 2}) == [job_id]
    assert ops.get_job(job_id).payload == {"n": 2}


def test_cancel_and_delete_by_filter(app: Conveyor, ops: Operations) -> None:
    keyed = [app.enqueue("count", [n], key="k") for n in range(3)]
    lone = app.enqueue("send", {"n": 0})
    assert ops.cancel(filter=JobFilter(key="k")) == keyed
    assert set(ops.states(keyed).values()) == {"cancelled"}
    assert ops.delete(filter=JobFilter(state="cancelled")) == keyed
    assert ops.states([*keyed, lone]) == {lone: "queued"}


def test_a_filter_acts_on_every_match_not_one_page(app: Conveyor, ops: Operations) -> None:
    ids = app.enqueue_many("count", [[n] for n in range(7)])
    assert ops.cancel(filter=JobFilter(task="count", limit=2)) == ids


def test_too_many_matches_are_refused(
    app: Conveyor, ops: Operations, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops_module, "BULK_LIMIT", 3)
    ids = app.enqueue_many("count", [[n] for n in range(4)])
    with pytest.raises(ConfigurationError, match="more than 3 jobs match"):
        ops.delete(filter=JobFilter(task="count"))
    assert len(ops.states(ids)) == 4  # nothing deleted


def test_ids_or_a_filter(ops: Operations) -> None:
    with pytest.raises(ConfigurationError, match="job ids or a filter"):
        ops.cancel([1], filter=JobFilter(state="queued"))
    with pytest.raises(ConfigurationError, match="job ids or a filter"):
        ops.delete()
    with pytest.raises(ConfigurationError, match="unknown state 'gone'"):
        ops.retry(filter=JobFilter(state="gone"))


def test_why_an_id_was_not_acted_on(app: Conveyor, ops: Operations) -> None:
    queued = app.enqueue("count", [1])
    assert ops.retry([queued, 999]) == []
    assert ops.why_not(RETRY, queued) == (
        f"job {queued} not retried: it is queued (only dead or retrying jobs can be retried)"
    )
    assert ops.why_not(RETRY, 999) == "job 999 not retried: no such job"
    assert ops.cancel([queued]) == [queued]
    assert ops.why_not(CANCEL, queued).endswith(
        "it is cancelled (succeeded and cancelled jobs cannot be cancelled)"
    )
    assert "running jobs cannot be deleted" in DELETE.rule


def test_stats_in_one_call(app: Conveyor, ops: Operations) -> None:
    app.enqueue("send", {"n": 1})
    app.enqueue("count", [1])
    stats = ops.stats()
    assert stats.queues == {"emails": {"queued": 1}, "default": {"queued": 1}}
    assert stats.queues == app.stats()
    assert stats.workers == []  # none running
    assert sorted((group.task, group.jobs) for group in stats.no_worker) == [
        ("count", 1),
        ("send", 1),
    ]
    assert stats.breakers == []  # no connection was ever called
    assert ops.blocked_keys() == []


def test_the_app_delegates_to_it(app: Conveyor, ops: Operations) -> None:
    [job_id] = dead_jobs(app, 1)
    assert app.retry_dead(queue="emails") == [job_id]
    assert app.cancel_jobs([job_id]) == [job_id]
    assert app.delete_jobs([job_id]) == [job_id]
    assert app.list_jobs() == ops.list_jobs() == []
