"""`conveyor serve` in a thread, for the demo and the test: the HTTP side (the ERP's webhooks,
/metrics, /readyz) and a worker on one event loop, as `conveyor --app ... serve` runs them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from conveyor import Conveyor
from conveyor.web import create_app
from conveyor.web.serve import bind, run_server, server_for


@contextmanager
def serving(app: Conveyor, **worker_options: Any) -> Iterator[str]:
    """Serve on a free port until the block ends; yields the base URL."""
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = server_for(create_app(app))
    options = {"concurrency": 20, "poll_interval": 0.2, "grace": 5, **worker_options}
    worker = app.worker(install_signal_handlers=False, middleware=[], **options)
    thread = threading.Thread(
        target=lambda: asyncio.run(run_server(server, sock, worker, app.close_remote)),
        name="conveyor-serve",
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def wait_for(condition: Any, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll `condition()` until it is true (True) or the timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
