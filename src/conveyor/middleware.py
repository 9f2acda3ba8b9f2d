"""Hooks around each attempt (`Middleware`), and the structured log of every event (`Logging`).

The attempt runner calls `before_attempt` as an attempt starts and `after_attempt` with its
outcome, in a worker and in `run_now` alike. Hooks run on the event loop: keep them quick and
never block. Everything else that happens (outcomes, breakers, the worker's life) is a typed event
on `app.events` (`conveyor.events`).
"""

from __future__ import annotations

import dataclasses
import time
from logging import DEBUG
from typing import Any

import structlog

from .events import (
    AccountNeedsReauth,
    BreakerEvent,
    ConnectionEvent,
    Event,
    HttpRequestFinished,
    JobDead,
    JobEvent,
    JobPostponed,
    JobRetried,
    JobSucceeded,
    LeftPostponed,
    RateLimitWaited,
    StoreOutageEnded,
    StoreOutageStarted,
    WebhookReceived,
    WebhookRefused,
)
from .job import ClaimedJob, Outcome


class Middleware:
    def before_attempt(self, job: ClaimedJob) -> None:
        """Called as an attempt starts."""

    def after_attempt(self, job: ClaimedJob, outcome: Outcome, seconds: float) -> None:
        """Called with the outcome of an attempt, before it is written."""


# Once per outage each: the store became unreachable (`error`), and it answers again; a
# breaker's changes; a connection's hold; an owner that must authorise again; a refused webhook;
# a burst worker that exits leaving postponed jobs behind.
_WARNINGS = (
    StoreOutageStarted,
    StoreOutageEnded,
    LeftPostponed,
    BreakerEvent,
    ConnectionEvent,
    AccountNeedsReauth,
    WebhookRefused,
)


class Logging:
    """The structured log lines of every event: job outcomes (successes at debug level), the
    worker's life (info; store outages, breaker changes and connection holds at warning),
    webhooks received (debug) and refused (warning), HTTP requests (answered below 400 at
    debug, the others at info) and rate-limit waits (debug).

    An event subscriber, not middleware: every app subscribes one to `app.events` as it is
    created, so every worker and breaker of the app logs through it. Change what is logged with
    the log level.
    """

    def __init__(self) -> None:
        self.log = structlog.get_logger("conveyor")

    def __call__(self, event: Event) -> None:
        if isinstance(event, JobEvent):
            self._job(event)
        elif isinstance(event, HttpRequestFinished):
            self._request(event)
        elif isinstance(event, WebhookReceived):  # one per request: debug, like successes
            if self.log.is_enabled_for(DEBUG):
                self.log.debug(event.name, **_fields(event))
        elif isinstance(event, RateLimitWaited):  # one per refused token
            if self._debug():
                self.log.debug(event.name, **_fields(event))
        elif isinstance(event, _WARNINGS):
            self.log.warning(event.name, **_fields(event))
        else:
            self.log.info(event.name, **_fields(event))

    def _job(self, event: JobEvent) -> None:
        if isinstance(event, JobSucceeded | JobPostponed) and not self.log.is_enabled_for(DEBUG):
            return  # the common case, at info level: build no fields for a line not written
        fields = {
            "job_id": event.job_id,
            "task": event.task,
            "key": event.key,
            "attempt": event.attempt,
            "queue": event.queue,
            "duration_ms": round(event.duration * 1000, 2),
        }
        if isinstance(event, JobSucceeded):
            self.log.debug(event.name, **fields)
        elif isinstance(event, JobRetried):
            self.log.warning(
                event.name, error=event.error, retry_in=round(event.delay, 3), **fields
            )
        elif isinstance(event, JobDead):
            self.log.error(event.name, error=event.error, **fields)
        elif isinstance(event, JobPostponed):
            self.log.debug(event.name, retry_in=round(event.delay, 3), **fields)
        else:  # cancelled, handed back
            self.log.info(event.name, **fields)

    def _request(self, event: HttpRequestFinished) -> None:
        """A request answered below 400 at debug (like a success), the others at info. The
        job's context (id, task, key, attempt) is added by `conveyor.logs`."""
        ok = event.status is not None and event.status < 400
        if ok and not self._debug():
            return
        (self.log.debug if ok else self.log.info)(
            event.name,
            connection=event.connection,
            method=event.method,
            url=event.url,
            status=event.status,
            latency_ms=round(event.seconds * 1000, 2),
            idempotency_key=event.idempotency_key,
        )

    def _debug(self) -> bool:
        """Debug lines of calls only when logging was configured for them: a script calling a
        connection (`run_now`, `sync_now`, `app.remote()`) without configuring structlog, whose
        default writes every level to stdout, does not get a line per request."""
        return structlog.is_configured() and self.log.is_enabled_for(DEBUG)


def _fields(event: Event) -> dict[str, Any]:
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    if isinstance(event, BreakerEvent):
        del fields["previous"]  # the line says what it became, as it always did
    return fields


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
