"""The built-in delivery task: send one JSON payload to a connection, reliably.

The `Idempotency-Key` header is the job's idempotency key, or one made at enqueue
(`conveyor-<random hex>`) and stored in the payload: the same on every attempt of the job, and never
sent by another job, since ids alone are reused across databases (and were on SQLite after a prune).
Each attempt's status, latency and response excerpt are kept on the job (the result for a success,
the error record for a failure).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, field_validator

from ..errors import ConfigurationError
from ..task import current_job
from .connection import check_relative

if TYPE_CHECKING:
    from ..app import Conveyor

DELIVER_TASK = "conveyor.deliver"
METHODS = ("POST", "PUT", "PATCH", "DELETE")


class Delivery(BaseModel):
    connection: str
    path: str
    method: str = "POST"
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    idempotency_key: str | None = None

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        try:
            check_relative(value)
        except ConfigurationError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value.upper() not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")
        return value.upper()


def register(app: Conveyor) -> None:
    @app.task(name=DELIVER_TASK, max_attempts=10)
    async def deliver(payload: Delivery) -> dict[str, Any]:
        key = await attempt_key(app, payload.idempotency_key)
        response = await app.remote().deliver(
            payload.connection,
            payload.method,
            payload.path,
            payload.body,
            headers=payload.headers,
            idempotency_key=key,
        )
        return response.details()


def new_idempotency_key() -> str:
    """Made once at enqueue and stored in the payload, so every attempt sends the same key."""
    return f"conveyor-{uuid.uuid4().hex}"


async def attempt_key(app: Conveyor, stored: str | None) -> str:
    """The `Idempotency-Key` of this attempt: the payload's, else one unique for all time."""
    if stored:
        return stored
    job = current_job()
    if job is None or not job.id:  # run_now: nothing stored, nothing repeated
        return f"conveyor-now-{uuid.uuid4().hex}"
    # Stored without a key (enqueued by an older version, or written by another program): the id
    # with the creation time, stable across attempts and not shared by a job that reuses the id.
    created = (await asyncio.to_thread(app.store.get, job.id)).created_at
    stamp = created.strftime("%Y%m%dT%H%M%S%f") if created else "0"
    return f"conveyor-job-{job.id}-{stamp}"
