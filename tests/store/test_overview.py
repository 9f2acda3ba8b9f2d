"""The overview slice, every backend: finished jobs per minute from a time on, the oldest
unfinished job per queue and state, dead jobs grouped by task and error class; and the jobs
listing's error-text filter."""

from __future__ import annotations

from conveyor.job import JobFilter, Outcome
from conveyor.store import Store

from .helpers import claim, new, succeed


def die(store: Store, error_type: str, message: str, task: str = "t") -> int:
    [job_id] = store.enqueue([new(task, max_attempts=1)])
    [job] = [j for j in claim(store) if j.id == job_id]
    error = {"attempt": 1, "type": error_type, "message": message}
    store.complete([Outcome(job.id, job.token, "dead", error=error)])
    return job_id


def test_finished_per_minute_counts_final_states_since_a_time(store: Store) -> None:
    now = store.clock()
    store.enqueue([new(), new(), new(queue="other")])
    for job in claim(store):
        succeed(store, job)
    die(store, "RuntimeError", "boom")
    rows = store.finished_per_minute(now - 60)
    by_state: dict[str, int] = {}
    for minute, state, n in rows:
        assert abs(minute * 60 - now) < 120
        by_state[state] = by_state.get(state, 0) + n
    assert by_state == {"succeeded": 3, "dead": 1}
    assert store.finished_per_minute(now + 3600) == []


def test_oldest_unfinished_per_queue_and_state(store: Store) -> None:
    before = store.clock()
    store.enqueue([new(), new(queue="mail"), new(queue="mail", delay=60)])
    found = {(queue, state): created for queue, state, created in store.oldest_unfinished()}
    assert set(found) == {("default", "queued"), ("mail", "queued")}
    assert all(before - 5 <= created <= store.clock() + 5 for created in found.values())
    for job in claim(store, queues=["default"]):
        succeed(store, job)
    assert {(q, s) for q, s, _ in store.oldest_unfinished()} == {("mail", "queued")}


def test_dead_jobs_grouped_by_task_and_error_class(store: Store) -> None:
    first = die(store, "RuntimeError", "card declined 1")
    second = die(store, "RuntimeError", "card declined 2")
    other = die(store, "ValueError", "no address", task="ship")
    groups = store.dead_groups(None, 10)
    assert [(g.task, g.error_class, g.count) for g in groups] == [
        ("t", "RuntimeError", 2),
        ("ship", "ValueError", 1),
    ]
    assert groups[0].sample in ("card declined 1", "card declined 2")
    assert groups[0].first_at <= groups[0].last_at
    assert [j.id for j in store.dead_in_group("t", "RuntimeError", None, 10)] == [second, first]
    assert [j.id for j in store.dead_in_group("ship", "ValueError", None, 10)] == [other]
    assert store.dead_in_group("t", "ValueError", None, 10) == []
    later = store.clock() + 3600
    assert store.dead_groups(later, 10) == []
    assert store.dead_in_group("t", "RuntimeError", later, 10) == []
    assert len(store.dead_in_group("t", "RuntimeError", None, 1)) == 1


def test_the_listing_finds_jobs_by_a_text_in_their_last_error(store: Store) -> None:
    declined = die(store, "RuntimeError", "Card DECLINED for order 7")
    die(store, "RuntimeError", "timeout")
    store.enqueue([new()])
    assert [j.id for j in store.list_jobs(JobFilter(error="declined"))] == [declined]
    assert [j.id for j in store.list_jobs(JobFilter(error="order 7", state="dead"))] == [declined]
    assert store.list_jobs(JobFilter(error="100%")) == []
    assert len(store.list_jobs(JobFilter())) == 3
