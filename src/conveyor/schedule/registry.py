"""`app.schedules`: the cron entries of an application, its own and the built-in maintenance.

A schedule either enqueues a task (a job per fire, made exactly once by its idempotency key
`cron:<name>:<fire time>`) or, for the built-in maintenance, runs an action on the store in the
one process whose claim of the fire won.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast, get_args

from ..errors import ConfigurationError
from ..store.jobs import IDEMPOTENCY_RETENTION
from .core import CatchUp, check, zone

MONTH = 30 * 24 * 3600.0


class UnknownSchedule(ConfigurationError):
    """No schedule of that name (the operator API answers 404)."""


DIGEST_TASK = "conveyor.alerts.digest"  # registered by the alerts channels, when there are any
FOREVER = 100 * 365 * 24 * 3600.0  # "no job is old enough": prune only the idempotency keys


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str
    tz: str = "UTC"
    task: str | None = None
    payload: Any = None
    catch_up: CatchUp = "once"
    options: dict[str, Any] = field(default_factory=dict)  # queue, priority, ...
    action: Callable[[Any], object] | None = field(default=None, compare=False)  # built-ins
    builtin: bool = False

    def fire_key(self, fire_at: datetime) -> str:
        return f"cron:{self.name}:{fire_at.astimezone(UTC).isoformat().replace('+00:00', 'Z')}"


def _prune_succeeded(store: Any) -> object:
    return store.prune(MONTH)


def _prune_idempotency(store: Any) -> object:
    return store.prune(FOREVER, IDEMPOTENCY_RETENTION)


def builtin_schedules() -> list[Schedule]:
    """On by default: `app.schedules.disable(name)` turns one off, `app.schedule(name, cron)`
    moves it."""
    return [
        Schedule("conveyor.prune", "0 3 1 * *", action=_prune_succeeded, builtin=True),
        Schedule("conveyor.idempotency", "30 3 * * *", action=_prune_idempotency, builtin=True),
        Schedule("conveyor.digest", "0 10 * * MON", "Europe/Amsterdam", DIGEST_TASK, builtin=True),
    ]


class ScheduleRegistry:
    def __init__(self, has_task: Callable[[str], bool]) -> None:
        self._has_task = has_task
        self._schedules: dict[str, Schedule] = {s.name: s for s in builtin_schedules()}

    def add(
        self,
        name: str,
        cron: str,
        task: str | None = None,
        *,
        payload: Any = None,
        tz: str = "UTC",
        catch_up: str = "once",
        **options: Any,
    ) -> Schedule:
        if not name or not isinstance(name, str):
            raise ConfigurationError("a schedule needs a name")
        check(cron)
        zone(tz)
        if catch_up not in get_args(CatchUp):
            raise ConfigurationError(
                f"schedule {name!r}: catch_up must be once, all or none, not {catch_up!r}"
            )
        known = self._schedules.get(name)
        if known is not None and not known.builtin:
            raise ConfigurationError(f"schedule {name!r} is declared twice")
        if task is None and (known is None or not known.builtin):
            raise ConfigurationError(f"schedule {name!r} needs a task")
        if task is not None and not self._has_task(task):
            raise ConfigurationError(f"schedule {name!r}: unknown task {task!r}")
        if known is not None and task is None:  # a built-in's new time
            schedule = Schedule(
                name,
                cron,
                tz,
                known.task,
                known.payload,
                cast(CatchUp, catch_up),
                known.options,
                known.action,
                builtin=True,
            )
        else:
            schedule = Schedule(name, cron, tz, task, payload, cast(CatchUp, catch_up), options)
        self._schedules[name] = schedule
        return schedule

    def declare(self, name: str, **options: Any) -> Schedule | None:
        """From a config file: `add`, or `enabled = false` to turn a schedule off."""
        if options.pop("enabled", True) is False:
            self.disable(name)
            return None
        cron = options.pop("cron")
        return self.add(name, cron, options.pop("task", None), **options)

    def __contains__(self, name: object) -> bool:
        """Declared by the application (a built-in may be declared again, to move it)."""
        known = self._schedules.get(name) if isinstance(name, str) else None
        return known is not None and not known.builtin

    def remove(self, name: str) -> None:
        self._schedules.pop(name, None)

    def disable(self, name: str) -> None:
        if self._schedules.pop(name, None) is None:
            raise ConfigurationError(f"no schedule named {name!r}")

    def get(self, name: str) -> Schedule:
        try:
            return self._schedules[name]
        except KeyError:
            known = ", ".join(sorted(self._schedules)) or "none"
            raise UnknownSchedule(f"no schedule named {name!r} (known: {known})") from None

    def __iter__(self) -> Iterator[Schedule]:
        return iter(sorted(self._schedules.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._schedules)

    def inactive_reason(self, schedule: Schedule) -> str | None:
        """Why a schedule does not fire: a built-in whose task nobody registered."""
        if schedule.action is None and schedule.task and not self._has_task(schedule.task):
            return f"inactive: no task {schedule.task!r}"
        return None
