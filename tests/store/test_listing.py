"""The jobs listing and counts, every backend: each filter built alone (store/listing.py) gives
what the plain definition gives, on each of the reads of a `since` window."""

from __future__ import annotations

import time

import pytest

from conveyor.job import Job, JobFilter
from conveyor.store import Store, listing

from .helpers import claim, fail, new, succeed


def _mixed(store: Store) -> list[Job]:
    """Jobs of three tasks, two queues and two keys, some finished (succeeded, dead), some not
    (running, queued, waiting behind a dead key): ids 9 to 1, newest first,
    9 c q2 queued, 8 b k1 waiting, 7-5 c q1 queued, 4 c q1 running, 3 a k2 dead, 2 b k1 dead,
    1 a q1 succeeded."""
    store.enqueue(
        [new(task="a", queue="q1"), new(task="b", key="k1"), new(task="a", key="k2")]
        + [new(task="c", queue="q1") for _ in range(4)]
    )
    done = claim(store, limit=4)
    succeed(store, done[0])
    fail(store, done[1], "dead", "boom")  # k1's head: dead, its key blocked
    fail(store, done[2], "dead", "bang")
    store.enqueue([new(task="b", key="k1"), new(task="c", queue="q2")])  # waiting behind k1
    return store.list_jobs(JobFilter(limit=1000))


def _since(job: Job) -> float:
    return (job.finished_at or job.created_at).timestamp()


FILTERS = [
    {},
    {"state": "dead"},
    {"state": "waiting"},
    {"task": "c"},
    {"queue": "q1"},
    {"key": "k1"},
    {"state": "queued", "queue": "q1", "task": "c"},
]


def test_each_filter_lists_what_it_names_newest_first_by_page(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    every = _mixed(store)
    assert len(every) == 9
    assert [j.id for j in every] == sorted((j.id for j in every), reverse=True)
    middle = every[len(every) // 2]
    cut = _since(middle) - 0.0005  # clear of a stored time's rounding to microseconds
    # A `since` page from the filter's newest jobs (1000), from a walk too short to fill it or
    # to see every candidate (2: then the window's indexes), and from those indexes alone (0).
    for walk in (listing.WALK, 2, 0):
        monkeypatch.setattr(listing, "WALK", walk)
        for fields in FILTERS:
            for before in (None, middle.id):
                for since in (None, cut, time.time() + 3600):
                    _check(store, every, fields, before, since)


def _check(
    store: Store, every: list[Job], fields: dict[str, str], before: int | None, since: float | None
) -> None:
    expected = [
        j.id
        for j in every
        if all(getattr(j, name) == value for name, value in fields.items())
        and (before is None or j.id < before)
        and (since is None or _since(j) >= since)
    ]
    found = store.list_jobs(JobFilter(**fields, before_id=before, since=since))  # type: ignore[arg-type]
    assert [j.id for j in found] == expected, (fields, before, since)
    page = store.list_jobs(JobFilter(**fields, before_id=before, since=since, limit=1))  # type: ignore[arg-type]
    assert [j.id for j in page] == expected[:1]  # the limit keeps the newest


def test_stats_count_finished_jobs_within_the_window_only(store: Store) -> None:
    _mixed(store)
    assert store.stats() == [
        ("default", "dead", 2),
        ("default", "waiting", 1),
        ("q1", "queued", 3),
        ("q1", "running", 1),
        ("q1", "succeeded", 1),
        ("q2", "queued", 1),
    ]
    # A window of 0 s: the succeeded job finished before it; dead and unfinished jobs stay.
    assert store.stats(final_window=0) == [
        ("default", "dead", 2),
        ("default", "waiting", 1),
        ("q1", "queued", 3),
        ("q1", "running", 1),
        ("q2", "queued", 1),
    ]
