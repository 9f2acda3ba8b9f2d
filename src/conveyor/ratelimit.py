"""Rate limits: `"5/s"`-style specs. The bucket itself lives in the store (shared by every
worker process on every machine) as a GCRA "theoretical arrival time": one number per name."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import ConfigurationError

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}
_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class RateLimit:
    """`rate` requests per second, allowing bursts of `burst` back to back."""

    rate: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ConfigurationError("a rate limit needs rate > 0 and burst >= 1")

    @property
    def interval(self) -> float:
        return 1.0 / self.rate

    @classmethod
    def parse(cls, spec: str | float | RateLimit, burst: int | None = None) -> RateLimit:
        """'5/s', '300/min', '1000/h', '10/2s', or a number of requests per second; burst
        defaults to 1."""
        if isinstance(spec, RateLimit):
            return spec if burst is None else cls(spec.rate, burst)
        if isinstance(spec, int | float) and not isinstance(spec, bool):
            if not math.isfinite(spec):
                raise ConfigurationError(
                    f"bad rate limit {spec!r}: give a finite number per second"
                )
            return cls(float(spec), burst if burst is not None else 1)
        if not isinstance(spec, str):
            raise ConfigurationError(
                f"bad rate limit of type {type(spec).__name__}: use a string like '5/s', "
                "'300/min', '1000/h', or a number of requests per second"
            )
        match = _SPEC.match(spec.lower())
        if not match or match.group(3) not in _UNITS:
            raise ConfigurationError(
                f"bad rate limit {spec!r}: use a count per unit, like '5/s', '300/min', '1000/h'"
            )
        count, multiple, unit = float(match.group(1)), match.group(2), match.group(3)
        period = float(multiple or 1) * _UNITS[unit]
        return cls(count / period, burst if burst is not None else 1)


def wait_after_denial(tat: float, now: float, limit: RateLimit) -> float:
    """Seconds until a request conforms, given the stored arrival time `tat`."""
    return max(max(tat, now) + limit.interval - limit.burst * limit.interval - now, 0.001)
