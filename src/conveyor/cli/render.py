"""Output: Rich tables for people, JSON for scripts.

JSON always goes through `emit_json` (plain `print`, no Rich wrapping or highlighting) so it parses.
User data (payloads, errors, tracebacks) is passed to Rich as `Text`, never as markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..job import STATES, Job, utc

STATE_STYLES = {
    "waiting": "dim",
    "queued": "cyan",
    "running": "blue",
    "retrying": "yellow",
    "succeeded": "green",
    "dead": "bold red",
    "cancelled": "magenta",
}
# `jobs list --json`: everything but the attempts' tracebacks (`jobs show` has those).
LIST_FIELDS_OMITTED = ("errors",)


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)


def emit_json(value: Any, indent: int | None = None) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, default=str, indent=indent))


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def state_text(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


def shorten(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# -- jobs ---------------------------------------------------------------------------------------


def list_record(job: Job) -> dict[str, Any]:
    record = job.to_dict()
    for name in LIST_FIELDS_OMITTED:
        record.pop(name, None)
    return record


def jobs_table(jobs: Iterable[Job]) -> Table:
    table = Table(title="Jobs (times in UTC)", title_justify="left")
    table.add_column("ID", justify="right", no_wrap=True)
    table.add_column("Task", no_wrap=True)
    table.add_column("Queue", no_wrap=True)
    table.add_column("Key", overflow="fold")
    table.add_column("State", no_wrap=True)
    table.add_column("Att.", justify="right", no_wrap=True)
    table.add_column("Pri.", justify="right", no_wrap=True)
    table.add_column("Run at", no_wrap=True)
    table.add_column("Finished", no_wrap=True)
    table.add_column("Last error", overflow="fold")
    for job in jobs:
        table.add_row(
            str(job.id),
            Text(job.task),
            Text(job.queue),
            Text(job.key or ""),
            state_text(job.state),
            f"{job.attempts}/{job.max_attempts}",
            str(job.priority),
            when(job.run_at),
            when(job.finished_at),
            Text(shorten(job.last_error)),
        )
    return table


def job_detail(job: Job) -> RenderableType:
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column(overflow="fold")
    rows: list[tuple[str, str | Text]] = [
        ("ID", str(job.id)),
        ("Task", Text(job.task)),
        ("Queue", Text(job.queue)),
        ("State", state_text(job.state)),
        ("Key", Text(job.key or "-") + (Text(" (leads its key)") if job.leads_key else Text())),
        ("Idempotency key", Text(job.idempotency_key or "-")),
        ("Priority", str(job.priority)),
        ("Attempts", f"{job.attempts} of {job.max_attempts}"),
        ("Created", when(job.created_at)),
        ("Run at", when(job.run_at)),
        ("Started", when(job.started_at)),
        ("Finished", when(job.finished_at)),
        ("Worker", Text(job.worker_id or "-")),
        ("Lease expires", when(job.lease_expires_at)),
        ("Last error", Text(job.last_error or "-")),
        ("Payload", Text(_pretty(job.payload))),
        ("Result", Text(_pretty(job.result))),
    ]
    for name, value in rows:
        fields.add_row(name, value)
    parts: list[RenderableType] = [Panel(fields, title=f"Job {job.id} (times in UTC)")]
    for error in job.errors:
        parts.append(_attempt_panel(error))
    if not job.errors:
        parts.append(Text("No failed attempts.", style="dim"))
    return Group(*parts)


def _attempt_panel(error: Mapping[str, Any]) -> Panel:
    at = error.get("at")
    stamp = when(utc(float(at))) if isinstance(at, int | float) else "-"
    heading = f"Attempt {error.get('attempt', '?')} failed at {stamp}"
    summary = Text(f"{error.get('type', 'Error')}: {error.get('message', '')}", style="red")
    trace = str(error.get("traceback") or "").rstrip()
    body: RenderableType = Group(summary, Text(""), Text(trace)) if trace else summary
    return Panel(body, title=heading, title_align="left", border_style="red")


def _pretty(value: Any) -> str:
    if value is None:
        return "-"
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


# -- stats --------------------------------------------------------------------------------------


def stats_document(per_queue: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """{"queues": {queue: {state: n}}, "totals": {state: n}} with states in lifecycle order."""
    queues = {queue: _ordered(counts) for queue, counts in sorted(per_queue.items())}
    totals: dict[str, int] = {}
    for counts in queues.values():
        for state, n in counts.items():
            totals[state] = totals.get(state, 0) + n
    return {"queues": queues, "totals": _ordered(totals)}


def _ordered(counts: Mapping[str, int]) -> dict[str, int]:
    rank = {state: i for i, state in enumerate(STATES)}
    return {s: counts[s] for s in sorted(counts, key=lambda s: (rank.get(s, len(rank)), s))}


def stats_table(document: Mapping[str, Any]) -> Table:
    queues: Mapping[str, Mapping[str, int]] = document["queues"]
    totals: Mapping[str, int] = document["totals"]
    states = list(STATES) + [s for s in totals if s not in STATES]
    table = Table(title="Jobs per queue and state", title_justify="left", show_footer=True)
    table.add_column("Queue", footer="all queues")
    for state in states:
        table.add_column(
            state_text(state), justify="right", footer=str(totals.get(state, 0)), no_wrap=True
        )
    table.add_column("total", justify="right", footer=str(sum(totals.values())))
    for queue, counts in queues.items():
        cells = [str(counts.get(state, 0)) for state in states]
        table.add_row(Text(queue), *cells, str(sum(counts.values())))
    return table
