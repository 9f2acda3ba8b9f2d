"""Deliveries/s to a local HTTP sink: Conveyor beside procrastinate, Celery and RQ.

    python -m bench.deliveries [--jobs N] [--only NAME ...] [--repeat R] [--no-variants]
                               [--sink-processes P] [--json-out PATH] [--markdown]

Every subject drains N pre-enqueued deliveries of the same ~300-byte JSON event, each one a POST
to http://127.0.0.1:<port>/events on a local sink (bench/delivery_peers/sink.py: aiohttp.web in
its own processes, answering 200 ``{"ok": true}``), with 1 and with 2 worker processes. The method
is the one of ``process_N`` in bench/peers/common.py (``measure_processing``): reset the storage,
fill it with no worker running, ANALYZE on PostgreSQL, check the count, start the workers the way
a user would, and take the drain rate between 90 % and 10 % remaining, counted from the queue's
own storage every 50 ms (start-up and tail excluded). The sink counts the requests it answered,
and the count is checked against the jobs each queue says it finished: a job that "finished"
without its request reaching the sink (a failing task) shows up in the notes.

Before the subjects, the sink's own ceiling is measured with a plain aiohttp client flood (one and
two client processes, 100 requests in flight each), so the reader knows the headroom. The machine
has two cores: the sink, the workers and the database share them, the same for every subject.

Each subject's module in bench/delivery_peers/ documents its settings and why. Where a peer has
close configurations (Celery: prefork, or the threads pool), each is measured in the run and the
better figure per process count is reported, both in the notes. Slow subjects drain a
fraction of N (their ``jobs_scale``, in the notes) to keep the run short; the rate is still taken
over the 90 %-10 % window of their own N. PostgreSQL databases ``bench_*_delivery`` are created
and dropped; Redis db 15 is flushed before and after the Redis-based subjects.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.delivery_peers.base import DeliveryHarness
from bench.delivery_peers.sink import (
    EVENT_BYTES,
    SINK_URL_ENV,
    Ceiling,
    Sink,
    loop_name,
    measure_ceiling,
)
from bench.peers import common

DEFAULT_JOBS = 10_000
PROCESS_COUNTS = (1, 2)
SINK_SUBJECT = "sink ceiling"
#: |requests the sink answered - jobs the queue finished| above this fraction of N is reported.
MISMATCH_TOLERANCE = 0.01

HarnessFactory = Callable[[Path], DeliveryHarness]


def _conveyor(backend: str) -> HarnessFactory:
    def make(folder: Path) -> DeliveryHarness:
        from bench.delivery_peers.conveyor_delivery import ConveyorDelivery

        return ConveyorDelivery(backend, folder)

    return make


def _procrastinate(folder: Path) -> DeliveryHarness:
    from bench.delivery_peers.procrastinate_delivery import ProcrastinateDelivery

    return ProcrastinateDelivery()


def _celery(folder: Path) -> DeliveryHarness:
    from bench.delivery_peers.celery_delivery import CeleryDelivery

    return CeleryDelivery()


def _rq(folder: Path) -> DeliveryHarness:
    from bench.delivery_peers.rq_delivery import RqDelivery

    return RqDelivery()


SUBJECTS: dict[str, HarnessFactory] = {
    "conveyor-sqlite": _conveyor("sqlite"),
    "conveyor-postgres": _conveyor("postgres"),
    "procrastinate": _procrastinate,
    "celery": _celery,
    "rq": _rq,
}


def new_row(subject: str, backend: str = "?", settings: str = "") -> dict[str, Any]:
    return {
        "subject": subject,
        "backend": backend,
        "deliver_1": None,
        "deliver_2": None,
        "notes": "",
        "settings": settings,
    }


def add_note(row: dict[str, Any], note: str) -> None:
    note = note.strip()
    if note and note[-1] not in ".!?":
        note += "."
    row["notes"] = f"{row['notes']} {note}" if row["notes"] else note


# --------------------------------------------------------------------------- measuring


def measure(
    harness: DeliveryHarness,
    sink: Sink,
    jobs: int,
    processes: int,
    row: dict[str, Any],
    label: str = "",
) -> float:
    """One drain with ``processes`` worker processes; returns deliveries/s."""
    problems: list[str] = []
    env = common.worker_env({SINK_URL_ENV: sink.base_url, **harness.worker_env()})
    before = sink.count()
    drain = common.measure_processing(
        jobs=jobs,
        reset=harness.reset,
        fill=harness.fill,
        analyze=harness.analyze,
        remaining=harness.remaining,
        worker_commands=harness.worker_commands(processes),
        env=env,
        stop_signal=harness.stop_signal,
        problems=problems,
    )
    delivered = sink.count() - before
    finished = jobs - harness.remaining()
    for problem in dict.fromkeys(problems):
        add_note(row, f"{label}deliver_{processes}: unclean worker stop: {problem}")
    invalid = []
    if abs(delivered - finished) > MISMATCH_TOLERANCE * jobs:
        invalid.append(
            f"the sink answered {delivered} requests but the queue finished {finished} of"
            f" {jobs} jobs"
        )
    failed = harness.failures()
    if failed > MISMATCH_TOLERANCE * jobs:
        invalid.append(f"{failed} jobs failed or were retried")
    if invalid:  # not deliveries/s: the figure is dropped, the reason goes to the notes
        raise common.WorkerError("; ".join(invalid))
    if failed:
        add_note(row, f"{label}deliver_{processes}: {failed} jobs failed or were retried")
    return drain.rate


def attempt(row: dict[str, Any], label: str, fn: Callable[[], float]) -> float | None:
    """``fn()``, or None with the error in the notes: one failure must not stop the rest."""
    try:
        return fn()
    except Exception as exc:
        add_note(row, f"{label} failed: {type(exc).__name__}: {exc}"[:2000])
        return None


def run_subject(name: str, jobs: int, sink: Sink, *, variants: bool = True) -> dict[str, Any]:
    """Both measurements of one subject (and its variants); never raises."""
    started = time.monotonic()
    row = new_row(name)
    with common.temp_dir("bench-deliveries-") as folder:
        try:
            harness = SUBJECTS[name](folder)
        except Exception as exc:
            add_note(row, f"failed: {type(exc).__name__}: {exc}")
            row["seconds"] = round(time.monotonic() - started, 1)
            return row
        row["backend"] = harness.backend
        row["settings"] = harness.settings
        scaled = max(1000, int(jobs * harness.jobs_scale))
        row["jobs"] = scaled
        if scaled != jobs:
            add_note(row, f"{scaled} deliveries per measurement ({harness.jobs_scale:g} x N)")
        try:
            harness.setup()
            configurations = [(harness.label, harness), *(harness.variants() if variants else [])]
            rates: dict[str, dict[int, float | None]] = {}
            for label, config in configurations:
                prefix = f"{label}: " if len(configurations) > 1 else ""
                rates[label] = {
                    processes: attempt(
                        row,
                        f"{prefix}deliver_{processes}",
                        functools.partial(measure, config, sink, scaled, processes, row, prefix),
                    )
                    for processes in PROCESS_COUNTS
                }
                if config is not harness:
                    config.teardown()
            for processes in PROCESS_COUNTS:
                measured = {k: v[processes] for k, v in rates.items() if v[processes] is not None}
                if not measured:
                    continue
                winner = max(measured, key=lambda k: measured[k] or 0.0)
                row[f"deliver_{processes}"] = common.rounded(measured[winner])
                if len(configurations) > 1:
                    each = ", ".join(f"{k} {_fmt(v)}" for k, v in measured.items())
                    add_note(row, f"deliver_{processes} is the best of: {each}")
        except Exception as exc:
            add_note(row, f"failed: {type(exc).__name__}: {exc}")
        finally:
            try:
                harness.teardown()
            except Exception as exc:
                add_note(row, f"teardown failed: {type(exc).__name__}: {exc}")
    row["seconds"] = round(time.monotonic() - started, 1)
    return row


def sink_row(sink: Sink, ceilings: Sequence[Ceiling]) -> dict[str, Any]:
    row = new_row(
        SINK_SUBJECT,
        "aiohttp.web",
        f"sink: aiohttp {common.package_version('aiohttp')} web server, {sink.processes} "
        f"processes sharing the port (SO_REUSEPORT), {loop_name()} loop; ceiling: plain aiohttp "
        "ClientSession flood, deliver_1/deliver_2 = 1/2 client processes with "
        f"{ceilings[0].concurrency if ceilings else 100} requests in flight each",
    )
    for ceiling in ceilings:
        row[f"deliver_{ceiling.clients}"] = round(ceiling.rate, 1)
    add_note(
        row,
        "requests/s the sink answered under the flood (not a queue)"
        if ceilings
        else "ceiling not measured in this run",
    )
    return row


def combine(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Median of repeated runs of one subject (the raw values kept under "runs")."""
    if len(runs) == 1:
        return runs[0]
    combined = dict(runs[-1])
    for key in ("deliver_1", "deliver_2"):
        values = [r[key] for r in runs if r.get(key) is not None]
        combined[key] = round(statistics.median(values), 1) if values else None
    combined["notes"] = " | ".join(dict.fromkeys(r["notes"] for r in runs if r["notes"]))
    combined["seconds"] = round(sum(r.get("seconds", 0.0) for r in runs), 1)
    combined["runs"] = [{k: r.get(k) for k in ("deliver_1", "deliver_2", "seconds")} for r in runs]
    return combined


def run(
    jobs: int = DEFAULT_JOBS,
    only: Sequence[str] | None = None,
    *,
    repeat: int = 1,
    sink_processes: int = 2,
    ceiling: bool = True,
    variants: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per subject, the sink's ceiling first. Subjects interleave when repeated."""
    names = list(only or SUBJECTS)
    unknown = [name for name in names if name not in SUBJECTS]
    if unknown:
        raise ValueError(f"unknown subject(s) {unknown}; known: {', '.join(SUBJECTS)}")
    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    with Sink(processes=sink_processes) as sink:
        say(f"[deliveries] sink at {sink.url} ({sink.processes} processes); ceiling ...")
        started = time.monotonic()
        sink_result = sink_row(sink, measure_ceiling(sink) if ceiling else [])
        sink_result["seconds"] = round(time.monotonic() - started, 1)
        for round_no in range(1, repeat + 1):
            for name in names:
                say(f"[deliveries] {name} (run {round_no}/{repeat}) ...")
                row = run_subject(name, jobs, sink, variants=variants)
                say(
                    f"[deliveries] {name}: deliver_1={row['deliver_1']} "
                    f"deliver_2={row['deliver_2']} ({row['seconds']} s)"
                    + (f" notes: {row['notes']}" if row["notes"] else "")
                )
                runs[name].append(row)
    return [sink_result, *(combine(runs[name]) for name in names)]


# --------------------------------------------------------------------------- reporting


def best(
    results: Sequence[dict[str, Any]], key: str, conveyor: bool
) -> tuple[str | None, float | None]:
    """The best subject (Conveyor's or the peers') for ``key``: (subject, value)."""
    rows = [
        r
        for r in results
        if r["subject"] != SINK_SUBJECT
        and r["subject"].startswith("conveyor") == conveyor
        and r.get(key) is not None
    ]
    if not rows:
        return None, None
    top = max(rows, key=lambda r: float(r[key]))
    return str(top["subject"]), float(top[key])


def ratios(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """For 1 and 2 processes: Conveyor's best / the best peer, and who they are."""
    out = []
    for n in PROCESS_COUNTS:
        key = f"deliver_{n}"
        ours, ours_value = best(results, key, conveyor=True)
        peer, peer_value = best(results, key, conveyor=False)
        value = ours_value / peer_value if ours_value and peer_value else None
        out.append(
            {
                "processes": n,
                "conveyor": ours,
                "conveyor_rate": ours_value,
                "peer": peer,
                "peer_rate": peer_value,
                "ratio": value,
            }
        )
    return out


def _fmt(value: Any, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(results: Sequence[dict[str, Any]]) -> str:
    """A plain-text table (for the terminal)."""
    header = ["subject", "backend", "deliver_1 /s", "deliver_2 /s", "jobs", "seconds"]
    rows = [header]
    for r in results:
        rows.append(
            [
                str(r["subject"]),
                str(r["backend"]),
                _fmt(r.get("deliver_1")),
                _fmt(r.get("deliver_2")),
                _fmt(r.get("jobs")),
                _fmt(r.get("seconds"), 1),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    for ratio in ratios(results):
        lines.append(
            f"{ratio['processes']} process(es): Conveyor's best / best peer = "
            f"{_fmt(ratio['ratio'], 2)}x ({ratio['conveyor']} {_fmt(ratio['conveyor_rate'])}"
            f" vs {ratio['peer']} {_fmt(ratio['peer_rate'])})"
        )
    return "\n".join(lines)


def markdown(results: Sequence[dict[str, Any]], jobs: int, target: float = 2.0) -> str:
    """The "Deliveries" section of docs/benchmarks.md."""
    lines = [
        "## Deliveries",
        "",
        f"`python -m bench.deliveries --jobs {jobs}` (bench/deliveries.py): every subject drains"
        f" pre-enqueued deliveries of the same {EVENT_BYTES}-byte JSON event, each a POST to a"
        ' local aiohttp sink (its own processes, 200 `{"ok": true}`), with 1 and 2 worker'
        " processes; the rate is taken between 90% and 10% remaining, counted from each queue's"
        " own storage, and the sink's request count is checked against the finished jobs. The"
        " first row is the sink's own ceiling under a plain aiohttp flood (1 and 2 client"
        " processes), for the headroom.",
        "",
        "| subject | backend | deliveries/s, 1 process | deliveries/s, 2 processes | jobs |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['subject']} | {r['backend']} | {_fmt(r.get('deliver_1'))}"
            f" | {_fmt(r.get('deliver_2'))} | {_fmt(r.get('jobs'))} |"
        )
    lines += [
        "",
        f"| target | Conveyor's best | best peer | ratio | verdict (>= {target:g}x) |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for ratio in ratios(results):
        value = ratio["ratio"]
        verdict = "n/a" if value is None else ("met" if value >= target else "NOT met")
        lines.append(
            f"| {ratio['processes']} process(es) | {ratio['conveyor']}"
            f" {_fmt(ratio['conveyor_rate'])} | {ratio['peer']} {_fmt(ratio['peer_rate'])}"
            f" | {_fmt(value, 2)} | {verdict} |"
        )
    lines.append("")
    for r in results:
        notes = (r.get("notes") or "").replace("\n", " ")
        settings = str(r.get("settings") or "").rstrip(".")
        lines.append(f"- **{r['subject']}**: {settings}." + (f" Notes: {notes}" if notes else ""))
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.deliveries",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="deliveries per drain")
    parser.add_argument("--only", nargs="+", choices=list(SUBJECTS), metavar="NAME")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved runs, medians")
    parser.add_argument("--sink-processes", type=int, default=2)
    parser.add_argument("--no-variants", action="store_true", help="skip the notes' variants")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the sink's ceiling")
    parser.add_argument("--json-out", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--markdown", action="store_true", help="print the markdown section too")
    args = parser.parse_args(argv)
    if args.jobs < 1000:
        parser.error("--jobs must be at least 1000")
    started = time.monotonic()
    results = run(
        args.jobs,
        args.only,
        repeat=args.repeat,
        sink_processes=args.sink_processes,
        ceiling=not args.no_ceiling,
        variants=not args.no_variants,
    )
    print(table(results))
    print(f"total {time.monotonic() - started:.0f} s")
    if args.markdown:
        print()
        print(markdown(results, args.jobs))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
