"""What every example's stand-in shares: its aiohttp app served on 127.0.0.1 from a thread of
its own, started and stopped by the demo or the test in the same process."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web


class StandIn:
    """A stand-in of a remote API; subclasses give `app()` and a thread `name`."""

    name = "stand-in"
    url = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    def start(self, port: int = 0) -> str:
        """Serve on `port` (0: any free one); returns the base URL once it listens."""
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._runner = web.AppRunner(self.app(), access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", port)
            self._loop.run_until_complete(site.start())
            sockets = site._server.sockets  # type: ignore[union-attr]
            self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True, name=self.name)
        self._thread.start()
        ready.wait(10)
        return self.url

    def stop(self) -> None:
        if self._loop and self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)
