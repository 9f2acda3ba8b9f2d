"""JSON paths as sources name them: `data.items`, `$.meta.next`, `results[0].id`.

A deliberately small dialect (dotted keys, integer indexes, an optional leading `$`), the one
dlt's and Nango's pagination settings use in practice; a path is parsed once, when the source is
declared, so a typo is a `ConfigurationError` then and not a failed scan later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class _Missing:
    """What a path finds where the document has nothing (distinct from a JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A parsed path; `find(document)` is the value there or `MISSING`."""

    text: str
    steps: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str, *, what: str = "path") -> JsonPath:
        if not isinstance(text, str) or not text.strip():
            raise ConfigurationError(f"{what} must be a JSON path like 'data.items', not {text!r}")
        body = text.strip()
        if body == "$":
            return cls(text, ())
        if body.startswith("$."):
            body = body[2:]
        elif body.startswith("$["):
            body = body[1:]
        steps: list[str | int] = []
        position = 0
        while position < len(body):
            if body[position] == "." and steps:
                position += 1
            match = _STEP.match(body, position)
            if match is None:
                raise ConfigurationError(
                    f"{what} {text!r} is not a JSON path: use dotted keys and [n] indexes,"
                    " like 'data.items' or 'results[0].id'"
                )
            key, index = match.groups()
            steps.append(int(index) if index is not None else key)
            position = match.end()
        return cls(text, tuple(steps))

    def find(self, document: Any) -> Any:
        value = document
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(value, list) or step >= len(value):
                    return MISSING
            elif not isinstance(value, dict) or step not in value:
                return MISSING
            value = value[step]
        return value

    def __str__(self) -> str:
        return self.text


def optional_path(text: str | None, *, what: str) -> JsonPath | None:
    return None if text is None else JsonPath.parse(text, what=what)
