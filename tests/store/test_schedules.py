"""The schedules slice, every backend: the last fire never moves back; a claim wins once."""

from __future__ import annotations

from conveyor.store import Store


def test_the_last_fire_is_kept_and_never_moves_back(store: Store) -> None:
    assert store.last_fires() == {}
    store.mark_fired("digest", 1000.0, 1001.0)
    store.mark_fired("digest", 900.0, 1002.0)  # a slow process marking an older fire
    store.mark_fired("hourly", 50.0, 51.0)
    fires = store.last_fires()
    assert sorted(fires) == ["digest", "hourly"]
    assert (fires["digest"].last_fire_at, fires["digest"].fired_at) == (1000.0, 1002.0)
    store.mark_fired("digest", 2000.0, 2001.0)
    assert store.last_fires()["digest"].last_fire_at == 2000.0


def test_a_fire_is_claimed_by_one_caller_only(store: Store) -> None:
    assert store.claim_fire("prune", 100.0, 101.0)
    assert not store.claim_fire("prune", 100.0, 102.0)  # the same fire, another process
    assert not store.claim_fire("prune", 50.0, 103.0)  # an older one
    assert store.claim_fire("prune", 200.0, 201.0)
    assert store.last_fires()["prune"].last_fire_at == 200.0
