"""The limits slice, every backend: rate-limit buckets, circuit breakers and connection holds, by
the store's clock."""

from __future__ import annotations

import time

from conveyor.breaker import Breaker, BreakerRecord, on_failure, on_success
from conveyor.politeness import Hold, pause, slow_down
from conveyor.ratelimit import RateLimit
from conveyor.store import Store, open_store


def test_the_clock_is_epoch_seconds_now(store: Store) -> None:
    before = time.time()
    now = store.clock()
    assert before - 5 < now < time.time() + 5  # the database's clock on PostgreSQL


def test_rate_limit_tokens_are_shared_and_refill(store: Store) -> None:
    limit = RateLimit(rate=10, burst=3)  # one token every 0.1 s, 3 back to back
    assert [store.take_token("shop", limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = store.take_token("shop", limit)
    assert 0.05 < wait <= 0.1
    assert store.take_token("other", limit) == 0.0  # buckets are per name
    time.sleep(wait + 0.01)
    assert store.take_token("shop", limit) == 0.0
    assert store.take_token("shop", limit) > 0


def test_two_stores_share_one_bucket(store: Store, database_url: str) -> None:
    other = open_store(database_url)
    try:
        limit = RateLimit(rate=1, burst=1)
        assert store.take_token("shop", limit) == 0.0
        assert 0.5 < other.take_token("shop", limit) <= 1.0
    finally:
        other.close()


def test_breaker_changes_are_stored_under_a_lock(store: Store) -> None:
    settings = Breaker(failures=2, cool_off=30)
    assert store.breaker("shop") is None
    assert store.breakers() == []
    before, after = store.change_breaker(
        "shop", lambda r, now: on_failure(r, "shop", now, settings, "500")
    )
    assert before is None and after is not None and after.state == "closed"
    _, after = store.change_breaker(
        "shop", lambda r, now: on_failure(r, "shop", now, settings, "503")
    )
    assert after is not None and after.state == "open" and after.last_error == "503"
    stored = store.breaker("shop")
    assert stored is not None and stored.open_until is not None
    assert 25 < stored.open_until - store.clock() <= 30
    before, after = store.change_breaker("shop", lambda r, now: on_success(r, now, settings))
    assert before is not None and before.state == "open" and after is not None
    assert [(b.name, b.state, b.failures) for b in store.breakers()] == [("shop", "closed", 0)]
    _, unchanged = store.change_breaker("shop", lambda r, now: on_success(r, now, settings))
    assert unchanged is None


def test_a_change_sees_the_store_clock(store: Store) -> None:
    seen: list[float] = []

    def look(record: BreakerRecord | None, now: float) -> BreakerRecord | None:
        seen.append(now)
        return None

    store.change_breaker("shop", look)
    assert store.breaker("shop") is None  # nothing returned: nothing written
    [now] = seen
    assert abs(now - store.clock()) < 5


# -- connection holds ---------------------------------------------------------------------------


def test_a_hold_is_shared_and_read_by_the_stores_clock(store: Store, database_url: str) -> None:
    def quiet(current: Hold | None, now: float) -> Hold | None:
        return slow_down(current, "shop", now, 429, 2.0, 3600, "GET /")

    assert store.held("shop") is None
    before, after = store.change_hold("shop", quiet)
    assert before is None and after is not None and after.strikes == 1
    other = open_store(database_url)
    try:
        found = other.held("shop")
        assert found is not None and found[0] == after
        assert 1.0 < (found[1] or 0) <= 2.0
        again = other.change_hold("shop", quiet)[1]
        assert again is not None and again.strikes == 2
    finally:
        other.close()
    assert [hold.name for hold in store.holds()] == ["shop"]
    store.clear_spent_hold("shop")  # still quiet: kept
    assert store.held("shop") is not None


def test_a_hold_moves_a_rate_limited_bucket_on(store: Store) -> None:
    limit = RateLimit(rate=100, burst=2)
    assert store.take_token("connection:shop", limit) == 0.0
    store.change_hold(
        "shop",
        lambda current, now: slow_down(current, "shop", now, 503, 1.5, 3600, "GET /"),
        ("connection:shop", limit),
    )
    wait = store.take_token("connection:shop", limit)
    assert 1.3 < wait <= 1.5  # refused until the hold ends, by the bucket alone


def test_releasing_a_pause_resets_the_bucket_and_wakes_its_jobs(store: Store) -> None:
    limit = RateLimit(rate=1, burst=1)
    store.change_hold(
        "shop", lambda current, now: pause(current, "shop", now, "HTTP 410"), ("b", limit)
    )
    found = store.held("shop")
    assert found is not None and found[0].kind == "paused" and found[1] is None
    assert store.take_token("b", limit) > 3600  # paused: no token until resumed
    released, woken = store.release_hold("shop", "b")
    assert released is not None and released.kind == "paused" and woken == 0
    assert store.held("shop") is None and store.holds() == []
    assert store.take_token("b", limit) == 0.0


def test_a_spent_slow_down_is_cleared(store: Store) -> None:
    store.change_hold(
        "shop", lambda current, now: slow_down(current, "shop", now, 503, 0.05, 3600, "GET /")
    )
    time.sleep(0.1)
    found = store.held("shop")
    assert found is not None and (found[1] or 0) <= 0  # its quiet has passed
    assert len(store.holds()) == 1  # kept for the back-off's strikes
    store.clear_spent_hold("shop")
    assert store.holds() == []
