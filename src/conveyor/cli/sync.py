"""`conveyor sync ...` and `conveyor records ...`: pull syncs from the command line.

`conveyor sync SOURCE --owner X` enqueues the owner's sync (a worker runs it); `--now` runs it
here with a progress bar and prints its stats. `conveyor sync runs` lists the runs. `sync` is a
group whose first word is either a sub-command (`runs`) or a source name, like `git stash`.
Exit status: 0 done, 1 a sync that ran and failed (the remote's doing, not bad input), 2 bad input.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ..errors import SyncFailed
from ..logs import configure_logging
from ..store.records import RunMode, SyncRun
from ..sync.runner import Progress
from . import render, sync_view
from .session import PARTIAL_FAILURE, CliError, fail, session

START = "start"


class SyncGroup(TyperGroup):
    """A first word that names no sub-command is a source: `sync SOURCE ...` runs `start`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = [START, *args]
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: Any) -> list[str]:
        return [name for name in super().list_commands(ctx) if name != START]


sync_app = typer.Typer(
    name="sync",
    cls=SyncGroup,
    help="Sync a source for its owners (SOURCE --owner X | --all), or list runs (runs).",
    no_args_is_help=True,
)
records_app = typer.Typer(
    name="records", help="List a source's records; re-extract their children.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="One JSON object per line (JSON Lines).")]


@sync_app.command(START, hidden=True)
def start(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(metavar="SOURCE", help="The source.", show_default=False)
    ],
    owner: Annotated[
        list[str] | None, typer.Option("--owner", help="An owner to sync (repeatable).")
    ] = None,
    every_owner: Annotated[
        bool, typer.Option("--all", help="Every owner: those declared and all synced before.")
    ] = False,
    now: Annotated[
        bool, typer.Option("--now", help="Run here, with a progress bar, instead of enqueueing.")
    ] = False,
    full: Annotated[
        bool,
        typer.Option("--full", help="A full scan: ignore the incremental cursor, mark deletions."),
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="Page back to this ISO date (historical initialisation).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Sync SOURCE for --owner X (repeatable) or --all."""
    ops = session(ctx).app
    mode = _mode(full, since)
    owners = _owners(ops.ops.sync.owners(source) if every_owner else None, owner, every_owner)
    if not now:
        for name in owners:
            job_id = ops.sync(source, name, mode=mode, since=since)
            if as_json:
                render.emit_json({"source": source, "owner": name, "job_id": job_id})
            else:
                typer.echo(f"Enqueued sync of {source} for {name}: job {job_id}")
        return
    configure_logging("warning")  # the run's request and outcome lines are info: not here
    failed = 0
    for name in owners:
        try:
            run = _run_with_progress(ops, source, name, mode, since, quiet=as_json)
        except SyncFailed as error:
            failed += 1
            typer.echo(f"Error: {error}", err=True)
            continue
        if as_json:
            render.emit_json(sync_view.run_record(run))
        else:
            render.console().print(sync_view.stats_table(run))
    if failed:
        raise typer.Exit(PARTIAL_FAILURE)


@sync_app.command("runs")
def runs(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option(help="Only runs of this source.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only runs of this owner.")] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")
    ] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Sync runs, newest first, with their stats."""
    found = session(ctx).app.ops.sync.runs(source, owner, limit)
    if as_json:
        for run in found:
            render.emit_json(sync_view.run_record(run))
    elif found:
        render.console().print(sync_view.runs_table(found))
    else:
        typer.echo("No sync runs.")


@records_app.command("list")
def list_records(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(metavar="SOURCE", help="The source.", show_default=False)
    ],
    owner: Annotated[str | None, typer.Option(help="Only this owner's records.")] = None,
    kind: Annotated[str | None, typer.Option(help="A child kind (default: the items).")] = None,
    deleted: Annotated[
        bool, typer.Option("--deleted", help="Only records marked deleted.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """A source's records, by owner and id."""
    found = session(ctx).app.ops.sync.records(
        source, owner=owner, kind=kind or "", deleted=deleted, limit=limit
    )
    if as_json:
        for record in found:
            render.emit_json(sync_view.record_record(record))
    elif found:
        render.console().print(sync_view.records_table(found))
    else:
        typer.echo("No records.")


@records_app.command("reextract")
def reextract(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(metavar="SOURCE", help="The source.", show_default=False)
    ],
    owner: Annotated[
        str | None, typer.Option(help="Only this owner (default: every owner).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Rebuild the children of stored records from their stored data (no remote call)."""
    done = session(ctx).app.ops.sync.reextract(source, owner)
    for run in done:
        if as_json:
            render.emit_json(sync_view.run_record(run))
        else:
            typer.echo(
                f"{run.owner}: {run.stats.get('updated', 0)} records, "
                f"{run.stats.get('total', 0)} children (run {run.id})"
            )
    if not done and not as_json:
        typer.echo("No owners with records.")


def _mode(full: bool, since: str | None) -> RunMode:
    if full and since is not None:
        raise CliError("give --full or --since, not both")
    if since is not None:
        try:
            datetime.fromisoformat(since)
        except ValueError:
            raise CliError(f"--since {since!r} is not an ISO date like 2026-01-31") from None
        return "since"
    return "full" if full else "incremental"


def _owners(known: list[str] | None, given: list[str] | None, every: bool) -> list[str]:
    if every and given:
        raise CliError("give --owner or --all, not both")
    if every:
        if not known:
            fail(
                "no owners known for --all: declare owners= on the source or sync one with --owner"
            )
        return known or []
    if not given:
        raise CliError("give --owner X (repeatable) or --all")
    return given


def _run_with_progress(
    app: Any, source: str, owner: str, mode: RunMode, since: str | None, *, quiet: bool
) -> SyncRun:
    if quiet:
        result: SyncRun = app.sync_now(source, owner, mode=mode, since=since)
        return result
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn(f"{source} · {owner}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[pages]} pages"),
        console=render.console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("sync", total=None, pages=0)

        def report(progress: Progress) -> None:
            bar.update(task, completed=progress.items, total=progress.total, pages=progress.pages)

        run: SyncRun = app.sync_now(source, owner, mode=mode, since=since, progress=report)
        return run
