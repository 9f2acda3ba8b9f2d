"""What each subject of the delivery benchmark provides (see bench/deliveries.py for the method)."""

from __future__ import annotations

import abc
import json
import os
import signal
from typing import Any

from bench.delivery_peers.sink import EVENT, EVENTS_PATH, SINK_URL_ENV

#: Every subject sends the same request: the event as compact JSON, these headers plus an
#: Idempotency-Key naming the job (what Conveyor's delivery task sends), and reads the answer.
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0


def sink_events_url() -> str:
    """POST /events on the sink, from BENCH_SINK_URL (set by the benchmark for the workers)."""
    base = os.environ.get(SINK_URL_ENV, "http://127.0.0.1:8080/")
    return base.rstrip("/") + EVENTS_PATH


def encode(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def event() -> dict[str, Any]:
    """A fresh copy of the event (the payload of every job)."""
    copy: dict[str, Any] = json.loads(json.dumps(EVENT))
    return copy


class DeliveryHarness(abc.ABC):
    """One subject: storage set-up and reset, the fill, the remaining count, the workers."""

    name: str
    backend: str
    stop_signal: signal.Signals = signal.SIGTERM
    #: Jobs per measurement = ``jobs * jobs_scale`` (slow subjects drain fewer jobs).
    jobs_scale: float = 1.0

    @property
    @abc.abstractmethod
    def settings(self) -> str:
        """How the subject is configured (for the report)."""

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Create the storage (database, schema) once, before the first measurement."""

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Drop the storage and close connections; must not raise when setup failed."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Empty the queue storage (before each measurement)."""

    def analyze(self) -> None:  # noqa: B027 - optional hook
        """Refresh planner statistics after the fill (PostgreSQL: ANALYZE)."""

    @abc.abstractmethod
    def fill(self, n: int) -> None:
        """Enqueue ``n`` deliveries of the event with no worker running."""

    @abc.abstractmethod
    def remaining(self) -> int:
        """Deliveries queued or running, read from the queue's own storage."""

    @abc.abstractmethod
    def worker_commands(self, processes: int) -> list[list[str]]:
        """Command lines that start ``processes`` worker processes."""

    def worker_env(self) -> dict[str, str]:
        """Extra environment variables for the workers."""
        return {}

    def failures(self) -> int:
        """Jobs the queue's storage records as failed or retried (0 when it cannot tell)."""
        return 0

    @property
    def label(self) -> str:
        """A short name of this configuration (when it has variants)."""
        return self.name

    def variants(self) -> list[tuple[str, DeliveryHarness]]:
        """Other configurations of the same queue measured in the same run: (label, harness).

        The subject's figure for each process count is the best of its main configuration and
        these (a peer is not held to one configuration by a noisy spell); the notes give each.
        """
        return []
