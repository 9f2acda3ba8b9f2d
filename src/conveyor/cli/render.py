"""Output: Rich tables for people, JSON for scripts.

JSON always goes through `emit_json` (plain `print`, no Rich wrapping or highlighting) so it parses.
User data (payloads, errors, tracebacks) is passed to Rich as `Text`, never as markup.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import typer
from rich import box
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


def short_when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%m-%d %H:%M:%S") if value else "-"


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


def jobs_table(jobs: Sequence[Job]) -> Table:
    """Narrow enough for 80 columns: Queue only when the jobs span several queues, Key and
    Last error only when some job has one. `jobs show` and `--json` have every field."""
    with_queue = len({job.queue for job in jobs}) > 1
    with_key = any(job.key for job in jobs)
    with_error = any(job.last_error for job in jobs)
    table = Table(box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    id_width = max((len(str(job.id)) for job in jobs), default=2)
    task_width = min(max((len(job.task) for job in jobs), default=4), 24)
    key_width = min(max((len(job.key or "") for job in jobs), default=3), 24)
    table.add_column("ID", justify="right", no_wrap=True, min_width=id_width)
    table.add_column("Task", overflow="fold", min_width=task_width)
    if with_queue:
        table.add_column("Queue", overflow="fold")
    if with_key:
        table.add_column("Key", overflow="fold", min_width=key_width)
    table.add_column("State", no_wrap=True, min_width=9)
    table.add_column("Att.", justify="right", no_wrap=True)
    table.add_column("Due/done (UTC)", no_wrap=True, min_width=14)
    if with_error:
        table.add_column("Last error", overflow="ellipsis")
    for job in jobs:
        cells: list[str | Text] = [str(job.id), Text(job.task)]
        if with_queue:
            cells.append(Text(job.queue))
        if with_key:
            cells.append(Text(job.key or ""))
        cells += [
            state_text(job.state),
            f"{job.attempts}/{job.max_attempts}",
            short_when(job.finished_at or job.run_at),
        ]
        if with_error:
            cells.append(Text(shorten(job.last_error, 48)))
        table.add_row(*cells)
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
    """One row per queue, one column per state that any queue has."""
    queues: Mapping[str, Mapping[str, int]] = document["queues"]
    totals: Mapping[str, int] = document["totals"]
    table = Table(
        title="Jobs per queue and state",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_footer=len(queues) > 1,
    )
    table.add_column("Queue", footer="all queues", overflow="fold", min_width=6)
    for state in totals:
        table.add_column(
            state_text(state), justify="right", footer=str(totals[state]), no_wrap=True
        )
    table.add_column("total", justify="right", footer=str(sum(totals.values())), no_wrap=True)
    for queue, counts in queues.items():
        cells = [str(counts.get(state, 0)) for state in totals]
        table.add_row(Text(queue), *cells, str(sum(counts.values())))
    return table
