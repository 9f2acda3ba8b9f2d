"""Where a poller's time goes: the CPU one request of each operator path costs the server process
and the database server, measured on a filled store.

    python -m bench.ops_cpu --store URL [--seconds 2] [--paths PATH ...] [--out FILE]

For each path (the operations benchmark's API paths and dashboard pages, or `--paths`), one
keep-alive client requests it back to back for `--seconds`; the server process's CPU (Linux
/proc) and, on PostgreSQL, the CPU of every `postgres` process on the machine are read before
and after, and divided by the requests served. Run it on a quiet machine: the PostgreSQL
figure counts every backend, the workers' included. The store is used as it is (fill one with
`bench/ops_fill.py` after migrating it); a token is made in it for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.ops_bench import DASHBOARD_PATHS, PATHS, Server, Store, expand
from bench.ops_client import client


def postgres_cpu_seconds() -> float:
    """User and system CPU of every process named `postgres` (the server and its backends)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat[stat.find("(") + 1 : stat.rfind(")")] != "postgres":
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def _per_path(
    server: Server, token: str, paths: Sequence[str], seconds: float, postgres: bool
) -> list[dict[str, Any]]:
    rows = []
    async with await client(server.base, token) as session:
        for path in paths:
            for _ in range(3):  # warm up
                async with session.get(path) as answer:
                    await answer.read()
            server_before, db_before = server.cpu_seconds(), postgres_cpu_seconds()
            began, served, size = time.monotonic(), 0, 0
            while time.monotonic() - began < seconds:
                async with session.get(path) as answer:
                    size = len(await answer.read())
                served += 1
            server_ms = (server.cpu_seconds() - server_before) / served * 1000
            db_ms = (postgres_cpu_seconds() - db_before) / served * 1000 if postgres else 0.0
            rows.append(
                {
                    "path": path,
                    "server_ms": round(server_ms, 2),
                    "db_ms": round(db_ms, 2),
                    "kb": round(size / 1024, 1),
                    "requests": served,
                }
            )
            print(f"[cpu] {path}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def markdown(rows: Sequence[dict[str, Any]], postgres: bool) -> str:
    lines = [
        "| path | server ms | database ms | KB |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        db = f"{row['db_ms']:.2f}" if postgres else "-"
        lines.append(f"| `{row['path']}` | {row['server_ms']:.2f} | {db} | {row['kb']} |")
    server = sum(row["server_ms"] for row in rows)
    db_total = f"**{sum(row['db_ms'] for row in rows):.0f}**" if postgres else "-"
    lines.append(f"| every path once ({len(rows)}) | **{server:.0f}** | {db_total} | |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="a migrated, filled store")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--paths", nargs="+", help="replace the default paths")
    parser.add_argument("--out", help="also write the markdown table here")
    args = parser.parse_args(argv)
    backend = "sqlite" if args.store.startswith("sqlite") else "postgres"
    store = Store(backend, Path("/tmp"), args.store)
    paths = expand(args.paths or (*PATHS, *DASHBOARD_PATHS), store.values())
    token = store.token()
    with Server(store.url) as server:
        rows = asyncio.run(
            _per_path(server, token, paths, args.seconds, postgres=backend == "postgres")
        )
    table = markdown(rows, postgres=backend == "postgres")
    print(table)
    if args.out:
        Path(args.out).write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
