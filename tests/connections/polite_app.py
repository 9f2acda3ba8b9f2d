"""The application of the politeness tests' worker and CLI processes
(`conveyor --app tests.connections.polite_app:app ...`).

It declares the connection "shop" at `POLITE_SINK_URL` (rate limit `POLITE_RATE`, e.g. "50/s",
none when unset), without a circuit breaker so that only the politeness of the connection decides
when requests go out. Each request carries the sending process's pid. The database URL comes
from CONVEYOR_DATABASE_URL (or --database-url).
"""

from __future__ import annotations

import os

from conveyor import Conveyor

app = Conveyor()
app.connection(
    "shop",
    os.environ.get("POLITE_SINK_URL", "http://127.0.0.1:9/"),
    rate_limit=os.environ.get("POLITE_RATE") or None,
    breaker=False,
    headers={"X-Worker-Pid": str(os.getpid())},
)
