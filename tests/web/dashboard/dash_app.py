"""The application the dashboard's browser test serves (`conveyor serve --no-worker`) and works
(`conveyor worker`), in two processes: what the page shows live comes through the store.

`charge` fails while the file named by DASH_TEST_GATE is missing, so a test makes a dead job,
opens the gate, and retries it from the page. The `shop` connection's bearer token is a literal
secret that must never reach a page.
"""

from __future__ import annotations

import os
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
    if not Path(os.environ["DASH_TEST_GATE"]).exists():
        raise RuntimeError(f"card declined for order {payload.get('order')}")
    return {"charged": payload.get("order")}


@app.task(max_attempts=1)
def ship(payload: dict) -> None:
    raise ValueError("no address")


app.schedule("nightly", "0 3 * * *", "ship", payload={"order": 0})
