"""`leat:mass:create-contact`: enqueue a contact-create for many customers, with a progress bar.

    python -m examples.loyalty.mass_create --store nl --count 50 --with-remote

The contacts are stored as jobs in one transaction (ContactBuilder.mass_create), then a worker
in this process sends them at the connection's 5 requests/s while a Rich progress bar follows
their states (`--no-worker` leaves them to the deployed workers and only follows). Ctrl-C stops
following; the jobs stay queued.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from conveyor import Conveyor
from conveyor.logs import configure_logging

from .builders import ContactBuilder
from .integration import default_stores, make_app
from .remote import LoyaltyApi

FINAL = ("succeeded", "dead", "cancelled")


def customers(count: int, first_id: int = 1000) -> list[dict[str, Any]]:
    """The shop's customers to create (here made up: id, e-mail, name)."""
    return [
        {"customer_id": n, "email": f"customer{n}@example.com", "name": f"Customer {n}"}
        for n in range(first_id, first_id + count)
    ]


def mass_create(
    app: Conveyor,
    store: str,
    rows: Sequence[dict[str, Any]],
    *,
    work: bool = True,
    console: Console | None = None,
    poll: float = 0.1,
) -> Counter[str]:
    """Enqueue the contacts and follow them to the end; the count of each final state (and
    `retrying` for those waiting for a later attempt when the worker ran out of due work)."""
    ids = ContactBuilder(app).mass_create(store, rows)
    worker = threading.Thread(
        target=lambda: app.run_worker(burst=True, install_signal_handlers=False),
        name="mass-create-worker",
        daemon=True,
    )
    if work:
        worker.start()
    columns = (
        TextColumn("contacts → leat-" + store),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    states: dict[int, str] = {}
    with Progress(*columns, console=console or Console(stderr=True)) as progress:
        bar = progress.add_task("create", total=len(ids))
        while True:
            states = app.ops.states(ids)
            done = sum(1 for s in states.values() if s in FINAL)
            progress.update(bar, completed=done)
            if done == len(ids) or (work and not worker.is_alive()):
                break
            time.sleep(poll)
    if work:
        worker.join()
    return Counter(app.ops.states(ids).values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.loyalty.mass_create")
    parser.add_argument("--store", default="nl")
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--first-id", type=int, default=1000)
    parser.add_argument("--database-url", default=os.environ.get("CONVEYOR_DATABASE_URL"))
    parser.add_argument("--remote-url", default=os.environ.get("LEAT_API_URL"))
    parser.add_argument(
        "--with-remote", action="store_true", help="start the stand-in Leat API here"
    )
    parser.add_argument("--no-worker", action="store_true", help="only enqueue and follow")
    args = parser.parse_args(argv)
    if args.count < 1:
        print("error: --count must be at least 1", file=sys.stderr)
        return 2
    if args.store not in default_stores():
        print(f"error: no credentials for store {args.store!r}", file=sys.stderr)
        return 2
    configure_logging("critical")  # the progress bar, not the JSON job logs
    api = LoyaltyApi() if args.with_remote else None
    remote_url = api.start() if api else (args.remote_url or "http://127.0.0.1:8000")
    database_url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/conveyor.db"
    app = make_app(database_url, remote_url)
    app.migrate()
    try:
        counts = mass_create(
            app, args.store, customers(args.count, args.first_id), work=not args.no_worker
        )
    except KeyboardInterrupt:
        return 130
    finally:
        if api:
            api.stop()
    print(", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    return 0 if counts.get("succeeded") == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
