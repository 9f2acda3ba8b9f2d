"""Deliveries: one JSON payload sent to a connection, reliably (the built-in `conveyor.deliver`
task, declared in `builtins`).

The `Idempotency-Key` header is the job's idempotency key, or one made at enqueue
(`conveyor-<random hex>`, see `made_once`) and stored in the payload: the same on every attempt of
the job, and never sent by another job (ids alone repeat across databases, and did on SQLite after
a prune). Each attempt's status, latency and response excerpt are kept on the job (the result for
a success, the error record for a failure).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import datetime
from typing import Any, Protocol, TypedDict

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from pydantic_core import PydanticSerializationError, to_jsonable_python

from ..errors import ConfigurationError
from ..options import Delay
from ..task import ENQUEUING, current_job
from ..types import ConnectionLookup, Enqueuer
from .client import current_resources
from .connection import check_relative

DELIVER_TASK = "conveyor.deliver"
METHODS = ("POST", "PUT", "PATCH", "DELETE")


class Delivery(BaseModel):
    connection: str
    path: str
    method: str = "POST"
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, validate_default=True)

    @field_validator("idempotency_key")
    @classmethod
    def _made_once(cls, value: str | None, info: ValidationInfo) -> str | None:
        return made_once(value, info)

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        try:
            check_relative(value)
        except ConfigurationError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("body")
    @classmethod
    def _json(cls, value: Any) -> Any:
        """Sent as JSON: refuse at enqueue what could never be sent (an object, NaN), rather
        than store it and fail every attempt."""
        try:
            json.dumps(to_jsonable_python(value), allow_nan=False)
        except (PydanticSerializationError, TypeError, ValueError) as error:
            raise ValueError(f"not JSON-serialisable: {error}") from None
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value.upper() not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")
        return value.upper()


class DeliveryOptions(TypedDict, total=False):
    """The options of `app.deliver(...)` besides the connection, path and payload."""

    method: str
    key: str | None
    idempotency_key: str | None
    headers: dict[str, str] | None
    queue: str | None
    delay: Delay | None
    run_at: datetime | None
    priority: int | None
    db: Any


class DeliveryHost(ConnectionLookup, Enqueuer, Protocol):
    """What enqueueing a delivery uses: the declared connections, and a way to store a job."""


def enqueue_delivery(
    host: DeliveryHost,
    connection: str,
    path: str,
    payload: Any = None,
    *,
    method: str = "POST",
    key: str | None = None,
    idempotency_key: str | None = None,
    headers: dict[str, str] | None = None,
    queue: str | None = None,
    delay: Delay | None = None,
    run_at: datetime | None = None,
    priority: int | None = None,
    db: Any = None,
) -> int:
    """Enqueue a delivery of `payload` (JSON) to a connection; returns the job id."""
    host.get_connection(connection)
    delivery = {
        "connection": connection,
        "path": path,
        "method": method,
        "body": payload,
        "headers": headers or {},
        "idempotency_key": idempotency_key,  # None: one is made as it is enqueued
    }
    return host.enqueue(
        DELIVER_TASK,
        delivery,
        key=key,
        idempotency_key=idempotency_key,
        queue=queue,
        delay=delay,
        run_at=run_at,
        priority=priority,
        db=db,
    )


def made_once(key: str | None, info: ValidationInfo) -> str | None:
    """A payload's idempotency key: when it has none, one is made as it is enqueued (by any path:
    `deliver`, `enqueue_many`, a retry with an edited payload) and stored with it, so every attempt
    sends the same key. A payload loaded to run is left as stored."""
    if key is None and info.context is ENQUEUING:
        return f"conveyor-{uuid.uuid4().hex}"
    return key


async def attempt_key(payload: Delivery | Any) -> str:
    """The `Idempotency-Key` of this attempt: the payload's, else one unique for all time."""
    if payload.idempotency_key:
        return str(payload.idempotency_key)
    job = current_job()
    if job is None or not job.id:  # run_now: nothing stored, nothing repeated
        return f"conveyor-now-{uuid.uuid4().hex}"
    # Stored without a key (enqueued by an older version, or written by another program): the id,
    # the creation time and the content, stable across attempts and not shared by another job
    # with the same id (reused on SQLite before migration 0003, or from another database).
    created = (await asyncio.to_thread(current_resources().job, job.id)).created_at
    stamp = created.strftime("%Y%m%dT%H%M%S%f") if created else "0"
    digest = hashlib.sha256(payload.model_dump_json().encode()).hexdigest()[:16]
    return f"conveyor-job-{job.id}-{stamp}-{digest}"
