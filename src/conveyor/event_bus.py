"""The bus typed events are published on (`app.events`), and the base every event extends;
the events themselves are in `conveyor.events`, which re-exports all of this."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, overload

import structlog

__all__ = ["Event", "EventBus", "EventSink", "Handler"]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event. `name` is the stable identifier (the log line's `event`)."""

    name: ClassVar[str] = "event"


Handler = Callable[[Event], object]
E = TypeVar("E", bound=Event)


class EventSink(Protocol):
    """What publishers need: the worker, the runner and the breakers take this, not the app."""

    def publish(self, event: Event) -> None: ...


class EventBus:
    """Subscriptions and synchronous delivery. Safe to subscribe and publish from any thread."""

    def __init__(self, *handlers: Handler) -> None:
        self._lock = threading.Lock()
        # Replaced, never mutated: `publish` reads it without the lock.
        self._subscriptions: tuple[tuple[Handler, tuple[type[Event], ...]], ...] = ()
        for handler in handlers:
            self.subscribe(handler)

    @overload
    def subscribe(self, handler: Handler, /) -> Callable[[], None]: ...

    @overload
    def subscribe(
        self, handler: Callable[[E], object], first: type[E], /, *more: type[E]
    ) -> Callable[[], None]: ...

    def subscribe(
        self, handler: Callable[[Any], object], /, *types: type[Event]
    ) -> Callable[[], None]:
        """Call `handler(event)` for every event of these types (subclasses included; every
        event when none is given). Returns the function that unsubscribes it."""
        entry: tuple[Handler, tuple[type[Event], ...]] = (handler, types or (Event,))
        with self._lock:
            self._subscriptions = (*self._subscriptions, entry)

        def unsubscribe() -> None:
            with self._lock:
                self._subscriptions = tuple(s for s in self._subscriptions if s is not entry)

        return unsubscribe

    def unsubscribe(self, handler: Handler) -> None:
        """Remove every subscription of `handler`."""
        with self._lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s[0] != handler)

    def publish(self, event: Event) -> None:
        for handler, types in self._subscriptions:
            if isinstance(event, types):
                try:
                    handler(event)
                except Exception as error:  # a subscriber's bug never breaks the publisher
                    _report(handler, event, error)


def _report(handler: Handler, event: Event, error: Exception) -> None:
    # If the log itself is broken (a closed stream) there is nothing more to do.
    with contextlib.suppress(Exception):
        structlog.get_logger("conveyor").error(
            "events.handler_failed",
            handler=getattr(handler, "__qualname__", repr(handler)),
            failed_on=event.name,
            error=f"{type(error).__name__}: {error}",
        )
