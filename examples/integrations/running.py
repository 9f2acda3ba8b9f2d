"""The demo's and the test's stand-ins for the processes of a deployment, in one process:
one worker per queue (what `conveyor worker --queues fetch` etc. run, each with its own
concurrency), and the HTTP side (`conveyor serve --no-worker`: webhooks, OAuth, the API) on
uvicorn, each on a thread with its own event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from conveyor import Conveyor
from conveyor.web import create_app
from conveyor.web.serve import bind, server_for

POOLS = {"fetch": 4, "process": 8, "webhook": 4, "init": 2}  # queue: concurrency


@contextmanager
def worker_pools(app: Conveyor, pools: Mapping[str, int] = POOLS) -> Iterator[dict[str, Any]]:
    """One worker per queue, each only claiming its queue's jobs; stopped (gracefully) at exit."""
    workers = {
        queue: app.worker(
            queues=[queue], concurrency=size, install_signal_handlers=False, poll_interval=0.2
        )
        for queue, size in pools.items()
    }

    def run(worker: Any) -> None:
        async def main() -> None:
            try:
                await worker.run()
            finally:
                await app.close_remote()

        asyncio.run(main())

    threads = [
        threading.Thread(target=run, args=(w,), name=f"pool-{q}", daemon=True)
        for q, w in workers.items()
    ]
    for thread in threads:
        thread.start()
    try:
        yield workers
    finally:
        for worker in workers.values():
            worker.request_stop()
        for thread in threads:
            thread.join(15)


@contextmanager
def web_server(app: Conveyor) -> Iterator[str]:
    """`create_app(app)` on a free port: yields its base URL."""
    sock = bind("127.0.0.1", 0)
    server = server_for(create_app(app))

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            await app.close_remote()  # the OAuth callback's token requests used this loop's

    thread = threading.Thread(target=lambda: asyncio.run(serve()), name="uvicorn", daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll a condition (no sleep standing in for synchronisation); TimeoutError naming it."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)
