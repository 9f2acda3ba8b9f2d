"""The application the dashboard's browser test works with `conveyor worker` in its own process
(the page shows what it does through the store, never through this process).

`charge` waits for the file named by DASH_TEST_GATE before it succeeds, so the test sees the job
it retried queued or running, opens the gate, and watches it succeed. The `shop` connection's
bearer token is a literal secret that must never reach a page.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from conveyor import Bearer, Conveyor

SECRET = "sk_live_dashboard_secret_123"

app = Conveyor(os.environ["DASH_TEST_DATABASE_URL"])
app.connection(
    "shop",
    os.environ.get("DASH_TEST_SHOP_URL", "http://127.0.0.1:9"),
    auth=Bearer(SECRET),
    check="GET /me",
)


@app.task(max_attempts=1)
def charge(payload: dict) -> dict:
    deadline = time.monotonic() + 60
    while not Path(os.environ["DASH_TEST_GATE"]).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"card declined for order {payload.get('order')}")
        time.sleep(0.05)
    return {"charged": payload.get("order")}


@app.task(max_attempts=1)
def ship(payload: dict) -> None:
    raise ValueError("no address")


app.schedule("nightly", "0 3 * * *", "ship", payload={"order": 0})
