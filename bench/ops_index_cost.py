"""What the listing indexes of migration 0017 cost the workers: the core benchmark's bulk
enqueue and one-worker drain, with the indexes and with them dropped, runs alternating.

    python -m bench.ops_index_cost [--jobs 50000] [--rounds 3] [--backend sqlite postgres]
                                   [--drop INDEX ...]   (default: all five of 0017)
                                   [--runnable-before-0018]

`--runnable-before-0018`: the 'without' arm has 0018's covering runnable index put back to its
former definition, `(priority DESC, id)`, instead of dropping indexes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench import conveyor_bench
from bench.peers import common

RUNNABLE_BEFORE_0018 = (
    "DROP INDEX conveyor_jobs_runnable",
    "CREATE INDEX conveyor_jobs_runnable ON conveyor_jobs (priority DESC, id)"
    " WHERE state IN ('queued', 'retrying')",
)
INDEXES = (
    "conveyor_jobs_state_id",
    "conveyor_jobs_task",
    "conveyor_jobs_queue",
    "conveyor_jobs_key_id",
    "conveyor_jobs_unfinished",
)


def drop_indexes(harness: conveyor_bench.ConveyorHarness, names: Sequence[str]) -> None:
    """Drop each named index (or run the statement given instead of a name)."""
    assert harness.app is not None
    with harness.app.store._write() as cur:  # type: ignore[attr-defined]
        for name in names:
            cur.execute(name if " " in name else f"DROP INDEX {name}")


def run(backend: str, jobs: int, rounds: int, drop: Sequence[str] = INDEXES) -> dict[str, Any]:
    found: dict[str, dict[str, list[float]]] = {
        arm: {"enqueue_bulk": [], "process_1": []} for arm in ("with", "without")
    }
    with common.temp_dir("bench-index-cost-") as folder:
        harness = conveyor_bench.ConveyorHarness(backend, False, folder)
        env = common.worker_env({"CONVEYOR_DATABASE_URL": harness.url})
        for round_no in range(rounds):
            arms = ("with", "without") if round_no % 2 == 0 else ("without", "with")
            for arm in arms:

                def reset(arm: str = arm) -> None:
                    harness.reset()
                    if arm == "without":
                        drop_indexes(harness, drop)

                reset()
                start = time.perf_counter()
                harness.enqueue_bulk(jobs)
                found[arm]["enqueue_bulk"].append(jobs / (time.perf_counter() - start))
                rate = common.measure_processing(
                    jobs=jobs,
                    reset=reset,
                    fill=harness.enqueue_bulk,
                    analyze=harness.analyze,
                    remaining=harness.remaining,
                    worker_commands=harness.worker_commands(1),
                    env=env,
                ).rate
                found[arm]["process_1"].append(rate)
                print(f"[index-cost] {backend} {arm}: {rate:,.0f} jobs/s", file=sys.stderr)
        if harness.app is not None:
            harness.app.close()
    if backend == "postgres":
        common.drop_pg_database(conveyor_bench.DB_NAME)
    medians = {
        arm: {k: round(statistics.median(v)) for k, v in values.items()}
        for arm, values in found.items()
    }
    return {
        "backend": backend,
        "runs": {arm: {k: [round(x) for x in v] for k, v in d.items()} for arm, d in found.items()},
        "medians": medians,
        "process_1_ratio": round(medians["with"]["process_1"] / medians["without"]["process_1"], 3),
        "enqueue_bulk_ratio": round(
            medians["with"]["enqueue_bulk"] / medians["without"]["enqueue_bulk"], 3
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ops_index_cost", description=__doc__)
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--drop", nargs="+", default=list(INDEXES), help="the 'without' arm")
    parser.add_argument("--runnable-before-0018", action="store_true")
    args = parser.parse_args(argv)
    if args.runnable_before_0018:
        args.drop = list(RUNNABLE_BEFORE_0018)
    for backend in args.backend:
        print(run(backend, args.jobs, args.rounds, args.drop))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
