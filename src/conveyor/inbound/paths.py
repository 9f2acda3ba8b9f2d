"""JSON paths into a webhook's body: `$`, `$.data`, `$.data.items[0]`, `$["odd key"]`. Pure.

Only the part of JSONPath that names one value (no wildcards, filters or recursion): a webhook's
event id or list of items sits at a fixed place in a sender's format, and a path that could match
several values would make the id or the split ambiguous. A trailing `[*]` is accepted on a split
path (`$.data[*]`), where it means what `$.data` means: each element of that list.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ConfigurationError

Step = str | int
_STEP = re.compile(
    r"""\.(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)|\[(?P<index>-?\d+)\]|\[(?P<q>["'])(?P<key>.*?)(?P=q)\]"""
)


class JsonPath:
    """A parsed path; `find(document)` returns the value or raises LookupError naming where the
    document stopped matching."""

    __slots__ = ("steps", "text")

    def __init__(self, text: str, steps: tuple[Step, ...]) -> None:
        self.text = text
        self.steps = steps

    def __repr__(self) -> str:
        return f"JsonPath({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonPath) and other.steps == self.steps

    def __hash__(self) -> int:
        return hash(self.steps)

    def find(self, document: Any) -> Any:
        value = document
        for n, step in enumerate(self.steps):
            if isinstance(step, int):
                if not isinstance(value, list) or not -len(value) <= step < len(value):
                    raise LookupError(f"{self.prefix(n + 1)} is not in the body")
            elif not isinstance(value, dict) or step not in value:
                raise LookupError(f"{self.prefix(n + 1)} is not in the body")
            value = value[step]
        return value

    def prefix(self, count: int) -> str:
        text = "$"
        for step in self.steps[:count]:
            text += f"[{step}]" if isinstance(step, int) else f".{step}"
        return text


def parse_path(text: str, what: str = "path", *, star: bool = False) -> JsonPath:
    """Parse `$...`; `star`: a trailing `[*]` is allowed (and dropped). Raises
    ConfigurationError naming `what` and the first character that does not parse."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise ConfigurationError(
            f"{what}: a JSON path starts with $ (like $.data.id), not {text!r}"
        )
    body = text[1:]
    if star and body.endswith("[*]"):
        body = body[:-3]
    steps: list[Step] = []
    position = 0
    while position < len(body):
        match = _STEP.match(body, position)
        if match is None:
            raise ConfigurationError(
                f"{what}: bad JSON path {text!r} at {body[position:]!r} (use $.name, [0] or "
                '["key"]; no wildcards)'
            )
        if match.group("name") is not None:
            steps.append(match.group("name"))
        elif match.group("index") is not None:
            steps.append(int(match.group("index")))
        else:
            steps.append(match.group("key"))
        position = match.end()
    return JsonPath(text, tuple(steps))
