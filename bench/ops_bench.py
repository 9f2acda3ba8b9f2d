"""The operations benchmark: the HTTP API's listings and `/metrics` over a big store, and what a
client polling them does to the workers sharing that store.

    python -m bench.ops_bench [--jobs 1000 1000000] [--backend sqlite postgres]
                              [--requests 40] [--paths PATH ...] [--extra-paths PATH ...]
                              [--worker-jobs 60000] [--worker-rounds 3] [--no-workers]

For each backend and each N: a fresh migrated store filled with N jobs (bench/ops_fill.py; the
smaller Ns in its `FULL_PAGES` mix, every measured page full, unless `--small-mix organic`), the
real server (`conveyor --app bench.ops_app:app serve --no-worker`, uvicorn, its own process), a
bearer token; then every path of `PATHS` (or `--paths`, plus `--extra-paths`) is requested
`--requests` times, round-robin over the paths (so a noisy spell hits them all), after one
warm-up each, one request at a time over one keep-alive aiohttp session: p50 and p95 per path.
A path may hold `{since}` (an ISO time one hour ago), `{mid}` (the middle job id, a keyset page
deep in the table), `{key}` (a key the store holds) and `{dead}` (the newest dead job, a detail
page with its attempts). The dashboard's pages (`DASHBOARD_PATHS`, measured by default) are paths
like any other: the client logs in as a browser does (POST /dashboard/login with the token, the
signed `conveyor_session` cookie it sets sent with every request; the API gets the bearer
header), and a page that does not answer 200 stops the run (a login redirect is not a page).

Worker slowdown (largest N only): `--worker-jobs` no-op jobs (priority 1, so ahead of the
filled store's queued jobs) drained by one `conveyor worker --concurrency 100` process, the rate
measured between 90% and 10% remaining; runs alternate without and with a client requesting
every path once a second, `--worker-rounds` each, the drained jobs deleted between runs. With
`--interleaved-jobs`, also one drain of that many jobs with the poller switched on and off every
3 s, each polled window against the quiet windows beside it (bench/ops_workers.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import ops_fill
from bench.ops_client import client
from bench.ops_workers import WORKER_CONCURRENCY, interleaved_rates, worker_rates
from bench.peers import common
from conveyor import Conveyor

DB_NAME = "bench_ops"
PATHS = (
    "/api/jobs",
    "/api/jobs?before={mid}",
    "/api/jobs?state=dead",
    "/api/jobs?state=dead&before={mid}",
    "/api/jobs?task=task_07",
    "/api/jobs?task=task_07&before={mid}",
    "/api/jobs?queue=queue_5",
    "/api/jobs?queue=queue_5&before={mid}",
    "/api/jobs?key={key}",
    "/api/jobs?key={key}&before={mid}",
    "/api/jobs?since={since}",
    "/api/jobs?since={since}&before={mid}",
    "/api/stats",
    "/api/blocked-keys",
    "/api/workers",
    "/api/schedules",
    "/api/connections",
    "/api/sync/runs",
    "/metrics",
)
# The dashboard's pages, measured and polled like the API's listings (the live stream,
# /dashboard/events, is not a page: left out); `--extra-paths` adds more for one run.
DASHBOARD_PATHS: tuple[str, ...] = (
    "/dashboard/",
    "/dashboard/jobs",
    "/dashboard/jobs?before={mid}",
    "/dashboard/jobs?state=dead",
    "/dashboard/jobs?state=dead&before={mid}",
    "/dashboard/jobs?task=task_07&before={mid}",
    "/dashboard/jobs?queue=queue_5",
    "/dashboard/jobs?key={key}",
    "/dashboard/jobs?state=dead&task=task_07&error=timed",
    "/dashboard/jobs/{dead}",
    "/dashboard/dead",
    "/dashboard/dead?since={since}",
    "/dashboard/dead?connection=shop",
    "/dashboard/blocked",
    "/dashboard/connections",
    "/dashboard/schedules",
    "/dashboard/sync",
    "/dashboard/batches",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Store:
    """A fresh benchmark store of one backend, filled with N jobs."""

    def __init__(self, backend: str, folder: Path, url: str | None = None) -> None:
        self.backend = backend
        self.path = folder / "ops.db"
        if url is not None:  # a store filled before (--store): used as it is
            self.url = url
            self.path = Path(url.split("sqlite:///", 1)[-1])
        elif backend == "sqlite":
            self.url = f"sqlite:///{self.path}"
        else:
            self.url = common.pg_dsn(DB_NAME)

    def reset(self) -> None:
        if self.backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        else:
            common.recreate_pg_database(DB_NAME)
        app = Conveyor(self.url)
        app.migrate()
        app.close()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            try:
                return list(conn.execute(sql).fetchall())
            finally:
                conn.close()
        with psycopg.connect(self.url, autocommit=True) as pg:
            cur = pg.execute(sql)
            return list(cur.fetchall()) if cur.description else []

    def values(self) -> dict[str, str]:
        """What the paths' placeholders stand for in this store."""
        low, high = self.query("SELECT min(id), max(id) FROM conveyor_jobs")[0]
        key = self.query(
            "SELECT key FROM conveyor_jobs WHERE key IS NOT NULL ORDER BY id DESC LIMIT 1"
        )
        since = datetime.fromtimestamp(time.time() - 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        dead = self.query("SELECT max(id) FROM conveyor_jobs WHERE state = 'dead'")[0][0]
        return {
            "mid": str(((low or 1) + (high or 1)) // 2 or 1),
            "key": key[0][0] if key else "customer:1",
            "since": since,
            "dead": str(dead or low or 1),
        }

    def token(self) -> str:
        app = Conveyor(self.url)
        try:
            return app.ops.tokens.create(f"bench-{time.monotonic_ns()}")
        finally:
            app.close()


class Server:
    """`conveyor serve --no-worker` on the store, in its own process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(f"/tmp/bench-ops-server-{self.port}.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        command = [
            *(["nice", "-n", os.environ["BENCH_NICE"]] if os.environ.get("BENCH_NICE") else []),
            common.venv_script("conveyor"),
            "--app",
            "bench.ops_app:app",
            "--database-url",
            self.url,
            "serve",
            "--no-worker",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                command, env=common.worker_env(), cwd=common.REPO_ROOT, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-600:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in 30 s")

    def cpu_seconds(self) -> float:
        """User and system CPU the server process has used (Linux /proc)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)


def expand(paths: Sequence[str], values: dict[str, str]) -> list[str]:
    return [path.format(**values) for path in paths]


async def _measure(
    base: str, token: str, paths: Sequence[str], requests: int
) -> dict[str, dict[str, Any]]:
    times: dict[str, list[float]] = {path: [] for path in paths}
    statuses: dict[str, set[int]] = {path: set() for path in paths}
    answer_bytes: dict[str, int] = {}
    async with await client(base, token) as session:
        for round_no in range(requests + 1):
            for path in paths:
                start = time.perf_counter()
                async with session.get(path, allow_redirects=False) as answer:
                    answer_bytes[path] = len(await answer.read())
                    statuses[path].add(answer.status)
                if round_no:  # the first round warms up
                    times[path].append((time.perf_counter() - start) * 1000)
                elif path.startswith("/dashboard") and answer.status != 200:
                    raise RuntimeError(f"{path}: HTTP {answer.status}, not a page")
    return {
        path: {
            "p50_ms": round(statistics.median(values), 1),
            "p95_ms": round(common.percentile(values, 95), 1),
            "status": sorted(statuses[path]),
            "bytes": answer_bytes.get(path, 0),
        }
        for path, values in times.items()
    }


def measure(base: str, token: str, paths: Sequence[str], requests: int) -> dict[str, Any]:
    return asyncio.run(_measure(base, token, paths, requests))


def run_backend(backend: str, sizes: Sequence[int], args: argparse.Namespace) -> dict[str, Any]:
    paths = list(args.paths or (*PATHS, *DASHBOARD_PATHS)) + list(args.extra_paths or ())
    report: dict[str, Any] = {"backend": backend, "sizes": {}}
    with common.temp_dir("bench-ops-") as folder:
        for n in sizes:
            reuse = (args.store or {}).get(backend) if n == max(sizes) else None
            store = Store(backend, folder, reuse)
            fill_seconds = 0.0
            if reuse is None:
                store.reset()
                print(f"[ops] {backend}: filling {n:,} jobs ...", file=sys.stderr, flush=True)
                full = n < max(sizes) and args.small_mix == "full-pages"
                mix = ops_fill.FULL_PAGES if full else ops_fill.ORGANIC
                fill_seconds = ops_fill.fill(store.url, n, mix=mix)
            token = store.token()
            values = store.values()
            with Server(store.url) as server:
                print(f"[ops] {backend} {n:,}: requests ...", file=sys.stderr, flush=True)
                results = measure(server.base, token, expand(paths, values), args.requests)
                # Reported by the path as given (placeholders kept), so sizes line up.
                by_path = dict(zip(paths, results.values(), strict=True))
                entry: dict[str, Any] = {"fill_seconds": round(fill_seconds, 1), "paths": by_path}
                if n == max(sizes) and args.worker_rounds:
                    entry["workers"] = worker_rates(
                        store,
                        server,
                        token,
                        expand(paths, values),
                        args.worker_jobs,
                        args.worker_rounds,
                    )
                if n == max(sizes) and args.interleaved_jobs:
                    entry["interleaved"] = interleaved_rates(
                        store, server, token, expand(paths, values), args.interleaved_jobs
                    )
            report["sizes"][str(n)] = entry
    if backend == "postgres":
        common.drop_pg_database(DB_NAME)
    return report


def verdicts(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for the operations targets, from one backend's report."""
    sizes = sorted(int(n) for n in report["sizes"])
    small, big = report["sizes"][str(sizes[0])], report["sizes"][str(sizes[-1])]
    rows: list[tuple[str, str, str]] = []
    slow = [p for p, r in big["paths"].items() if p != "/metrics" and r["p95_ms"] >= 200]
    worst = max((r["p95_ms"], p) for p, r in big["paths"].items() if p != "/metrics")
    rows.append(
        (
            f"every listing p95 < 200 ms at {sizes[-1]:,}",
            f"worst {worst[0]:g} ms ({worst[1]})",
            "met" if not slow else f"NOT met ({len(slow)} paths)",
        )
    )
    ratios = {
        p: r["p95_ms"] / max(small["paths"][p]["p95_ms"], 0.1) for p, r in big["paths"].items()
    }
    over = [p for p, x in ratios.items() if x > 2 and big["paths"][p]["p95_ms"] >= 5]
    top = max((x, p) for p, x in ratios.items())
    rows.append(
        (
            f"p95 at {sizes[-1]:,} within 2x of {sizes[0]:,}",
            f"largest ratio {top[0]:.2f} ({top[1]})",
            "met" if not over else f"NOT met ({', '.join(over)})",
        )
    )
    metrics = big["paths"].get("/metrics")
    if metrics:
        rows.append(
            (
                f"/metrics < 100 ms at {sizes[-1]:,}",
                f"p95 {metrics['p95_ms']:g} ms",
                "met" if metrics["p95_ms"] < 100 else "NOT met",
            )
        )
    workers = big.get("workers")
    if workers:
        rows.append(
            (
                "workers slowed < 10% by a client polling every listing once a second",
                f"{workers['slowdown_pct']:g}% ({workers['quiet_median']:,} -> "
                f"{workers['polled_median']:,} jobs/s)",
                "met" if workers["slowdown_pct"] < 10 else "NOT met",
            )
        )
    mixed = big.get("interleaved")
    if mixed and mixed["slowdown_pct"] is not None:
        rows.append(
            (
                "the same, interleaved (poller on and off every 3 s in one drain)",
                f"{mixed['slowdown_pct']:g}% (median of {mixed['pairs']} pairs)",
                "met" if mixed["slowdown_pct"] < 10 else "NOT met",
            )
        )
    return rows


def markdown(reports: Sequence[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        "## Operations: the HTTP API and the dashboard over a big store",
        "",
        f"`python -m bench.ops_bench --jobs {' '.join(map(str, args.jobs))}"
        f" --requests {args.requests}`: the real server (`conveyor serve --no-worker`, its own"
        " process) over a store filled with N jobs (bench/ops_fill.py: 90% succeeded, 3% dead"
        " with an error, queued, retrying, waiting behind blocked keys; 40 tasks, 8 queues, 20,000"
        " keys, over 30 days; the smaller N, unless `--small-mix organic`, in ops_fill's"
        " `FULL_PAGES` mix, in which every measured page is as full as at the largest N, so a"
        " ratio compares the same page); each path requested one at a time, round-robin over"
        " the paths,"
        " after a warm-up; p50/p95 in ms. `{mid}`: a keyset page half way down the table. The"
        " 2x verdict counts a ratio over 2 only where the larger p95 is 5 ms or more."
        " KB: the answer's size; where it grows with N the page holds more (blocked keys, the"
        " dead-letter groups, a `since` window), not the same page read slower."
        " Machine: 2 cores shared with other jobs (other sessions ran meanwhile): figures are"
        " noisy, compare within a table.",
        "",
    ]
    for report in reports:
        sizes = sorted(int(n) for n in report["sizes"])
        small, big = (report["sizes"][str(n)] for n in (sizes[0], sizes[-1]))
        lines += [
            f"### {report['backend']}",
            "",
            f"Fill: {sizes[-1]:,} jobs in {big['fill_seconds']:g} s."
            if big["fill_seconds"]
            else f"A store of {sizes[-1]:,} jobs filled before (--store).",
            "",
            f"| path | p50 {sizes[0]:,} | p95 {sizes[0]:,} | p50 {sizes[-1]:,}"
            f" | p95 {sizes[-1]:,} | p95 ratio | KB {sizes[0]:,} | KB {sizes[-1]:,} |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for path, r in big["paths"].items():
            s = small["paths"][path]
            ratio = r["p95_ms"] / max(s["p95_ms"], 0.1)
            lines.append(
                f"| `{path}` | {s['p50_ms']:g} | {s['p95_ms']:g} | {r['p50_ms']:g}"
                f" | {r['p95_ms']:g} | {ratio:.2f} | {s.get('bytes', 0) / 1024:.1f}"
                f" | {r.get('bytes', 0) / 1024:.1f} |"
            )
        workers = big.get("workers")
        if workers:
            lines += [
                "",
                f"Workers ({args.worker_jobs:,} no-op jobs, one `conveyor worker --concurrency"
                f" {WORKER_CONCURRENCY}`, alternating runs): quiet {workers['quiet']} jobs/s,"
                f" polled {workers['polled']} jobs/s ({workers['poll_requests']:,} requests"
                f" served meanwhile); slowdown {workers['slowdown_pct']:g}% (medians). The"
                f" server used {workers.get('server_cpu_polled', 0):.0%} of a core while polled"
                f" ({workers.get('server_cpu_quiet', 0):.0%} while quiet)"
                + f"; the machine's idle CPU {workers.get('idle_polled', 0):.0%} of a core"
                f" while polled, {workers.get('idle_quiet', 0):.0%} while quiet.",
            ]
        mixed = big.get("interleaved")
        if mixed:
            lines += [
                "",
                f"Interleaved ({args.interleaved_jobs:,} no-op jobs, one drain, the poller on"
                f" and off every {mixed['window_s']:g} s): quiet windows {mixed['quiet']} jobs/s,"
                f" polled {mixed['polled']} jobs/s; slowdown {mixed['slowdown_pct']}% (median"
                f" of {mixed['pairs']} polled windows against their quiet neighbours; mean"
                f" {mixed['slowdown_mean_pct']}%). Meanwhile, in cores: the server"
                f" {mixed['server_cpu']:.2f}, the client {mixed['client_cpu']:.2f}, idle"
                f" {mixed['idle']:.2f}, stolen by the host {mixed['steal']:.2f}.",
            ]
        lines += ["", "| target | measured | verdict |", "| --- | --- | --- |"]
        for target, measured, verdict in verdicts(report):
            lines.append(f"| {target} | {measured} | {verdict} |")
        lines.append("")
    return "\n".join(lines)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ops_bench", description=__doc__)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1000, 1_000_000])
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--paths", nargs="+", help="replace the default paths")
    parser.add_argument("--extra-paths", nargs="+", help="more paths (the dashboard's pages)")
    parser.add_argument(
        "--small-mix",
        choices=("full-pages", "organic"),
        default="full-pages",
        help="the smaller sizes' fill: every measured page full (the same page), or as it grows",
    )
    parser.add_argument("--worker-jobs", type=int, default=60_000)
    parser.add_argument("--worker-rounds", type=int, default=3, help="0: skip the workers")
    parser.add_argument(
        "--interleaved-jobs",
        type=int,
        default=0,
        help="one drain of this many jobs with the poller switched on and off (0: skip)",
    )
    parser.add_argument("--json", type=Path, default=Path("bench/results/ops.json"))
    parser.add_argument("--out", type=Path, help="also write the markdown section here")
    parser.add_argument(
        "--store",
        nargs="+",
        default=[],
        metavar="URL",
        help="for the largest N, a store filled before (same N) instead of a new fill",
    )
    args = parser.parse_args(argv)
    args.store = {("sqlite" if u.startswith("sqlite") else "postgres"): u for u in args.store}
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    reports = [run_backend(backend, sorted(args.jobs), args) for backend in args.backend]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(reports, indent=2))
    text = markdown(reports, args)
    if args.out is not None:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
