"""A job about to be stored, built from its task and the enqueue options: pure, no I/O.

Every way in (`enqueue`, `enqueue_many`, `deliver`, `rpc`, `run_now`) builds its jobs here, so
a bad option is refused the same way, with one line naming it, before anything is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import options as check
from .errors import ConfigurationError
from .job import NewJob
from .options import MAX_KEY_LENGTH as MAX_KEY
from .options import MAX_QUEUE_LENGTH as MAX_Q
from .options import Delay
from .task import Task


def new_job(
    spec: Task,
    payload: Any = None,
    *,
    key: str | None = None,
    idempotency_key: str | None = None,
    queue: str | None = None,
    delay: Delay | None = None,
    run_at: datetime | None = None,
    priority: int | None = None,
) -> NewJob:
    """Validate and serialise a job of `spec`. Raises PayloadError, ConfigurationError (an
    option of the wrong type or out of range, named)."""
    text, value = spec.serialize(payload)
    if delay is not None and run_at is not None:
        raise ConfigurationError("give delay or run_at, not both")
    if key is None:
        key = spec.key_for(value)
        if key is not None:
            check.text(key, f"the key from task {spec.name!r}'s key function", MAX_KEY)
    else:
        check.text(key, "key", MAX_KEY)
    if idempotency_key is not None:
        check.text(idempotency_key, "idempotency_key", MAX_KEY)
    return NewJob(
        task=spec.name,
        queue=spec.queue if queue is None else check.text(queue, "queue", MAX_Q, empty=False),
        payload=text,
        max_attempts=spec.max_attempts,
        key=key,
        leads_key=spec.leads_key,
        idempotency_key=idempotency_key,
        priority=spec.priority if priority is None else check.integer(priority, "priority"),
        delay=0.0 if delay is None else check.seconds(delay, "delay"),
        run_at=None if run_at is None else check.moment(run_at),
        connection=spec.connection_for(value),
    )
