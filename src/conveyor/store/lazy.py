"""The app's store, opened on first use.

An application module can create its `Conveyor` at import time and a CLI can still point it at
another database (`point_at`) before anything opens it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..errors import ConfigurationError
from .base import Store


class LazyStore:
    """Opens `url` with `opener` (`open_store`) the first time it is asked, once."""

    def __init__(self, url: str, opener: Callable[[str], Store]) -> None:
        self.url = url
        self._opener = opener
        self._store: Store | None = None
        self._lock = threading.Lock()

    def point_at(self, url: str) -> None:
        if self._store is not None and url != self.url:
            raise ConfigurationError("the store is already open; set the URL before using it")
        self.url = url

    def get(self) -> Store:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = self._opener(self.url)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
