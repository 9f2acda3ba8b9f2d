"""The overview slice, every backend: finished jobs per minute from a time on, the oldest
unfinished job per queue and state, dead jobs grouped by task, connection and error class; and
the jobs listing's error-text filter."""

from __future__ import annotations

from dataclasses import replace

from conveyor.job import JobFilter, Outcome
from conveyor.store import Store

from .helpers import claim, fail, new, succeed


def die(
    store: Store, error_type: str, message: str, task: str = "t", connection: str | None = None
) -> int:
    [job_id] = store.enqueue([replace(new(task, max_attempts=1), connection=connection)])
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


def test_finished_per_second_counts_final_states_by_queue_since_a_time(store: Store) -> None:
    now = store.clock()
    store.enqueue([new(), new(), new(queue="other")])
    for job in claim(store):
        succeed(store, job)
    die(store, "RuntimeError", "boom")
    by_queue: dict[tuple[str, str], int] = {}
    for second, queue, state, n in store.finished_per_second(now - 60):
        assert now - 61 <= second <= store.clock() + 1
        by_queue[(queue, state)] = by_queue.get((queue, state), 0) + n
    assert by_queue == {("default", "succeeded"): 2, ("other", "succeeded"): 1,
                        ("default", "dead"): 1}  # fmt: skip
    assert store.finished_per_second(store.clock() + 3600) == []


def test_oldest_unfinished_per_queue_and_state(store: Store) -> None:
    before = store.clock()
    store.enqueue([new(), new(queue="mail"), new(queue="mail", delay=60)])
    found = {(queue, state): created for queue, state, created in store.oldest_unfinished()}
    assert set(found) == {("default", "queued"), ("mail", "queued")}
    assert all(before - 5 <= created <= store.clock() + 5 for created in found.values())
    for job in claim(store, queues=["default"]):
        succeed(store, job)
    assert {(q, s) for q, s, _ in store.oldest_unfinished()} == {("mail", "queued")}


def test_the_live_summary_is_the_live_counts_and_the_oldest_unfinished_in_one_read(
    store: Store,
) -> None:
    """live_summary against the reads it replaces for the shared counts: `stats` without the
    finished part, and `oldest_unfinished`, over every unfinished state and dead."""

    def agrees() -> None:
        summary = store.live_summary()
        live = {"waiting", "queued", "running", "retrying", "dead"}
        assert sorted((q, s, n) for q, s, n, _ in summary) == sorted(
            (q, s, n) for q, s, n in store.stats(0) if s in live
        )
        assert sorted((q, s, c) for q, s, _, c in summary if c is not None) == sorted(
            store.oldest_unfinished()
        )
        assert all((c is None) == (s == "dead") for _, s, _, c in summary)

    assert store.live_summary() == []
    store.enqueue([new(), new(queue="mail"), new(queue="mail", delay=60), new(key="k")])
    store.enqueue([new(key="k")])  # waits behind the first
    agrees()
    [running, *_] = claim(store, queues=["default"])
    agrees()
    succeed(store, running)
    die(store, "RuntimeError", "boom", task="d")
    agrees()
    assert ("default", "dead") in {(q, s) for q, s, _, _ in store.live_summary()}


def test_dead_jobs_grouped_by_task_and_error_class(store: Store) -> None:
    first = die(store, "RuntimeError", "card declined 1")
    second = die(store, "RuntimeError", "card declined 2")
    other = die(store, "ValueError", "no address", task="ship")
    groups = store.dead_groups(None, 10)
    assert [(g.task, g.connection, g.error_class, g.count) for g in groups] == [
        ("t", None, "RuntimeError", 2),
        ("ship", None, "ValueError", 1),
    ]
    assert (groups[0].sample, groups[0].newest_id) == ("card declined 2", second)
    assert groups[0].first_at <= groups[0].last_at
    assert [j.id for j in store.dead_in_group("t", None, "RuntimeError", None, 10)] == [
        second,
        first,
    ]
    assert [j.id for j in store.dead_in_group("ship", None, "ValueError", None, 10)] == [other]
    assert store.dead_in_group("t", None, "ValueError", None, 10) == []
    later = store.clock() + 3600
    assert store.dead_groups(later, 10) == []
    assert store.dead_in_group("t", None, "RuntimeError", later, 10) == []
    assert len(store.dead_in_group("t", None, "RuntimeError", None, 1)) == 1


def test_dead_groups_split_by_connection_and_filter_by_it(store: Store) -> None:
    bare = die(store, "DeliveryError", "HTTP 500")
    shop = [die(store, "DeliveryError", f"HTTP 50{n}", connection="shop") for n in range(3)]
    erp = die(store, "DeliveryError", "HTTP 502", connection="erp")
    store.enqueue([new()])  # an error record without a type: the '' class
    for job in claim(store):
        fail(store, job)
    found = [(g.connection, g.error_class, g.count) for g in store.dead_groups(None, 10)]
    assert found == [
        ("shop", "DeliveryError", 3),
        (None, "", 1),
        (None, "DeliveryError", 1),
        ("erp", "DeliveryError", 1),
    ]
    [only] = store.dead_groups(None, 10, connection="shop")
    assert (only.connection, only.count, only.newest_id) == ("shop", 3, shop[-1])
    assert store.dead_groups(None, 10, connection="nowhere") == []
    group = store.dead_in_group("t", "shop", "DeliveryError", None, 10)
    assert [j.id for j in group] == shop[::-1]
    assert [j.id for j in store.dead_in_group("t", "erp", "DeliveryError", None, 10)] == [erp]
    assert [j.id for j in store.dead_in_group("t", None, "DeliveryError", None, 10)] == [bare]
    [unclassed] = store.dead_in_group("t", None, "", None, 10)
    assert "type" not in unclassed.errors[-1] and unclassed.id not in (bare, erp, *shop)
    # Every group's jobs in one read, as each group's own read gives them (and a limit each).
    keys = [(g.task, g.connection, g.error_class) for g in store.dead_groups(None, 10)]
    together = store.dead_in_groups(keys, None, 10)
    assert together == [store.dead_in_group(*key, None, 10) for key in keys]
    assert [len(jobs) for jobs in store.dead_in_groups(keys, None, 2)] == [2, 1, 1, 1]
    assert store.dead_in_groups(keys, store.clock() + 60, 10) == [[], [], [], []]
    assert store.dead_in_groups([("t", "nowhere", "X")], None, 10) == [[]]
    assert store.dead_in_groups([], None, 10) == []


def test_the_listing_finds_jobs_by_a_text_in_their_last_error(store: Store) -> None:
    declined = die(store, "RuntimeError", "Card DECLINED for order 7")
    die(store, "RuntimeError", "timeout")
    store.enqueue([new()])
    assert [j.id for j in store.list_jobs(JobFilter(error="declined"))] == [declined]
    assert [j.id for j in store.list_jobs(JobFilter(error="order 7", state="dead"))] == [declined]
    assert store.list_jobs(JobFilter(error="100%")) == []
    assert len(store.list_jobs(JobFilter())) == 3


def test_jobs_by_id_reads_the_ones_still_there(store: Store) -> None:
    ids = store.enqueue([new(), new(queue="mail"), new()])
    store.delete([ids[1]])
    found = store.jobs_by_id([ids[2], ids[1], ids[0], 10**9])
    assert sorted((job.id, job.queue) for job in found) == [
        (ids[0], "default"),
        (ids[2], "default"),
    ]
    assert store.jobs_by_id([]) == []
