"""Conveyor against an earlier commit of itself, side by side in one run.

    python -m bench.compare --baseline REV [--jobs N] [--repeat R] [--out FILE]

A restructuring or a fix on the hot path must keep the figures within noise. This checks out REV
into a temporary git worktree and runs the Conveyor subjects of `bench.run` (same harness, same
settings) with each source tree first on PYTHONPATH, the two interleaved R times; each figure is
the median. Only Conveyor's own code differs between the columns.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUBJECTS = (
    "conveyor-sqlite",
    "conveyor-postgres",
    "conveyor-sqlite-keyed",
    "conveyor-postgres-keyed",
)
FIGURES = ("enqueue_single", "enqueue_bulk", "process_1", "process_2", "latency_p50_ms")


def measure(source: Path, jobs: int, out: Path) -> list[dict[str, Any]]:
    env = dict(os.environ, PYTHONPATH=f"{source}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    command = [sys.executable, "-m", "bench.run", "--jobs", str(jobs), "--json", str(out)]
    subprocess.run([*command, "--only", *SUBJECTS], cwd=ROOT, env=env, check=True)
    return list(json.loads(out.read_text()))


def median(runs: list[list[dict[str, Any]]], subject: str, figure: str) -> float | None:
    values = [r.get(figure) for run in runs for r in run if r["subject"] == subject]
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    return statistics.median(numbers) if numbers else None


def table(baseline: str, runs: dict[str, list[list[dict[str, Any]]]]) -> list[str]:
    lines = [
        f"| subject | figure | {baseline} | HEAD | HEAD / {baseline} |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for subject in SUBJECTS:
        for figure in FIGURES:
            old, new = (median(runs[side], subject, figure) for side in ("old", "new"))
            if old is None or new is None:
                continue
            digits = 2 if figure.endswith("_ms") else 0
            lines.append(
                f"| {subject} | {figure} | {old:,.{digits}f} | {new:,.{digits}f}"
                f" | {new / old:.2f} |"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("--baseline", required=True, help="a commit, tag or branch")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-compare.md")
    args = parser.parse_args()
    rev = subprocess.run(
        ["git", "rev-parse", "--short", args.baseline],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    runs: dict[str, list[list[dict[str, Any]]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="conveyor-baseline-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT, check=True)
        try:
            for round_no in range(args.repeat):
                for side, source in (("old", tree / "src"), ("new", ROOT / "src")):
                    print(f"[compare] {side} run {round_no + 1}/{args.repeat}", file=sys.stderr)
                    runs[side].append(measure(source, args.jobs, Path(folder) / f"{side}.json"))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    lines = [
        "# Benchmarks: HEAD against an earlier commit",
        "",
        f"Written by `python -m bench.compare --baseline {rev} --jobs {args.jobs} --repeat"
        f" {args.repeat}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, HEAD = {head}. The same"
        " harness and settings as docs/benchmarks.md (no-op jobs, 100 concurrent per worker"
        " process); only Conveyor's source differs between the columns, runs interleaved, medians."
        " Ratios near 1.00 are noise on this shared 2-core machine; read differences under ~15%"
        " as none.",
        "",
        *table(rev, runs),
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"[compare] wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
