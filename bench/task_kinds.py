"""Plain `def` and `async def` tasks, side by side with the peers (issue 8).

    python -m bench.task_kinds [--jobs N] [--repeat R] [--only SUBJECT ...] [--kinds def async]
                               [--settings c10 best] [--out FILE]

Every case: reset the storage, fill it with N jobs of one task whose body appends one short line
to a file (`bench.peers.common.append_line`, the same body for every system), start one worker
process, and measure the drain between 90% and 10% remaining (bench/peers/common.py), polled
every 10 ms. Cases run interleaved (every case once per round, R rounds); each figure is the
median. `c10` is concurrency 10, the peers' settings in the issue; `best` is each system's
tuned setting (see SETTING_NOTES). A case a system cannot run (huey and dramatiq have no async
tasks, pgqueuer 1.6 no sync entrypoints) is left out and said so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sqlite3
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.peers import common

JOBS = 5000
POLL = 0.01
CONVEYOR_BEST = 100
KINDS = ("def", "async")
SETTINGS = ("c10", "best")
SUBJECTS = ("conveyor-sqlite", "conveyor-postgres", "huey", "pgqueuer", "procrastinate", "dramatiq")

# What each (subject, setting) means, for the notes; None: the system has no such case.
SETTING_NOTES: dict[str, dict[str, str]] = {
    "conveyor-sqlite": {
        "c10": "`conveyor worker --concurrency 10`",
        "best": f"`conveyor worker --concurrency {CONVEYOR_BEST}`",
    },
    "conveyor-postgres": {
        "c10": "`conveyor worker --concurrency 10`",
        "best": f"`conveyor worker --concurrency {CONVEYOR_BEST}`",
    },
    "huey": {
        "c10": "`huey_consumer -k thread -w 10 -d 0.01 -m 0.1 -q`",
        "best": "`huey_consumer -k thread -w 1 -d 0.01 -m 0.1 -q` (its best: huey_peer.py)",
    },
    "pgqueuer": {
        "c10": "`pgqueuer.run(batch_size=5, max_concurrent_tasks=10)` (the cap must be >= 2x the"
        " batch) under uvloop",
        "best": "`pgqueuer.run(batch_size=100)`, no cap (its tuned setting) under uvloop",
    },
    "procrastinate": {
        "c10": "`procrastinate worker --concurrency=10` (also its best: no gain past 4),"
        " a quarter of the jobs",
    },
    "dramatiq": {
        "c10": "`dramatiq --processes 1 --threads 10`, prefetch 100, worker timeout 100 ms",
    },
}
# From profiles of the Conveyor worker (py-spy on a worker draining 20,000-40,000 jobs, see
# docs/design.md) and, for the peers, from what their benchmark modules found tuning them.
LIMITS = [
    "- Conveyor, plain `def`, c10: round trips to the database. py-spy `--idle`: the loop waits"
    " in `select` ~78% of the time and the threads on their queue ~90%; each claim takes at most"
    " 2 x concurrency jobs (the worker claims quick sync jobs ahead), so the rate is set by how"
    " fast claims and the batched outcome writes come back, not by the threads.",
    "- Conveyor, `async def`, c10: the same round trips with at most 10 jobs per claim (async"
    " jobs are not claimed ahead), hence below the plain `def` figure at c10.",
    "- Conveyor, best (c100): on SQLite the worker process is close to one core busy (the GIL:"
    " loop, database thread and task threads share it); on PostgreSQL it uses about a third of a"
    " core, the rest is round trips and the server's own CPU on the same two shared cores.",
    "- SqliteHuey: every thread of a consumer shares one SQLite connection behind a lock, and"
    " each job is a dequeue and a result write (fsynced, `synchronous=FULL`): more threads do"
    " not help (huey_peer.py).",
    "- pgqueuer: at c10 its cap of 10 picked jobs forces batches of 5 (the cap must be twice the"
    " batch), a dequeue round trip per 5 jobs; at its tuned batch of 100 it is bound by the"
    " same round trips as Conveyor, one process.",
    "- procrastinate: fetches one job per round trip (no batch fetch) whatever the concurrency"
    " (procrastinate_peer.py).",
    "- Dramatiq: a Redis round trip per message for the fetch and one for the ack, prefetch 100;"
    " 10 threads share the GIL with the consumer thread (dramatiq_peer.py).",
]
SUPPORTED: dict[str, tuple[str, ...]] = {
    "conveyor-sqlite": KINDS,
    "conveyor-postgres": KINDS,
    "huey": ("def",),
    "pgqueuer": ("async",),  # 1.6 refuses sync entrypoints ("no longer supported")
    "procrastinate": KINDS,
    "dramatiq": ("def",),
}


@dataclass(frozen=True)
class Case:
    subject: str
    kind: str
    setting: str


@dataclass
class Driver:
    """One subject set up for one case: its storage and its worker's command line."""

    reset: Callable[[], None]
    fill: Callable[[int], None]
    remaining: Callable[[], int]
    command: list[str]
    env: dict[str, str]
    analyze: Callable[[], None] | None = None
    stop_signal: signal.Signals = signal.SIGTERM
    jobs_scale: float = 1.0


def cases(subjects: Sequence[str], kinds: Sequence[str], settings: Sequence[str]) -> list[Case]:
    return [
        Case(subject, kind, setting)
        for subject in subjects
        for kind in kinds
        if kind in SUPPORTED[subject]
        for setting in settings
        if setting in SETTING_NOTES[subject]
    ]


# -- the subjects ---------------------------------------------------------------------------


@contextlib.contextmanager
def conveyor(case: Case, folder: Path, env: dict[str, str]) -> Iterator[Driver]:
    from bench.conveyor_bench import DB_NAME, ConveyorHarness

    backend = "sqlite" if case.subject == "conveyor-sqlite" else "postgres"
    harness = ConveyorHarness(backend, False, folder)
    task = f"append_{case.kind}"
    pg: Any = None

    def fill(n: int) -> None:
        assert harness.app is not None
        for start in range(0, n, 5000):
            harness.app.enqueue_many(task, [{}] * min(5000, n - start))

    def remaining() -> int:
        query = (
            "SELECT count(*) FROM conveyor_jobs"
            " WHERE state NOT IN ('succeeded', 'dead', 'cancelled')"
        )
        if backend == "sqlite":
            with contextlib.closing(sqlite3.connect(harness.path, timeout=30)) as conn:
                return int(conn.execute(query).fetchone()[0])
        nonlocal pg
        if pg is None:
            import psycopg

            pg = psycopg.connect(harness.url, autocommit=True)
        return int(pg.execute(query).fetchone()[0])

    def reset() -> None:
        nonlocal pg
        if pg is not None:
            pg.close()
            pg = None
        harness.reset()

    concurrency = 10 if case.setting == "c10" else CONVEYOR_BEST
    command = [
        common.venv_script("conveyor"),
        "--app",
        "bench.conveyor_app:app",
        "--database-url",
        harness.url,
        "worker",
        "--concurrency",
        str(concurrency),
    ]
    try:
        yield Driver(
            reset,
            fill,
            remaining,
            command,
            {**env, "CONVEYOR_DATABASE_URL": harness.url},
            analyze=harness.analyze,
        )
    finally:
        if pg is not None:
            pg.close()
        if harness.app is not None:
            harness.app.close()
        if backend == "postgres":
            common.drop_pg_database(DB_NAME)


@contextlib.contextmanager
def huey(case: Case, folder: Path, env: dict[str, str]) -> Iterator[Driver]:
    from bench.peers import huey_peer

    db = folder / "huey.db"
    instance, tasks = huey_peer.make_huey_tasks(str(db))
    append = tasks["append"]

    def fill(n: int) -> None:
        for _ in range(n):  # huey has no batch enqueue
            append()

    workers = 10 if case.setting == "c10" else huey_peer.DEFAULT_WORKERS
    command = [
        common.venv_script("huey_consumer"),
        "bench.peers.huey_peer.huey",
        f"--workers={workers}",
        "--worker-type=thread",
        f"--delay={huey_peer.INITIAL_DELAY}",
        f"--max-delay={huey_peer.MAX_DELAY}",
        "--quiet",
    ]
    try:
        yield Driver(
            instance.storage.flush_all,
            fill,
            lambda: int(instance.pending_count()),
            command,
            {**env, huey_peer.DB_ENV: str(db)},
            stop_signal=signal.SIGINT,
        )
    finally:
        instance.storage.close()


@contextlib.contextmanager
def pgqueuer(case: Case, folder: Path, env: dict[str, str]) -> Iterator[Driver]:
    import psycopg

    from bench.peers import pgqueuer_peer as peer

    peer.setup_database()
    settings = (
        {peer.BATCH_SIZE_ENV: "5", peer.MAX_TASKS_ENV: "10"}
        if case.setting == "c10"
        else {peer.BATCH_SIZE_ENV: str(peer.DEFAULT_BATCH_SIZE), peer.MAX_TASKS_ENV: ""}
    )
    try:
        with asyncio.Runner() as runner, psycopg.connect(peer.dsn(), autocommit=True) as sync:
            harness = peer.PgqueuerHarness(runner, sync)

            def fill(n: int) -> None:
                queries = harness.queries  # connects: outside the coroutine below

                async def go() -> None:
                    for start in range(0, n, peer.BULK_CHUNK):
                        size = min(peer.BULK_CHUNK, n - start)
                        await queries.enqueue(["append"] * size, [None] * size, [0] * size)

                runner.run(go())

            try:
                yield Driver(
                    harness.reset,
                    fill,
                    harness.remaining,
                    list(peer.WORKER_COMMAND),
                    {**env, peer.DSN_ENV: peer.dsn(), **settings},
                    analyze=harness.analyze,
                )
            finally:
                harness.close()
    finally:
        common.drop_pg_database(peer.DB_NAME)


@contextlib.contextmanager
def procrastinate(case: Case, folder: Path, env: dict[str, str]) -> Iterator[Driver]:
    import psycopg

    from bench.peers import procrastinate_peer as peer

    peer.setup_database()
    task = peer.append_def if case.kind == "def" else peer.append_async
    try:
        with asyncio.Runner() as runner, psycopg.connect(peer.dsn(), autocommit=True) as sync:
            harness = peer.ProcrastinateHarness(runner, sync)

            def fill(n: int) -> None:
                async def go() -> None:
                    for start in range(0, n, peer.BULK_CHUNK):
                        size = min(peer.BULK_CHUNK, n - start)
                        await task.batch_defer_async(*({} for _ in range(size)))

                runner.run(go())

            try:
                yield Driver(
                    harness.reset,
                    fill,
                    harness.remaining,
                    peer.worker_command(10),
                    {**env, peer.DSN_ENV: peer.dsn(), peer.CONCURRENCY_ENV: "10"},
                    analyze=harness.analyze,
                    jobs_scale=peer.JOBS_SCALE,
                )
            finally:
                harness.close()
    finally:
        common.drop_pg_database(peer.DB_NAME)


@contextlib.contextmanager
def dramatiq(case: Case, folder: Path, env: dict[str, str]) -> Iterator[Driver]:
    from bench.peers import dramatiq_peer as peer

    harness = peer.DramatiqHarness()
    send = peer.append.send

    def fill(n: int) -> None:
        for _ in range(n):  # Dramatiq has no batch enqueue
            send()

    command = [
        common.venv_script("dramatiq"),
        "bench.peers.dramatiq_peer",
        "--processes",
        "1",
        "--threads",
        "10",
    ]
    tuned = {
        peer.REDIS_ENV: peer.redis_url(),
        peer.PREFETCH_ENV: str(peer.PREFETCH),
        peer.WORKER_TIMEOUT_ENV: str(peer.WORKER_TIMEOUT_MS),
    }
    try:
        yield Driver(harness.reset, fill, harness.remaining, command, {**env, **tuned})
    finally:
        harness.reset()
        harness.close()


DRIVERS = {
    "conveyor-sqlite": conveyor,
    "conveyor-postgres": conveyor,
    "huey": huey,
    "pgqueuer": pgqueuer,
    "procrastinate": procrastinate,
    "dramatiq": dramatiq,
}


# -- measuring ------------------------------------------------------------------------------


def measure(case: Case, jobs: int) -> tuple[float | None, str]:
    """One case's drain rate (jobs/s), or None and why."""
    with common.temp_dir("bench-kinds-") as folder:
        env = common.worker_env({common.APPEND_FILE_ENV: str(folder / "appended.txt")})
        try:
            with DRIVERS[case.subject](case, folder, env) as driver:
                count = max(1000, int(jobs * driver.jobs_scale))
                problems: list[str] = []
                drain = common.measure_processing(
                    jobs=count,
                    reset=driver.reset,
                    fill=driver.fill,
                    analyze=driver.analyze,
                    remaining=driver.remaining,
                    worker_commands=[driver.command],
                    env=driver.env,
                    stop_signal=driver.stop_signal,
                    problems=problems,
                    interval=POLL,
                )
                lines = (folder / "appended.txt").read_text().count("\n")
                if lines < drain.jobs:
                    return None, f"only {lines} lines appended for {drain.jobs} jobs done"
                return drain.rate, "; ".join(dict.fromkeys(problems))
        except Exception as error:  # one case failing must not stop the others
            return None, f"failed: {type(error).__name__}: {error}"[:300]


def run(
    jobs: int = JOBS,
    repeat: int = 1,
    subjects: Sequence[str] = SUBJECTS,
    kinds: Sequence[str] = KINDS,
    settings: Sequence[str] = SETTINGS,
) -> dict[str, Any]:
    """Every case `repeat` times, interleaved; the medians, the runs and the problems."""
    todo = cases(subjects, kinds, settings)
    runs: dict[Case, list[float]] = {case: [] for case in todo}
    notes: dict[Case, list[str]] = {case: [] for case in todo}
    for round_no in range(1, repeat + 1):
        for case in todo:
            print(
                f"[bench] task kinds {case.subject} {case.kind} {case.setting}"
                f" (run {round_no}/{repeat}) ...",
                file=sys.stderr,
                flush=True,
            )
            rate, note = measure(case, jobs)
            if rate is not None:
                runs[case].append(rate)
            if note:
                notes[case].append(note)
    rows = [
        {
            "subject": case.subject,
            "kind": case.kind,
            "setting": case.setting,
            "rate": round(statistics.median(runs[case]), 1) if runs[case] else None,
            "runs": [round(r, 1) for r in runs[case]],
            "notes": " | ".join(dict.fromkeys(notes[case])),
        }
        for case in todo
    ]
    return {"jobs": jobs, "repeat": repeat, "rows": rows}


# -- the report -----------------------------------------------------------------------------


def _rate(report: dict[str, Any], subject: str, kind: str, setting: str) -> float | None:
    for row in report["rows"]:
        if (row["subject"], row["kind"], row["setting"]) == (subject, kind, setting):
            return row["rate"]  # type: ignore[no-any-return]
    return None


def _figure(report: dict[str, Any], subject: str, kind: str, setting: str) -> float | None:
    """A verdict's figure: at `best`, a system's higher one of its settings (huey's tuned
    single thread, for one, lost to 10 threads once the body does some work)."""
    if setting == "c10":
        return _rate(report, subject, kind, setting)
    rates = [r for s in SETTINGS if (r := _rate(report, subject, kind, s)) is not None]
    return max(rates) if rates else None


def targets(report: dict[str, Any]) -> list[tuple[str, str, float | None, str]]:
    """(target, measured as, value, verdict): the issue's targets for plain-def tasks. At
    `best`, each side's higher figure of its settings."""
    rows: list[tuple[str, str, float | None, str]] = []

    def at_least(name: str, how: str, a: float | None, b: float | None, floor: float) -> None:
        value = None if not a or not b else a / b
        verdict = "n/a" if value is None else ("met" if value >= floor else "NOT met")
        rows.append((name, how, value, verdict))

    for setting in SETTINGS:
        for subject in ("conveyor-sqlite", "conveyor-postgres"):
            at_least(
                f"{subject}, {setting}: plain def >= 0.8x async def",
                f"{subject} def {setting} / {subject} async {setting}",
                _figure(report, subject, "def", setting),
                _figure(report, subject, "async", setting),
                0.8,
            )
        at_least(
            f"SQLite, {setting}: plain def >= 2.5x SqliteHuey",
            f"conveyor-sqlite def {setting} / huey def {setting}",
            _figure(report, "conveyor-sqlite", "def", setting),
            _figure(report, "huey", "def", setting),
            2.5,
        )
        at_least(
            f"PostgreSQL, {setting}: plain def >= 1.2x pgqueuer",
            f"conveyor-postgres def {setting} / pgqueuer async {setting} (it has no def)",
            _figure(report, "conveyor-postgres", "def", setting),
            _figure(report, "pgqueuer", "async", setting),
            1.2,
        )
    return rows


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "## Task kinds: plain `def` and `async def`",
        "",
        f"`python -m bench.task_kinds --jobs {report['jobs']} --repeat {report['repeat']}`:"
        f" {report['jobs']:,} jobs per case (procrastinate a quarter), each appending one short"
        " line to a file (the same body everywhere), one worker process, the drain measured"
        " between 90% and 10% remaining (polled every 10 ms); cases interleaved, medians."
        " *c10*: concurrency 10; *best*: each system's tuned setting (settings below).",
        "",
        "| subject | task kind | c10 /s | best /s |",
        "| --- | --- | ---: | ---: |",
    ]
    seen: list[tuple[str, str]] = []
    for row in report["rows"]:
        if (row["subject"], row["kind"]) not in seen:
            seen.append((row["subject"], row["kind"]))
    for subject, kind in seen:
        label = "plain `def`" if kind == "def" else "`async def`"
        lines.append(
            f"| {subject} | {label} | {_fmt(_rate(report, subject, kind, 'c10'))}"
            f" | {_fmt(_rate(report, subject, kind, 'best'))} |"
        )
    lines += [
        "",
        "Verdicts at *best* compare each system's higher figure of its two settings.",
        "",
        "| target | measured as | value | verdict |",
        "| --- | --- | ---: | --- |",
    ]
    for name, how, value, verdict in targets(report):
        lines.append(f"| {name} | {how} | {_fmt(value, 2)} | {verdict} |")
    lines += ["", "Settings (one worker process each):", ""]
    for subject in SUBJECTS:
        kinds = " and ".join(SUPPORTED[subject])
        described = "; ".join(f"{k}: {v}" for k, v in SETTING_NOTES[subject].items())
        lines.append(f"- **{subject}** ({kinds}): {described}.")
    lines.append(
        "- Not measured: huey and Dramatiq run plain functions only; pgqueuer 1.6 refuses sync"
        " entrypoints; procrastinate and Dramatiq have no setting that beat concurrency 10 here."
    )
    lines += ["", "What limits the figures:", "", *LIMITS]
    problems = [
        f"{r['subject']} {r['kind']} {r['setting']}: {r['notes']}"
        for r in report["rows"]
        if r["notes"]
    ]
    if problems:
        lines += ["", "Problems: " + " | ".join(problems)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.task_kinds", description=__doc__)
    parser.add_argument("--jobs", type=int, default=JOBS)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", nargs="+", choices=SUBJECTS, default=list(SUBJECTS))
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument("--out", type=Path, help="write the markdown section here")
    parser.add_argument("--json", type=Path, default=Path("bench/results/task_kinds.json"))
    args = parser.parse_args(argv)
    if args.jobs < 1000 or args.repeat < 1:
        parser.error("--jobs must be at least 1000 and --repeat at least 1")
    report = run(args.jobs, args.repeat, args.only, args.kinds, args.settings)
    common.write_results(args.json, [report])
    text = markdown(report)
    if args.out is not None:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
