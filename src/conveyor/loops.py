"""Sync facades over coroutines (`run_worker`, `run_now`, `test_connection`) and the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from .errors import ConfigurationError

T = TypeVar("T")


def refuse_in_event_loop(call: str, instead: str) -> None:
    """The sync facades start their own event loop: inside a running one they could only fail
    (asyncio.run refuses) or block it, so say which coroutine to await instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise ConfigurationError(
        f"{call} cannot be called inside a running event loop: use {instead} there"
    )


def run_closing(main: Coroutine[Any, Any, T], close: Callable[[], Awaitable[None]]) -> T:
    """Run `main` on a new event loop, then `close()` on that loop however it ended: what it
    opened there (the pooled HTTP client of the loop) must not outlive the loop."""

    async def closing() -> T:
        try:
            return await main
        finally:
            await close()

    return asyncio.run(closing())
