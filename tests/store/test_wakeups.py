"""The wake-ups slice, every backend: an idle worker learns that jobs may be runnable.

PostgreSQL notifies (`wake_listener`, no `change_counter`); SQLite cannot notify (no listener)
and offers `change_counter`, which moves when another connection commits. Each test states one
event the worker must learn of, and checks it the backend's way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from conveyor.store import Store, open_store

from .helpers import claim, fail, new

WAIT = 10.0  # seconds: only how long to wait for a notification before failing


@pytest.fixture
def other(database_url: str) -> Iterator[Store]:
    """Another process's store on the same database: the one that makes things happen."""
    s = open_store(database_url)
    yield s
    s.close()


class Watch:
    """What an idle worker of `store` sees: `news()` says whether anything came since the last
    look (PostgreSQL: a notification within `wait`; SQLite: the counter moved)."""

    def __init__(self, store: Store) -> None:
        self.woken = threading.Event()
        self.counter: Callable[[], int] | None = store.change_counter
        self.stop = store.wake_listener(self.woken.set)
        if store.dialect == "postgres":
            assert self.stop is not None and self.counter is None  # notified: never polls
        else:
            assert self.stop is None and self.counter is not None  # polls the counter
        self.seen = self.counter() if self.counter else 0

    def news(self, wait: float = WAIT) -> bool:
        if self.counter is None:
            woken = self.woken.wait(wait)
            self.woken.clear()
            return woken
        current = self.counter()
        moved, self.seen = current != self.seen, current
        return moved

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stop is not None:
            self.stop()


def test_an_enqueue_by_another_process_is_news(store: Store, other: Store) -> None:
    with Watch(store) as watch:
        assert not watch.news(wait=0.2)  # nothing happened yet
        other.enqueue([new()])
        assert watch.news(), "an idle worker would not learn of the new job"
        assert not watch.news(wait=0.2)


def test_a_retry_by_another_process_is_news(store: Store, other: Store) -> None:
    other.enqueue([new()])
    [job] = claim(other)
    with Watch(store) as watch:
        fail(other, job, "retry")  # it may be due at once
        assert watch.news(), "an idle worker would not learn of the retry"


def test_a_release_that_promotes_is_news(store: Store, other: Store) -> None:
    one, two = other.enqueue([new(key="k"), new(key="k")])
    [job] = claim(other)
    fail(other, job, "dead")
    with Watch(store) as watch:
        assert other.cancel([one]) == [one]
        assert watch.news(), "an idle worker would not learn of the promoted job"
    assert other.states([two]) == {two: "queued"}


def test_the_change_counter_ignores_the_stores_own_commits(store: Store) -> None:
    """SQLite's counter moves for other connections' commits only: a worker's own writes (its
    outcomes) are not news to it. PostgreSQL has no counter."""
    if store.change_counter is None:
        assert store.dialect == "postgres"
        return
    before = store.change_counter()
    store.enqueue([new()])
    assert store.change_counter() == before
