"""Rate-limit accuracy: 4 worker processes share one `5/s` bucket through the store.

    python -m bench.rate_accuracy [--seconds 30] [--processes 4] [--backend sqlite|postgres]

Deliveries wait in the queue for the whole run; the sink records the arrival time of every
request. Reported: the most requests seen in any 1-second window (the limit allows rate + burst)
and the achieved rate over the run as a share of the allowed rate.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.peers import common
from conveyor import Conveyor

RATE = 5.0
BURST = 2
DB_NAME = "bench_conveyor_rate"


class ArrivalSink:
    """An HTTP server in a thread that answers 200 and records when each request arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def hit(request: web.Request) -> web.Response:
            self.arrivals.append(time.time())
            await request.read()
            return web.json_response({"ok": True})

        async def start() -> None:
            application = web.Application()
            application.router.add_route("*", "/{tail:.*}", hit)
            self._runner = web.AppRunner(application, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = self._runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}"
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def __enter__(self) -> ArrivalSink:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def analyse(arrivals: list[float], rate: float, burst: int) -> dict[str, Any]:
    arrivals = sorted(arrivals)
    if len(arrivals) < 2:
        return {"requests": len(arrivals), "max_in_1s": None, "share_of_allowed": None}
    worst = 0
    start = 0
    for end, stamp in enumerate(arrivals):
        while stamp - arrivals[start] >= 1.0:
            start += 1
        worst = max(worst, end - start + 1)
    span = arrivals[-1] - arrivals[0]
    achieved = (len(arrivals) - 1) / span if span > 0 else 0.0
    return {
        "requests": len(arrivals),
        "max_in_1s": worst,
        "allowed_in_1s": rate + burst,
        "achieved_rate": round(achieved, 3),
        "share_of_allowed": round(achieved / rate, 3),
    }


def run(backend: str, seconds: float = 30.0, processes: int = 4) -> dict[str, Any]:
    with common.temp_dir("bench-rate-") as folder, ArrivalSink() as sink:
        if backend == "sqlite":
            url = f"sqlite:///{Path(folder) / 'rate.db'}"
        else:
            common.recreate_pg_database(DB_NAME)
            url = common.pg_dsn(DB_NAME)
        app = Conveyor(url)
        app.migrate()
        app.connection("limited", base_url=sink.url, breaker=False)
        jobs = int(RATE * seconds * 2)
        app.enqueue_many(
            "conveyor.deliver",
            [{"connection": "limited", "path": "/hit", "body": {"n": n}} for n in range(jobs)],
        )
        app.close()
        env = common.worker_env(
            {
                "CONVEYOR_DATABASE_URL": url,
                "BENCH_SINK_URL": sink.url,
                "BENCH_RATE": f"{RATE:g}/s",
                "BENCH_BURST": str(BURST),
            }
        )
        command = [
            common.venv_script("conveyor"),
            "--app",
            "bench.rate_app:app",
            "worker",
            "--concurrency",
            "20",
        ]
        with common.WorkerGroup([command] * processes, env) as group:
            deadline = time.monotonic() + seconds + 5
            while time.monotonic() < deadline:
                group.check()
                if sink.arrivals and time.time() - sink.arrivals[0] >= seconds:
                    break
                time.sleep(0.2)
        window = (
            [t for t in sink.arrivals if t - sink.arrivals[0] <= seconds] if sink.arrivals else []
        )
        result = {
            "backend": backend,
            "processes": processes,
            "seconds": seconds,
            "rate": RATE,
            "burst": BURST,
            **analyse(window, RATE, BURST),
        }
        if backend == "postgres":
            common.drop_pg_database(DB_NAME)
        return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rate_accuracy")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument(
        "--backend", choices=["sqlite", "postgres"], nargs="+", default=["sqlite", "postgres"]
    )
    args = parser.parse_args(argv)
    for backend in args.backend:
        print(run(backend, args.seconds, args.processes))


if __name__ == "__main__":
    main()
