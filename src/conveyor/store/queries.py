"""Named SQL blocks, loaded once per dialect from `sql/<dialect>/queries.sql`.

A block starts with a line `-- name: <name>` and runs to the next such line.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@cache
def load(dialect: str) -> dict[str, str]:
    text = resources.files(__package__).joinpath(f"sql/{dialect}/queries.sql").read_text("utf-8")
    return parse(text)


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) of every numbered migration file, in order."""
    folder = resources.files(__package__).joinpath(f"sql/{dialect}/migrations")
    found = []
    for entry in folder.iterdir():
        match = re.match(r"^(\d+)_(\w+)\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    return sorted(found)
