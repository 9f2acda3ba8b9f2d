"""A declared webhook, and what it makes of one request: pure (the clock is `now`), no I/O.

`Webhook.accept(headers, body, now)` checks in the order that refuses cheapest and safest first:
the signature (401) before the body is parsed at all, then the JSON (400), the event id (400),
then the split and the routes (422: signed, well-formed, but not the shape declared). It returns
the event id and the (task, item) pairs to enqueue; storing them is the registry's.

Routing, for a sender that mixes kinds of item in one delivery (a health app's workouts and
metrics): `route=("type", {"workout": "process_workout", "metric": "process_metric"})` sends each
item to the task its `type` names; an item whose value has no route is kept in the stored event
but gets no job (counted as `ignored` in the answer), like a Svix or Hookdeck filter that drops
event types nobody subscribed to. A `"*"` entry catches every other value.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, WebhookRejected
from .paths import JsonPath, parse_path
from .verify import Verifier

DEFAULT_MAX_BODY = 1024 * 1024  # bytes: larger requests are answered 413 before being read
MAX_EVENT_ID = 255
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
CATCH_ALL = "*"


@dataclass(frozen=True)
class Route:
    """Which task each item goes to, by the value at `field` in the item."""

    field: JsonPath
    tasks: Mapping[str, str]

    def task_for(self, item: Any) -> str | None:
        try:
            value = self.field.find(item)
        except LookupError:
            return self.tasks.get(CATCH_ALL)
        if isinstance(value, bool) or not isinstance(value, str | int):
            return self.tasks.get(CATCH_ALL)
        return self.tasks.get(str(value), self.tasks.get(CATCH_ALL))


@dataclass(frozen=True)
class Intake:
    """A request accepted: its event id and the jobs it makes."""

    event_id: str
    jobs: list[tuple[str, Any]] = field(default_factory=list)  # (task name, payload)
    ignored: int = 0  # items no route took


@dataclass(frozen=True)
class EventId:
    """Where the event id is: a header (lower-case name) or a JSON path; neither: the body's
    SHA-256."""

    header: str | None = None
    path: JsonPath | None = None

    def find(self, headers: Mapping[str, str], document: Any, body: bytes) -> str:
        if self.header is not None:
            value = headers.get(self.header)
            if not value:
                raise WebhookRejected(400, f"missing {self.header} header (the event id)")
            return _event_id(value.strip(), self.header)
        if self.path is not None:
            try:
                found = self.path.find(document)
            except LookupError as error:
                raise WebhookRejected(400, f"no event id: {error}") from None
            if isinstance(found, bool) or not isinstance(found, str | int) or found == "":
                raise WebhookRejected(400, f"event id at {self.path.text} is not a string")
            return _event_id(str(found), self.path.text)
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def describe(self) -> str:
        if self.header is not None:
            return f"header {self.header}"
        return self.path.text if self.path is not None else "sha256 of the body"


def _event_id(value: str, where: str) -> str:
    if len(value) > MAX_EVENT_ID:
        raise WebhookRejected(400, f"event id in {where} is longer than {MAX_EVENT_ID} characters")
    return value


@dataclass(frozen=True)
class Webhook:
    """What `app.webhook(...)` declares. Build it with `make_webhook` (every argument checked)."""

    name: str
    verifier: Verifier
    event_id: EventId
    split: JsonPath | None
    task: str | None
    route: Route | None
    max_body: int = DEFAULT_MAX_BODY

    @property
    def tasks(self) -> list[str]:
        """Every task its items may go to."""
        if self.route is not None:
            return sorted(set(self.route.tasks.values()))
        return [self.task] if self.task else []

    def accept(self, headers: Mapping[str, str], body: bytes, now: float) -> Intake:
        """The event id and jobs of a request, or `WebhookRejected` with the status to answer."""
        self.verifier.verify(headers, body, now)
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise WebhookRejected(400, f"the body is not JSON: {_json_reason(error)}") from None
        event_id = self.event_id.find(headers, document, body)
        items = self._items(document)
        jobs: list[tuple[str, Any]] = []
        ignored = 0
        for item in items:
            task = self.route.task_for(item) if self.route is not None else self.task
            if task is None:
                ignored += 1
            else:
                jobs.append((task, item))
        return Intake(event_id, jobs, ignored)

    def _items(self, document: Any) -> list[Any]:
        if self.split is None:
            return [document]
        try:
            found = self.split.find(document)
        except LookupError as error:
            raise WebhookRejected(422, f"cannot split the event: {error}") from None
        if not isinstance(found, list):
            kind = type(found).__name__
            raise WebhookRejected(
                422, f"cannot split the event: {self.split.text} is a {kind}, not a list"
            )
        return found


def _json_reason(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} (line {error.lineno}, column {error.colno})"
    return "not UTF-8 text"


def make_webhook(
    name: str,
    *,
    verify: Verifier,
    event_id: str | None = None,
    split: str | None = None,
    task: str | None = None,
    route: tuple[str, Mapping[str, str]] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> Webhook:
    """Check a declaration. `event_id`: a header name, or a JSON path (`$.id`) into the body;
    default the verifier's id header (Standard Webhooks: `webhook-id`), else the body's SHA-256.
    `split`: a JSON path to a list; one job per element (default: one job, the whole event).
    `task` (every item) or `route=(field, {value: task})` (see the module docstring). The task
    names are checked against the app's by the registry. Raises ConfigurationError."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigurationError(
            f"webhook name {name!r}: letters, digits, '_', '.', '-' (it is the URL /hooks/<name>)"
        )
    where = f"webhook {name!r}"
    if not callable(getattr(verify, "verify", None)) or not callable(
        getattr(verify, "check", None)
    ):
        raise ConfigurationError(
            f"{where}: verify= takes StandardWebhooks(secret) or Hmac(header=..., secret=...)"
        )
    verify.check()
    if (task is None) == (route is None):
        raise ConfigurationError(f"{where}: give task= (every item) or route=, exactly one")
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
        raise ConfigurationError(f"{where}: max_body must be a positive number of bytes")
    return Webhook(
        name=name,
        verifier=verify,
        event_id=_event_id_spec(event_id, verify, where),
        split=None if split is None else parse_path(split, f"{where}: split=", star=True),
        task=task,
        route=None if route is None else _route(route, where),
        max_body=max_body,
    )


def _event_id_spec(value: str | None, verify: Verifier, where: str) -> EventId:
    if value is None:
        header = verify.event_id_header
        return EventId(header=header.lower() if header else None)
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{where}: event_id= is a header name or a JSON path ($.id)")
    if value.startswith("$"):
        return EventId(path=parse_path(value, f"{where}: event_id="))
    if not re.match(r"^[A-Za-z0-9!#%&'*+.^_`|~\-]+$", value):
        raise ConfigurationError(f"{where}: event_id={value!r} is not a header name")
    return EventId(header=value.lower())


def _route(route: Any, where: str) -> Route:
    if not isinstance(route, tuple) or len(route) != 2 or not isinstance(route[1], Mapping):
        raise ConfigurationError(
            f"{where}: route= is (field, {{value: task}}), e.g. "
            '("type", {"workout": "process_workout"})'
        )
    field_text, table = route
    if not isinstance(field_text, str) or not field_text:
        raise ConfigurationError(f"{where}: route= field must be a name or a JSON path")
    path_text = field_text if field_text.startswith("$") else f"$.{field_text}"
    path = parse_path(path_text, f"{where}: route= field")
    if not table:
        raise ConfigurationError(f"{where}: route= maps no value to a task")
    tasks: dict[str, str] = {}
    for value, task in table.items():
        if not isinstance(value, str) or not isinstance(task, str):
            raise ConfigurationError(f"{where}: route= maps strings to task names")
        tasks[value] = task
    return Route(path, tasks)
