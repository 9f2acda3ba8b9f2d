"""`conveyor accounts ...`: each owner's credentials for a connection.

A secret is never an argument (argv is visible to every user of the machine in `ps`): `add`
reads it from the environment variable named by `--api-key-env`, `--token-env`,
`--refresh-token-env` / `--access-token-env`, or from standard input with `--stdin KIND`. Nothing
prints a secret: `list` shows the kind, the state (`needs_reauth` when the provider refused the
refresh token), the expiry and the id of the key that sealed it.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from ..accounts import Account, generate_key
from ..logs import configure_logging
from . import render
from .session import CliError, session

accounts_app = typer.Typer(
    name="accounts",
    help="Per-owner credentials of connections: add, list, remove, rotate the secret key.",
    no_args_is_help=True,
)

Connection = Annotated[
    str, typer.Argument(metavar="CONNECTION", help="The connection's name.", show_default=False)
]
Owner = Annotated[
    str, typer.Argument(metavar="OWNER", help="Whose credentials (a user, a store...).")
]


class StdinKind(StrEnum):
    api_key = "api-key"
    token = "token"
    refresh_token = "refresh-token"


def _from_env(variable: str | None, option: str) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise CliError(f"{option}: environment variable {variable} is not set or empty")
    return value


@accounts_app.command("add")
def add(
    ctx: typer.Context,
    connection: Connection,
    owner: Owner,
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the owner's API key.")
    ] = None,
    token_env: Annotated[
        str | None, typer.Option(help="Environment variable holding a bearer token.")
    ] = None,
    refresh_token_env: Annotated[
        str | None, typer.Option(help="Environment variable holding an OAuth refresh token.")
    ] = None,
    access_token_env: Annotated[
        str | None, typer.Option(help="Environment variable holding an OAuth access token.")
    ] = None,
    expires_in: Annotated[
        float | None, typer.Option(help="Seconds the OAuth access token has left.")
    ] = None,
    stdin: Annotated[
        StdinKind | None, typer.Option("--stdin", help="Read this one secret from stdin.")
    ] = None,
) -> None:
    """Store (or replace) an owner's credentials, sealed with CONVEYOR_SECRET_KEY. Adding again
    clears a needs_reauth state: the owner's jobs run again."""
    app = session(ctx).app
    configure_logging("warning")  # the app's events to stderr, not its info lines to stdout
    secrets = {
        "api_key": _from_env(api_key_env, "--api-key-env"),
        "token": _from_env(token_env, "--token-env"),
        "refresh_token": _from_env(refresh_token_env, "--refresh-token-env"),
        "access_token": _from_env(access_token_env, "--access-token-env"),
    }
    if stdin is not None:
        name = stdin.name
        if secrets[name] is not None:
            raise CliError(f"--stdin {stdin.value} and --{stdin.value}-env: give one of them")
        secrets[name] = sys.stdin.readline().strip() or None
        if secrets[name] is None:
            raise CliError(f"--stdin {stdin.value}: nothing was read from standard input")
    given = {name: value for name, value in secrets.items() if value is not None}
    if not given:
        raise CliError(
            "give the secret: --api-key-env VAR, --token-env VAR, --refresh-token-env VAR"
            " (and --access-token-env VAR), or --stdin KIND"
        )
    account = app.add_account(connection, owner, expires_in=expires_in, **given)
    typer.echo(f"Stored the {account.kind} account of {owner!r} on {connection!r}.")


@accounts_app.command("list")
def list_accounts(
    ctx: typer.Context,
    connection: Annotated[
        str | None, typer.Option("--connection", help="Only this connection's accounts.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (JSON Lines).")
    ] = False,
) -> None:
    """Every account: owner, connection, kind, state, expiry. Never a secret."""
    app = session(ctx).app
    accounts = app.list_accounts(connection)
    if as_json:
        for account in accounts:
            render.emit_json(account.to_dict())
        return
    if not accounts:
        typer.echo("No accounts.")
        return
    render.console().print(_table(accounts))


@accounts_app.command("remove")
def remove(ctx: typer.Context, connection: Connection, owner: Owner) -> None:
    """Delete an owner's account (its credentials are gone for good)."""
    app = session(ctx).app
    if not app.remove_account(connection, owner):
        raise CliError(f"owner {owner!r} has no account on connection {connection!r}")
    typer.echo(f"Removed the account of {owner!r} on {connection!r}.")


@accounts_app.command("rotate-key")
def rotate_key(ctx: typer.Context) -> None:
    """Re-seal every secret with the first key of CONVEYOR_SECRET_KEY (keep the old key listed
    after it until this has run)."""
    app = session(ctx).app
    count = app.rotate_secret_key()
    typer.echo(f"Re-sealed {count} account secret{'s' if count != 1 else ''} with the first key.")


@accounts_app.command("generate-key")
def new_key() -> None:
    """Print a new random key for CONVEYOR_SECRET_KEY."""
    typer.echo(generate_key())


def _table(accounts: list[Account]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("CONNECTION", "OWNER", "KIND", "STATE", "EXPIRES", "KEY"):
        table.add_column(column)
    for a in accounts:
        state = a.state if a.reason is None else f"{a.state} ({render.shorten(a.reason, 80)})"
        expires = "-" if a.expires_at is None else _when(a.expires_at)
        table.add_row(a.connection, a.owner, a.kind, state, expires, a.key_id)
    return table


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
