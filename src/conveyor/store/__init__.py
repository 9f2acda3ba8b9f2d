"""Storage backends behind one interface; `open_store` picks one from a URL."""

from __future__ import annotations

from ..errors import ConfigurationError
from .base import Store


def open_store(url: str) -> Store:
    if url.startswith("sqlite:"):
        from .sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("postgresql:", "postgres:")):
        from .postgres import PostgresStore

        return PostgresStore(url)
    raise ConfigurationError(
        f"unsupported database URL {url!r}: use sqlite:///path.db or postgresql://..."
    )


__all__ = ["Store", "open_store"]
