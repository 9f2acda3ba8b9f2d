"""The built-in delivery task: send one JSON payload to a connection, reliably.

The `Idempotency-Key` header is the job's idempotency key, or `conveyor-job-<id>`: the same on every
attempt of the job. Each attempt's status, latency and response excerpt are kept on the job (the
result for a success, the error record for a failure).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticSerializationError, to_jsonable_python

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


def register(app: Conveyor) -> None:
    @app.task(name=DELIVER_TASK, max_attempts=10)
    async def deliver(payload: Delivery) -> dict[str, Any]:
        job = current_job()
        key = payload.idempotency_key or (
            f"conveyor-job-{job.id}" if job and job.id else f"conveyor-now-{uuid.uuid4().hex}"
        )
        response = await app.remote().deliver(
            payload.connection,
            payload.method,
            payload.path,
            payload.body,
            headers=payload.headers,
            idempotency_key=key,
        )
        return response.details()

    deliver.check = lambda delivery: app.get_connection(delivery.connection)
