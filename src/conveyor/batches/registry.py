"""`app.batches`: make a batch (all its jobs in one transaction) and look at batches; the
operator side (`ops.batches`) serves the CLI and the HTTP API."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import options as check
from ..errors import BatchNotFound, ConfigurationError, PayloadError
from ..store.batches import BATCH_STATES, NewBatch
from .core import BatchView, JobSpec, members, view

if TYPE_CHECKING:
    from ..store import Store
    from ..tasks import TaskRegistry


@dataclass(frozen=True)
class Batch:
    """A batch just made: its id, its members' ids in the order given, and a way to look."""

    id: int
    job_ids: list[int]
    _look: Callable[[int], BatchView] = field(repr=False, compare=False)

    def status(self) -> BatchView:
        return self._look(self.id)


class BatchOperations:
    """Batches with their progress, for operators."""

    def __init__(self, store: Callable[[], Store]) -> None:
        self._store = store

    def get(self, batch_id: int) -> BatchView:
        record = self._store().get_batch(batch_id) if check.job_ids([batch_id]) else None
        if record is None:
            raise BatchNotFound(f"no batch with id {check.show(batch_id)}")
        return view(record)

    def list(
        self, limit: int = 50, before: int | None = None, state: str | None = None
    ) -> list[BatchView]:
        """Newest first; `before`: the last id of the previous page (keyset pagination)."""
        check.integer(limit, "limit", 1)
        if before is not None:
            check.integer(before, "before", 1)
        if state is not None and state not in BATCH_STATES:
            raise ConfigurationError(
                f"unknown batch state {state!r} (one of: {', '.join(BATCH_STATES)})"
            )
        records = self._store().list_batches(limit=min(limit, 1000), before_id=before, state=state)
        return [view(record) for record in records]


class BatchRegistry:
    """Makes batches of the app's tasks; `get` and `list` are the operators' views."""

    def __init__(self, store: Callable[[], Store], tasks: TaskRegistry) -> None:
        self._store = store
        self._tasks = tasks
        self.ops = BatchOperations(store)

    def create(
        self,
        jobs: Sequence[JobSpec],
        *,
        on_complete: Any = None,
        on_failure: Any = None,
        payload: Any = None,
        name: str | None = None,
        db: Any = None,
    ) -> Batch:
        """Store every job of the batch in one transaction (all or none); with `db=` (the
        application's own open database connection) in the caller's transaction: the batch
        exists if and only if it commits. See `conveyor.batches` for what a job may be and
        when the callbacks run."""
        built = members(jobs, self._tasks.build_job)
        if name is not None and not isinstance(name, str):
            raise ConfigurationError(f"a batch's name is text, not {check.show(name)}")
        callbacks = {"on_complete": on_complete, "on_failure": on_failure}
        names = {which: self._callback(which, task) for which, task in callbacks.items()}
        resolved = [self._tasks.get_task(n) for n in names.values() if n is not None]
        options: dict[str, dict[str, Any]] = {
            t.name: {"queue": t.queue, "max_attempts": t.max_attempts, "priority": t.priority}
            for t in resolved
        }
        try:
            body = None if payload is None else json.dumps(payload, separators=(",", ":"))
        except (TypeError, ValueError) as error:
            raise PayloadError(f"a batch's payload is not JSON-serialisable: {error}") from None
        batch = NewBatch(name, names["on_complete"], names["on_failure"], body, options)
        batch_id, ids = self._store().create_batch(batch, built, connection=db)
        self._tasks.wake()
        return Batch(batch_id, ids, self.ops.get)

    def _callback(self, which: str, task: Any) -> str | None:
        if task is None:
            return None
        name = task if isinstance(task, str) else getattr(task, "name", None)
        if not isinstance(name, str):
            raise ConfigurationError(f"{which} is a task or its name, not {check.show(task)}")
        return self._tasks.get_task(name).name  # TaskNotFound for a name nobody registered

    def get(self, batch_id: int) -> BatchView:
        return self.ops.get(batch_id)

    def list(
        self, limit: int = 50, before: int | None = None, state: str | None = None
    ) -> list[BatchView]:
        return self.ops.list(limit, before, state)
