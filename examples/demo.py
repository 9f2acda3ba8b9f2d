"""Conveyor in two seconds: sync a shop's customers and orders to a loyalty platform.

    .venv/bin/python examples/demo.py [--database demo.db]

Runs on SQLite with no server. A stream of shop events (new customers, profile changes, orders)
becomes jobs; each customer's jobs share the ordering key `customer:<id>`, so the platform sees
them in order even when events arrive out of order. The simulated platform has hiccups (503s,
429s with Retry-After, timeouts) that retries absorb, and it rejects one customer's address for
good: that job goes dead and holds its key, and the jobs behind it wait for an operator.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from conveyor import Conveyor, Delays, Discard, Fixed, Middleware, Retry, current_job
from conveyor.job import ClaimedJob, Outcome

FINAL = ("succeeded", "dead", "cancelled")
ACTIVE = ("queued", "running", "retrying")
DEADLINE_SECONDS = 30.0

app = Conveyor("sqlite:///demo.db")  # main() points it at the --database file


# -- a loyalty platform with realistic hiccups ------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status


@dataclass
class LoyaltyPlatform:
    """In memory. It also checks what per-key ordering promises: no call for a customer
    arrives before that customer's contact exists."""

    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    points: Counter[int] = field(default_factory=Counter)
    receipts: list[int] = field(default_factory=list)
    out_of_order: int = 0

    async def call(self, latency: float = 0.05) -> None:
        await asyncio.sleep(random.uniform(latency / 2, latency * 1.5))

    def require_contact(self, customer_id: int) -> None:
        if customer_id not in self.contacts:
            self.out_of_order += 1
            raise ApiError(404, f"contact {customer_id} not found")


platform = LoyaltyPlatform()
FLAKY_CREATES = {1002, 1005}  # 503 on the first attempt
RATE_LIMITED_UPDATES = {1004}  # 429 with Retry-After on the first attempt


def attempt() -> int:
    job = current_job()
    return job.attempt if job else 1


# -- the tasks ----------------------------------------------------------------------------------


class Contact(BaseModel):
    customer_id: int
    email: str
    name: str


class ContactChange(BaseModel):
    customer_id: int
    changes: dict[str, str]


class Order(BaseModel):
    order_id: int
    customer_id: int
    total_cents: int


def customer_key(payload: dict[str, Any]) -> str:
    return f"customer:{payload['customer_id']}"


@app.task(key=customer_key, leads_key=True, max_attempts=3, retry=Delays([0.1, 0.3]))
async def create_contact(contact: Contact) -> dict[str, Any]:
    await platform.call()
    if contact.email.endswith(".invalid"):
        # A 422 never succeeds however often it is retried: give up at once.
        raise Discard(f"422 Unprocessable Entity: invalid email {contact.email}")
    if contact.customer_id in FLAKY_CREATES and attempt() == 1:
        raise ApiError(503, "Service Unavailable")
    platform.contacts[contact.customer_id] = contact.model_dump()
    return {"contact_id": f"lp_{contact.customer_id}"}


@app.task(key=customer_key, max_attempts=5, retry=Fixed(0.2))
async def update_contact(change: ContactChange) -> None:
    await platform.call()
    if change.customer_id in RATE_LIMITED_UPDATES and attempt() == 1:
        raise Retry(after=0.3, reason="429 Too Many Requests (Retry-After: 0.3 s)")
    platform.require_contact(change.customer_id)
    platform.contacts[change.customer_id].update(change.changes)


@app.task(key=customer_key, max_attempts=5, retry=Delays([0.1, 0.3]))
async def record_order(order: Order) -> dict[str, int]:
    await platform.call(0.08)
    if order.order_id % 5 == 0 and attempt() <= 2:
        raise ApiError(504, "Gateway Timeout")
    platform.require_contact(order.customer_id)
    earned = order.total_cents // 100
    platform.points[order.customer_id] += earned
    return {"points": earned}


@app.task(max_attempts=3, retry=Fixed(0.2))
def send_receipt(order: Order) -> None:
    time.sleep(random.uniform(0.01, 0.04))  # a blocking SMTP client: runs in a thread
    if order.order_id % 4 == 0 and attempt() == 1:
        raise ConnectionError("SMTP 451: temporary local problem, try again later")
    platform.receipts.append(order.order_id)


# -- the shop's event stream --------------------------------------------------------------------

CUSTOMERS = {
    1001: ("Ada Lovelace", "ada@example.com"),
    1002: ("Grace Hopper", "grace@example.com"),
    1003: ("Alan Turing", "alan@example.com"),
    1004: ("Katherine Johnson", "katherine@example.com"),
    1005: ("Edsger Dijkstra", "edsger@example.com"),
    1006: ("Barbara Liskov", "barbara@example.com"),
    1007: ("Maria Garcia", "maria@example.invalid"),
    1008: ("Linus Torvalds", "linus@example.com"),
}


def enqueue_events(rng: random.Random) -> tuple[int, list[str]]:
    """Enqueue the shop's events; return the number of jobs and notes worth showing."""
    notes: list[str] = []
    jobs = 0
    order_id = 5000
    for customer_id, (name, email) in CUSTOMERS.items():
        orders = []
        for _ in range(rng.randint(1, 3)):
            order_id += 1
            total = rng.randint(900, 25000)
            orders.append({"order_id": order_id, "customer_id": customer_id, "total_cents": total})
        if customer_id == 1003:
            # The order webhook beat the signup webhook: the leading create_contact still runs
            # first, the order waits behind it.
            record_order.enqueue(orders[0])
            jobs += 1
            notes.append("customer:1003's first order arrived before its signup: it waits")
            orders = orders[1:]
        create_contact.enqueue({"customer_id": customer_id, "email": email, "name": name})
        jobs += 1
        if customer_id in (1001, 1004, 1007):
            update_contact.enqueue({"customer_id": customer_id, "changes": {"tier": "gold"}})
            jobs += 1
        for order in orders:
            first = record_order.enqueue(order, idempotency_key=f"order:{order['order_id']}")
            send_receipt.enqueue(order)
            jobs += 2
            if order["order_id"] == 5002:
                again = record_order.enqueue(order, idempotency_key="order:5002")
                same = "the same job" if again == first else "ANOTHER job"
                notes.append(f"order 5002's webhook came twice: both gave {same}, #{first}")
    return jobs, notes


# -- watching the worker ------------------------------------------------------------------------


class AttemptTally(Middleware):
    """Outcomes of every attempt, per task (the worker's own hook; no polling needed)."""

    def __init__(self) -> None:
        self.by_task: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def after_attempt(self, job: ClaimedJob, outcome: Outcome, seconds: float) -> None:
        self.by_task[job.task][outcome.kind] += 1


def totals(stats: dict[str, dict[str, int]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for per_state in stats.values():
        counts.update(per_state)
    return counts


def describe(counts: Counter[str], stuck: int) -> str:
    parts = [f"[green]{counts['succeeded']} succeeded[/]"]
    active = sum(counts[s] for s in ACTIVE)
    if active:
        parts.append(f"[cyan]{active} active[/] ({counts['retrying']} retrying)")
    if counts["dead"]:
        parts.append(f"[red]{counts['dead']} dead[/]")
    if stuck:
        parts.append(f"[yellow]{stuck} blocked[/]")
    return " · ".join(parts)


async def watch(worker: Any, progress: Progress, bar: Any) -> bool:
    """Follow the queue until every job is final or waits behind a dead job; stop the worker."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        while time.monotonic() < deadline:
            counts = totals(await asyncio.to_thread(app.stats))
            blocked = await asyncio.to_thread(app.blocked_keys)
            stuck = sum(b.waiting for b in blocked)
            settled = sum(counts[s] for s in FINAL) + stuck
            progress.update(bar, completed=settled, states=describe(counts, stuck))
            if not any(counts[s] for s in ACTIVE) and counts["waiting"] == stuck:
                return True
            await asyncio.sleep(0.05)
        return False
    finally:
        worker.request_stop()


async def run(total: int, tally: AttemptTally, console: Console) -> bool:
    worker = app.worker(concurrency=4, middleware=[tally], install_signal_handlers=False)
    columns = (
        TextColumn("[bold]Syncing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[states]}"),
    )
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("sync", total=total, states="starting")
        drained, _ = await asyncio.gather(watch(worker, progress, bar), worker.run())
    return bool(drained)


# -- the report ---------------------------------------------------------------------------------


def summary(tally: AttemptTally) -> Table:
    table = Table(title="Per task", title_justify="left")
    table.add_column("Task")
    for header in ("jobs", "succeeded", "retried attempts", "dead", "blocked"):
        table.add_column(header, justify="right")
    for name in app.tasks:
        states = Counter(job.state for job in app.list_jobs(task=name, limit=10_000))
        table.add_row(
            name,
            str(sum(states.values())),
            f"[green]{states['succeeded']}[/]",
            f"[yellow]{tally.by_task[name]['retry']}[/]",
            f"[red]{states['dead']}[/]" if states["dead"] else "0",
            str(states["waiting"]),
        )
    return table


def blocked_table() -> Table | None:
    blocked = app.blocked_keys()
    if not blocked:
        return None
    table = Table(title="Blocked keys (a dead job holds each one)", title_justify="left")
    for header in ("key", "dead job", "task", "error", "waiting"):
        table.add_column(header, overflow="fold")
    for entry in blocked:
        table.add_row(
            entry.key, f"#{entry.job_id}", entry.task, entry.last_error or "", str(entry.waiting)
        )
    return table


def _shortest(path: Path) -> str:
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="demo.db", help="SQLite file (recreated)")
    path = Path(parser.parse_args().database).resolve()
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    app.use_database(url)

    console = Console()
    console.rule("[bold]Conveyor demo: shop → loyalty platform")
    app.migrate()
    total, notes = enqueue_events(random.Random(7))
    console.print(f"Enqueued [bold]{total}[/] jobs for {len(CUSTOMERS)} customers into {path.name}")
    for note in notes:
        console.print(f"  • {note}")

    tally = AttemptTally()
    started = time.monotonic()
    drained = asyncio.run(run(total, tally, console))
    elapsed = time.monotonic() - started

    console.print(summary(tally))
    blocked = blocked_table()
    if blocked is not None:
        console.print(blocked)
    console.print(
        f"Loyalty platform: {len(platform.contacts)} contacts, "
        f"{sum(platform.points.values())} points awarded, {len(platform.receipts)} receipts "
        f"sent, {platform.out_of_order} calls out of order. Drained in {elapsed:.1f} s."
    )
    command = f"{_shortest(Path(sys.executable).with_name('conveyor'))} --database-url "
    command += f"sqlite:///{_shortest(path)}"
    console.print("\nLook around with the CLI:")
    for args in ("stats", "jobs list --state dead", "jobs list --key customer:1007"):
        console.print(f"  {command} {args}", soft_wrap=True, highlight=False, markup=False)
    app.close()
    if not drained or platform.out_of_order:
        console.print("[red]The demo did not finish as expected.[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
