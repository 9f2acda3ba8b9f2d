"""One end-to-end process, started by the tests with `python runner.py <command> <url> ...`.

`worker`: run a worker of `apps.make_app(url)` until it stops (exit code 0 when it stopped
cleanly). `enqueue`: enqueue jobs with idempotency keys k0..k<n-1> in a shuffled order, once
`<sync>/go` exists, and print {idempotency key: job id} as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from apps import make_app  # type: ignore[import-not-found]


def worker(args: argparse.Namespace) -> int:
    app = make_app(args.url)
    app.run_worker(
        concurrency=args.concurrency,
        queues=args.queues.split(",") if args.queues else None,
        burst=args.burst,
        grace=args.grace,
        poll_interval=args.poll_interval,
    )
    app.close()
    return 0


def enqueue(args: argparse.Namespace) -> int:
    """Ordering keys for the first `keyed` items, so both enqueue paths of a store race."""
    app = make_app(args.url)
    items = list(range(args.keys))
    random.Random(args.seed).shuffle(items)
    app.store.schema_version()  # open the store before the start line
    sync = Path(args.sync)
    (sync / f"ready-{args.seed}").touch()
    deadline = time.monotonic() + 30
    while not (sync / "go").exists():
        if time.monotonic() > deadline:
            return 3
        time.sleep(0.001)

    ids: dict[str, int] = {}
    for start in range(0, len(items), args.batch):
        chunk = items[start : start + args.batch]
        payloads = {i: {"seq": i, "key": f"ord{i % 5}" if i < args.keyed else None} for i in chunk}
        if len(chunk) == 1:  # the public one-job call
            [i] = chunk
            ids[f"k{i}"] = app.enqueue("step", payloads[i], idempotency_key=f"k{i}")
            continue
        jobs = [app.build_job("step", payloads[i], idempotency_key=f"k{i}") for i in chunk]
        for i, job_id in zip(chunk, app.store.enqueue(jobs), strict=True):  # one transaction
            ids[f"k{i}"] = job_id
    print(json.dumps(ids))
    app.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runner.py")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("worker")
    run.add_argument("url")
    run.add_argument("--concurrency", type=int, default=4)
    run.add_argument("--queues", default="")
    run.add_argument("--burst", action="store_true")
    run.add_argument("--grace", type=float, default=30.0)
    run.add_argument("--poll-interval", type=float, default=0.5)
    put = commands.add_parser("enqueue")
    put.add_argument("url")
    put.add_argument("--keys", type=int, default=50)
    put.add_argument("--keyed", type=int, default=0)
    put.add_argument("--batch", type=int, default=1)
    put.add_argument("--seed", type=int, default=0)
    put.add_argument("--sync", required=True)
    args = parser.parse_args(argv)
    return worker(args) if args.command == "worker" else enqueue(args)


if __name__ == "__main__":
    sys.exit(main())
