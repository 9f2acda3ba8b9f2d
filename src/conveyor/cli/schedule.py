"""`conveyor schedule ...`: the app's cron entries, with their next and last run."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from . import render
from .session import session

schedule_app = typer.Typer(
    name="schedule",
    help="Cron entries: list them with their next and last run, or run one now.",
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


@schedule_app.command("run")
def run_schedule(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The schedule's name.", show_default=False)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print {schedule, job_id}.")] = False,
) -> None:
    """Fire a schedule now, outside its cron: enqueue a job of its task (a built-in maintenance
    schedule runs here). Its next cron fire is unchanged."""
    fired = session(ctx).app.ops.schedules.run_now(name)
    if as_json:
        render.emit_json({"schedule": fired.schedule, "job_id": fired.job_id})
    elif fired.job_id is None:
        typer.echo(f"Ran {name}.")
    else:
        typer.echo(f"Enqueued job {fired.job_id} for schedule {name}.")
