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
    from conveyor import Conveyor

WORKER_CONCURRENCY = 100


def idle_seconds() -> float:
    """The machine's idle CPU time so far, every core together (Linux /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")


def steal_seconds() -> float:
    """CPU time the hypervisor gave other machines while this one wanted it (a noisy host)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def worker_command(url: str) -> list[str]:
    return [
        common.venv_script("conveyor"),
        "--app",
        "bench.conveyor_app:app",
        "--database-url",
        url,
        "worker",
        "--concurrency",
        str(WORKER_CONCURRENCY),
    ]


# The benchmark's jobs not yet claimed: a range of conveyor_jobs_state_id (state, id), an
# index-only count (counting by task read a row per job, 100 ms at 150,000 jobs: a reader as busy
# as the worker); the ~100 running are not counted.
REMAINING_SQL = (
    "SELECT count(*) FROM conveyor_jobs WHERE state IN ('queued', 'retrying') AND id >= {first}"
)


def bench_app_on(store: Store) -> tuple[Conveyor, dict[str, str]]:
    """The core benchmark's app (it declares `noop`) on the store, and its workers' env."""
    from bench.conveyor_app import app as bench_app

    bench_app.close()
    bench_app.use_database(store.url)
    return bench_app, common.worker_env({"CONVEYOR_DATABASE_URL": store.url})


def enqueue_noops(store: Store, jobs: int) -> str:
    """Enqueue `jobs` no-op jobs (priority 1: ahead of the filled store's queued jobs), vacuum
    the table on PostgreSQL, and return the SQL counting the ones not yet claimed."""
    from bench.conveyor_app import app as bench_app  # declares `noop`

    first = 0
    for start in range(0, jobs, 5000):
        ids = bench_app.enqueue_many("noop", [{}] * min(5000, jobs - start), priority=1)
        first = first or min(ids)
    if store.backend == "postgres":
        # Each run from a vacuumed table: the shared server runs without autovacuum, and the
        # dead rows of the runs before made the counts read the heap (stats 40 -> 520 ms after
        # three runs), for the poller and the workers.
        store.query("VACUUM ANALYZE conveyor_jobs")
    return REMAINING_SQL.format(first=first)


def worker_rates(
    store: Store, server: Server, token: str, paths: Sequence[str], jobs: int, rounds: int
) -> dict[str, Any]:
    """Drain rates (jobs/s) of one worker process, alternating quiet and polled runs."""
    bench_app, env = bench_app_on(store)
    command = worker_command(store.url)
    rates: dict[str, list[float]] = {"quiet": [], "polled": []}
    polled_requests = 0
    server_cpu: dict[str, list[float]] = {"quiet": [], "polled": []}
    idle: dict[str, list[float]] = {"quiet": [], "polled": []}
    try:
        for round_no in range(rounds):
            for arm in ("quiet", "polled") if round_no % 2 == 0 else ("polled", "quiet"):
                count_sql = enqueue_noops(store, jobs)
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


def interleaved_rates(
    store: Store,
    server: Server,
    token: str,
    paths: Sequence[str],
    jobs: int,
    window: float = 3.0,
    settle: float = 0.5,
) -> dict[str, Any]:
    """One drain of `jobs` no-op jobs with the poller switched on and off every `window`
    seconds: each polled window's rate against the mean of the quiet windows either side, so
    the drain's own drift (a table growing and shrinking, a checkpoint, the machine) falls on
    both arms alike. A window's rate is read from `settle` s after the switch (a round under way
    finishes) to its end, between 90% and 10% remaining."""
    bench_app, env = bench_app_on(store)
    count_sql = enqueue_noops(store, jobs)

    def remaining() -> tuple[float, int]:
        before = time.perf_counter()
        value = int(store.query(count_sql)[0][0])
        return (before + time.perf_counter()) / 2, value

    windows: list[tuple[str, float]] = []
    poller = Poller(server.base, token, paths)
    poller.active.clear()
    poller.__enter__()  # logged in, idle until a polled window
    cpu_before, idle_before, began = server.cpu_seconds(), idle_seconds(), time.monotonic()
    steal_before = steal_seconds()
    try:
        with common.WorkerGroup([worker_command(store.url)], env) as group:
            while remaining()[1] > 0.9 * jobs:
                group.check()
                time.sleep(0.1)
            polled = False
            while True:
                (poller.active.set if polled else poller.active.clear)()
                switched = time.monotonic()
                time.sleep(settle)
                t1, c1 = remaining()
                time.sleep(max(0.0, window - (time.monotonic() - switched)))
                t2, c2 = remaining()
                group.check()
                if c2 < 0.1 * jobs:
                    break
                windows.append(("polled" if polled else "quiet", (c1 - c2) / (t2 - t1)))
                polled = not polled
    finally:
        poller.__exit__()
        bench_app.close()
    took = time.monotonic() - began
    store.query("DELETE FROM conveyor_jobs WHERE task = 'noop'")
    ratios = []
    for i, (arm, rate) in enumerate(windows):
        around = [r for a, r in windows[max(0, i - 1) : i + 2] if a == "quiet"]
        if arm == "polled" and around:
            ratios.append(rate / statistics.fmean(around))
    quiet = [r for a, r in windows if a == "quiet"]
    polled_rates = [r for a, r in windows if a == "polled"]
    result = {
        "window_s": window,
        "quiet": [round(r) for r in quiet],
        "polled": [round(r) for r in polled_rates],
        "pairs": len(ratios),
        "slowdown_pct": round((1 - statistics.median(ratios)) * 100, 1) if ratios else None,
        "slowdown_mean_pct": round((1 - statistics.fmean(ratios)) * 100, 1) if ratios else None,
        "poll_requests": poller.requests,
        "client_cpu": round(poller.client_cpu / took, 3),
        "server_cpu": round((server.cpu_seconds() - cpu_before) / took, 3),
        "idle": round((idle_seconds() - idle_before) / took, 3),
        "steal": round((steal_seconds() - steal_before) / took, 3),
    }
    print(f"[ops]   interleaved: {result}", file=sys.stderr, flush=True)
    return result
