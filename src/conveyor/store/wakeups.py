"""The wake-ups slice: how an idle worker learns that jobs may be runnable, without polling the
jobs table. PostgreSQL notifies (`wake_listener`); SQLite cannot, so it offers a change counter
that idle workers poll. SQL: `sql/<dialect>/wakeups.sql`; tests: `tests/store/test_wakeups.py`.
"""

from __future__ import annotations

from collections.abc import Callable


class WakeUps:
    change_counter: Callable[[], int] | None = None
    """A cheap "anything new?": a number that changes when another connection commits. None on
    backends whose `wake_listener` notifies (polling it would only cost a thread hop)."""

    def wake_listener(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """Call `callback` (from any thread) when jobs may be runnable; return a stop function.

        Backends without notifications return None and the worker polls `change_counter`.
        """
        return None
