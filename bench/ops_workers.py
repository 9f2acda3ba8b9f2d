"""The operations benchmark's worker runs: drain rates of one worker process, alternating quiet
runs and runs with a client polling every path once a second."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.ops_client import Poller
from bench.peers import common

if TYPE_CHECKING:
    from bench.ops_bench import Server, Store

WORKER_CONCURRENCY = 100


def idle_seconds() -> float:
    """The machine's idle CPU time so far, every core together (Linux /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")


def worker_rates(
    store: Store, server: Server, token: str, paths: Sequence[str], jobs: int, rounds: int
) -> dict[str, Any]:
    """Drain rates (jobs/s) of one worker process, alternating quiet and polled runs."""
    from bench.conveyor_app import app as bench_app  # declares `noop`, which we enqueue

    bench_app.close()
    bench_app.use_database(store.url)
    env = common.worker_env({"CONVEYOR_DATABASE_URL": store.url})
    command = [
        common.venv_script("conveyor"),
        "--app",
        "bench.conveyor_app:app",
        "--database-url",
        store.url,
        "worker",
        "--concurrency",
        str(WORKER_CONCURRENCY),
    ]
    # The benchmark's jobs not yet claimed: a range of conveyor_jobs_state_id (state, id), an
    # index-only count (counting by task read a row per job, 100 ms at 150,000 jobs: a reader
    # as busy as the worker); the ~100 running are not counted.
    remaining_sql = (
        "SELECT count(*) FROM conveyor_jobs WHERE state IN ('queued', 'retrying') AND id >= {first}"
    )
    rates: dict[str, list[float]] = {"quiet": [], "polled": []}
    polled_requests = 0
    server_cpu: dict[str, list[float]] = {"quiet": [], "polled": []}
    idle: dict[str, list[float]] = {"quiet": [], "polled": []}
    try:
        for round_no in range(rounds):
            for arm in ("quiet", "polled") if round_no % 2 == 0 else ("polled", "quiet"):
                first = 0
                for start in range(0, jobs, 5000):
                    ids = bench_app.enqueue_many("noop", [{}] * min(5000, jobs - start), priority=1)
                    first = first or min(ids)
                count_sql = remaining_sql.format(first=first)
                if store.backend == "postgres":
                    # Each run from a vacuumed table: the shared server runs without autovacuum,
                    # and the dead rows of the runs before made the counts read the heap
                    # (stats 40 -> 520 ms after three runs), for the poller and the workers.
                    store.query("VACUUM ANALYZE conveyor_jobs")
                poller = Poller(server.base, token, paths) if arm == "polled" else None
                if poller is not None:
                    poller.__enter__()
                    time.sleep(1.0)  # the poller under way before the workers start
                cpu, began = server.cpu_seconds(), time.monotonic()
                idle_before = idle_seconds()
                try:
                    with common.WorkerGroup([command], env) as group:
                        rate = common.measure_drain(
                            lambda sql=count_sql: int(store.query(sql)[0][0]),
                            jobs,
                            check=group.check,
                            interval=0.5,
                        ).rate
                finally:
                    if poller is not None:
                        poller.__exit__()
                        polled_requests += poller.requests
                rates[arm].append(rate)
                took = time.monotonic() - began
                server_cpu[arm].append((server.cpu_seconds() - cpu) / took)
                idle[arm].append((idle_seconds() - idle_before) / took)
                store.query("DELETE FROM conveyor_jobs WHERE task = 'noop'")
                print(f"[ops]   worker {arm}: {rate:,.0f} jobs/s", file=sys.stderr, flush=True)
    finally:
        bench_app.close()
    quiet = statistics.median(rates["quiet"])
    polled = statistics.median(rates["polled"])
    return {
        "quiet": [round(r) for r in rates["quiet"]],
        "polled": [round(r) for r in rates["polled"]],
        "quiet_median": round(quiet),
        "polled_median": round(polled),
        "slowdown_pct": round((1 - polled / quiet) * 100, 1),
        "poll_requests": polled_requests,
        # The server's CPU (share of one core) during the drains: the poller's own cost.
        "server_cpu_polled": round(statistics.median(server_cpu["polled"]), 3),
        "server_cpu_quiet": round(statistics.median(server_cpu["quiet"]), 3),
        # The machine's idle CPU meanwhile (cores). PostgreSQL's own is not summed: the
        # worker's backends exit with it, taking their CPU time out of /proc.
        "idle_polled": round(statistics.median(idle["polled"]), 3),
        "idle_quiet": round(statistics.median(idle["quiet"]), 3),
    }
