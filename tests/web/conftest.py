"""A real uvicorn server on a free port, in a thread, serving `create_app(app)` for one test."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from conveyor import Conveyor, StandardWebhooks
from conveyor.web import create_app
from conveyor.web.serve import bind, server_for
from tests.inbound.test_verify import SECRET

SMALL_CAP = 2000  # bytes: the `small` webhook's max_body


@contextmanager
def running(app: Conveyor) -> Iterator[str]:
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = server_for(create_app(app))
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), name="uvicorn", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def hooked(app: Conveyor) -> Conveyor:
    """Health-data webhooks (seed 001): items split into workout and metric jobs."""

    @app.task
    def process_workout(payload: dict) -> None: ...

    @app.task
    def process_metric(payload: dict) -> None: ...

    routes = {"workout": "process_workout", "metric": "process_metric"}
    app.webhook("health", verify=StandardWebhooks(SECRET), split="$.data", route=("type", routes))
    app.webhook("small", verify=StandardWebhooks(SECRET), task="process_metric", max_body=SMALL_CAP)
    return app


@pytest.fixture
def base_url(hooked: Conveyor) -> Iterator[str]:
    with running(hooked) as url:
        yield url
