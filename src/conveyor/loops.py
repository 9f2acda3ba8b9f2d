"""Sync facades over coroutines (`run_worker`, `run_now`, `test_connection`) and the loop."""

from __future__ import annotations

import asyncio

from .errors import ConfigurationError


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
