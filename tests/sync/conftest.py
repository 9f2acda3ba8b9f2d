"""The sync tests' real paginated server, a fresh one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sync.remote import Remote


@pytest.fixture
def remote() -> Iterator[Remote]:
    server = Remote().start()
    try:
        yield server
    finally:
        server.stop()
