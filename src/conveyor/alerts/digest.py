"""The weekly error digest: the errors of a period grouped by connection (or task) and error
class, with counts, first and last seen, an example, and links to the dashboard. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from .core import Alert

DIGEST_TASK = "conveyor.alerts.digest"
WEEK = 7 * 24 * 3600.0


@dataclass
class ErrorGroup:
    target: str  # the connection a delivery or call was for, else the task
    error: str  # the error class: "RuntimeError", "PermanentStatus 422", ...
    count: int
    first_seen: float
    last_seen: float
    example: str


def _target(job: Any) -> str:
    payload = job.payload
    if isinstance(payload, dict) and isinstance(payload.get("connection"), str):
        return str(payload["connection"])
    return str(job.task)


def group_errors(jobs: Iterable[Any], since: float, until: float) -> list[ErrorGroup]:
    groups: dict[tuple[str, str], ErrorGroup] = {}
    for job in jobs:
        for record in job.errors:
            at = record.get("at")
            at = at if isinstance(at, int | float) else _epoch(at)
            if at is None or not since <= at < until:
                continue
            kind = str(record.get("type") or "error")
            status = record.get("status")
            error = f"{kind} {status}" if status else kind
            key = (_target(job), error)
            group = groups.get(key)
            message = str(record.get("message") or "")[:200]
            if group is None:
                groups[key] = ErrorGroup(key[0], error, 1, at, at, message)
            else:
                group.count += 1
                group.first_seen = min(group.first_seen, at)
                group.last_seen = max(group.last_seen, at)
    return sorted(groups.values(), key=lambda g: (-g.count, g.target, g.error))


def digest_alert(
    groups: list[ErrorGroup], since: float, until: float, dashboard: str | None = None
) -> Alert:
    period = f"{_day(since)} to {_day(until)}"
    if not groups:
        return Alert("digest", "digest", f"no errors {period}", f"No job failed {period}.")
    total = sum(g.count for g in groups)
    lines = [f"{total} errors {period}, by connection (or task) and error class:", ""]
    for g in groups:
        lines.append(
            f"- {g.target}: {g.error} x{g.count} (first {_when(g.first_seen)}, "
            f"last {_when(g.last_seen)}): {g.example}"
        )
        if dashboard:
            lines.append(f"  {dashboard.rstrip('/')}/jobs?state=dead&task={quote(g.target)}")
    return Alert("digest", "digest", f"{total} errors {period}", "\n".join(lines))


def _epoch(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
