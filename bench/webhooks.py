"""Webhook intake: requests/s and latency of one `conveyor serve --no-worker` process, beside a
bare FastAPI endpoint that answers 202 and stores nothing, in the same run.

    python -m bench.webhooks [--seconds S] [--concurrency C] [--repeat R] [--only NAME ...]
                             [--markdown]

Each subject is a server process started the way a user would (`conveyor --app
bench.webhook_app:app serve --no-worker`, on SQLite and on PostgreSQL; the bare endpoint through
the same uvicorn settings, `bench/webhook_app.py`). A load generator in its own process (aiohttp,
one keep-alive session) keeps C requests in flight for S seconds after a 1 s warm-up: every
request is a distinct event (its own `webhook-id`), signed beforehand with the `standardwebhooks`
package so that signing costs the client nothing during the run, ~330 bytes of JSON split into
two jobs. It reports completed requests/s and the p50/p99 of each request's time from send to
answer; any answer other than 202 is counted as an error. Subjects run interleaved, R rounds, and
each figure is the median over rounds. The machine has two cores: the client, the server and the
database share them, the same for every subject.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.peers import common

DB_NAME = "bench_webhooks"
SUBJECTS = ("bare-fastapi", "conveyor-sqlite", "conveyor-postgres")
WARMUP = 1.0
RATIO_TARGET = 0.5
P99_TARGET_MS = 50.0


# -- the load generator (its own process) -------------------------------------------------------


def _requests(count: int) -> list[tuple[bytes, dict[str, str]]]:
    from standardwebhooks import Webhook

    from bench.webhook_app import SECRET

    signer = Webhook(SECRET)
    now = datetime.now(UTC)
    stamp = str(int(now.timestamp()))
    prefix = f"{os.getpid()}-{time.time_ns()}"
    made = []
    for n in range(count):
        event = {
            "type": "health.batch",
            "device": "watch-7",
            "data": [
                {"type": "workout", "id": f"w{n}", "kind": "run", "minutes": 31, "kcal": 402},
                {"type": "metric", "id": f"m{n}", "name": "heart_rate", "value": 61, "unit": "bpm"},
            ],
        }
        body = json.dumps(event)
        msg_id = f"msg_{prefix}_{n}"
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": stamp,
            "webhook-signature": signer.sign(msg_id, now, body),
            "content-type": "application/json",
        }
        made.append((body.encode(), headers))
    return made


async def _load(url: str, seconds: float, concurrency: int, pool: list[Any]) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}
    feed = iter(pool)
    measuring = False
    stop_at = float("inf")

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            body, headers = next(feed)
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
            if measuring:
                latencies.append(time.perf_counter() - start)
                if status != 202:
                    errors += 1
                    statuses[status] = statuses.get(status, 0) + 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        clients = [asyncio.create_task(client(session)) for _ in range(concurrency)]
        await asyncio.sleep(WARMUP)
        measuring = True
        began = time.perf_counter()
        stop_at = began + seconds
        await asyncio.gather(*clients)
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "rate": len(latencies) / elapsed,
        "p50_ms": common.percentile(latencies, 0.50) * 1000,
        "p99_ms": common.percentile(latencies, 0.99) * 1000,
        "errors": errors,
        "statuses": statuses,
    }


def load_main(url: str, seconds: float, concurrency: int) -> None:
    # Enough distinct events for a server faster than any measured here (a replay would be a 200).
    pool = _requests(int(20_000 * (seconds + WARMUP + 1)))
    print(json.dumps(asyncio.run(_load(url, seconds, concurrency, pool))))


# -- the servers --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            tail = process.communicate()[1].decode(errors="replace")[-600:]
            raise RuntimeError(f"the server exited with {process.returncode}: {tail}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not listen within 30 s") from None
            time.sleep(0.05)


def _database(subject: str, folder: Path) -> str | None:
    if subject == "bare-fastapi":
        return None
    if subject == "conveyor-sqlite":
        url = f"sqlite:///{folder / 'webhooks.db'}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{folder / 'webhooks.db'}{suffix}").unlink(missing_ok=True)
    else:
        common.recreate_pg_database(DB_NAME)
        url = common.pg_dsn(DB_NAME)
    from conveyor import Conveyor

    app = Conveyor(url)
    app.migrate()
    app.close()
    return url


def measure(subject: str, seconds: float, concurrency: int, folder: Path) -> dict[str, Any]:
    url = _database(subject, folder)
    port = _free_port()
    if url is None:
        args = [sys.executable, "-m", "bench.webhook_app", str(port)]
    else:
        args = [
            *(sys.executable, "-m", "conveyor.cli", "--app", "bench.webhook_app:app"),
            *("--database-url", url, "serve", "--no-worker", "--port", str(port)),
            *("--log-level", "warning"),
        ]
    env = common.worker_env()
    server = subprocess.Popen(args, env=env, cwd=common.REPO_ROOT, stderr=subprocess.PIPE)
    try:
        _wait_listening(server, port)
        target = f"http://127.0.0.1:{port}/hooks/bench"
        loader = [sys.executable, "-m", "bench.webhooks", "--load", target]
        loader += ["--seconds", str(seconds), "--concurrency", str(concurrency)]
        out = subprocess.run(
            loader, env=env, cwd=common.REPO_ROOT, capture_output=True, text=True, check=True
        )
        result: dict[str, Any] = json.loads(out.stdout)
    finally:
        server.terminate()
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
    if url is not None:
        from conveyor import Conveyor

        app = Conveyor(url)
        result["events_stored"] = len(app.store.list_events(limit=10**9))
        app.close()
        if subject == "conveyor-postgres":
            common.drop_pg_database(DB_NAME)
    result["subject"] = subject
    return result


def run(
    seconds: float = 10.0,
    concurrency: int = 50,
    repeat: int = 1,
    subjects: tuple[str, ...] = SUBJECTS,
) -> list[dict[str, Any]]:
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in subjects}
    with common.temp_dir("bench-webhooks-") as folder:
        for round_no in range(1, repeat + 1):
            for name in subjects:
                print(f"[bench] webhooks {name} ({round_no}/{repeat}) ...", file=sys.stderr)
                rounds[name].append(measure(name, seconds, concurrency, folder))
    rows = []
    for name, results in rounds.items():
        row: dict[str, Any] = {"subject": name, "rounds": len(results)}
        for key in ("rate", "p50_ms", "p99_ms"):
            row[key] = statistics.median(r[key] for r in results)
        row["errors"] = sum(r["errors"] for r in results)
        row["requests"] = sum(r["requests"] for r in results)
        stored = [r.get("events_stored") for r in results]
        row["events_stored"] = None if stored[0] is None else sum(stored)  # type: ignore[arg-type]
        rows.append(row)
    return rows


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, float | None, str]]:
    by = {row["subject"]: row for row in rows}
    bare = by.get("bare-fastapi", {}).get("rate")
    found: list[tuple[str, str, float | None, str]] = []
    for backend in ("sqlite", "postgres"):
        row = by.get(f"conveyor-{backend}", {})
        ratio = row["rate"] / bare if row.get("rate") and bare else None
        verdict = "n/a" if ratio is None else ("met" if ratio >= RATIO_TARGET else "NOT met")
        found.append(
            (
                f"{backend}: intake >= {RATIO_TARGET}x the bare endpoint's rate",
                f"conveyor-{backend} rate / bare-fastapi rate",
                ratio,
                verdict,
            )
        )
        p99 = row.get("p99_ms")
        verdict = "n/a" if p99 is None else ("met" if p99 < P99_TARGET_MS else "NOT met")
        found.append(
            (f"{backend}: intake p99 < {P99_TARGET_MS:g} ms", "p99 (ms, not a ratio)", p99, verdict)
        )
    return found


def markdown(rows: list[dict[str, Any]], seconds: float, concurrency: int) -> str:
    lines = [
        "## Webhook intake",
        "",
        f"`python -m bench.webhooks --seconds {seconds:g} --concurrency {concurrency}`: one server"
        " process per subject (`conveyor serve --no-worker`; the bare endpoint under the same"
        f" uvicorn settings), {concurrency} requests in flight from an aiohttp client in its own"
        " process, every request a distinct signed event split into 2 jobs (bench/webhooks.py).",
        "",
        "| subject | requests/s | p50 ms | p99 ms | requests | errors"
        " | events stored (+ warm-up) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        stored = "-" if row["events_stored"] is None else f"{row['events_stored']:,}"
        lines.append(
            f"| {row['subject']} | {row['rate']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f}"
            f" | {row['requests']:,} | {row['errors']} | {stored} |"
        )
    lines += ["", "| target | measured as | value | verdict |", "| --- | --- | ---: | --- |"]
    for name, how, value, verdict in targets(rows):
        shown = "-" if value is None else f"{value:.2f}"
        lines.append(f"| {name} | {how} | {shown} | {verdict} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--only", nargs="+", choices=SUBJECTS, default=list(SUBJECTS))
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:
        load_main(args.load, args.seconds, args.concurrency)
        return 0
    rows = run(args.seconds, args.concurrency, args.repeat, tuple(args.only))
    if args.markdown:
        print(markdown(rows, args.seconds, args.concurrency))
    else:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
