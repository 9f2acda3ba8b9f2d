"""The counters and histograms, recorded in the process where things happen, from typed events.

`Recorder` subscribes to `app.events`: job outcomes (`JobEvent`), HTTP requests
(`HttpRequestFinished`), rate-limit refusals (`RateLimitWaited`) and sync runs
(`SyncRunFinished`). Each handler is a dict lookup of the cached label children and one or two
`inc`/`observe` calls on plain prometheus-client objects: no lock or store round trip of ours
on the hot path (prometheus-client's own per-value lock is all; measured in docs/metrics.md).

The metric objects are made on first use, not with the app: in multiprocess mode
prometheus-client must know the directory before a value is made, and `--metrics-dir` is read
after the application module made its app.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.metrics import MetricWrapperBase

from ..events import (
    Event,
    HttpRequestFinished,
    JobCancelled,
    JobDead,
    JobEvent,
    JobHandedBack,
    JobPostponed,
    JobRetried,
    JobSucceeded,
    RateLimitWaited,
    SyncRunFinished,
)

# The `outcome` label of each job event; only real tries are timed (a postponement or a hand
# back spends no attempt and would crowd the histogram's low buckets).
OUTCOMES: dict[type[JobEvent], tuple[str, bool]] = {
    JobSucceeded: ("succeeded", True),
    JobRetried: ("retried", True),
    JobDead: ("dead", True),
    JobCancelled: ("cancelled", True),
    JobPostponed: ("postponed", False),
    JobHandedBack: ("handed_back", False),
}
JOB_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
EVENTS = (JobEvent, HttpRequestFinished, RateLimitWaited, SyncRunFinished)


def use_multiprocess(directory: str) -> None:
    """Make every prometheus-client value made from now on in this process live in
    `directory` (its mmap files), as `PROMETHEUS_MULTIPROC_DIR` set before start would."""
    os.makedirs(directory, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory  # read as each value file is opened
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class Recorder:
    """The app's counters and histograms (`app.metrics.recorder`), fed by its events."""

    def __init__(self, directory: Callable[[], str | None]) -> None:
        self._directory = directory
        self.registry: CollectorRegistry | None = None
        self._children: dict[Any, Any] = {}
        self._dispatch: dict[type[Event], Callable[[Any], None]] = {}
        self._dispatch[HttpRequestFinished] = self._request
        self._dispatch[RateLimitWaited] = self._waited
        self._dispatch[SyncRunFinished] = self._sync

    def __call__(self, event: Event) -> None:
        kind = type(event)
        if kind in OUTCOMES:  # the hot path: one dict lookup, one inc, one observe
            job: Any = event
            key = (kind, job.queue, job.task)
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = self._job_children(kind, job.queue, job.task)
            children[0]()
            if children[1] is not None:
                children[1](job.duration)
            return
        handler = self._dispatch.get(kind)
        if handler is not None:
            handler(event)

    def build(self) -> CollectorRegistry:
        """The metric objects (once): in the directory's files when there is one."""
        if self.registry is not None:
            return self.registry
        directory = self._directory()
        if directory:
            use_multiprocess(directory)
        registry = CollectorRegistry(auto_describe=False)
        self.jobs = Counter(
            "conveyor_jobs",
            "Attempts of jobs ended in a worker, by outcome (postponed and handed_back spent"
            " no attempt).",
            ["queue", "task", "outcome"],
            registry=registry,
        )
        self.job_seconds = Histogram(
            "conveyor_job_duration_seconds",
            "Seconds an attempt ran (succeeded, retried, dead or cancelled).",
            ["queue", "task"],
            registry=registry,
            buckets=JOB_BUCKETS,
        )
        self.requests = Counter(
            "conveyor_http_requests",
            "HTTP requests sent to a connection, by status (error: no answer).",
            ["connection", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "conveyor_http_request_duration_seconds",
            "Seconds from sending a request to a connection to its whole answer.",
            ["connection"],
            registry=registry,
            buckets=HTTP_BUCKETS,
        )
        self.waits = Histogram(
            "conveyor_rate_limit_wait_seconds",
            "Seconds a call was made to wait by its connection's rate limit, per refusal (the"
            " job postponed, or a sync page waiting in place).",
            ["connection"],
            registry=registry,
            buckets=WAIT_BUCKETS,
        )
        self.records = Counter(
            "conveyor_sync_records",
            "Records a sync run wrote, by change (created, updated, unchanged, deleted).",
            ["source", "change"],
            registry=registry,
        )
        self.runs = Counter(
            "conveyor_sync_runs",
            "Sync runs ended, by state (succeeded, failed).",
            ["source", "state"],
            registry=registry,
        )
        self.registry = registry
        return registry

    def _child(self, key: Any, metric: MetricWrapperBase, *labels: str) -> Any:
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _job_children(self, kind: type[Event], queue: str, task: str) -> tuple[Any, Any]:
        """The bound `inc` of the counter's child and `observe` of the histogram's (None for
        an attempt not timed)."""
        if self.registry is None:
            self.build()
        outcome, timed = OUTCOMES[kind]  # type: ignore[index]
        observe = self.job_seconds.labels(queue, task).observe if timed else None
        return self.jobs.labels(queue, task, outcome).inc, observe

    def _request(self, event: HttpRequestFinished) -> None:
        if self.registry is None:
            self.build()
        status = "error" if event.status is None else str(event.status)
        self._child(("r", event.connection, status), self.requests, event.connection, status).inc()
        key = ("rs", event.connection)
        self._child(key, self.request_seconds, event.connection).observe(event.seconds)

    def _waited(self, event: RateLimitWaited) -> None:
        if self.registry is None:
            self.build()
        self._child(("w", event.connection), self.waits, event.connection).observe(event.seconds)

    def _sync(self, event: SyncRunFinished) -> None:
        if self.registry is None:
            self.build()
        for change, count in event.changes.items():
            if count > 0:
                self._child(("c", event.source, change), self.records, event.source, change).inc(
                    count
                )
        self._child(("u", event.source, event.state), self.runs, event.source, event.state).inc()
