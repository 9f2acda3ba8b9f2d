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
    help="List the connections (auth, rate limit, breaker state) and test them.",
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
    """Every connection: base URL, auth (without secrets), rate limit, breaker and its state."""
    app = session(ctx).app
    connections = [app.connections[name] for name in sorted(app.connections)]
    if not connections:
        if not as_json:
            typer.echo(f"No connections: {NO_CONNECTIONS_HINT}.")
        return
    states = {record.name: record for record in app.ops.breakers()}
    redact = connections_view.Redactor(connections)
    records = [
        connections_view.connection_record(c, states.get(c.name), redact) for c in connections
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


def _known(app: Conveyor, name: str) -> None:
    try:
        app.get_connection(name)
    except ConfigurationError as error:
        if app.connections:
            raise
        raise CliError(f"{error}; {NO_CONNECTIONS_HINT}") from None
