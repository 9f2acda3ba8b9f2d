"""The `conveyor` root command, its global options, and the commands that are not about jobs."""

from __future__ import annotations

from importlib import metadata
from typing import Annotated, Any

import typer

from .. import settings
from ..connections.config import CONFIG_ENV
from ..errors import TaskNotFound
from ..logs import configure_logging
from ..workers import worker_tasks
from . import connections_view, jobs_view, render
from .accounts import accounts_app
from .alerts import alerts_app
from .batches import batches_app
from .connections import connections_app
from .jobs import jobs_app
from .schedule import schedule_app
from .serve import serve
from .session import (
    CliError,
    ConveyorGroup,
    Session,
    duration,
    json_argument,
    optional_duration,
    queue_list,
    quiet_driver_logs,
    session,
)
from .sync import records_app, sync_app
from .tokens import tokens_app

LOG_LEVELS = ("debug", "info", "warning", "error")

cli = typer.Typer(
    name="conveyor",
    cls=ConveyorGroup,
    help="Durable, ordered jobs on SQLite or PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli.add_typer(jobs_app)
cli.add_typer(connections_app)
cli.add_typer(sync_app)
cli.add_typer(records_app)
cli.add_typer(accounts_app)
cli.add_typer(tokens_app)
cli.add_typer(schedule_app)
cli.add_typer(alerts_app)
cli.add_typer(batches_app)
cli.command()(serve)


def version_text() -> str:
    try:
        return f"conveyor {metadata.version('conveyor')}"
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "conveyor (version unknown: not installed)"


def show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@cli.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=show_version,
            is_eager=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
    app: Annotated[
        str | None,
        typer.Option(
            "--app",
            envvar="CONVEYOR_APP",
            metavar="MODULE:ATTR",
            help="Your Conveyor application (its tasks), imported from the working directory.",
            show_default=False,
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="CONVEYOR_DATABASE_URL",
            metavar="URL",
            help="sqlite:///path.db or postgresql://...; overrides the application's URL.",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            envvar=CONFIG_ENV,
            metavar="PATH",
            help="A TOML file (conveyor.toml) whose connections are declared on the application.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Durable, ordered jobs on SQLite or PostgreSQL."""
    quiet_driver_logs()
    state = Session(app_path=app, database_url=database_url, config_path=config or None)
    ctx.obj = state
    ctx.call_on_close(state.close)


@cli.command()
def migrate(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create or upgrade the database schema."""
    applied = session(ctx).app.migrate()
    if as_json:
        render.emit_json({"applied": applied})
    elif applied:
        for name in applied:
            typer.echo(f"Applied migration {name}")
    else:
        typer.echo("Database is up to date.")


@cli.command()
def enqueue(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="The task name.", show_default=False)],
    payload: Annotated[
        str | None, typer.Option(help="The payload as JSON ('-' reads it from stdin).")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="Ordering key (default: the task's key function).")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Enqueue at most once per key: repeats print the same id.")
    ] = None,
    queue: Annotated[str | None, typer.Option(help="Queue (default: the task's).")] = None,
    delay: Annotated[
        str | None, typer.Option(help="Run no sooner than this from now: 30s, 5m, 2h, 1d.")
    ] = None,
    priority: Annotated[
        int | None, typer.Option(help="Higher runs first (default: the task's).")
    ] = None,
) -> None:
    """Queue one job and print its id (only the id, so scripts can capture it)."""
    state = session(ctx)
    data = json_argument(payload) if payload is not None else None
    try:
        job_id = state.app.enqueue(
            task,
            data,
            key=key,
            idempotency_key=idempotency_key,
            queue=queue,
            delay=optional_duration(delay, "--delay"),
            priority=priority,
        )
    except TaskNotFound as error:
        if state.app_path:
            raise
        raise CliError(f"{error}; pass --app module:attribute (or set CONVEYOR_APP)") from None
    typer.echo(str(job_id))


@cli.command()
def worker(
    ctx: typer.Context,
    queues: Annotated[
        str | None,
        typer.Option(help="Comma-separated queues to work on (default: all).", show_default=False),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at the same time.")] = 10,
    burst: Annotated[
        bool,
        typer.Option(
            "--burst",
            help="Exit once nothing is runnable: nothing running, nothing due within"
            " --burst-wait, and no postponed job due within --burst-postponed.",
        ),
    ] = False,
    burst_wait: Annotated[
        str,
        typer.Option(
            help="With --burst: jobs due within this long (retry delays, run_at) keep the"
            " worker running; later ones do not."
        ),
    ] = "0.1s",
    burst_postponed: Annotated[
        str,
        typer.Option(
            help="With --burst: jobs postponed by a rate limit, breaker or slowed connection"
            " (429/503) and due within this long keep the worker running; ones due later are"
            " left postponed, and the worker logs how many and until when."
        ),
    ] = "10s",
    grace: Annotated[
        str, typer.Option(help="On SIGTERM/SIGINT, seconds running jobs get to finish.")
    ] = "30",
    log_level: Annotated[str, typer.Option(help=f"One of {', '.join(LOG_LEVELS)}.")] = "info",
    scheduler: Annotated[
        bool,
        typer.Option(
            "--scheduler",
            help="Also fire the app's schedules (any number of workers may: each fire is"
            " enqueued once).",
        ),
    ] = False,
    metrics_dir: Annotated[
        str | None,
        typer.Option(
            help="Write the counters to this prometheus-client multiprocess directory, shared"
            " by every worker and `serve` of the machine, so /metrics sums them (default:"
            " CONVEYOR_METRICS_DIR or PROMETHEUS_MULTIPROC_DIR; unset: this process only).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run jobs until stopped (SIGTERM/SIGINT) or, with --burst, until nothing is runnable.

    On the first SIGTERM/SIGINT the worker stops claiming and running jobs get --grace to finish;
    async jobs still running then are handed back. A second signal ends the grace at once. Sync
    jobs run in threads that cannot be stopped: they are waited for, never handed back while
    running; a third signal exits at once and leaves them to run again after their lease
    expires.

    The worker claims only jobs of the tasks it has: the application's (--app or CONVEYOR_APP),
    plus the built-in deliveries and RPC calls when a connection is declared (by the app or
    --config). Jobs of other tasks stay queued, attempts untouched, for a worker that has them
    (`conveyor stats` lists them). With no task to run it refuses to start (exit 2). Logs are
    JSON lines on stderr.
    """
    if log_level.lower() not in LOG_LEVELS:
        raise CliError(f"unknown log level {log_level!r} (choose from {', '.join(LOG_LEVELS)})")
    options: dict[str, Any] = {
        "queues": queue_list(queues),
        "concurrency": concurrency,
        "burst": burst,
        "burst_wait": duration(burst_wait, "--burst-wait"),
        "burst_postponed": duration(burst_postponed, "--burst-postponed"),
        "grace": duration(grace, "--grace"),
    }
    state = session(ctx)
    app = state.app
    if scheduler:
        options["scheduler"] = app.scheduler
    if state.app_path is None and not worker_tasks(
        app.tasks, bool(app.connections), bool(app.sources)
    ):
        raise CliError("no tasks registered: pass --app module:attr or set CONVEYOR_APP")
    directory = settings.metrics_dir(metrics_dir)
    if directory:  # made, or refused in one line, before a job runs
        app.metrics.use_directory(directory)
    configure_logging(log_level.lower())
    app.run_worker(**options)


@cli.command()
def stats(
    ctx: typer.Context,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print {"queues": {q: {state: n}}, "totals": {state: n}, "workers": [{worker_id,'
            ' hostname, pid, queues, tasks, started_at, last_seen_at}], "no_worker": [{task,'
            ' queue, jobs, reason}]}, "breakers": [{name, state, failures, open_until,'
            ' last_error}] when any breaker has a state, and "holds": [{name, hold, until,'
            " reason, strikes, since}] when a connection is paused or slowed.",
        ),
    ] = False,
) -> None:
    """How many jobs each queue holds, per state (succeeded and cancelled: those finished in
    the last hour); the live workers and the queued jobs none of
    them can run (no worker has their task or queue); the circuit breakers' states; the paused
    and slowed connections.

    A worker counts as live until it stops cleanly, or for three leases after it was last seen.
    """
    app = session(ctx).app
    stats = app.ops.stats()
    document = jobs_view.stats_document(stats.queues)
    document["workers"] = [worker.to_dict() for worker in stats.workers]
    document["no_worker"] = [group.to_dict() for group in stats.no_worker]
    breakers, holds = stats.breakers, stats.holds
    redact = connections_view.Redactor(app.connections.values())
    if breakers:
        document["breakers"] = [
            connections_view.breaker_state(record, redact) for record in breakers
        ]
    if holds:
        document["holds"] = [connections_view.hold_state(hold, redact) for hold in holds]
    if as_json:
        render.emit_json(document)
        return
    if document["queues"]:
        render.console().print(jobs_view.stats_table(document))
    else:
        typer.echo("No jobs.")
    render.console().print(jobs_view.workers_view(document["workers"], document["no_worker"]))
    if breakers:
        render.console().print(connections_view.breakers_table(document["breakers"]))
    if holds:
        render.console().print(connections_view.holds_table(document["holds"]))


@cli.command()
def prune(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            help="Delete succeeded and cancelled jobs that finished longer ago than this: 30d.",
            show_default=False,
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Delete old succeeded and cancelled jobs; print how many."""
    seconds = duration(older_than, "--older-than")
    removed = session(ctx).app.ops.prune(seconds)
    if as_json:
        render.emit_json({"pruned": removed, "older_than_seconds": seconds})
    else:
        noun = "job" if removed == 1 else "jobs"
        typer.echo(
            f"Pruned {removed} {noun} (succeeded or cancelled, finished over {older_than} ago)."
        )
