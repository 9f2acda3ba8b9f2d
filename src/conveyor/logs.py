"""Structured (JSON) log lines with a stable `event` name, and the running job's context.

Every line logged while a job's attempt runs (by Conveyor or by the task's own
`structlog.get_logger()`) carries `job_id`, `task`, `key` and `attempt`: `job_context` reads
them from `current_job()` as the line is written, so nothing is bound per attempt and a line
filtered out by the level costs nothing. An HTTP request's line (`http.request`) adds the
connection, status, latency and idempotency key (`conveyor.middleware.Logging`).
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import EventDict, WrappedLogger

from .task import current_job


def configure_logging(level: str = "info", json_lines: bool = True) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            job_context,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is now: a logger configured while stderr was swapped
    (a test runner, a CLI harness) must not keep writing to a stream closed since."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def job_context(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """The running job's id, task, key and attempt on the line (what it already says wins)."""
    job = current_job()
    if job is not None:
        event.setdefault("job_id", job.id)
        event.setdefault("task", job.task)
        event.setdefault("key", job.key)
        event.setdefault("attempt", job.attempt)
    return event
