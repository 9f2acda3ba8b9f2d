"""An owner's own credentials, echoed back by a remote, are masked in what the job keeps, like
the connection's own secrets (both backends, a real echoing server)."""

from __future__ import annotations

import json

from conveyor import Conveyor
from conveyor.connections.client import current_remote
from tests.connections.conftest import run_burst
from tests.connections.test_politeness import Echo, assert_masked
from tests.connections.test_politeness import echo as echo  # the fixture

OWNER_TOKEN = "owner-tok-6d1e-echoed-back"


def test_an_owners_token_echoed_back_is_masked(
    app: Conveyor,
    echo: Echo,
    secret_key: str,
) -> None:
    app.connection("shop", echo.url, breaker=False)
    app.add_account("shop", "acme", token=OWNER_TOKEN)

    @app.task(max_attempts=1)
    async def push(payload: dict[str, int]) -> None:
        await current_remote().request("shop", "POST", "/400", json_body=payload, owner="acme")

    job_id = app.enqueue("push", {"n": 1})
    run_burst(app)
    job = app.get_job(job_id)
    assert job.state == "dead" and job.errors[-1]["status"] == 400
    stored = json.dumps(job.errors) + (job.last_error or "")
    assert "Bearer ***" in stored
    assert_masked(stored, (OWNER_TOKEN,))
