"""`conveyor alerts ...`: test the app's alert channels, and list the alerts sent."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from . import render
from .session import session

alerts_app = typer.Typer(
    name="alerts",
    help="Alert channels: send a test alert, list the alerts sent.",
    no_args_is_help=True,
)


@alerts_app.command("test")
def test(
    ctx: typer.Context,
    channel: Annotated[
        int | None, typer.Option("--channel", help="Only this channel (its index).")
    ] = None,
) -> None:
    """Send a test alert to each channel (or one) now, unthrottled; exit 1 if one failed."""
    results = session(ctx).app.alerts.test(channel)
    for result in results:
        typer.echo(f"{result.channel}: " + ("sent" if result.ok else f"failed: {result.error}"))
    if not all(result.ok for result in results):
        raise typer.Exit(1)


@alerts_app.command("list")
def list_alerts(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (JSON Lines).")
    ] = False,
) -> None:
    """The channels (never a password) and the alerts sent recently, newest first."""
    app = session(ctx).app
    sent = app.alerts.recent()
    if as_json:
        for alert in sent:
            render.emit_json(
                {
                    "kind": alert.kind,
                    "subject": alert.subject,
                    "sent_at": render.iso(alert.sent_at),
                    "text": alert.text,
                }
            )
        return
    for index, channel in enumerate(app.alerts.channels):
        describe = getattr(channel, "describe", None)
        typer.echo(f"channel {index}: {describe() if describe else channel.name}")
    if not sent:
        typer.echo("No alerts sent.")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("SENT", "KIND", "SUBJECT", "TEXT"):
        table.add_column(column)
    for alert in sent:
        table.add_row(
            render.iso(alert.sent_at), alert.kind, alert.subject, render.shorten(alert.text, 80)
        )
    render.console().print(table)
