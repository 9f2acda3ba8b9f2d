"""Retry policies: pure objects that turn (attempt number) into a delay.

`attempt` is the number of the attempt that just failed, starting at 1. The worker asks the policy
for the delay before the next attempt; whether there is a next attempt is decided by max_attempts.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .errors import ConfigurationError


class RetryPolicy(Protocol):
    def delay(self, attempt: int) -> float: ...


@dataclass(frozen=True)
class Fixed:
    """The same delay before every retry."""

    delay_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.delay_seconds < 0:
            raise ConfigurationError("Fixed delay must be >= 0")

    def delay(self, attempt: int) -> float:
        return float(self.delay_seconds)


@dataclass(frozen=True)
class Linear:
    """Delays grow linearly from `first` to `last` over `steps` retries.

    The loyalty write-up's 7 attempts ("instant, then 2 h ... 24 h") is the first attempt at once
    and then 6 retries: `Linear(first=2 * 3600, last=24 * 3600, steps=6)`. When `steps` is not given
    the task's max_attempts - 1 is used.
    """

    first: float
    last: float
    steps: int | None = None

    def __post_init__(self) -> None:
        if self.first < 0 or self.last < 0:
            raise ConfigurationError("Linear delays must be >= 0")
        if self.steps is not None and self.steps < 1:
            raise ConfigurationError("Linear steps must be >= 1")

    def with_steps(self, steps: int) -> Linear:
        return self if self.steps is not None else Linear(self.first, self.last, max(steps, 1))

    def delay(self, attempt: int) -> float:
        steps = self.steps or 1
        if steps == 1:
            return float(self.first)
        position = min(max(attempt, 1), steps) - 1
        return self.first + (self.last - self.first) * position / (steps - 1)


@dataclass(frozen=True)
class Exponential:
    """base * factor ** (attempt - 1), capped, with +/- `jitter` (a fraction) of random spread."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 3600.0
    jitter: float = 0.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base < 0 or self.factor < 1 or self.cap < 0:
            raise ConfigurationError("Exponential needs base >= 0, factor >= 1, cap >= 0")
        if not 0 <= self.jitter <= 1:
            raise ConfigurationError("Exponential jitter is a fraction between 0 and 1")

    def delay(self, attempt: int) -> float:
        raw = min(self.base * self.factor ** (max(attempt, 1) - 1), self.cap)
        if self.jitter:
            raw *= 1 + self.rng.uniform(-self.jitter, self.jitter)
        return max(0.0, min(raw, self.cap))


@dataclass(frozen=True)
class Delays:
    """An explicit list of delays; the last one repeats if there are more attempts than delays."""

    delays: Sequence[float]

    def __post_init__(self) -> None:
        if not self.delays or any(d < 0 for d in self.delays):
            raise ConfigurationError("Delays needs at least one delay, all >= 0")

    def delay(self, attempt: int) -> float:
        index = min(max(attempt, 1), len(self.delays)) - 1
        return float(self.delays[index])


DEFAULT_RETRY = Exponential(base=1, factor=2, cap=300, jitter=0.1)


@dataclass(frozen=True)
class Decision:
    """What happens to a job after a failed attempt: retry after `delay` seconds, or go dead."""

    retry: bool
    delay: float
    reason: str


def decide(error: BaseException, attempt: int, max_attempts: int, policy: RetryPolicy) -> Decision:
    """Turn a failed attempt into a decision. Pure: no clock, no I/O."""
    from .errors import Discard, Retry

    reason = _describe(error)
    if isinstance(error, Discard):
        return Decision(retry=False, delay=0.0, reason=reason)
    if attempt >= max_attempts:
        return Decision(retry=False, delay=0.0, reason=reason)
    if isinstance(error, Retry) and error.after is not None:
        return Decision(retry=True, delay=max(0.0, float(error.after)), reason=reason)
    return Decision(retry=True, delay=max(0.0, policy.delay(attempt)), reason=reason)


def _describe(error: BaseException) -> str:
    text = str(error)
    name = type(error).__name__
    return f"{name}: {text}" if text else name
