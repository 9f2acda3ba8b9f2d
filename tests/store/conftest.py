"""The store under test: one per backend (the `database_url` fixture), migrated and empty."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conveyor.store import Store, open_store


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    yield s
    s.close()
