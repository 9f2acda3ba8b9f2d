"""The gauges, read from the store at scrape time: exact across every process and machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ..ops import Operations


class StoreCollector(Collector):
    def __init__(self, ops: Operations) -> None:
        self._ops = ops

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "conveyor_queue_depth", "Jobs per queue and state.", labels=["queue", "state"]
        )
        dead = 0
        counts = self._ops.shared.counts()
        for queue, states in sorted(counts.items()):
            for state, count in sorted(states.items()):
                depth.add_metric([queue, state], count)
                if state == "dead":
                    dead += count
        yield depth
        yield GaugeMetricFamily("conveyor_dead_jobs", "Jobs in the dead-letter queue.", dead)
        oldest = GaugeMetricFamily(
            "conveyor_oldest_job_age_seconds",
            "Seconds the oldest runnable job of a queue (queued or retrying, due) has waited"
            " since it became due; 0 when none waits.",
            labels=["queue"],
        )
        ages = self._ops.shared.oldest_due()
        for queue in sorted(counts.keys() | ages.keys()):
            oldest.add_metric([queue], round(ages.get(queue, 0.0), 3))
        yield oldest
        breakers = GaugeMetricFamily(
            "conveyor_breaker_open",
            "1 while a connection's circuit breaker is open or half open.",
            labels=["connection"],
        )
        for breaker in self._ops.breakers():
            breakers.add_metric([breaker.name], 0 if breaker.state == "closed" else 1)
        yield breakers
