"""`conveyor batches ...`: batches and their progress (done / failed / cancelled of total),
with a progress bar in text mode and JSON for scripts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ..batches.core import BatchView
from . import render
from .session import session

batches_app = typer.Typer(
    name="batches", help="Batches of jobs and their progress: list, show.", no_args_is_help=True
)

BATCH_STYLES = {"running": "blue", "succeeded": "green", "failed": "bold red"}


def _bar(batch: BatchView, width: int) -> ProgressBar:
    style = "red" if batch.failed else "green"
    total = max(batch.total, 1)
    return ProgressBar(
        total=total, completed=batch.total - batch.pending, width=width, complete_style=style
    )


def _state(batch: BatchView) -> Text:
    return Text(batch.state, style=BATCH_STYLES.get(batch.state, ""))


def _counts(batch: BatchView) -> str:
    return (
        f"{batch.done} done, {batch.failed} failed, {batch.cancelled} cancelled, "
        f"{batch.pending} pending of {batch.total}"
    )


@batches_app.command("list")
def list_batches(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option(help="Only batches in this state: running, succeeded, failed.")
    ] = None,
    before: Annotated[
        int | None, typer.Option(min=1, help="Only batches with a smaller id (the next page).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (JSON Lines).")
    ] = False,
) -> None:
    """Batches, newest first, with their progress."""
    batches = session(ctx).app.ops.batches.list(limit=limit, before=before, state=state)
    if as_json:
        for batch in batches:
            render.emit_json(batch.to_dict())
        return
    if not batches:
        typer.echo("No batches.")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, caption="times in UTC")
    for column in ("ID", "Name", "State", "Progress", "Done", "Failed", "Total", "Created"):
        table.add_column(column, justify="right" if column in ("ID", "Done") else "left")
    for batch in batches:
        table.add_row(
            str(batch.id),
            Text(batch.name or "-"),
            _state(batch),
            _bar(batch, 20),
            str(batch.done),
            str(batch.failed),
            str(batch.total),
            render.short_when(batch.created_at),
        )
    render.console().print(table)


@batches_app.command("show")
def show_batch(
    ctx: typer.Context,
    batch_id: Annotated[int, typer.Argument(metavar="ID", help="The batch id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One batch: its state, counts, progress bar and callbacks."""
    batch = session(ctx).app.ops.batches.get(batch_id)
    if as_json:
        render.emit_json(batch.to_dict(), indent=2)
        return
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column(overflow="fold")
    rows: list[tuple[str, str | Text]] = [
        ("ID", str(batch.id)),
        ("Name", Text(batch.name or "-")),
        ("State", _state(batch)),
        ("Members", _counts(batch)),
        ("Progress", f"{batch.progress:.0%}"),
        ("On complete", Text(batch.on_complete or "-")),
        ("On failure", Text(batch.on_failure or "-")),
        ("Callback job", str(batch.callback_job_id or "-")),
        ("Created", render.when(batch.created_at)),
        ("Finished", render.when(batch.finished_at)),
    ]
    for name, value in rows:
        fields.add_row(name, value)
    body = Group(fields, Text(""), _bar(batch, 50))
    render.console().print(Panel(body, title=f"Batch {batch.id} (times in UTC)"))
