"""PostgreSQL, the wake-ups slice: idle workers `LISTEN`; a statement trigger on insert and the
store's promotions `NOTIFY` (see `sql/postgres/wakeups.sql`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg

from ...errors import StoreUnavailable
from .connection import LISTEN_RETRY_MAX, PostgresConnection, reason


class PostgresWakeUps(PostgresConnection):
    def wake_listener(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """`LISTEN` on a connection of its own, in a thread that re-opens it whenever it drops
        (with backoff up to LISTEN_RETRY_MAX) and then calls `callback` once, since
        notifications sent meanwhile are lost."""
        first = self._listen()  # a worker does not start without it
        stopping = threading.Event()

        def listen() -> None:
            listener: psycopg.Connection[Any] | None = first
            delay = 0.05
            while not stopping.is_set():
                if listener is None:
                    try:
                        listener = self._listen()
                    except StoreUnavailable:
                        stopping.wait(delay)
                        delay = min(delay * 2, LISTEN_RETRY_MAX)
                        continue
                    delay = 0.05
                    callback()
                try:
                    for _ in listener.notifies(timeout=0.1, stop_after=1):
                        callback()
                except psycopg.Error:
                    listener.close()
                    listener = None
            if listener is not None:
                listener.close()

        thread = threading.Thread(target=listen, name="conveyor-listen", daemon=True)
        thread.start()

        def stop() -> None:
            stopping.set()
            thread.join(timeout=self._connect_timeout + 1)

        return stop

    def _listen(self) -> psycopg.Connection[Any]:
        listener: psycopg.Connection[Any] | None = None
        try:
            listener = psycopg.Connection.connect(
                self.url, autocommit=True, connect_timeout=self._connect_timeout
            )
            listener.execute(self._q["listen"])
        except psycopg.Error as error:
            if listener is not None:
                listener.close()
            raise StoreUnavailable(f"PostgreSQL LISTEN failed: {reason(error)}") from error
        return listener
