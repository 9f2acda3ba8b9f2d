"""`conveyor serve`: uvicorn serving `create_app(app)` and, unless told not to, a worker, both on
one event loop in one process.

SIGTERM/SIGINT are handled here, not by uvicorn or the worker (each would take the signal from
the other): the first stops the server accepting (requests under way finish) and starts the
worker's graceful stop; a second one also ends the server's wait for open connections and the
worker's grace, as a second signal does for `conveyor worker`. The socket is bound before
anything starts, so a port in use is one clear error instead of uvicorn's exit from inside the
loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import uvicorn
from sse_starlette.sse import AppStatus
from starlette.types import ASGIApp

from ..errors import ConfigurationError
from ..shutdown import install_signals, remove_signals

if TYPE_CHECKING:
    from ..app import Conveyor


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: `serve` owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it every answer (headers, then body: two writes) waited ~40 ms for the
    # client's delayed ACK (measured: 44 ms per request on an idle loopback, 0.5 ms with it).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.set_inheritable(True)
    return sock


def server_for(asgi: ASGIApp, log_level: str = "warning") -> uvicorn.Server:
    """The uvicorn settings `conveyor serve` uses (the benchmark's bare endpoint uses them too):
    no access log (one line per webhook is the events' job, at debug), no lifespan."""
    config = uvicorn.Config(
        asgi, log_level=log_level, access_log=False, lifespan="off", timeout_graceful_shutdown=10
    )
    return _Server(config)


async def _nothing() -> None:
    return None


async def run_server(
    server: uvicorn.Server,
    sock: socket.socket,
    worker: Any = None,
    close_remote: Callable[[], Awaitable[None]] = _nothing,
) -> None:
    """Serve until a signal (or the worker ends); then stop both, close the loop's connection
    client (the lifespan is off) and return."""
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        server.should_exit = True
        AppStatus.should_exit = True  # end the dashboard's live streams, or the stop waits
        if signals > 1:
            server.force_exit = True
        if worker is not None:
            worker.request_stop()

    install_signals(loop, on_signal)
    try:
        serving = asyncio.create_task(server.serve(sockets=[sock]), name="conveyor-http")
        if worker is None:
            await serving
            return
        working = asyncio.create_task(worker.run(), name="conveyor-worker")
        await asyncio.wait({serving, working}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True  # whichever ended first, the other follows
        if signals == 0 and not working.done():
            worker.request_stop()
        await asyncio.gather(serving, working)
    finally:
        remove_signals(loop)
        AppStatus.should_exit = False  # sse-starlette's flag is per process: ready for another
        sock.close()
        await close_remote()


def serve(
    app: Conveyor,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    worker: bool = True,
    log_level: str = "warning",
    **worker_options: Any,
) -> None:
    """Run the HTTP server (and a worker) until SIGTERM/SIGINT. Raises ConfigurationError (a
    port in use, a worker with no task), StoreError (the database cannot be reached)."""
    from .app import create_app

    app.store  # noqa: B018 - open it now: an unreachable database is an error before serving
    runner = app.worker(install_signal_handlers=False, **worker_options) if worker else None
    sock = bind(host, port)
    server = server_for(create_app(app), log_level)
    asyncio.run(run_server(server, sock, runner, app.close_remote))
