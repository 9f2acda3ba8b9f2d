"""How sync runs and records look in the CLI: tables, and JSON records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from ..store.records import StoredRecord, SyncRun
from . import render

STAT_NAMES = ("created", "updated", "unchanged", "deleted", "total", "errors")


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def run_record(run: SyncRun) -> dict[str, Any]:
    seconds = None if run.finished_at is None else round(run.finished_at - run.started_at, 3)
    return {
        "id": run.id,
        "source": run.source,
        "owner": run.owner,
        "state": run.state,
        "mode": run.mode,
        "started_at": render.when(_when(run.started_at)),
        "finished_at": render.when(_when(run.finished_at)),
        "seconds": seconds,
        "stats": {name: int(run.stats.get(name, 0)) for name in STAT_NAMES},
        "errors": run.errors,
    }


def stats_table(run: SyncRun) -> Table:
    seconds = "-" if run.finished_at is None else f"{run.finished_at - run.started_at:.2f} s"
    table = Table(title=f"{run.source} · {run.owner} · run {run.id} ({run.state}, {seconds})")
    for name in STAT_NAMES:
        table.add_column(name, justify="right")
    table.add_row(*(f"{int(run.stats.get(name, 0)):,}" for name in STAT_NAMES))
    return table


def runs_table(runs: list[SyncRun]) -> Table:
    table = Table()
    for name in ("id", "source", "owner", "state", "mode", "started", "seconds", *STAT_NAMES[:5]):
        table.add_column(
            name, justify="right" if name in STAT_NAMES or name in ("id", "seconds") else "left"
        )
    table.add_column("last error")
    for run in runs:
        seconds = "-" if run.finished_at is None else f"{run.finished_at - run.started_at:.2f}"
        last_error = (
            render.shorten(str(run.errors[-1].get("message", "")), 40) if run.errors else ""
        )
        table.add_row(
            str(run.id),
            run.source,
            run.owner,
            render.state_text(run.state),
            run.mode,
            render.short_when(_when(run.started_at)),
            seconds,
            *(f"{int(run.stats.get(name, 0)):,}" for name in STAT_NAMES[:5]),
            last_error,
        )
    return table


def record_record(record: StoredRecord) -> dict[str, Any]:
    return {
        "source": record.source,
        "owner": record.owner,
        "kind": record.kind or "item",
        "parent": record.parent or None,
        "id": record.external_id,
        "hash": record.content_hash,
        "first_seen_at": render.when(_when(record.first_seen_at)),
        "last_seen_at": render.when(_when(record.last_seen_at)),
        "updated_at": render.when(_when(record.updated_at)),
        "deleted_at": render.when(_when(record.deleted_at)),
        "data": record.data,
    }


def records_table(records: list[StoredRecord]) -> Table:
    table = Table()
    for name in ("owner", "parent", "id", "updated", "deleted", "data"):
        table.add_column(name)
    for r in records:
        table.add_row(
            r.owner,
            r.parent,
            r.external_id,
            render.short_when(_when(r.updated_at)),
            render.short_when(_when(r.deleted_at)) if r.deleted_at else "",
            render.shorten(_compact(r.data), 50),
        )
    return table


def _compact(data: Any) -> str:
    import json

    return json.dumps(data, separators=(",", ":"), default=str)
