"""The Conveyor application of the delivery benchmark (`conveyor --app bench.delivery_app:app`).

It has no task of its own: the jobs are the built-in "conveyor.deliver" task, sending to the
"sink" connection (the benchmark's local HTTP sink, its base URL from BENCH_SINK_URL), without a
circuit breaker and without a rate limit. The database URL comes from CONVEYOR_DATABASE_URL.
"""

from __future__ import annotations

import os

from conveyor import Conveyor

SINK_URL_ENV = "BENCH_SINK_URL"
CONNECTION = "sink"

app = Conveyor()
app.connection(
    CONNECTION, base_url=os.environ.get(SINK_URL_ENV, "http://127.0.0.1:8080/"), breaker=False
)
