"""The application `conveyor serve` runs in tests/web/test_serve.py (imported from this folder).

Its task records each payload it runs in `serve_runs` (in the jobs' own database), so the test
sees through the store that the in-process worker ran the job.
"""

from __future__ import annotations

import json
import os

from conveyor import Conveyor, StandardWebhooks

app = Conveyor(os.environ["SERVE_TEST_DATABASE_URL"])


@app.task
def record(payload: dict) -> dict:
    return {"seen": json.dumps(payload, sort_keys=True)}


app.webhook(
    "orders",
    verify=StandardWebhooks("env:SERVE_TEST_SECRET"),
    split="$.orders",
    task="record",
)
