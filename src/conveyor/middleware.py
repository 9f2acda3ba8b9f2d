"""Behaviour around each job attempt, as small classes with named hooks.

The worker calls `before_attempt` when an attempt starts and `after_attempt` with its outcome.
Hooks run on the event loop: keep them quick and never block.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from .job import ClaimedJob, Outcome


class Middleware:
    def before_attempt(self, job: ClaimedJob) -> None:
        """Called as an attempt starts."""

    def after_attempt(self, job: ClaimedJob, outcome: Outcome, seconds: float) -> None:
        """Called with the outcome of an attempt, before it is written."""

    def worker_event(self, event: str, **fields: Any) -> None:
        """Worker lifecycle: started, stopping, stopped, lease_lost, recovered, cancelling,
        store_unavailable and store_available (once each per outage)."""


# Once per outage each: the store became unreachable (`error`), and it answers again
# (`outage_seconds`).
_WARNINGS = frozenset({"store_unavailable", "store_available"})


class Logging(Middleware):
    """Structured log lines with the job's context; successes at debug level."""

    def __init__(self) -> None:
        self.log = structlog.get_logger("conveyor")

    def after_attempt(self, job: ClaimedJob, outcome: Outcome, seconds: float) -> None:
        fields = {
            "job_id": job.id,
            "task": job.task,
            "key": job.key,
            "attempt": job.attempt,
            "queue": job.queue,
            "duration_ms": round(seconds * 1000, 2),
        }
        if outcome.kind == "succeeded":
            self.log.debug("job.succeeded", **fields)
        elif outcome.kind == "retry":
            error = outcome.error or {}
            self.log.warning(
                "job.retrying",
                error=error.get("message"),
                retry_in=round(outcome.delay, 3),
                **fields,
            )
        elif outcome.kind == "dead":
            self.log.error("job.dead", error=(outcome.error or {}).get("message"), **fields)
        elif outcome.kind == "postpone":
            self.log.debug("job.postponed", retry_in=round(outcome.delay, 3), **fields)
        elif outcome.kind == "cancelled":
            self.log.info("job.cancelled", **fields)
        else:
            self.log.info("job.handed_back", **fields)

    def worker_event(self, event: str, **fields: Any) -> None:
        if event in _WARNINGS:
            self.log.warning(f"worker.{event}", **fields)
        else:
            self.log.info(f"worker.{event}", **fields)


class Counters(Middleware):
    """In-process counts of outcomes, for the CLI's progress display and for tests."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {
            "succeeded": 0,
            "retry": 0,
            "dead": 0,
            "handback": 0,
            "postpone": 0,
            "cancelled": 0,
        }
        self.started = time.monotonic()

    def after_attempt(self, job: ClaimedJob, outcome: Outcome, seconds: float) -> None:
        self.counts[outcome.kind] += 1
