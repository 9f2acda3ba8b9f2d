"""Schedules declared in `conveyor.toml`, one table per schedule:

    [schedules.digest-report]
    cron = "0 10 * * MON"
    task = "send_report"
    tz = "Europe/Amsterdam"
    catch_up = "once"            # once | all | none
    payload = { team = "ops" }
    queue = "reports"

    [schedules."conveyor.prune"]  # a built-in: move it, or turn it off
    enabled = false

Checked like the other sections: every mistake named at once with the file and the key, then all
declared or none; a name already declared in Python is refused.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any, Protocol

from ..connections.tables import Table, apply_section
from .registry import Schedule, ScheduleRegistry

SCHEDULE_KEYS = ("cron", "task", "tz", "catch_up", "payload", "queue", "priority", "enabled")


class HasSchedules(Protocol):
    @property
    def schedules(self) -> ScheduleRegistry: ...


def apply_schedules(app: HasSchedules, path: str | os.PathLike[str]) -> list[Schedule | None]:
    """Declare a config file's schedules on `app`: all of them, or none on any mistake."""
    return apply_section(
        path, "schedules", "schedule", _schedule, app.schedules, app.schedules.declare
    )


def _schedule(table: Table) -> dict[str, Any] | None:
    before = len(table.mistakes)
    guard = table.guard
    enabled = guard(lambda: table.boolean("enabled"))
    found: dict[str, Any] = {
        key: guard(
            partial(table.string, key, plain=True, required=key == "cron" and enabled is not False)
        )
        for key in ("cron", "task", "tz", "catch_up", "queue")
    }
    found["priority"] = guard(lambda: table.integer("priority", minimum=-(2**31)))
    found["payload"] = table.take("payload")
    found["enabled"] = enabled
    table.finish("schedule settings", SCHEDULE_KEYS)
    if len(table.mistakes) > before:
        return None
    return {key: value for key, value in found.items() if value is not None}
