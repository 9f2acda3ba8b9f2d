"""The app the rate-limit accuracy benchmark runs (`conveyor --app bench.rate_app:app`)."""

from __future__ import annotations

import os

from conveyor import Conveyor

app = Conveyor()  # CONVEYOR_DATABASE_URL
app.connection(
    "limited",
    base_url=os.environ.get("BENCH_SINK_URL", "http://127.0.0.1:9"),
    rate_limit=os.environ.get("BENCH_RATE", "5/s"),
    burst=int(os.environ.get("BENCH_BURST", "2")),
    breaker=False,
)
