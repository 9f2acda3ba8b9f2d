"""`app.metrics`: where the counters live (this process, or a multiprocess directory), the
optional scrape token, and the Prometheus text of `/metrics`."""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from .. import settings
from ..errors import ConfigurationError
from ..events import EventBus
from .collector import StoreCollector
from .recorder import EVENTS, Recorder

if TYPE_CHECKING:
    from ..ops import Operations

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """`directory`: the prometheus-client multiprocess directory every worker and server process
    of the deployment writes its counters to (`--metrics-dir`, CONVEYOR_METRICS_DIR or
    PROMETHEUS_MULTIPROC_DIR); None: this process's counters only. `token`: the bearer token
    `/metrics` asks for (CONVEYOR_METRICS_TOKEN); None: open, like the health checks."""

    def __init__(self, ops: Operations, events: EventBus) -> None:
        self._ops = ops
        self.directory: str | None = settings.metrics_dir(None)
        self.token: str | None = settings.metrics_token(None)
        self.recorder = Recorder(lambda: self.directory)
        events.subscribe(self.recorder, *EVENTS)

    def use_directory(self, directory: str) -> None:
        """Record into (and scrape) this multiprocess directory, made if missing; before the
        first event."""
        if self.recorder.registry is not None and directory != self.directory:
            raise ConfigurationError(
                "the metrics are already recorded in this process; set the directory first"
            )
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise ConfigurationError(f"metrics directory {directory!r}: {reason}") from None
        self.directory = directory

    def allows(self, authorization: str | None) -> bool:
        """Whether a scrape with this Authorization header may read the metrics."""
        if not self.token:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        )

    def render(self) -> bytes:
        """The Prometheus text: the store's gauges, and the counters of every process writing
        to the directory (or of this process without one)."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(StoreCollector(self._ops))
        if self.directory:
            os.makedirs(self.directory, exist_ok=True)  # no process has written yet
            MultiProcessCollector(registry, path=self.directory)  # type: ignore[no-untyped-call]
        else:
            registry.register(_Own(self.recorder.build()))
        return generate_latest(registry)


class _Own(Collector):
    """This process's counters and histograms, in the scrape's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()
