"""`conveyor serve`: the HTTP endpoints (webhook intake) and a worker, in one process."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import settings
from ..logs import configure_logging
from .session import CliError, queue_list, session

LOG_LEVELS = ("debug", "info", "warning", "error")
WEB_EXTRA = "pip install 'conveyor[web]'"


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve HTTP only; run workers apart.")
    ] = False,
    queues: Annotated[
        str | None,
        typer.Option(
            help="The worker's comma-separated queues (default: all).", show_default=False
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="The worker's jobs at once.")] = 10,
    log_level: Annotated[str, typer.Option(help=f"One of {', '.join(LOG_LEVELS)}.")] = "info",
    metrics_dir: Annotated[
        str | None,
        typer.Option(
            help="Write the counters to this prometheus-client multiprocess directory, shared"
            " by every worker and `serve` of the machine, so /metrics sums them (default:"
            " CONVEYOR_METRICS_DIR or PROMETHEUS_MULTIPROC_DIR; unset: this process only).",
            show_default=False,
        ),
    ] = None,
    counts_max_age: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="How old, in seconds, the counts /api/stats, /metrics and the dashboard show"
            " may be: one store read per this interval serves every client (0: read per request;"
            " default: CONVEYOR_COUNTS_MAX_AGE or 1).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve POST /hooks/<name> for the application's webhooks and, unless --no-worker, run a
    worker in the same process and event loop.

    A request is verified (signature, timestamp within 5 minutes), its event and jobs are stored
    in one transaction, and it is answered 202 (200 for an event id already stored, 401 for a bad
    or missing signature, 400 malformed, 413 too large, 404 unknown webhook). SIGTERM/SIGINT
    stop the server and drain the worker as `conveyor worker` does. Needs the web extra
    (FastAPI, uvicorn). Logs are JSON lines on stderr.
    """
    if log_level.lower() not in LOG_LEVELS:
        raise CliError(f"unknown log level {log_level!r} (choose from {', '.join(LOG_LEVELS)})")
    try:
        from ..web.serve import serve as run
    except ImportError as error:
        raise CliError(
            f"conveyor serve needs the web extra ({error.name or error} is missing): {WEB_EXTRA}"
        ) from None
    app = session(ctx).app
    directory = settings.metrics_dir(metrics_dir)
    if directory:  # made, or refused in one line, before a job runs
        app.metrics.use_directory(directory)
    max_age = settings.counts_max_age(counts_max_age)
    if max_age is not None:
        app.ops.shared.max_age = max_age
    configure_logging(log_level.lower())
    options: dict[str, Any] = {}
    if not no_worker:
        options = {
            "queues": queue_list(queues),
            "concurrency": concurrency,
            "scheduler": app.scheduler,  # the schedules fire here too (each once, whoever fires)
        }
    run(app, host, port, worker=not no_worker, **options)
