"""Prometheus metrics: gauges read from the store at scrape time, counters and histograms
recorded in each process from typed events and summed across processes by prometheus-client's
multiprocess mode. docs/metrics.md lists every metric.

Why two sources. The gauges (`conveyor_queue_depth`, `conveyor_dead_jobs`,
`conveyor_oldest_job_age_seconds`, `conveyor_breaker_open`) describe shared state that every
worker changes: read from the store at scrape time they are exact across any number of processes
and machines, with nothing kept in between (the live-set reads are the server's shared counts,
`shared_reads.py`: one per second for every client, so at most about a second old). The
counters (`conveyor_jobs_total`, the HTTP requests, rate-limit waits, sync records) and
histograms count what happens: kept in the store they would cost a write per job (and per
request) on the hot path, and a store-wide row that every worker updates would serialise them.
So they are plain prometheus-client objects fed by the typed events (`recorder.py`: a dict
lookup and an `inc`/`observe`), and in multiprocess mode (`--metrics-dir`, one directory shared
by the processes of one machine) each process writes its own mmap file and the scrape merges
them (`MultiProcessCollector`). Several machines are scraped each (one target per machine), as
Prometheus expects of counters.
"""

from __future__ import annotations

from .collector import StoreCollector
from .recorder import Recorder
from .registry import CONTENT_TYPE, Metrics

__all__ = ["CONTENT_TYPE", "Metrics", "Recorder", "StoreCollector"]
