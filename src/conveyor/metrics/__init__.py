"""Prometheus metrics read from the store at scrape time.

Why from the store: the gauges (`conveyor_queue_depth`, `conveyor_dead_jobs`,
`conveyor_breaker_open`) describe shared state that every worker process changes, so reading the
store at scrape time is correct across any number of processes and machines by construction, with
no multiprocess files to keep and no process that must be scraped to be counted. The per-process
counters of the issue (jobs run, HTTP requests, durations) are not built yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ..ops import Operations

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StoreCollector(Collector):
    def __init__(self, ops: Operations) -> None:
        self._ops = ops

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "conveyor_queue_depth", "Jobs per queue and state.", labels=["queue", "state"]
        )
        dead = 0
        for queue, states in sorted(self._ops.counts().items()):
            for state, count in sorted(states.items()):
                depth.add_metric([queue, state], count)
                if state == "dead":
                    dead += count
        yield depth
        yield GaugeMetricFamily("conveyor_dead_jobs", "Jobs in the dead-letter queue.", dead)
        breakers = GaugeMetricFamily(
            "conveyor_breaker_open",
            "1 while a connection's circuit breaker is open or half open.",
            labels=["connection"],
        )
        for breaker in self._ops.breakers():
            breakers.add_metric([breaker.name], 0 if breaker.state == "closed" else 1)
        yield breakers


def render(ops: Operations) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(ops))
    return generate_latest(registry)
