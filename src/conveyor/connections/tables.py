"""Reading the tables of a TOML config file: each key taken once, its path in every error.

A `Table` records its mistakes (shared by every table of one file) instead of stopping at the
first, so that a file's every mistake is reported at once; `guard` turns a raised one into a
recorded one and reading goes on.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..durations import parse_duration
from ..errors import ConfigurationError
from .secrets import Secret

T = TypeVar("T")
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SHELL_VARIABLE = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def key_path(*parts: str) -> str:
    return ".".join(part if BARE_KEY.match(part) else f'"{part}"' for part in parts)


def kind(value: Any) -> str:
    """A TOML value's type, for messages (values themselves are never shown: they may be
    secrets)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, datetime | date | time):
        return "a date-time"
    return type(value).__name__


class Table:
    """A TOML table being read: each key is taken once; `finish` refuses whatever is left."""

    def __init__(
        self, source: str, path: tuple[str, ...], data: Mapping[str, Any], mistakes: list[str]
    ) -> None:
        self.source = source
        self.path = path
        self.data = dict(data)
        self.taken: set[str] = set()
        self.mistakes = mistakes  # shared by every table of one file: all are reported at once

    def guard(self, read: Callable[[], T]) -> T | None:
        """`read()`, or None with its ConfigurationError recorded, so reading goes on."""
        try:
            return read()
        except ConfigurationError as error:
            self.mistakes.append(str(error))
            return None

    def error(self, key: str | None, message: str) -> ConfigurationError:
        parts = (*self.path, key) if key is not None else self.path
        where = f"{key_path(*parts)}: " if parts else ""
        return ConfigurationError(f"{self.source}: {where}{' '.join(message.split())}")

    def take(self, key: str) -> Any:
        self.taken.add(key)
        return self.data.get(key)

    def finish(self, what: str, known: tuple[str, ...]) -> None:
        """Record every key nobody took as unknown."""
        for key in self.data:
            if key in self.taken:
                continue
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f", did you mean {hint[0]!r}?" if hint else ""
            listed = ", ".join(known)
            message = f"unknown key {key!r}{suggestion} (known {what}: {listed})"
            self.mistakes.append(str(self.error(key, message)))

    def convert(self, key: str | None, build: Callable[[], Any]) -> Any:
        """`build()`, its ConfigurationError re-raised with this file and key in front."""
        try:
            return build()
        except ConfigurationError as error:
            raise self.error(key, str(error)) from None

    def _typed(self, key: str, expected: str, required: bool, accept: Callable[[Any], bool]) -> Any:
        value = self.take(key)
        if value is None:
            if required:
                raise self.error(key, f"required key is missing ({expected})")
            return None
        if not accept(value):
            raise self.error(key, f"expected {expected}, got {kind(value)}")
        return value

    def string(self, key: str, *, required: bool = False, plain: bool = False) -> str | None:
        """A non-empty string. `plain`: a setting that is not a secret, so an `env:` reference
        there would be sent as written, which is refused."""
        value: str | None = self._typed(key, "a string", required, lambda v: isinstance(v, str))
        if value is None:
            return None
        if not value.strip():
            raise self.error(key, "cannot be empty")
        if plain and value.startswith("env:"):
            raise self.error(
                key, "env: references are for secrets; write this setting's value itself"
            )
        return value

    def url(self, key: str, *, required: bool = False) -> str | None:
        value = self.string(key, required=required, plain=True)
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise self.error(key, "must be an http:// or https:// URL with a host")
        return value

    def secret(self, key: str, *, required: bool = False) -> str | None:
        """`env:NAME` (recommended) or the literal secret; never echoed in messages."""
        value: str | None = self._typed(key, "a string", required, lambda v: isinstance(v, str))
        if value is None:
            return None
        if not value.strip():
            raise self.error(key, "cannot be empty")
        reference = Secret(value).reference
        if reference is not None and not ENV_NAME.match(reference):
            raise self.error(
                key, "env: must be followed by an environment variable name, like env:SHOP_TOKEN"
            )
        if SHELL_VARIABLE.match(value):
            raise self.error(
                key, "$NAME is not expanded here: write env:NAME to read an environment variable"
            )
        return value

    def integer(self, key: str, *, minimum: int) -> int | None:
        value: int | None = self._typed(
            key,
            "an integer",
            False,
            lambda v: isinstance(v, int) and not isinstance(v, bool),
        )
        if value is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}")
        return value

    def boolean(self, key: str) -> bool | None:
        value: bool | None = self._typed(key, "true or false", False, lambda v: isinstance(v, bool))
        return value

    def seconds(self, key: str, *, positive: bool) -> float | None:
        """A number of seconds, or a duration string ("30s", "10m", "1h")."""
        value = self._typed(
            key,
            "a number of seconds or a duration like '30s'",
            False,
            lambda v: isinstance(v, int | float | str) and not isinstance(v, bool),
        )
        if value is None:
            return None
        if isinstance(value, str):
            try:
                seconds = parse_duration(value)
            except ValueError as error:
                raise self.error(key, str(error)) from None
        else:
            seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
            raise self.error(key, "must be more than 0 seconds" if positive else "must be >= 0")
        return seconds

    def header_name(self, key: str) -> str | None:
        value = self.string(key, plain=True)
        if value is not None and not HEADER_NAME.match(value):
            raise self.error(key, "not a valid HTTP header name")
        return value

    def table(self, key: str, *, required: bool = False, expected: str = "a table") -> Table | None:
        value = self._typed(key, expected, required, lambda v: isinstance(v, dict))
        return (
            None if value is None else Table(self.source, (*self.path, key), value, self.mistakes)
        )


class Declaring(Protocol):
    """A registry a config file's section declares into (`app.webhooks`, `app.sources`)."""

    def __contains__(self, name: object) -> bool: ...
    def remove(self, name: str) -> None: ...


def apply_section(
    path: str | os.PathLike[str],
    section: str,
    noun: str,
    read: Callable[[Table], dict[str, Any] | None],
    registry: Declaring,
    declare: Callable[..., Any],
) -> list[Any]:
    """Declare the `[section.NAME]` tables of a config file on `registry` with `declare(name,
    **options)`: every table read by `read` (the options, or None with its mistakes recorded)
    and checked first, every mistake reported at once, then all declared, or none on any
    error."""
    source = os.fspath(path)
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"{source}: cannot read the config file ({error})") from None
    root = Table(source, (), document, [])
    tables = root.guard(lambda: root.table(section, expected=f"[{section}.NAME] tables"))
    if tables is None:
        if root.mistakes:
            raise ConfigurationError("; ".join(root.mistakes))
        return []
    declared: list[tuple[str, dict[str, Any]]] = []
    for name in list(tables.data):
        table = tables.guard(partial(tables.table, name, expected=f"a [{section}.NAME] table"))
        options = None if table is None else read(table)
        if options is None:
            continue
        if name in registry:
            tables.mistakes.append(str(tables.error(name, f"a {noun} of that name is declared")))
        declared.append((name, options))
    if root.mistakes:
        raise ConfigurationError("; ".join(root.mistakes))
    done: list[str] = []
    made: list[Any] = []
    try:
        for name, options in declared:
            made.append(tables.convert(name, partial(declare, name, **options)))
            done.append(name)
    except ConfigurationError:
        for name in done:  # all or none
            registry.remove(name)
        raise
    return made
