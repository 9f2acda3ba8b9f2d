"""`conveyor schedule ...`: the app's cron entries, with their next and last run."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from . import render
from .session import session

schedule_app = typer.Typer(
    name="schedule",
    help="Cron entries: list them with their next and last run.",
    no_args_is_help=True,
)


@schedule_app.command("list")
def list_schedules(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (JSON Lines).")
    ] = False,
) -> None:
    """Every schedule, the built-in maintenance ones included: cron, zone, task, next and last
    run, and why one is inactive (a built-in whose task no channel registered)."""
    views = session(ctx).app.ops.schedules.views()
    if as_json:
        for v in views:
            render.emit_json(
                {
                    "name": v.name,
                    "cron": v.cron,
                    "tz": v.tz,
                    "task": v.task,
                    "catch_up": v.catch_up,
                    "next_run": render.iso(v.next_run),
                    "last_run": render.iso(v.last_run),
                    "status": v.status,
                }
            )
        return
    table = Table(box=None, pad_edge=False)
    for column in ("NAME", "CRON", "TZ", "TASK", "NEXT RUN", "LAST RUN", "STATUS"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.name,
            v.cron,
            v.tz,
            v.task,
            render.when(v.next_run) if v.next_run else "-",
            render.when(v.last_run) if v.last_run else "never",
            v.status,
        )
    render.console().print(table)
