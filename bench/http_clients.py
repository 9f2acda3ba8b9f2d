"""httpx or aiohttp? Measured against a local sink in another process.

    python -m bench.http_clients [--requests N] [--repeat R] [--concurrency C] [--uvloop]
                                 [--json-out PATH]

A minimal aiohttp.web sink (200, small JSON body) runs in a child process, so the client being
measured has its own interpreter, GIL and core. For each client, one shared AsyncClient /
ClientSession with keep-alive (pool of 100 connections, all kept alive, for both) sends:

* sequential: N POSTs of a ~300-byte JSON body, one after another -> requests/s, p50/p99 latency;
* concurrent: N POSTs with C (default 50) in flight at a time -> requests/s;
* CPU: time.process_time() of the client process during each phase, divided by N.

Every request's body is pre-encoded bytes and every response body is read, so both clients do the
same work. Runs are interleaved (httpx, aiohttp, httpx, aiohttp, ...) R times and every figure is
the median, so a noisy spell on this shared 2-core machine does not hit one client only. The sink
is started once and always stopped (it also exits by itself if this process dies).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.delivery_peers.sink import EVENT

CLIENTS = ("httpx", "aiohttp")
POOL_SIZE = 100
WARMUP = 200
RESPONSE_BODY = b'{"ok":true,"id":"evt_0001"}'
PAYLOAD = json.dumps(EVENT, separators=(",", ":")).encode()  # the delivery bench's event
HEADERS = {"content-type": "application/json", "user-agent": "conveyor-bench"}

Send = Callable[[], Awaitable[None]]


# --- the sink (child process) -------------------------------------------------------------------


def serve() -> None:
    """Child process: answer every request with 200 and a small JSON body until stdin closes."""
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=RESPONSE_BODY, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        print(port, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # The parent holds our stdin; EOF means it is done (or dead): never outlive it.
        threading.Thread(
            target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
        ).start()
        await stop.wait()
        await runner.cleanup()

    run_loop(main(), use_uvloop=True)


def run_loop(main: Coroutine[Any, Any, None], use_uvloop: bool) -> None:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


@contextmanager
def sink_process() -> Iterator[str]:
    """Start the sink in a child process; yield its base URL; always stop it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.http_clients", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.isdigit():
            raise RuntimeError(f"sink did not start (said {line!r}, exit {process.poll()})")
        yield f"http://127.0.0.1:{line}/events"
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the clients ------------------------------------------------------------------------------


async def measure(name: str, url: str, requests: int, concurrency: int) -> dict[str, float]:
    """One client, one shared session: warm-up, sequential phase, concurrent phase."""
    if name == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE)
        async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

            async def send_httpx() -> None:
                response = await client.post(url, content=PAYLOAD, headers=HEADERS)
                if response.status_code != 200 or not response.content:
                    raise RuntimeError(f"httpx: unexpected {response.status_code}")

            return await phases(send_httpx, requests, concurrency)

    import aiohttp

    connector = aiohttp.TCPConnector(limit=POOL_SIZE)
    timeout = aiohttp.ClientTimeout(total=30.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send_aiohttp() -> None:
            async with session.post(url, data=PAYLOAD, headers=HEADERS) as response:
                body = await response.read()
                if response.status != 200 or not body:
                    raise RuntimeError(f"aiohttp: unexpected {response.status}")

        return await phases(send_aiohttp, requests, concurrency)


async def phases(send: Send, requests: int, concurrency: int) -> dict[str, float]:
    """Sequential on one connection, then C in flight, then sequential again with C idle conns."""
    for _ in range(WARMUP):  # one connection, opened and kept alive
        await send()
    seq_wall, seq_cpu, seq_p50 = await sequential(send, requests)

    gate = asyncio.Semaphore(concurrency)

    async def gated() -> None:
        async with gate:
            await send()

    await asyncio.gather(*(gated() for _ in range(WARMUP)))  # opens the C connections
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(gated() for _ in range(requests)))
    con_wall, con_cpu = time.perf_counter() - wall, time.process_time() - cpu

    # What a shared client in a worker sees: the pool now holds C idle keep-alive connections.
    warm_wall, warm_cpu, _ = await sequential(send, requests)
    return {
        "seq_rps": requests / seq_wall,
        "seq_p50_ms": seq_p50 * 1000,
        "seq_cpu_us": seq_cpu / requests * 1e6,
        "con_rps": requests / con_wall,
        "con_cpu_us": con_cpu / requests * 1e6,
        "seq_pool_rps": requests / warm_wall,
        "seq_pool_cpu_us": warm_cpu / requests * 1e6,
    }


async def sequential(send: Send, requests: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and median latency of `requests` POSTs one after another."""
    gc.collect()
    latencies: list[float] = []
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(requests):
        started = time.perf_counter()
        await send()
        latencies.append(time.perf_counter() - started)
    return time.perf_counter() - wall, time.process_time() - cpu, statistics.median(latencies)


def measure_in_child(name: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    """Each measurement in a fresh interpreter: no import, allocator or GC state carried over."""
    command = [
        sys.executable,
        "-m",
        "bench.http_clients",
        "--measure",
        name,
        "--url",
        url,
        "--requests",
        str(args.requests),
        "--concurrency",
        str(args.concurrency),
    ]
    if args.uvloop:
        command.append("--uvloop")
    cwd = Path(__file__).resolve().parent.parent
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{name} measurement failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the report -------------------------------------------------------------------------------

COLUMNS = (
    ("seq_rps", "(a) sequential req/s", 0),
    ("seq_p50_ms", "(a) p50 ms", 3),
    ("seq_cpu_us", "(c) sequential CPU µs/req", 0),
    ("con_rps", "(b) {c} in flight req/s", 0),
    ("con_cpu_us", "(c) {c} in flight CPU µs/req", 0),
    ("seq_pool_rps", "sequential, {c} idle conns, req/s", 0),
    ("seq_pool_cpu_us", "sequential, {c} idle conns, CPU µs/req", 0),
)


def run(
    requests: int = 5000, repeat: int = 3, concurrency: int = 50, uvloop: bool = False
) -> dict[str, Any]:
    args = argparse.Namespace(requests=requests, concurrency=concurrency, uvloop=uvloop)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in CLIENTS}
    started = time.monotonic()
    with sink_process() as url:
        for round_ in range(repeat):
            for name in CLIENTS:
                result = measure_in_child(name, url, args)
                runs[name].append(result)
                print(
                    f"  round {round_ + 1}/{repeat} {name:8s} "
                    + " ".join(f"{key}={value:.1f}" for key, value in result.items()),
                    file=sys.stderr,
                    flush=True,
                )
    medians = {
        name: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for name, results in runs.items()
    }
    return {
        "method": {
            "requests_per_measurement": requests,
            "repeat": repeat,
            "concurrency": concurrency,
            "pool_size": POOL_SIZE,
            "payload_bytes": len(PAYLOAD),
            "client_loop": "uvloop" if uvloop else "asyncio",
            "server": "aiohttp.web in a child process (uvloop if installed), 127.0.0.1",
            "statistic": "median of the interleaved runs",
        },
        "versions": {
            "python": platform.python_version(),
            "httpx": version("httpx"),
            "httpcore": version("httpcore"),
            "h11": version("h11"),
            "aiohttp": version("aiohttp"),
            "sniffio": _installed("sniffio"),
            "cpus": os.cpu_count(),
        },
        "medians": medians,
        "runs": runs,
        "seconds": round(time.monotonic() - started, 1),
    }


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def format_table(report: dict[str, Any]) -> str:
    medians: dict[str, dict[str, float]] = report["medians"]
    method = report["method"]
    titles = [title.format(c=method["concurrency"]) for _, title, _ in COLUMNS]
    lines = [
        "| client | " + " | ".join(titles) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for name, figures in medians.items():
        cells = [f"{figures[key]:,.{digits}f}" for key, _, digits in COLUMNS]
        lines.append(f"| {name} {version(name)} | " + " | ".join(cells) + " |")
    if set(CLIENTS) <= medians.keys():
        a, h = medians["aiohttp"], medians["httpx"]
        ratios = [f"{a[key] / h[key]:.2f}x" for key, _, _ in COLUMNS]
        lines.append("| aiohttp / httpx | " + " | ".join(ratios) + " |")
    lines.append("")
    lines.append(
        f"Medians of {method['repeat']} interleaved runs, {method['requests_per_measurement']:,} "
        f"POSTs of {method['payload_bytes']} bytes each per measurement, client loop "
        f"{method['client_loop']}, Python {report['versions']['python']}, "
        f"{report['versions']['cpus']} CPUs."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--uvloop", action="store_true", help="run the clients under uvloop")
    parser.add_argument("--json-out", type=Path, help="also write the JSON report here")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve:
        serve()
        return
    if args.measure:
        result: dict[str, float] = {}

        async def child() -> None:
            result.update(await measure(args.measure, args.url, args.requests, args.concurrency))

        run_loop(child(), use_uvloop=args.uvloop)
        print(json.dumps(result))
        return

    report = run(args.requests, args.repeat, args.concurrency, args.uvloop)
    print(format_table(report))
    print()
    print(json.dumps(report, indent=2))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
