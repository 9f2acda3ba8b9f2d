"""The views of jobs, stats and workers: `jobs list`, `jobs show`, `stats`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..job import STATES, Job, utc
from .render import Column, console, fitted_table, short_when, shorten, state_text, when

# `jobs list --json`: everything but the attempts' tracebacks (`jobs show` has those).
LIST_FIELDS_OMITTED = ("errors",)


# -- jobs ---------------------------------------------------------------------------------------


def list_record(job: Job) -> dict[str, Any]:
    record = job.to_dict()
    for name in LIST_FIELDS_OMITTED:
        record.pop(name, None)
    return record


def jobs_table(jobs: Sequence[Job], width: int | None = None) -> Table:
    """One line per job, within the terminal's width: Queue only when the jobs span several
    queues, Key and Last error only when some job has one; long values end in "…", and at
    narrow widths Queue, then Key, then Last error are left out. `jobs show` and `--json`
    have every field."""
    columns = [
        Column("ID", [str(job.id) for job in jobs], justify="right"),
        Column("Task", [Text(job.task) for job in jobs], shrink_to=12),
    ]
    if len({job.queue for job in jobs}) > 1:
        columns.append(Column("Queue", [Text(job.queue) for job in jobs], shrink_to=8, drop=3))
    if any(job.key for job in jobs):
        columns.append(Column("Key", [Text(job.key or "") for job in jobs], shrink_to=10, drop=2))
    columns += [
        Column("State", [state_text(job.state) for job in jobs]),
        Column("Att.", [f"{job.attempts}/{job.max_attempts}" for job in jobs], justify="right"),
        Column("Due/done", [short_when(job.finished_at or job.run_at) for job in jobs]),
    ]
    if any(job.last_error for job in jobs):
        errors = [Text(shorten(job.last_error, 60)) for job in jobs]
        columns.append(Column("Last error", errors, shrink_to=12, drop=1))
    return fitted_table(
        columns,
        width or console().width,
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
        caption="times in UTC",
        caption_justify="right",
    )


def job_detail(job: Job, no_worker: str | None = None, tracebacks: bool = False) -> RenderableType:
    """Every field, then each failed attempt. A failed call to a connection shows what the
    remote answered (status, latency, the response excerpt); its traceback, which only goes
    through Conveyor's own client, only with `tracebacks`. A task's own error keeps its
    traceback, after the summary. `no_worker`: why no live worker can run this queued job
    (`Conveyor.no_worker_reason`)."""
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column(overflow="fold")
    rows: list[tuple[str, str | Text]] = [
        ("ID", str(job.id)),
        ("Task", Text(job.task)),
        ("Queue", Text(job.queue)),
        ("State", _state_detail(job)),
        ("Key", Text(job.key or "-") + (Text(" (leads its key)") if job.leads_key else Text())),
        ("Idempotency key", Text(job.idempotency_key or "-")),
        ("Priority", str(job.priority)),
        ("Attempts", f"{job.attempts} of {job.max_attempts}"),
        ("Created", when(job.created_at)),
        ("Run at", when(job.run_at)),
        *((("Postponed", Text(job.postponed_reason)),) if job.postponed_reason else ()),
        ("Started", when(job.started_at)),
        ("Finished", when(job.finished_at)),
        ("Worker", Text(job.worker_id or "-")),
        ("Lease expires", when(job.lease_expires_at)),
        *((("Batch", str(job.batch_id)),) if job.batch_id is not None else ()),
        *((("Parent job", str(job.parent_id)),) if job.parent_id is not None else ()),
        *((("Progress", progress_text(job)),) if job.progress_done is not None else ()),
        ("Last error", Text(job.last_error or "-")),
        ("Payload", Text(_pretty(job.payload))),
        ("Result", Text(_pretty(job.result))),
    ]
    if no_worker is not None:
        rows.insert(4, ("Waiting", Text(no_worker, style="yellow")))
    for name, value in rows:
        fields.add_row(name, value)
    parts: list[RenderableType] = [Panel(fields, title=f"Job {job.id} (times in UTC)")]
    for error in job.errors:
        parts.append(_attempt_panel(error, tracebacks))
    if not job.errors:
        parts.append(Text("No failed attempts.", style="dim"))
    return Group(*parts)


def progress_text(job: Job) -> Text:
    """What the task last reported: "40 of 100 (40%)", or "40" with no total."""
    done, total = job.progress_done or 0, job.progress_total
    if not total:
        return Text(str(done))
    return Text(f"{done} of {total} ({min(done / total, 1.0):.0%})")


def _state_detail(job: Job) -> Text:
    if job.cancel_requested_at is None:
        return state_text(job.state)
    note = f" (cancel requested {when(job.cancel_requested_at)}"
    if job.state == "running":
        note += "; cancelled when its attempt ends"
    return state_text(job.state) + Text(note + ")")


HTTP_DETAIL_KEYS = ("status", "latency_ms", "method", "url", "response")


def _attempt_panel(error: Mapping[str, Any], tracebacks: bool = False) -> Panel:
    at = error.get("at")
    stamp = when(utc(float(at))) if isinstance(at, int | float) else "-"
    heading = f"Attempt {error.get('attempt', '?')} failed at {stamp}"
    lines: list[RenderableType] = [
        Text(f"{error.get('type', 'Error')}: {error.get('message', '')}", style="red")
    ]
    remote = any(key in error for key in HTTP_DETAIL_KEYS)
    if remote:
        lines.extend(_http_lines(error))
    trace = str(error.get("traceback") or "").rstrip()
    if trace and (tracebacks or not remote):
        lines += [Text(""), Text(trace)]
    elif trace:
        lines.append(Text("(traceback hidden: add --traceback to see it)", style="dim"))
    return Panel(Group(*lines), title=heading, title_align="left", border_style="red")


def _http_lines(error: Mapping[str, Any]) -> list[RenderableType]:
    """`HTTP 422 in 12.3 ms: POST https://api.example.com/contacts` and the response excerpt."""
    status = error.get("status")
    latency = error.get("latency_ms")
    request = " ".join(str(error[k]) for k in ("method", "url") if error.get(k))
    text = Text("HTTP ", style="bold")
    text.append(str(status) if status is not None else "no response")
    if isinstance(latency, int | float):
        text.append(f" after {latency:g} ms")
    if request:
        text.append(f": {request}")
    lines: list[RenderableType] = [text]
    response = error.get("response")
    if response:
        lines.append(Text("Response: ", style="bold") + Text(str(response)))
    elif status is not None:
        lines.append(Text("Response: (empty body)", style="dim"))
    return lines


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


def stats_table(document: Mapping[str, Any], width: int | None = None) -> Table:
    """One row per queue, one column per state that any queue has, and a last row of totals
    when there are several queues. Long queue names end in "…" to fit the terminal."""
    queues: Mapping[str, Mapping[str, int]] = document["queues"]
    totals: Mapping[str, int] = document["totals"]
    rows: list[tuple[Text, Mapping[str, int]]] = [(Text(q), c) for q, c in queues.items()]
    if len(queues) > 1:
        rows.append((Text("all queues", style="bold"), totals))
    columns = [Column("Queue", [name for name, _ in rows], shrink_to=6)]
    for state in totals:
        cells = [str(counts.get(state, 0)) for _, counts in rows]
        columns.append(Column(state_text(state), cells, justify="right"))
    columns.append(
        Column("total", [str(sum(counts.values())) for _, counts in rows], justify="right")
    )
    table = fitted_table(
        columns,
        width or console().width,
        title="Jobs per queue and state",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    if len(queues) > 1:
        table.rows[-2].end_section = True  # a rule above the totals
    return table


# -- workers ------------------------------------------------------------------------------------


def workers_view(
    workers: Sequence[Mapping[str, Any]], no_worker: Sequence[Mapping[str, Any]]
) -> RenderableType:
    """The live workers (a table), then one line per task and queue that none of them runs."""
    parts: list[RenderableType] = []
    if workers:
        table = Table(title="Workers", title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("Worker", overflow="fold")
        table.add_column("Queues", overflow="fold")
        table.add_column("Tasks", overflow="fold")
        table.add_column("Last seen (UTC)", no_wrap=True)
        for worker in workers:
            seen = worker["last_seen_at"]
            table.add_row(
                Text(worker["worker_id"]),
                Text(", ".join(worker["queues"]) if worker["queues"] is not None else "all"),
                Text(shorten(", ".join(worker["tasks"]), 40)),
                when(datetime.fromisoformat(seen)) if seen else "-",
            )
        parts.append(table)
    else:
        parts.append(Text("No running workers."))
    for group in no_worker:
        parts.append(
            Text(
                f"No worker for task {group['task']!r} on queue {group['queue']!r}:"
                f" {group['jobs']} queued",
                style="yellow",
            )
        )
    return Group(*parts)
