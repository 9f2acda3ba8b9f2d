"""What a running task adds to its job: children (fan-out) and progress.

`current_job().enqueue(...)` builds a child job at once (validated like any enqueue) but stores
nothing: the children travel with the attempt's outcome and are written in the transaction that
records the parent's success, so a parent that fails, retries or is cancelled leaves none behind.
`current_job().progress(done, total)` keeps the last report in memory; the worker writes the
reports of all its running jobs in one statement once a second, and the last one with the outcome.

Nothing here exists for a job whose task reports nothing: the runner's `live` map stays empty,
and the worker's completion write is the plain one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..job import NewJob, OutcomeExtra, OutcomeKind

if TYPE_CHECKING:
    from ..types import JobBuilder


@dataclass(slots=True)
class Fanout:
    """One attempt's children and progress (written by the task's thread, read by the loop:
    plain attribute writes, atomic under the GIL)."""

    children: list[NewJob] = field(default_factory=list)
    progress: tuple[int, int | None] | None = None
    written: tuple[int, int | None] | None = None  # what the store has

    def unwritten(self) -> tuple[int, int | None] | None:
        return self.progress if self.progress != self.written else None


class AttemptExtras:
    """The fan-outs of the attempts of one runner, by job id, made on first use."""

    def __init__(self, builder: JobBuilder | None) -> None:
        self.builder = builder
        self.live: dict[int, Fanout] = {}

    def of(self, job_id: int) -> Fanout:
        found = self.live.get(job_id)
        if found is None:
            found = self.live[job_id] = Fanout()
        return found

    def take(self, job_id: int) -> Fanout | None:
        """The attempt's fan-out, once it ended (None if its task added nothing)."""
        return self.live.pop(job_id, None) if self.live else None

    def child(self, job_id: int, task: Any, payload: Any, options: dict[str, Any]) -> None:
        if self.builder is None:
            raise ConfigurationError(
                "current_job().enqueue() needs a worker's attempt (or run_now) to store children"
            )
        name = task if isinstance(task, str) else getattr(task, "name", task)
        self.of(job_id).children.append(self.builder.build_job(name, payload, **options))

    def report(self, job_id: int, done: int, total: int | None) -> None:
        for value, what in ((done, "done"), (total, "total")):
            if value is None and what == "total":
                continue
            if type(value) is not int or value < 0:
                raise ConfigurationError(f"progress {what} must be an integer >= 0, not {value!r}")
        self.of(job_id).progress = (done, total)


def outcome_extra(kind: OutcomeKind, batch_id: int | None, fanout: Fanout | None) -> OutcomeExtra:
    """What the outcome of an attempt carries to the store: the job's batch, the children of a
    success (of nothing else), and the progress not written yet."""
    if fanout is None:
        return OutcomeExtra(batch_id)
    children = fanout.children if kind == "succeeded" else []
    return OutcomeExtra(batch_id, children, fanout.unwritten())
