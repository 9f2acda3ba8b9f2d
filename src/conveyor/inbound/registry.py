"""The webhook registry (`app.webhooks`): declared webhooks by name, and receiving requests.

`receive(name, headers, body)` is the whole intake below HTTP, synchronous (the web layer runs
it in a thread, `receive_many` for the requests that arrived together): the declaration's checks
(`Webhook.accept`, pure), then every job built (validated against its task: a bad item refuses
the whole event, 422), then the event and its jobs stored in one transaction by the store's
inbound slice. A refusal is a `WebhookRejected` with the status to answer; `WebhookReceived` /
`WebhookRefused` are published on the event sink.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..errors import (
    ConfigurationError,
    ConveyorError,
    PayloadError,
    StoreError,
    TaskNotFound,
    WebhookRejected,
)
from ..events import EventSink, WebhookReceived, WebhookRefused
from ..job import NewJob
from ..types import InboundWriter, TaskCatalog
from .records import NewEvent, Receipt
from .verify import Verifier
from .webhook import DEFAULT_MAX_BODY, Webhook, make_webhook

TaskRef = Any  # a task name, or a Task (anything with a `name`)
Request = tuple[str, Mapping[str, str], bytes]  # (webhook name, lower-case headers, body)


def task_name(task: TaskRef) -> str:
    name = getattr(task, "name", task)
    if not isinstance(name, str):
        raise ConfigurationError(f"a webhook's task is a task name or a Task, not {task!r}")
    return name


class WebhookRegistry(Mapping[str, Webhook]):
    """`tasks` builds the jobs (the app's task registry), `store` gives the inbound slice,
    `wake` tells this process's workers new jobs exist, `clock` is the time signatures are
    checked against (seconds)."""

    def __init__(
        self,
        tasks: TaskCatalog,
        store: Callable[[], InboundWriter],
        events: EventSink,
        *,
        wake: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._hooks: dict[str, Webhook] = {}
        self._tasks = tasks
        self._store = store
        self._events = events
        self._wake = wake
        self._clock = clock

    def __getitem__(self, name: str) -> Webhook:
        return self._hooks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._hooks)

    def __len__(self) -> int:
        return len(self._hooks)

    def __repr__(self) -> str:
        return f"<WebhookRegistry {sorted(self._hooks)}>"

    def declare(
        self,
        name: str,
        *,
        verify: Verifier,
        event_id: str | None = None,
        split: str | None = None,
        task: TaskRef | None = None,
        route: tuple[str, Mapping[str, TaskRef]] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> Webhook:
        """Declare `POST /hooks/<name>` (see `make_webhook` for the arguments). The tasks must
        be registered first: an unknown one raises ConfigurationError now, not at the first
        request."""
        if name in self._hooks:
            raise ConfigurationError(f"a webhook named {name!r} is already declared")
        routes = None
        if route is not None:
            if not isinstance(route, tuple) or len(route) != 2 or not isinstance(route[1], Mapping):
                raise ConfigurationError(
                    f"webhook {name!r}: route= is (field, {{value: task}}), e.g. "
                    '("type", {"workout": "process_workout"})'
                )
            routes = (route[0], {value: task_name(t) for value, t in route[1].items()})
        hook = make_webhook(
            name,
            verify=verify,
            event_id=event_id,
            split=split,
            task=None if task is None else task_name(task),
            route=routes,
            max_body=max_body,
        )
        for task_ref in hook.tasks:
            try:
                self._tasks.get_task(task_ref)
            except TaskNotFound as error:
                raise ConfigurationError(f"webhook {name!r}: {error}") from None
        self._hooks[name] = hook
        return hook

    def remove(self, name: str) -> None:
        """Forget a declaration (a config file whose later webhook failed: all or none)."""
        self._hooks.pop(name, None)

    def receive(
        self, name: str, headers: Mapping[str, str], body: bytes, now: float | None = None
    ) -> Receipt:
        """Verify, store and enqueue one request (`headers` with lower-case names). Raises
        `WebhookRejected` (nothing stored) with the status to answer, or `StoreError`."""
        result = self.receive_many([(name, headers, body)], now)[0]
        if isinstance(result, Exception):
            raise result
        return result

    def receive_many(
        self, requests: Sequence[Request], now: float | None = None
    ) -> list[Receipt | ConveyorError]:
        """`receive` for requests that arrived together, stored in one transaction (one commit
        for all: what lets the intake keep up under load). Each request gets its own answer: a
        `Receipt`, or the `WebhookRejected` / `StoreError` it would have raised. If the batch
        cannot be stored, each of its events is tried alone, so one event the database refuses
        does not fail the others."""
        at = self._clock() if now is None else now
        results: list[Receipt | ConveyorError | None] = [None] * len(requests)
        accepted: list[tuple[int, NewEvent, list[NewJob], int]] = []
        for index, (name, headers, body) in enumerate(requests):
            try:
                accepted.append((index, *self._prepare(name, headers, body, at)))
            except WebhookRejected as error:
                self.refused(name, error)
                results[index] = error
        for (index, event, _, ignored), outcome in zip(
            accepted, self._store_all(accepted), strict=True
        ):
            if isinstance(outcome, StoreError):
                results[index] = outcome
                continue
            stored, job_ids = outcome
            self._events.publish(
                WebhookReceived(event.webhook, event.event_id, len(job_ids), not stored)
            )
            results[index] = Receipt(event.webhook, event.event_id, not stored, job_ids, ignored)
        if self._wake is not None and any(
            isinstance(r, Receipt) and r.job_ids and not r.duplicate for r in results
        ):
            self._wake()
        return [result for result in results if result is not None]

    def refused(self, name: str, error: WebhookRejected) -> None:
        """Report a refused request (also one the HTTP layer refused itself: too large)."""
        self._events.publish(WebhookRefused(name, error.status, str(error)))

    def _store_all(
        self, accepted: Sequence[tuple[int, NewEvent, list[NewJob], int]]
    ) -> list[tuple[bool, list[int]] | StoreError]:
        if not accepted:
            return []
        store = self._store()
        try:
            return list(store.receive_events([(event, jobs) for _, event, jobs, _ in accepted]))
        except StoreError as error:
            if len(accepted) == 1:
                return [error]
        alone: list[tuple[bool, list[int]] | StoreError] = []
        for _, event, jobs, _ in accepted:
            try:
                alone.append(store.receive_events([(event, jobs)])[0])
            except StoreError as error:
                alone.append(error)
        return alone

    def _prepare(
        self, name: str, headers: Mapping[str, str], body: bytes, now: float
    ) -> tuple[NewEvent, list[NewJob], int]:
        hook = self._hooks.get(name)
        if hook is None:
            raise WebhookRejected(404, f"no webhook named {name!r}")
        if len(body) > hook.max_body:
            raise WebhookRejected(413, f"the body is over {hook.max_body} bytes")
        intake = hook.accept(headers, body, now)
        jobs = []
        for task, item in intake.jobs:
            try:
                jobs.append(self._tasks.build_job(task, item))
            except PayloadError as error:
                raise WebhookRejected(422, f"an item does not fit task {task!r}: {error}") from None
        kept = [*hook.verifier.kept_headers]
        if hook.event_id.header is not None:
            kept.append(hook.event_id.header)
        event = NewEvent(
            webhook=name,
            event_id=intake.event_id,
            body=body,
            headers={h: headers[h] for h in dict.fromkeys(kept) if h in headers},
        )
        return event, jobs, intake.ignored
