"""Output: Rich tables for people, JSON for scripts; what every view shares.

JSON always goes through `emit_json` (plain `print`, no Rich wrapping or highlighting) so it parses.
User data (payloads, errors, tracebacks) is passed to Rich as `Text`, never as markup. The views
of jobs and stats are in `jobs_view`, those of connections and breakers in `connections_view`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import typer
from rich.cells import cell_len
from rich.console import Console, JustifyMethod
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

STATE_STYLES = {
    "waiting": "dim",
    "queued": "cyan",
    "running": "blue",
    "retrying": "yellow",
    "succeeded": "green",
    "dead": "bold red",
    "cancelled": "magenta",
}


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)


def emit_json(value: Any, indent: int | None = None) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, default=str, indent=indent))


def iso(value: datetime | float | None) -> str | None:
    """A time (or epoch seconds) for JSON output: ISO-8601 in UTC, to the second, with a Z."""
    if value is None:
        return None
    moment = datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else value
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def short_when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%m-%d %H:%M") if value else "-"


def state_text(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


def shorten(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# -- tables that fit the terminal ---------------------------------------------------------------
# Rich fits a table that is too wide by wrapping its cells over several lines, which makes a list
# of jobs unreadable at 80 columns. Here every cell is one line: the columns that may shrink give
# up width in proportion to their slack (cells end in "…"), and when even their narrowest widths
# do not fit, the least useful columns are left out (`jobs show` and `--json` have everything).


@dataclass
class Column:
    """One column of a fitted table. `shrink_to`: the narrowest it may get (None: never
    narrower than its content); `drop`: > 0 may be left out, highest first."""

    header: str | Text
    cells: Sequence[str | Text]
    justify: JustifyMethod = "left"
    shrink_to: int | None = None
    drop: int = 0

    @property
    def natural(self) -> int:
        return max((cell_len(str(cell)) for cell in [self.header, *self.cells]), default=1)

    @property
    def narrowest(self) -> int:
        return self.natural if self.shrink_to is None else min(self.natural, self.shrink_to)


def fitted_table(columns: Sequence[Column], width: int, **options: Any) -> Table:
    """A table of one-line rows, at most `width` cells wide (when its fixed columns allow)."""
    kept = list(columns)
    while True:
        available = width - _overhead(len(kept), options)
        widths = _shrink([c.natural for c in kept], [c.narrowest for c in kept], available)
        droppable = [c for c in kept if c.drop > 0]
        if widths is not None or not droppable:
            break
        kept.remove(max(droppable, key=lambda c: c.drop))
    if widths is None:
        widths = [c.narrowest for c in kept]
    table = Table(**options)
    for column, size in zip(kept, widths, strict=True):
        table.add_column(
            column.header,
            justify=column.justify,
            width=size,
            no_wrap=True,
            overflow="ellipsis",
        )
    for row in range(len(kept[0].cells) if kept else 0):  # every column has one cell per row
        table.add_row(*(column.cells[row] for column in kept))
    return table


def _overhead(count: int, options: Mapping[str, Any]) -> int:
    """What borders and padding add to the cells' widths: measured on a table of 1-wide
    columns with the same options."""
    probe = Table(**options)
    for _ in range(count):
        probe.add_column(width=1)
    out = console()
    return Measurement.get(out, out.options, probe).maximum - count


def _shrink(natural: list[int], narrowest: list[int], available: int) -> list[int] | None:
    """Widths summing to at most `available`, each column giving up width in proportion to
    its slack; None when even the narrowest widths do not fit."""
    excess = sum(natural) - available
    if excess <= 0:
        return natural
    slack = [n - m for n, m in zip(natural, narrowest, strict=True)]
    if sum(slack) < excess:
        return None
    cuts = [excess * s // sum(slack) for s in slack]
    widths = [n - c for n, c in zip(natural, cuts, strict=True)]
    for i in sorted(range(len(widths)), key=lambda i: -(widths[i] - narrowest[i])):
        if sum(widths) <= available:
            break
        if widths[i] > narrowest[i]:
            widths[i] -= 1
    return widths
