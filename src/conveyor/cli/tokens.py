"""`conveyor tokens ...`: the bearer tokens of the operator API and the dashboard.

`create` prints the token alone on one line (so `TOKEN=$(conveyor tokens create ci)` works) and
it is never shown again: the store keeps its SHA-256 only. `list` shows names and dates, never a
token.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from . import render
from .session import session

tokens_app = typer.Typer(
    name="tokens",
    help="Bearer tokens of the HTTP API and the dashboard: create, list, revoke.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(metavar="NAME", help="Who or what holds the token.")]


@tokens_app.command("create")
def create(ctx: typer.Context, name: Name) -> None:
    """Make a token and print it, once: store it where its holder keeps secrets."""
    typer.echo(session(ctx).app.ops.tokens.create(name))


@tokens_app.command("list")
def list_tokens(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (JSON Lines).")
    ] = False,
) -> None:
    """Every token's name, when it was made and last used. Never a token."""
    tokens = session(ctx).app.ops.tokens.list()
    if as_json:
        for token in tokens:
            render.emit_json(
                {
                    "name": token.name,
                    "created_at": render.iso(token.created_at),
                    "last_used_at": render.iso(token.last_used_at),
                }
            )
        return
    if not tokens:
        typer.echo("No tokens.")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("NAME", "CREATED", "LAST USED"):
        table.add_column(column)
    for token in tokens:
        table.add_row(
            token.name, render.iso(token.created_at), render.iso(token.last_used_at) or "never"
        )
    render.console().print(table)


@tokens_app.command("revoke")
def revoke(ctx: typer.Context, name: Name) -> None:
    """Delete a token: its next request is refused."""
    session(ctx).app.ops.tokens.revoke(name)
    typer.echo(f"Revoked token {name!r}.")
