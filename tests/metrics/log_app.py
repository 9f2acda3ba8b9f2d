"""Tasks that log from inside their code, for the log-context test (`--app
tests.metrics.log_app:app`): a sync task (its thread) and an async one (the event loop)."""

from __future__ import annotations

from typing import Any

import structlog

from conveyor import Conveyor

app = Conveyor()  # the test passes --database-url
log = structlog.get_logger("log_app")


@app.task(key=lambda payload: f"order:{payload['n']}")
def checks_in_a_thread(payload: dict[str, Any]) -> None:
    log.info("order.checked", n=payload["n"])


@app.task
async def checks_on_the_loop(payload: dict[str, Any]) -> None:
    log.info("order.checked_async", n=payload["n"])
