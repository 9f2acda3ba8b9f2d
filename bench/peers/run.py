"""Run the peer benchmarks and write their results as a JSON list.

    python -m bench.peers.run [--only NAME ...] [--jobs N] [--out FILE] [--no-variants]
                              [--repeat R]

Run from the repository root with the venv's interpreter.  Needs PostgreSQL on
127.0.0.1:5432 (user postgres; databases ``bench_<peer>`` are dropped and recreated) and
Redis on 127.0.0.1:6379 (db 15 is flushed).  Each peer's module docstring documents its
settings; ``bench/peers/common.py`` documents the method.  One peer failing does not stop
the others: its dict carries the error in ``notes``.  A summary table goes to stderr.

With ``--repeat R`` the peers are run R times, interleaved (A B C D A B C D ...) so that a
noisy spell does not hit one peer only; each metric is then the median of the runs and the
per-run values are kept under ``"runs"``.  Every dict also gets ``"seconds"``, the wall
time its runs took.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.peers import common

PEERS: dict[str, str] = {
    "procrastinate": "bench.peers.procrastinate_peer",
    "pgqueuer": "bench.peers.pgqueuer_peer",
    "huey": "bench.peers.huey_peer",
    "dramatiq": "bench.peers.dramatiq_peer",
}

DEFAULT_JOBS = 20_000

COLUMNS = (
    "enqueue_single",
    "enqueue_bulk",
    "process_1",
    "process_2",
    "latency_p50_ms",
    "latency_p99_ms",
)


def run_peer(name: str, jobs: int, variants: bool) -> dict[str, Any]:
    """Run one peer; never raises (except KeyboardInterrupt)."""
    start = time.monotonic()
    backend = "?"
    try:
        module = importlib.import_module(PEERS[name])
        backend = str(getattr(module, "BACKEND", backend))
        result: dict[str, Any] = dict(module.run(jobs, variants=variants))
    except Exception as exc:
        result = dict(common.new_result(name, backend))
        where = "".join(traceback.format_tb(exc.__traceback__, limit=-3))
        result["notes"] = f"failed: {type(exc).__name__}: {exc}\n{where}"
    result["seconds"] = round(time.monotonic() - start, 1)
    return result


def combine(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One dict for repeated runs of a peer: the median of each metric, raw values kept."""
    if len(runs) == 1:
        return runs[0]
    combined = dict(runs[-1])
    for key in COLUMNS:
        values = [r[key] for r in runs if r.get(key) is not None]
        combined[key] = round(statistics.median(values), 2) if values else None
    combined["seconds"] = round(sum(r["seconds"] for r in runs), 1)
    notes = list(dict.fromkeys(r["notes"] for r in runs if r["notes"]))
    combined["notes"] = " | ".join(notes)
    combined["runs"] = [{key: r.get(key) for key in (*COLUMNS, "seconds")} for r in runs]
    return combined


def format_table(results: Sequence[dict[str, Any]]) -> str:
    header = ["peer", *COLUMNS, "seconds"]
    rows = [header]
    for r in results:
        cells = [str(r["peer"])]
        for key in (*COLUMNS, "seconds"):
            value = r.get(key)
            cells.append("-" if value is None else f"{value:,.1f}")
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.peers.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(PEERS),
        metavar="NAME",
        help=f"peers to run (default: all of {', '.join(PEERS)})",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=DEFAULT_JOBS,
        help="jobs for enqueue_bulk and process_N (peers may scale it; see their notes)",
    )
    parser.add_argument("--out", type=Path, help="JSON file to write (default: stdout)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every peer R times (interleaved) and report medians (default: 1)",
    )
    parser.add_argument(
        "--no-variants",
        action="store_true",
        help="skip the extra out-of-the-box-settings measurements reported in notes",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1000:
        parser.error("--jobs must be at least 1000")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.only or list(PEERS)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    started = time.monotonic()
    for round_no in range(1, args.repeat + 1):
        for name in names:
            label = f"{name} (run {round_no}/{args.repeat})" if args.repeat > 1 else name
            print(f"[bench] {label} ...", file=sys.stderr, flush=True)
            result = run_peer(name, args.jobs, variants=not args.no_variants)
            runs[name].append(result)
            if result["notes"]:
                print(f"[bench] {label} notes: {result['notes']}", file=sys.stderr, flush=True)
    results = [combine(runs[name]) for name in names]
    print(format_table(results), file=sys.stderr)
    print(f"[bench] total {time.monotonic() - started:.0f} s", file=sys.stderr)
    if args.out is not None:
        common.write_results(args.out, results)
        print(f"[bench] wrote {args.out}", file=sys.stderr)
    else:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
