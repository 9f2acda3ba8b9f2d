"""Pull-sync records/s: Conveyor beside dlt, from the same local paginated server.

    python -m bench.sync [--items N] [--repeat R] [--subjects ...] [--markdown]

The server (bench/sync_peers/remote.py, its own process) serves N items in pages of 100. Each
subject (bench/sync_peers/subjects.py) runs in its own process: a full sync, then a re-sync of the
unchanged collection; records/s = N / seconds, peak RSS from the process's VmHWM. Subjects run
interleaved R times; figures are medians. At --big (1,000,000 by default) only Conveyor runs, for
its memory.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

SUBJECTS = ("conveyor-sqlite", "conveyor-postgres", "dlt-postgres", "dlt-filesystem")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, items: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.sync_peers.remote", str(self.port), str(items)]
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the sync benchmark's server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def run_subject(subject: str, url: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.sync_peers.subjects", subject, url],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(items: int, subjects: Sequence[str], repeat: int) -> dict[str, dict[str, Any]]:
    server = Server(items)
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in subjects}
    try:
        for round_no in range(repeat):
            for subject in subjects:
                print(
                    f"[bench] sync {subject} {items:,} items ({round_no + 1}/{repeat}) ...",
                    file=sys.stderr,
                    flush=True,
                )
                runs[subject].append(run_subject(subject, server.url))
    finally:
        server.stop()
    results: dict[str, dict[str, Any]] = {}
    for subject, rounds in runs.items():
        good = [r for r in rounds if "error" not in r]
        if not good:
            results[subject] = {"error": rounds[-1].get("error", "failed")}
            continue
        first = statistics.median(items / r["first_seconds"] for r in good)
        resync = statistics.median(items / r["resync_seconds"] for r in good)
        results[subject] = {
            "first_per_s": first,
            "resync_per_s": resync,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in good),
            "records": good[-1].get("records"),
        }
    return results


def run(
    items: int = 100_000,
    big: int = 1_000_000,
    repeat: int = 1,
    subjects: Sequence[str] = SUBJECTS,
) -> dict[str, Any]:
    report: dict[str, Any] = {"items": items, "big": big, "main": measure(items, subjects, repeat)}
    if big:
        report["big_results"] = measure(big, ("conveyor-sqlite", "conveyor-postgres"), 1)
    return report


def _fmt(value: Any, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    main = report["main"]
    lines = [
        "## Pull syncs",
        "",
        f"`python -m bench.sync --items {report['items']}`: a local server (its own process) serves"
        f" {report['items']:,} items in pages of 100; each subject, in its own process, syncs the"
        " collection, then re-syncs it unchanged. Conveyor: `app.sync_now` (PageNumber with"
        " has-more; records upserted with their hash). dlt: its `rest_api` source with"
        " PageNumberPaginator (same requests), primary key `id`, into PostgreSQL with merge and"
        " into a local filesystem destination (jsonl, replace: it cannot merge), default settings.",
        "",
        "| subject | first sync records/s | re-sync records/s | re-sync / first | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for subject, r in main.items():
        if "error" in r:
            lines.append(f"| {subject} | failed: {r['error'][:80]} | | | |")
            continue
        lines.append(
            f"| {subject} | {_fmt(r['first_per_s'])} | {_fmt(r['resync_per_s'])}"
            f" | {r['resync_per_s'] / r['first_per_s']:.2f} | {_fmt(r['peak_rss_mb'], 1)} |"
        )
    for subject, r in report.get("big_results", {}).items():
        if "error" not in r:
            lines.append(
                f"| {subject}, {report['big']:,} items | {_fmt(r['first_per_s'])}"
                f" | {_fmt(r['resync_per_s'])} | {r['resync_per_s'] / r['first_per_s']:.2f}"
                f" | {_fmt(r['peak_rss_mb'], 1)} |"
            )
    lines += ["", "| target | value | verdict |", "| --- | ---: | --- |"]

    def verdict(name: str, value: float | None, floor: float, above: bool = True) -> None:
        ok = value is not None and (value >= floor if above else value < floor)
        shown = "-" if value is None else f"{value:,.2f}"
        lines.append(f"| {name} | {shown} | {'met' if ok else 'NOT met'} |")

    def rate(subject: str, key: str) -> float | None:
        value = main.get(subject, {}).get(key)
        return float(value) if value is not None else None

    for backend in ("sqlite", "postgres"):
        ours = rate(f"conveyor-{backend}", "first_per_s")
        for peer in ("dlt-postgres", "dlt-filesystem"):
            theirs = rate(peer, "first_per_s")
            value = None if ours is None or not theirs else ours / theirs
            verdict(f"conveyor-{backend} first sync >= 3x {peer}", value, 3.0)
        again = rate(f"conveyor-{backend}", "resync_per_s")
        verdict(
            f"conveyor-{backend} re-sync >= 2x its first sync",
            None if ours is None or again is None else again / ours,
            2.0,
        )
    sizes = [(main, report["items"])]
    if report["big"]:
        sizes.append((report.get("big_results", {}), report["big"]))
    for results, count in sizes:
        for backend in ("sqlite", "postgres"):
            peak = results.get(f"conveyor-{backend}", {}).get("peak_rss_mb")
            verdict(f"conveyor-{backend} peak RSS < 200 MB at {count:,} items", peak, 200.0, False)
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync", description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=1_000_000, help="0: skip the memory run")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--subjects", nargs="+", choices=SUBJECTS, default=list(SUBJECTS))
    args = parser.parse_args(argv)
    print(markdown(run(args.items, args.big, args.repeat, args.subjects)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
