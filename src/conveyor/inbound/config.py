"""Webhooks declared in `conveyor.toml`, one table per webhook, beside the connections:

    [webhooks.health]
    verify = { type = "standard_webhooks", secret = "env:HEALTH_WEBHOOK_SECRET" }
    split = "$.data"
    route = { field = "type", tasks = { workout = "process_workout", metric = "process_metric" } }

    [webhooks.github]
    verify.type = "hmac"
    verify.header = "X-Hub-Signature-256"
    verify.secret = "env:GITHUB_SECRET"
    verify.prefix = "sha256="
    event_id = "X-GitHub-Delivery"
    task = "process_push"

Every key is the keyword of the same name of `app.webhook(...)`; `verify` takes the arguments
of `StandardWebhooks` or `Hmac` with a `type`. The tasks are the application's (`--app`). The
whole `[webhooks]` table is checked before anything is declared, every mistake named at once
with the file and the key (`conveyor.toml: webhooks.health.verify.type: ...`), as for
connections; a name already declared in Python is refused.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from ..connections.tables import Table, apply_section
from .registry import WebhookRegistry
from .verify import Hmac, StandardWebhooks, Verifier
from .webhook import Webhook

WEBHOOK_KEYS = ("verify", "event_id", "split", "task", "route", "max_body")
VERIFY_TYPES = ("standard_webhooks", "hmac")
HMAC_KEYS = ("header", "secret", "algorithm", "encoding", "prefix", "timestamp_header", "signed")


class HasWebhooks(Protocol):
    @property
    def webhooks(self) -> WebhookRegistry: ...


def apply_webhooks(app: HasWebhooks, path: str | os.PathLike[str]) -> list[Webhook]:
    """Declare a config file's webhooks on `app`: all of them, or none on any mistake."""
    return apply_section(path, "webhooks", "webhook", _webhook, app.webhooks, app.webhooks.declare)


def _webhook(table: Table) -> dict[str, Any] | None:
    before = len(table.mistakes)
    guard = table.guard
    verify = guard(lambda: table.table("verify", required=True, expected="a table with a type"))
    route = guard(lambda: table.table("route", expected="{ field = 'type', tasks = {...} }"))
    found: dict[str, Any] = {
        "verify": None if verify is None else guard(lambda: _verifier(verify)),
        "event_id": guard(lambda: table.string("event_id", plain=True)),
        "split": guard(lambda: table.string("split", plain=True)),
        "task": guard(lambda: table.string("task", plain=True)),
        "route": None if route is None else guard(lambda: _route(route)),
        "max_body": guard(lambda: table.integer("max_body", minimum=1)),
    }
    table.finish("webhook settings", WEBHOOK_KEYS)
    if len(table.mistakes) > before or found["verify"] is None:
        return None
    return {key: value for key, value in found.items() if value is not None}


def _verifier(table: Table) -> Verifier:
    kind = table.string("type", required=True, plain=True)
    if kind not in VERIFY_TYPES:
        raise table.error("type", f"unknown type {kind!r} (choose from {', '.join(VERIFY_TYPES)})")
    secret = table.secret("secret", required=True)
    if kind == "standard_webhooks":
        tolerance = table.seconds("tolerance", positive=True)
        table.finish("standard_webhooks settings", ("type", "secret", "tolerance"))
        options: dict[str, Any] = {} if tolerance is None else {"tolerance": tolerance}
        built: Verifier = table.convert(None, lambda: StandardWebhooks(str(secret), **options))
        return built
    found = {
        key: table.string(key, plain=True, required=key == "header")
        for key in HMAC_KEYS
        if key != "secret"
    }
    tolerance = table.seconds("tolerance", positive=True)
    table.finish("hmac settings", ("type", *HMAC_KEYS, "tolerance"))
    hmac_options: dict[str, Any] = {k: v for k, v in found.items() if v is not None}
    if tolerance is not None:
        hmac_options["tolerance"] = tolerance
    made: Verifier = table.convert(None, lambda: Hmac(secret=str(secret), **hmac_options))
    return made


def _route(table: Table) -> tuple[str, dict[str, str]]:
    field = table.string("field", required=True, plain=True)
    tasks = table.table("tasks", required=True, expected="a table of value = task name")
    table.finish("route settings", ("field", "tasks"))
    assert tasks is not None and field is not None
    names = {value: tasks.string(value, required=True, plain=True) for value in list(tasks.data)}
    return field, {value: str(task) for value, task in names.items()}
