"""`conveyor connections ...`: the external systems the application calls, and a live check.

Secrets never reach the output: auth is shown by kind with `env:NAME` references (or `***` for a
literal secret), and texts that come back from a remote are scrubbed of every resolved secret.
`test` exits 0 when the check passed, 1 when it failed (the remote refused, timed out, or could
not be reached: an answer, not bad input) and 2 for an unknown connection.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..app import Conveyor
from ..errors import ConfigurationError
from . import connections_view, render
from .session import CliError, session

CHECK_FAILED = 1

connections_app = typer.Typer(
    name="connections",
    help="List the connections (auth, rate limit, breaker, pause), test, pause and resume them.",
    no_args_is_help=True,
)

NO_CONNECTIONS_HINT = (
    "declare them with app.connection(...) in your --app, or in a config file: --config PATH "
    "(or CONVEYOR_CONFIG)"
)


@connections_app.command("list")
def list_connections(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (JSON Lines).")
    ] = False,
) -> None:
    """Every connection: base URL, auth (without secrets), rate limit, breaker and its state,
    and whether it is paused or slowed (why, and until when)."""
    app = session(ctx).app
    connections = [app.connections[name] for name in sorted(app.connections)]
    if not connections:
        if not as_json:
            typer.echo(f"No connections: {NO_CONNECTIONS_HINT}.")
        return
    states = {record.name: record for record in app.ops.breakers()}
    holds = {hold.name: hold for hold in app.ops.holds()}
    redact = connections_view.Redactor(connections)
    records = [
        connections_view.connection_record(c, states.get(c.name), redact, holds.get(c.name))
        for c in connections
    ]
    if as_json:
        for record in records:
            render.emit_json(record)
        return
    out = render.console()
    out.print(connections_view.connections_table(records))
    missing = connections_view.missing_env_text(records)
    if missing is not None:
        out.print(missing)


@connections_app.command("test")
def test_connection(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The connection's name.", show_default=False)
    ],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print {name, ok, status, latency_ms, identity, message} as JSON."
        ),
    ] = False,
) -> None:
    """Send the connection's check request (e.g. GET /me) and say what came back.

    The breaker and the rate limit are bypassed. Exit status 1 when the check failed.
    """
    app = session(ctx).app
    _known(app, name)
    check = app.test_connection(name)
    record = connections_view.check_record(
        check, connections_view.Redactor([app.connections[name]])
    )
    if as_json:
        render.emit_json(record)
    else:
        render.console().print(connections_view.check_text(record), soft_wrap=True)
    if not check.ok:
        raise typer.Exit(CHECK_FAILED)


@connections_app.command("pause")
def pause_connection(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The connection's name.", show_default=False)
    ],
    reason: Annotated[
        str, typer.Option(help="Why: shown with the connection and on its waiting jobs.")
    ] = "paused by an operator",
    as_json: Annotated[bool, typer.Option("--json", help="Print the hold as JSON.")] = False,
) -> None:
    """Stop every worker's requests to a connection until `connections resume NAME`; its jobs
    wait without using attempts."""
    app = session(ctx).app
    _known(app, name)
    hold = app.ops.pause_connection(name, reason)
    record = connections_view.hold_state(hold, connections_view.Redactor([app.connections[name]]))
    if as_json:
        render.emit_json(record)
    else:
        typer.echo(f"Paused {name}: {record['reason']}")


@connections_app.command("resume")
def resume_connection(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The connection's name.", show_default=False)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print {name, woken} as JSON.")] = False,
) -> None:
    """Lift a connection's pause (or slow-down): requests flow again, and the jobs the pause
    postponed are due at once."""
    app = session(ctx).app
    _known(app, name)
    woken = app.ops.resume_connection(name)
    if as_json:
        render.emit_json({"name": name, "woken": woken})
    else:
        noun = "job" if woken == 1 else "jobs"
        typer.echo(f"Resumed {name}: {woken} waiting {noun} due now.")


def _known(app: Conveyor, name: str) -> None:
    try:
        app.get_connection(name)
    except ConfigurationError as error:
        if app.connections:
            raise
        raise CliError(f"{error}; {NO_CONNECTIONS_HINT}") from None
