"""Burst mode: when a worker started with `burst=True` has nothing left to do and exits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from .store.jobs import JobStore

T = TypeVar("T")


class Ask(Protocol):
    """A store call retried through an outage; None when the worker is asked to stop meanwhile
    (`Worker._until_answered`)."""

    async def __call__(self, fn: Callable[..., T], /, *args: object) -> T | None: ...


class BurstRule:
    """Whether a burst worker with nothing running and every outcome written is done."""

    def __init__(
        self,
        store: JobStore,
        queues: Sequence[str] | None,
        tasks: Sequence[str],
        wait: float,
        ask: Ask,
    ) -> None:
        self.store = store
        self.queues = queues
        self.tasks = tasks
        self.wait = wait  # `burst_wait`
        self.ask = ask

    async def done(self) -> bool:
        """True when no job of its queues and tasks is due within `wait`, and none is merely
        postponed (throttled jobs are runnable)."""
        due = await self.ask(self.store.seconds_until_due, self.queues, self.tasks)
        if due is not None and due <= self.wait:
            return False
        return not await self.ask(self.store.any_postponed, self.queues, self.tasks)
