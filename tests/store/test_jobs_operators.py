"""The jobs slice, every backend: what operators read and do (list, retry, cancel, delete,
prune, blocked keys, dead jobs)."""

from __future__ import annotations

from conveyor.job import JobFilter
from conveyor.store import Store

from .helpers import claim, fail, new, succeed


def test_list_and_stats(store: Store) -> None:
    store.enqueue([new(task="a", queue="q1"), new(task="b", queue="q2"), new(task="b", key="k")])
    assert [j.task for j in store.list_jobs(JobFilter(task="b"))] == ["b", "b"]
    assert len(store.list_jobs(JobFilter(limit=1))) == 1
    assert [j.key for j in store.list_jobs(JobFilter(key="k"))] == ["k"]
    assert store.stats() == [("default", "queued", 1), ("q1", "queued", 1), ("q2", "queued", 1)]
    assert store.list_jobs(JobFilter(state="dead")) == []


def test_listing_pages_by_id_and_filters_by_time(store: Store) -> None:
    ids = store.enqueue([new(task="p") for _ in range(7)])
    first = store.list_jobs(JobFilter(task="p", limit=3))
    second = store.list_jobs(JobFilter(task="p", limit=3, before_id=first[-1].id))
    rest = store.list_jobs(JobFilter(task="p", limit=3, before_id=second[-1].id))
    assert [j.id for j in first + second + rest] == sorted(ids, reverse=True)
    created = store.get(ids[0]).created_at.timestamp()
    assert len(store.list_jobs(JobFilter(task="p", since=created - 60))) == 7
    assert store.list_jobs(JobFilter(task="p", since=created + 3600)) == []


def test_states_come_in_the_order_asked(store: Store) -> None:
    a, b, c = store.enqueue([new(), new(), new()])
    assert list(store.states([c, 424242, a, b])) == [c, a, b]
    assert store.states([]) == {}


def test_a_dead_head_blocks_its_key_until_retried(store: Store) -> None:
    one, two = store.enqueue([new(key="k"), new(key="k")])
    [job] = claim(store)
    fail(store, job, "dead", "nope")
    [blocked] = store.blocked_keys()
    assert (blocked.key, blocked.job_id, blocked.last_error, blocked.waiting) == (
        "k",
        one,
        "nope",
        1,
    )
    assert claim(store) == []
    assert store.retry([one]) == [one]
    [again] = claim(store)
    assert (again.id, again.attempt) == (one, 1)
    succeed(store, again)
    assert [j.id for j in claim(store)] == [two]
    assert store.blocked_keys() == []


def test_blocked_keys_come_oldest_head_first_a_page_after_another(store: Store) -> None:
    heads = store.enqueue([new(key=f"k{n}") for n in range(5)])
    store.enqueue([new(key="k1"), new(key="k1")])
    for job in claim(store, limit=10):
        fail(store, job, "dead", "nope")
    first = store.blocked_keys(2)
    assert [(b.key, b.job_id) for b in first] == [("k0", heads[0]), ("k1", heads[1])]
    assert first[1].waiting == 2
    second = store.blocked_keys(2, after=first[-1].job_id)
    assert [b.job_id for b in second] == heads[2:4]
    assert [b.job_id for b in store.blocked_keys(2, after=second[-1].job_id)] == heads[4:]
    assert store.blocked_keys(2, after=heads[-1]) == []


def test_operator_retry_can_edit_the_payload(store: Store) -> None:
    [one] = store.enqueue([new()])
    [job] = claim(store)
    fail(store, job, "dead", "bad")
    store.retry([one], payload='{"n": 2}')
    assert store.get(one).payload == {"n": 2}


def test_operator_retry_refuses_other_states(store: Store) -> None:
    [one] = store.enqueue([new()])
    assert store.retry([one]) == []
    assert store.retry([999999]) == []


def test_dead_job_ids_by_queue_and_task(store: Store) -> None:
    store.enqueue([new(task="a"), new(task="b"), new(task="a", queue="q2"), new(task="a")])
    jobs = claim(store)
    live = jobs.pop()  # stays running: not dead
    for job in jobs:
        fail(store, job, "dead")
    dead = sorted(j.id for j in jobs)
    assert store.dead_job_ids() == dead
    assert store.dead_job_ids(task="a") == [j.id for j in jobs if j.task == "a"]
    assert store.dead_job_ids(queue="q2") == [j.id for j in jobs if j.queue == "q2"]
    assert store.dead_job_ids(queue="q2", task="b") == []
    assert live.id not in store.dead_job_ids()
    assert store.retry(store.dead_job_ids()) == dead
    assert store.dead_job_ids() == []


def test_retry_cancel_and_delete_answer_in_the_order_asked(store: Store) -> None:
    ids = store.enqueue([new() for _ in range(4)])
    for job in claim(store):
        fail(store, job, "dead")
    assert store.retry([ids[2], ids[0], ids[2]]) == [ids[2], ids[0]]
    assert store.cancel([ids[3], 424242, ids[1]]) == [ids[3], ids[1]]
    assert store.delete([ids[2], ids[0]]) == [ids[2], ids[0]]


def test_cancelling_a_dead_head_releases_its_key(store: Store) -> None:
    one, two = store.enqueue([new(key="k"), new(key="k")])
    [job] = claim(store)
    fail(store, job, "dead")
    assert store.cancel([one]) == [one]
    assert [j.id for j in claim(store)] == [two]


def test_cancel_and_delete(store: Store) -> None:
    one, two, three = store.enqueue([new(key="k"), new(key="k"), new()])
    assert store.cancel([two]) == [two]
    assert store.states([one, two]) == {one: "queued", two: "cancelled"}
    assert store.delete([three, 424242]) == [three]
    assert store.states([three]) == {}
    [job] = claim(store)
    assert store.delete([job.id]) == []  # running jobs are not deleted
    assert store.cancel([two]) == []  # already final


def test_releasing_many_keys_at_once_promotes_each(store: Store) -> None:
    heads = store.enqueue([new(key=k) for k in "abc"])
    behind = store.enqueue([new(key=k) for k in "abc"])
    assert store.cancel([heads[0], heads[1]]) == heads[:2]
    assert store.delete([heads[2]]) == heads[2:]
    assert store.states(behind) == dict.fromkeys(behind, "queued")


def test_deleting_a_dead_head_releases_its_key(store: Store) -> None:
    one, two = store.enqueue([new(key="k"), new(key="k")])
    [job] = claim(store)
    fail(store, job, "dead")
    assert store.delete([one]) == [one]
    assert [j.id for j in claim(store)] == [two]


def test_idempotency_keys_dedupe_and_outlive_pruning(store: Store) -> None:
    [one] = store.enqueue([new(ikey="order:7")])
    assert store.enqueue([new(ikey="order:7"), new(ikey="order:8")])[0] == one
    [job] = claim(store, limit=1)
    succeed(store, job)
    assert store.prune(older_than=0) == 1
    assert store.enqueue([new(ikey="order:7")]) == [one]
    assert store.prune(older_than=0, idempotency_older_than=0) == 0  # no job left to prune
    assert store.enqueue([new(ikey="order:7")]) != [one]


def test_prune_keeps_recent_and_unfinished_jobs(store: Store) -> None:
    done, waiting = store.enqueue([new(), new(delay=60)])
    [job] = claim(store)
    succeed(store, job)
    assert store.prune(older_than=3600) == 0
    assert store.prune(older_than=0) == 1
    assert store.states([done, waiting]) == {waiting: "queued"}
