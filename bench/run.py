"""`make bench`: Conveyor and its peers, measured side by side in one run.

    python -m bench.run [--jobs N] [--repeat R] [--only NAME ...] [--out docs/benchmarks.md]
                        [--task-jobs N] [--core-only]
    python -m bench.run --webhooks-only [--webhook-seconds S]     (the webhook intake section)
    python -m bench.run --ops-only [--ops-jobs N ...]   (the operations section: API listings)

Every subject runs the same method (bench/peers/common.py). With --repeat R the subjects run R
times, interleaved, and each figure is the median, so a noisy spell on this shared machine does
not hit one subject only. Results go to bench/results/latest.json and docs/benchmarks.md. A full
run also measures plain `def` and `async def` tasks against the peers (bench/task_kinds.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import conveyor_bench, task_kinds
from bench.peers import common
from bench.peers.run import PEERS, combine, format_table, run_peer

Subject = Callable[[int], dict[str, Any]]

SUBJECTS: dict[str, Subject] = {
    "conveyor-sqlite": lambda jobs: conveyor_bench.run(jobs, "sqlite"),
    "conveyor-postgres": lambda jobs: conveyor_bench.run(jobs, "postgres"),
    "conveyor-sqlite-keyed": lambda jobs: conveyor_bench.run(jobs, "sqlite", keyed=True),
    "conveyor-postgres-keyed": lambda jobs: conveyor_bench.run(jobs, "postgres", keyed=True),
    **{name: (lambda jobs, name=name: run_peer(name, jobs, variants=False)) for name in PEERS},
}
EXTRA = ("raw_insert", "paired_ratio")


def run_subject(name: str, jobs: int) -> dict[str, Any]:
    start = time.monotonic()
    try:
        result = SUBJECTS[name](jobs)
    except Exception as exc:  # one subject failing must not stop the others
        result = dict(common.new_result(name, "?"))
        result["notes"] = f"failed: {type(exc).__name__}: {exc}"
    result.setdefault("seconds", round(time.monotonic() - start, 1))
    result["subject"] = name
    return result


def combine_all(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    combined = combine(list(runs))
    for key in EXTRA:
        values = sorted(r[key] for r in runs if r.get(key) is not None)
        if values:
            combined[key] = values[len(values) // 2]
    return combined


def ratio(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else a / b


def targets(by: dict[str, dict[str, Any]]) -> list[tuple[str, str, float | None, str]]:
    """(target, measured as, value, verdict) for each target of the core issue."""

    def get(subject: str, key: str) -> float | None:
        value = by.get(subject, {}).get(key)
        return float(value) if value is not None else None

    rows: list[tuple[str, str, float | None, str]] = []

    def at_least(name: str, how: str, value: float | None, floor: float) -> None:
        verdict = "n/a" if value is None else ("met" if value >= floor else "NOT met")
        rows.append((name, how, value, verdict))

    for n in (1, 2):
        at_least(
            f"PostgreSQL, {n} worker(s): >= 1.2x pgqueuer",
            f"conveyor-postgres process_{n} / pgqueuer process_{n}",
            ratio(get("conveyor-postgres", f"process_{n}"), get("pgqueuer", f"process_{n}")),
            1.2,
        )
    at_least(
        "SQLite, 1 worker: >= 2.5x SqliteHuey",
        "conveyor-sqlite process_1 / huey process_1",
        ratio(get("conveyor-sqlite", "process_1"), get("huey", "process_1")),
        2.5,
    )
    for backend in ("sqlite", "postgres"):
        for n in (1, 2):
            at_least(
                f"{backend}, {n} worker(s): keyed >= 0.8x unkeyed",
                f"conveyor-{backend}-keyed process_{n} / conveyor-{backend} process_{n}",
                ratio(
                    get(f"conveyor-{backend}-keyed", f"process_{n}"),
                    get(f"conveyor-{backend}", f"process_{n}"),
                ),
                0.8,
            )
        at_least(
            f"{backend}: single enqueue >= 0.9x raw INSERT+COMMIT",
            f"conveyor-{backend}: app.enqueue / bare INSERT+COMMIT, alternating blocks of 100"
            " on one table (the columns above were measured apart)",
            get(f"conveyor-{backend}", "paired_ratio"),
            0.9,
        )
        at_least(
            f"{backend}: bulk enqueue >= 20,000 jobs/s",
            f"conveyor-{backend} enqueue_bulk / 20,000",
            ratio(get(f"conveyor-{backend}", "enqueue_bulk"), 20_000),
            1.0,
        )
    p50 = get("conveyor-postgres", "latency_p50_ms")
    rows.append(
        (
            "PostgreSQL enqueue->start p50 < 10 ms",
            "conveyor-postgres latency_p50_ms (ms, not a ratio)",
            p50,
            "n/a" if p50 is None else ("met" if p50 < 10 else "NOT met"),
        )
    )
    return rows


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    pg = (
        subprocess.run(["psql", "-V"], capture_output=True, text=True, check=False).stdout.strip()
        or "?"
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"SQLite {__import__('sqlite3').sqlite_version}, {pg}"
    )


def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def extra_sections(args: argparse.Namespace) -> list[str]:
    """The connections and webhook issues' figures: HTTP clients, rate-limit accuracy, webhook
    intake, deliveries."""
    from bench import deliveries, http_clients, rate_accuracy

    lines: list[str] = []
    print("[bench] http clients ...", file=sys.stderr, flush=True)
    report = http_clients.run(requests=3000, repeat=3)
    lines += [
        "## HTTP client: aiohttp or httpx",
        "",
        "`python -m bench.http_clients`: the same POST to a local sink (its own process), one",
        "shared keep-alive client each, runs interleaved. Conveyor uses the faster one, aiohttp.",
        "",
        http_clients.format_table(report),
        "",
    ]
    lines += [
        "## Rate-limit accuracy",
        "",
        f"`python -m bench.rate_accuracy`: {rate_accuracy.RATE:g}/s with burst"
        f" {rate_accuracy.BURST}, 4 worker processes sharing the bucket through the store, work"
        " waiting the whole time; the sink records each request's arrival.",
        "",
        "| backend | seconds | requests | most in any 1 s (allowed) | achieved rate /s"
        " | share of allowed |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend in ("sqlite", "postgres"):
        print(f"[bench] rate accuracy {backend} ...", file=sys.stderr, flush=True)
        r = rate_accuracy.run(backend, seconds=args.rate_seconds)
        lines.append(
            f"| {backend} | {r['seconds']:g} | {r['requests']} | {r['max_in_1s']}"
            f" ({r['allowed_in_1s']:g}) | {r['achieved_rate']} | {r['share_of_allowed']:.0%} |"
        )
    print("[bench] pull syncs ...", file=sys.stderr, flush=True)
    from bench import sync as sync_bench

    sync_report = sync_bench.run(args.sync_items, big=args.sync_big, repeat=args.repeat)
    common.write_results(args.json.with_name("sync.json"), [sync_report])
    lines += ["", *sync_bench.markdown(sync_report).splitlines()]
    lines += ["", *webhook_section(args).splitlines()]
    print("[bench] deliveries ...", file=sys.stderr, flush=True)
    delivery_rows = deliveries.run(args.delivery_jobs, repeat=args.repeat)
    common.write_results(args.json.with_name("deliveries.json"), delivery_rows)
    lines += ["", *deliveries.markdown(delivery_rows, args.delivery_jobs).splitlines()]
    lines += ["", *ops_section(args).splitlines()]
    return [*lines, ""]


def ops_section(args: argparse.Namespace) -> str:
    """The operations issue's figures: the API's listings and /metrics over a big store, and the
    workers beside a client polling them (bench/ops_bench.py)."""
    from bench import ops_bench

    print("[bench] operations (API listings) ...", file=sys.stderr, flush=True)
    ops_args = ops_bench.parse([*map(str, ["--jobs", *args.ops_jobs])])
    reports = [ops_bench.run_backend(b, sorted(ops_args.jobs), ops_args) for b in ops_args.backend]
    common.write_results(args.json.with_name("ops.json"), reports)
    return ops_bench.markdown(reports, ops_args)


def webhook_section(args: argparse.Namespace) -> str:
    """The webhook intake issue's figures: `conveyor serve` beside a bare FastAPI endpoint."""
    from bench import webhooks

    print("[bench] webhook intake ...", file=sys.stderr, flush=True)
    rows = webhooks.run(args.webhook_seconds, args.webhook_concurrency, repeat=args.repeat)
    common.write_results(args.json.with_name("webhooks.json"), rows)
    return webhooks.markdown(rows, args.webhook_seconds, args.webhook_concurrency)


def markdown(
    results: list[dict[str, Any]], extras: list[str], args: argparse.Namespace, seconds: float
) -> str:
    by = {r["subject"]: r for r in results}
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python -m bench.run --jobs {args.jobs} --repeat {args.repeat}`)"
        f" on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {seconds / 60:.0f} min.",
        f"Machine: {machine()}. The machine is shared and noisy: compare figures within this page"
        " (one run, subjects interleaved), not across runs.",
        "",
        "Method (bench/peers/common.py): no-op jobs. *enqueue single*: one job per call, each its"
        " own commit. *enqueue bulk*: the batch API. *process N*: N worker processes drain a"
        " pre-filled queue; the rate is measured between 90% and 10% remaining, so start-up and"
        " tail are excluded. *latency*: one idle worker, 200 jobs enqueued 20 ms apart, time from"
        " the enqueue call to the job's first line. *raw insert*: the same job row inserted with a"
        " bare driver call and a commit per row (the floor for single enqueue).",
        "",
        "| subject | backend | enqueue single /s | enqueue bulk /s | process 1 /s | process 2 /s"
        " | latency p50 ms | latency p99 ms | raw insert /s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['subject']} | {r.get('backend', '')} | {fmt(r.get('enqueue_single'))}"
            f" | {fmt(r.get('enqueue_bulk'))} | {fmt(r.get('process_1'))}"
            f" | {fmt(r.get('process_2'))} | {fmt(r.get('latency_p50_ms'), 2)}"
            f" | {fmt(r.get('latency_p99_ms'), 2)} | {fmt(r.get('raw_insert'))} |"
        )
    lines += [
        "",
        "## Targets (core engine issue)",
        "",
        "| target | measured as | value | verdict |",
        "| --- | --- | ---: | --- |",
    ]
    for name, how, value, verdict in targets(by):
        lines.append(f"| {name} | {how} | {fmt(value, 2)} | {verdict} |")
    lines += ["", "## Settings and notes", ""]
    for r in results:
        settings = r.get("settings") or ""
        notes = (r.get("notes") or "").replace("\n", " ")
        lines.append(f"- **{r['subject']}**: {settings}" + (f" Notes: {notes}" if notes else ""))
    return "\n".join([*lines, "", *extras]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", nargs="+", choices=sorted(SUBJECTS), metavar="NAME")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--json", type=Path, default=Path("bench/results/latest.json"))
    parser.add_argument("--rate-seconds", type=float, default=30.0)
    parser.add_argument("--delivery-jobs", type=int, default=10_000)
    parser.add_argument("--sync-items", type=int, default=100_000)
    parser.add_argument("--sync-big", type=int, default=1_000_000, help="0: skip")
    parser.add_argument("--core-only", action="store_true", help="skip the connections figures")
    parser.add_argument("--task-jobs", type=int, default=task_kinds.JOBS)
    parser.add_argument("--webhook-seconds", type=float, default=10.0)
    parser.add_argument("--webhook-concurrency", type=int, default=50)
    parser.add_argument("--ops-jobs", type=int, nargs="+", default=[1000, 1_000_000])
    parser.add_argument(
        "--ops-only",
        action="store_true",
        help="run only the operations section and print it (docs/benchmarks.md untouched)",
    )
    parser.add_argument(
        "--webhooks-only",
        action="store_true",
        help="run only the webhook intake section and print it (docs/benchmarks.md untouched)",
    )
    args = parser.parse_args(argv)
    if args.ops_only:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        print(ops_section(args))
        return 0
    if args.webhooks_only:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        print(webhook_section(args))
        return 0
    names = args.only or list(SUBJECTS)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    started = time.monotonic()
    for round_no in range(1, args.repeat + 1):
        for name in names:
            print(f"[bench] {name} (run {round_no}/{args.repeat}) ...", file=sys.stderr, flush=True)
            runs[name].append(run_subject(name, args.jobs))
    results = [combine_all(runs[name]) for name in names]
    for r in results:
        r["peer"] = r["subject"]
    print(format_table(results), file=sys.stderr)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    if args.only is None:
        print("[bench] task kinds ...", file=sys.stderr, flush=True)
        kinds = task_kinds.run(args.task_jobs, repeat=args.repeat)
        common.write_results(args.json.with_name("task_kinds.json"), [kinds])
        extras = [task_kinds.markdown(kinds)]
        extras += [] if args.core_only else extra_sections(args)
        args.out.write_text(markdown(results, extras, args, time.monotonic() - started))
        print(f"[bench] wrote {args.out} and {args.json}", file=sys.stderr)
    else:
        print(
            f"[bench] wrote {args.json} (a partial run does not rewrite {args.out})",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
