"""`conveyor jobs ...`: look at jobs and act on them.

Bulk actions (retry, cancel, delete) act on every id that qualifies, print what they did on
stdout, report each id that did not qualify (unknown, or in a state the action does not allow) on
stderr, and exit with status 1 if there was any: the others were still acted on, so this is a
partial failure rather than bad input (status 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer

from ..errors import JobNotFound
from ..job import STATES, JobFilter
from ..ops import CANCEL, DELETE, RETRY, Action, Operations
from . import jobs_view, render
from .session import PARTIAL_FAILURE, CliError, json_argument, session, state_name

jobs_app = typer.Typer(
    name="jobs", help="List, inspect, retry, cancel and delete jobs.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
JobIds = Annotated[list[int], typer.Argument(help="Job ids.", show_default=False)]
Connection = Annotated[
    str | None,
    typer.Option(help="Only jobs for this connection (deliveries, calls, bound tasks)."),
]
ErrorText = Annotated[
    str | None, typer.Option("--error", help="Only jobs whose last error contains this text.")
]


@jobs_app.command("list")
def list_jobs(
    ctx: typer.Context,
    state: Annotated[
        str | None,
        typer.Option(help=f"Only jobs in this state: {', '.join(STATES)}.", show_default=False),
    ] = None,
    task: Annotated[str | None, typer.Option(help="Only jobs of this task.")] = None,
    queue: Annotated[str | None, typer.Option(help="Only jobs of this queue.")] = None,
    key: Annotated[str | None, typer.Option(help="Only jobs of this ordering key.")] = None,
    connection: Connection = None,
    error: ErrorText = None,
    batch: Annotated[
        int | None, typer.Option(min=1, help="Only the jobs of this batch (its id).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (JSON Lines).")
    ] = False,
) -> None:
    """List jobs, newest first."""
    chosen = JobFilter(
        state=state_name(state),
        task=task,
        queue=queue,
        key=key,
        connection=connection,
        error=error,
        batch_id=batch,
        limit=limit,
    )
    jobs = session(ctx).app.ops.list_jobs(chosen)
    if as_json:
        for job in jobs:
            render.emit_json(jobs_view.list_record(job))
    elif jobs:
        render.console().print(jobs_view.jobs_table(jobs))
    else:
        typer.echo("No jobs.")


@jobs_app.command("show")
def show_job(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(metavar="ID", help="The job id.", show_default=False)],
    as_json: JsonFlag = False,
    traceback: Annotated[
        bool,
        typer.Option(
            "--traceback", help="Also show the tracebacks of failed calls to connections."
        ),
    ] = False,
) -> None:
    """Everything about one job: payload, result, and every failed attempt.

    A failed call to a connection shows the remote's status, latency and response excerpt
    (its traceback with --traceback); a task's own error shows its traceback. A queued job that
    no live worker can run (none has its task or queue) says so: "waiting: no running worker has
    task 'x'" (JSON: "no_worker", null otherwise).
    """
    ops = session(ctx).app.ops
    job = ops.get_job(job_id)
    no_worker = ops.no_worker_reason(job)
    if as_json:
        render.emit_json({**job.to_dict(), "no_worker": no_worker}, indent=2)
    else:
        render.console().print(jobs_view.job_detail(job, no_worker, tracebacks=traceback))


@jobs_app.command("retry")
def retry_jobs(
    ctx: typer.Context,
    job_ids: Annotated[
        list[int] | None, typer.Argument(metavar="[ID]...", help="Job ids.", show_default=False)
    ] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Retry every dead job.")] = False,
    queue: Annotated[str | None, typer.Option(help="With --dead: only this queue.")] = None,
    task: Annotated[str | None, typer.Option(help="With --dead: only this task.")] = None,
    connection: Annotated[
        str | None, typer.Option(help="With --dead: only jobs for this connection.")
    ] = None,
    error: Annotated[
        str | None,
        typer.Option("--error", help="With --dead: only jobs whose last error contains this."),
    ] = None,
    payload: Annotated[
        str | None,
        typer.Option(help="Retry ONE job with this edited JSON payload ('-' reads stdin)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Put dead (or retrying) jobs back in the queue with their attempts reset."""
    ops = session(ctx).app.ops
    ids = list(dict.fromkeys(job_ids or []))
    if (queue or task or connection or error) and not dead:
        raise CliError(
            "--queue, --task, --connection and --error select dead jobs: use them with --dead"
        )
    if dead == bool(ids):
        raise CliError("give job ids or --dead (not both)")
    if payload is not None and (dead or len(ids) != 1):
        raise CliError("--payload retries exactly one job: give one id")
    if dead:
        chosen = JobFilter(state="dead", queue=queue, task=task, connection=connection, error=error)
        done = ops.retry(filter=chosen)
        _report(ops, RETRY, done, done, as_json)
        return
    edited = json_argument(payload) if payload is not None else None
    _report(ops, RETRY, ids, _retry(ops, ids, edited), as_json)


def _retry(ops: Operations, ids: Sequence[int], payload: Any) -> list[int]:
    if payload is None:
        return ops.retry(ids)
    try:
        return ops.retry(ids, payload=payload)
    except JobNotFound:
        return []


@jobs_app.command("cancel")
def cancel_jobs(
    ctx: typer.Context,
    job_ids: Annotated[
        list[int] | None, typer.Argument(help="Job ids.", show_default=False)
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(help="With --connection or --error: only jobs in this state."),
    ] = None,
    connection: Connection = None,
    error: ErrorText = None,
    as_json: JsonFlag = False,
) -> None:
    """Cancel jobs that have not finished: these ids, or every one for a connection (--connection)
    or whose last error contains a text (--error).

    A running job is only asked to stop (an async task gets CancelledError, a sync one sees
    current_job().cancelled) and reported as "cancellation requested": it is cancelled, and the
    next job of its key may start, when its attempt ends.
    """
    ops = session(ctx).app.ops
    ids = list(dict.fromkeys(job_ids or []))
    by_filter = connection is not None or error is not None
    if by_filter == bool(ids):
        raise CliError("give job ids or --connection/--error (not both)")
    if state is not None and not by_filter:
        raise CliError("--state selects jobs with --connection or --error")
    if by_filter:
        chosen = JobFilter(state=state_name(state), connection=connection, error=error)
        done = ops.cancel(filter=chosen)
        ids = list(done)
    else:
        done = ops.cancel(ids)
    running = [i for i, state in ops.states(done).items() if state == "running"]
    _report(ops, CANCEL, ids, done, as_json, marked=running)


@jobs_app.command("delete")
def delete_jobs(ctx: typer.Context, job_ids: JobIds, as_json: JsonFlag = False) -> None:
    """Delete jobs for good (not running ones)."""
    ops = session(ctx).app.ops
    ids = list(dict.fromkeys(job_ids))
    _report(ops, DELETE, ids, ops.delete(ids), as_json)


def _report(
    ops: Operations,
    action: Action,
    requested: Sequence[int],
    done: Sequence[int],
    as_json: bool,
    *,
    marked: Sequence[int] | None = None,
) -> None:
    """`marked`: running jobs whose cancellation was requested (a subset of `done`)."""
    finished = set(done)
    failures = [(i, ops.why_not(action, i)) for i in requested if i not in finished]
    pending = set(marked or ())
    if as_json:
        record: dict[str, Any] = {
            "action": action.name,
            "done": sorted(finished),
            "failed": [{"id": i, "reason": reason} for i, reason in failures],
        }
        if marked is not None:
            record["requested"] = sorted(pending)
        render.emit_json(record)
    else:
        acted = finished - pending
        if acted or not pending:
            typer.echo(_done_line(action.past.capitalize(), acted, f"No jobs {action.past}."))
        if pending:
            line = _done_line("Cancellation requested for", pending, "")
            typer.echo(f"{line} (running: cancelled when the attempt ends)")
    for _, reason in failures:
        typer.echo(f"Error: {reason}", err=True)
    if failures:
        raise typer.Exit(PARTIAL_FAILURE)


def _done_line(what: str, ids: set[int], nothing: str) -> str:
    if not ids:
        return nothing
    noun = "job" if len(ids) == 1 else "jobs"
    return f"{what} {len(ids)} {noun}: {', '.join(str(i) for i in sorted(ids))}"
