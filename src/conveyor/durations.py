"""Human durations for the CLI and settings: "250ms", "10s", "5m", "12h", "30d", "2w", "1h30m".

A bare number is seconds ("1.5"). Units are lower case (so "5m" is never read as months), each
used at most once and from the largest to the smallest.
"""

from __future__ import annotations

import math
import re

UNITS: dict[str, float] = {
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}
_RANK = {unit: rank for rank, unit in enumerate(UNITS)}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PLAIN = re.compile(_NUMBER)
_PART = re.compile(rf"\s*({_NUMBER})\s*(ms|[wdhms])(?![a-z])")
_HINT = "use seconds (1.5) or a number with a unit: 250ms, 10s, 5m, 12h, 30d, 2w, or 1h30m"


def parse_duration(text: str) -> float:
    """Seconds in `text`. Raises ValueError with a message that says what is accepted."""
    raw = text.strip()
    if not raw:
        raise ValueError(f"empty duration: {_HINT}")
    if raw.startswith("-"):
        raise ValueError(f"invalid duration {text!r}: durations cannot be negative")
    if _PLAIN.fullmatch(raw):
        return _finite(float(raw), text)
    total, position, previous = 0.0, 0, -1
    while position < len(raw):
        match = _PART.match(raw, position)
        if match is None:
            raise ValueError(f"invalid duration {text!r}: {_HINT}")
        number, unit = match.groups()
        if _RANK[unit] <= previous:
            raise ValueError(
                f"invalid duration {text!r}: give each unit once, largest first (e.g. 1h30m)"
            )
        previous = _RANK[unit]
        total += float(number) * UNITS[unit]
        position = match.end()
    return _finite(total, text)


def _finite(seconds: float, text: str) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"invalid duration {text!r}: too large")
    return seconds
