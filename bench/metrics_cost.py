"""What recording the metrics costs the hot path: `python -m bench.metrics_cost`.

Two measures, each side by side in one process, interleaved and repeated (medians), so the
noise of this shared machine falls on both sides alike:

1. per event: publishing a `JobSucceeded` on a bus with only the log subscriber (as before
   the metrics), with the recorder too (this process's counters), and with the recorder in
   multiprocess mode (mmap files in a temporary directory);
2. end to end: 2,000 async no-op jobs run by an in-process burst worker on SQLite, with the
   recorder unsubscribed (as before) and subscribed (as now): jobs per second, and CPU time
   per job (less disturbed than wall time by other work on the machine).

Figures go to stdout; docs/metrics.md keeps the last ones.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conveyor import Conveyor
from conveyor.events import EventBus, JobSucceeded
from conveyor.logs import configure_logging
from conveyor.metrics import Recorder
from conveyor.middleware import Logging

EVENTS = 200_000


def per_event(mode: str, directory: str | None = None) -> float:
    """Microseconds per published JobSucceeded (mode: logs | memory | multiprocess)."""
    bus = EventBus(Logging())
    if mode != "logs":
        recorder = Recorder(lambda: directory)
        recorder.build()
        bus.subscribe(recorder, JobSucceeded)
    events = [JobSucceeded(i, f"task{i % 4}", "default", None, 1, 0.001) for i in range(1000)]
    started = time.process_time()  # CPU time: the other builds on the machine count less
    for _ in range(EVENTS // len(events)):
        for event in events:
            bus.publish(event)
    return (time.process_time() - started) / EVENTS * 1e6


def run_jobs(jobs: int, subscribed: bool, folder: Path, run: int) -> tuple[float, float]:
    """(jobs per second, CPU microseconds per job: every thread of this process)."""
    app = Conveyor(f"sqlite:///{folder / f'cost-{run}.db'}")

    @app.task
    async def noop() -> None: ...

    app.migrate()
    if not subscribed:
        app.events.unsubscribe(app.metrics.recorder)
    noop.enqueue_many([None] * jobs)
    started, cpu = time.perf_counter(), time.process_time()
    app.run_worker(burst=True, concurrency=100)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    app.close()
    return jobs / seconds, cpu / jobs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--multiprocess-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_logging("info")  # as a worker runs: successes are debug lines, not written
    if args.multiprocess_child:  # a process of its own: multiprocess mode is process-wide
        print(per_event("multiprocess", args.multiprocess_child))
        return
    micro: dict[str, list[float]] = {"logs": [], "memory": [], "multiprocess": []}
    whole: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for run in range(args.repeat):
            micro["logs"].append(per_event("logs"))
            micro["memory"].append(per_event("memory"))
            child = [sys.executable, "-m", "bench.metrics_cost"]
            directory = folder / f"mp-{run}"
            out = subprocess.run(
                [*child, "--multiprocess-child", str(directory)],
                capture_output=True,
                text=True,
                check=True,
            )
            micro["multiprocess"].append(float(out.stdout.strip()))
            for subscribed in (run % 2 == 0, run % 2 != 0):  # alternate which goes first
                rate, used = run_jobs(args.jobs, subscribed, folder, 2 * run + subscribed)
                whole[subscribed].append(rate)
                cpu[subscribed].append(used)
    print(f"per JobSucceeded published (median of {args.repeat}, {EVENTS:,} events each):")
    for mode, figures in micro.items():
        print(f"  {mode:<13} {statistics.median(figures):6.2f} µs")
    before, after = statistics.median(whole[False]), statistics.median(whole[True])
    print(f"{args.jobs:,} async no-op jobs, in-process burst worker, SQLite (median jobs/s):")
    print(f"  recorder unsubscribed {before:8.0f}")
    print(f"  recorder subscribed   {after:8.0f}  ({(after - before) / before * 100:+.1f} %)")
    print("  all runs:", {k: [round(v) for v in vs] for k, vs in whole.items()})
    before, after = statistics.median(cpu[False]), statistics.median(cpu[True])
    print("CPU time per job (median µs, all threads of the process):")
    print(f"  recorder unsubscribed {before:8.1f}")
    print(f"  recorder subscribed   {after:8.1f}  ({(after - before) / before * 100:+.1f} %)")


if __name__ == "__main__":
    main()
