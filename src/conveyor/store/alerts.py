"""The alerts slice: which alert was sent for which subject in which throttle window, so that
any number of processes that see the same breaker open send one mail. SQL:
`sql/<dialect>/alerts.sql`; tests: `tests/store/test_alerts.py`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SentAlert:
    kind: str
    subject: str
    window_start: float
    sent_at: float
    text: str


class AlertStore:
    def claim_alert(
        self, kind: str, subject: str, window_start: float, now: float, text: str
    ) -> bool:
        """Record the alert for this window if no process did: True in exactly one caller."""
        raise NotImplementedError

    def recent_alerts(self, limit: int = 50) -> list[SentAlert]:
        raise NotImplementedError
