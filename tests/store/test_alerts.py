"""The alerts slice, every backend: one claim per kind, subject and window; the recent ones."""

from __future__ import annotations

from conveyor.store import Store


def test_an_alert_is_claimed_once_per_window(store: Store) -> None:
    assert store.claim_alert("breaker_opened", "shop", 900.0, 901.0, "first")
    assert not store.claim_alert("breaker_opened", "shop", 900.0, 902.0, "again")
    assert store.claim_alert("breaker_opened", "crm", 900.0, 903.0, "other subject")
    assert store.claim_alert("breaker_closed", "shop", 900.0, 904.0, "other kind")
    assert store.claim_alert("breaker_opened", "shop", 1800.0, 1801.0, "next window")
    recent = store.recent_alerts(limit=2)
    assert [(a.subject, a.text) for a in recent] == [
        ("shop", "next window"),
        ("shop", "other kind"),
    ]
    assert len(store.recent_alerts()) == 4
