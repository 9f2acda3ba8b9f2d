"""The local HTTP sink every delivery goes to, and the measurement of its own ceiling.

The sink is an ``aiohttp.web`` server (uvloop when installed) answering every request with 200
and ``{"ok": true}`` after reading the body. It runs in ``processes`` child processes
(``python -m bench.delivery_peers.sink --serve``), all listening on the same 127.0.0.1 port with
``SO_REUSEPORT`` so the kernel spreads the connections over them. Each process counts the
POST /events requests it answered in its own 8-byte slot of a small memory-mapped file; the
benchmark reads the sum (:meth:`Sink.count`). A child stops when its stdin reaches EOF (the
benchmark closed it, or died), so the sink never outlives the benchmark.

:func:`measure_ceiling` floods the sink with plain aiohttp clients (``--flood``: one
``ClientSession`` per client process, ``concurrency`` requests in flight, the same body and
headers as the deliveries) and returns the requests per second the sink answered, counted by the
sink, over a window that excludes the clients' start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import mmap
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

EVENTS_PATH = "/events"
RESPONSE_BODY = b'{"ok": true}'
#: The event every subject POSTs: ~300 bytes of compact JSON.
EVENT: dict[str, Any] = {
    "type": "order.created",
    "id": "evt_01J9Z3Q6W3V1K8M2N4P5R7S9T0",
    "timestamp": "2024-10-07T12:34:56.789Z",
    "data": {
        "order_id": "ord_8f14e45fceea167a5a36dedd4bea2543",
        "customer_id": "cus_c9f0f895fb98ab9159f51fd0297e236d",
        "amount": 129900,
        "currency": "EUR",
        "items": [{"sku": "SKU-123456", "qty": 2}, {"sku": "SKU-654321", "qty": 1}],
    },
}
EVENT_BYTES = len(json.dumps(EVENT, separators=(",", ":")).encode())
SINK_URL_ENV = "BENCH_SINK_URL"
DEFAULT_PROCESSES = 2
SLOT = 8  # bytes per process counter
REPO_ROOT = Path(__file__).resolve().parents[2]


def loop_name() -> str:
    """The event loop the sink and the flood clients run on."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def _run_loop(main: Any) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _serve(port: int, slot: int, counts_path: str) -> None:
    """Child process: answer until stdin reaches EOF."""
    from aiohttp import web

    with open(counts_path, "r+b") as file:
        counts_map = mmap.mmap(file.fileno(), 0)
    counts = memoryview(counts_map).cast("Q")

    async def events(request: web.Request) -> web.Response:
        await request.read()
        counts[slot] += 1
        return web.Response(body=RESPONSE_BODY, content_type="application/json")

    async def other(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=RESPONSE_BODY, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post(EVENTS_PATH, events)
        app.router.add_route("*", "/{tail:.*}", other)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=2048, reuse_port=True)
        await site.start()
        print("ready", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
        ).start()
        await stop.wait()
        await runner.cleanup()

    _run_loop(main())
    counts.release()
    counts_map.close()


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.delivery_peers.sink", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


@dataclass
class Sink:
    """The sink's child processes; use as a context manager. ``url`` is POST /events."""

    processes: int = DEFAULT_PROCESSES
    port: int = 0
    _procs: list[subprocess.Popen[str]] = field(default_factory=list, init=False)
    _counts_path: Path | None = field(default=None, init=False)
    _counts: memoryview | None = field(default=None, init=False)
    _map: mmap.mmap | None = field(default=None, init=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{EVENTS_PATH}"

    def count(self) -> int:
        """POST /events requests answered so far, all processes together."""
        return sum(self._counts) if self._counts is not None else 0

    def start(self) -> None:
        fd, name = tempfile.mkstemp(prefix="bench-sink-", suffix=".counts")
        self._counts_path = Path(name)
        with os.fdopen(fd, "r+b") as file:
            file.write(bytes(SLOT * self.processes))
            file.flush()
            self._map = mmap.mmap(file.fileno(), 0)
        self._counts = memoryview(self._map).cast("Q")
        # Reserve a port: a bound, non-listening SO_REUSEPORT socket takes no connections but
        # keeps the port ours until the children listen on it too.
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        self.port = holder.getsockname()[1]
        try:
            for slot in range(self.processes):
                self._procs.append(
                    _child("--serve", str(self.port), "--slot", str(slot), "--counts", name)
                )
            for proc in self._procs:
                assert proc.stdout is not None
                line = proc.stdout.readline().strip()
                if line != "ready":
                    raise RuntimeError(f"sink did not start (said {line!r}, exit {proc.poll()})")
        except BaseException:
            self.stop()
            raise
        finally:
            holder.close()

    def stop(self) -> None:
        for proc in self._procs:
            _stop(proc)
        self._procs.clear()
        if self._counts is not None:
            self._counts.release()
            self._counts = None
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._counts_path is not None:
            self._counts_path.unlink(missing_ok=True)
            self._counts_path = None

    def __enter__(self) -> Sink:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- the ceiling


def _flood(url: str, seconds: float, concurrency: int) -> None:
    """Child process: POST the event with ``concurrency`` in flight for ``seconds``."""
    import aiohttp

    body = json.dumps(EVENT, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    async def main() -> None:
        deadline = time.monotonic() + seconds
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one_lane() -> None:
                while time.monotonic() < deadline:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        if response.status != 200:
                            raise RuntimeError(f"sink answered {response.status}")

            await asyncio.gather(*(one_lane() for _ in range(concurrency)))

    _run_loop(main())


@dataclass(frozen=True)
class Ceiling:
    clients: int
    concurrency: int
    rate: float  # requests/s answered by the sink


def measure_ceiling(
    sink: Sink,
    *,
    clients: Sequence[int] = (1, 2),
    concurrency: int = 100,
    warmup: float = 1.0,
    window: float = 2.0,
) -> list[Ceiling]:
    """The sink's answered requests/s under a flood from ``k`` aiohttp client processes."""
    results = []
    seconds = warmup + window + 1.0
    for k in clients:
        procs = [
            _child(
                "--flood", sink.url, "--seconds", str(seconds), "--concurrency", str(concurrency)
            )
            for _ in range(k)
        ]
        try:
            time.sleep(warmup)
            before, t0 = sink.count(), time.perf_counter()
            time.sleep(window)
            after, t1 = sink.count(), time.perf_counter()
        finally:
            for proc in procs:
                try:
                    proc.wait(timeout=seconds + 10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                _stop(proc)
        failed = [proc.returncode for proc in procs if proc.returncode != 0]
        if failed:
            raise RuntimeError(f"flood client(s) failed with exit codes {failed}")
        results.append(Ceiling(k, concurrency, (after - before) / (t1 - t0)))
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery_peers.sink")
    parser.add_argument("--processes", type=int, default=DEFAULT_PROCESSES)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--slot", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--counts", help=argparse.SUPPRESS)
    parser.add_argument("--flood", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=4.0, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        _serve(args.serve, args.slot, args.counts)
    elif args.flood:
        _flood(args.flood, args.seconds, args.concurrency)
    else:
        with Sink(processes=args.processes) as sink:
            print(f"sink: {sink.processes} process(es) at {sink.url}; event {EVENT_BYTES} bytes")
            for c in measure_ceiling(sink):
                print(
                    f"  {c.clients} client process(es), {c.concurrency} in flight: {c.rate:,.0f}/s"
                )


if __name__ == "__main__":
    main()
