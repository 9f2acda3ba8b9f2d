"""Named SQL blocks, loaded once per dialect from one file per slice: `sql/<dialect>/<slice>.sql`.

A block starts with a line `-- name: <name>` and runs to the next such line. The slices' files
share one namespace per dialect (a name defined twice is an error), so a slice can run another's
block (the jobs slice sends the wake-ups slice's `notify`). `schema.sql` is not a slice file: it is
the whole schema as the migrations leave it, checked in for readers and for the test that keeps it
true.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from ..errors import StoreError

SLICES = (
    "jobs",
    "limits",
    "workers",
    "migrate",
    "wakeups",
    "records",
    "accounts",
    "inbound",
    "tokens",
    "schedules",
    "alerts",
    "batches",
    "metrics",
    "overview",
)
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@cache
def load(dialect: str) -> dict[str, str]:
    """Every named block of the dialect, from all its slice files."""
    found: dict[str, str] = {}
    for slice_name in SLICES:
        blocks = parse(text(dialect, f"{slice_name}.sql"))
        twice = sorted(found.keys() & blocks.keys())
        if twice:
            raise StoreError(f"sql/{dialect}/{slice_name}.sql: blocks named again: {twice}")
        found.update(blocks)
    return found


def text(dialect: str, name: str) -> str:
    """A file of `sql/<dialect>/` (`schema.sql`, a slice's file)."""
    return resources.files(__package__).joinpath(f"sql/{dialect}/{name}").read_text("utf-8")


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) of every numbered migration file, in order."""
    folder = resources.files(__package__).joinpath(f"sql/{dialect}/migrations")
    found = []
    for entry in folder.iterdir():
        match = re.match(r"^(\d+)_(\w+)\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    return sorted(found)
