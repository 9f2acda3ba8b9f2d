"""The Magento -> Leat loyalty demo (000): order per customer, rewards at once, 5/s, seven
attempts on a fast clock, an outage mailed to the shop manager, the schedules."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from typing import Any

from aiosmtpd.controller import Controller
from rich.console import Console

from conveyor import Breaker, Conveyor, PermanentStatus
from conveyor.events import BreakerOpened, JobRetried

from .builders import ContactBuilder, OrderBuilder, RewardBuilder
from .integration import StoreCredentials, default_stores, make_app
from .mass_create import customers, mass_create
from .remote import COMPANIES, LoyaltyApi

FAST_HOUR = 0.015  # the fast clock: an hour of retry delay lasts 15 ms


class ShopManagerInbox:
    """The shop manager's mailbox: a real SMTP server; prints each mail's subject."""

    def __init__(self) -> None:
        self.subjects: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.subjects.append(str(message["Subject"]))
        print(f"  mail to {', '.join(envelope.rcpt_tos)}: {message['Subject']}", flush=True)
        return "250 OK"


def main(database_url: str) -> None:
    api = LoyaltyApi()
    url = api.start()
    inbox = ShopManagerInbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    stores = {**default_stores(), "uk": StoreCredentials(COMPANIES[0].token, "shop-uk-0003")}
    app = make_app(
        database_url,
        url,
        stores=stores,
        hour=FAST_HOUR,
        breaker=Breaker(failures=3, cool_off=0.5, max_cool_off=0.5),  # seconds, not scaled
        smtp=f"smtp://127.0.0.1:{smtp.port}",
    )
    app.migrate()
    try:
        for step in (_tester, _ordering, _rewards, _rate_and_retries, _outage, _schedules):
            step(app, api)
    finally:
        api.stop()
        smtp.stop()
    print("look at it: conveyor --app examples.loyalty.integration:app serve")


def _tester(app: Conveyor, api: LoyaltyApi) -> None:
    checks = [app.test_connection(f"leat-{store}") for store in ("nl", "be", "uk")]
    said = [f"{c.name} {c.identity!r}" if c.ok else f"{c.name} {c.message}" for c in checks]
    print(f"tester: {'; '.join(said)}")


def _ordering(app: Conveyor, api: LoyaltyApi) -> None:
    contacts, orders, rewards = ContactBuilder(app), OrderBuilder(app), RewardBuilder(app)
    contacts.update("nl", 7, name="Ann de Vries")
    rewards.credit("nl", 7, 100, reference="welcome-7")
    orders.order_placed("nl", 7, 5001, [{"sku": "mug", "price": 12.5, "quantity": 2}])
    contacts.create("nl", 7, "ann@example.com")  # made last, sent first: it leads the key
    app.run_worker(burst=True)
    seen = [c for c in api.calls() if "contacts" in c]
    print(f"customer 7: update, credit, order, then create enqueued; Leat saw {seen}")


def _rewards(app: Conveyor, api: LoyaltyApi) -> None:
    rewards = RewardBuilder(app)
    stored = len(app.list_jobs(limit=1000))
    listed = rewards.list_rewards("nl")
    names = ", ".join(f"{r['title']} ({r['required_credits']})" for r in listed)
    print(f"rewards, run at once: {names}; jobs stored: {len(app.list_jobs(limit=1000)) - stored}")
    answer = rewards.redeem("nl", 7, 1)
    try:
        rewards.redeem("nl", 7, 3)
    except PermanentStatus as refused:
        errors = json.loads(str(refused.details.get("response")))["errors"]
        refusal = f"Tote bag refused: {refused.status} {errors['reward_id'][0]}"
    jobs = [(j.id, j.state) for j in app.list_jobs(task="leat.redeem_reward")]
    print(f"redeem, stored and run at once: {answer}; {refusal}; stored jobs: {jobs}")


def _rate_and_retries(app: Conveyor, api: LoyaltyApi) -> None:
    api.broken = {"8"}  # Leat fails every request about contact 8 with a 500
    delays: list[float] = []
    app.events.subscribe(lambda e: delays.append(e.delay), JobRetried)
    poison = ContactBuilder(app).create("be", 8, "bert@example.com")
    waiting = ContactBuilder(app).update("be", 8, name="Bert")
    counts = mass_create(app, "nl", customers(8, first_id=100), console=Console())
    app.run_worker(burst=True, burst_wait=1.0)  # until contact 8's last attempt
    mass = [r for r in api.requests if r["path"] == "/contacts" and r["shop"] == "shop-nl-0001"]
    sent = [r["at"] for r in mass[1:]]  # the contacts of the mass create (not contact 7)
    per_second = max(sum(1 for t in sent if s <= t < s + 1.0) for s in sent)
    print(
        f"mass create: {dict(counts)}, {len(sent)} requests in {sent[-1] - sent[0]:.1f} s,"
        f" at most {per_second} in a second, {sum(r['status'] == 429 for r in mass)} answered 429"
    )
    job = app.get_job(poison)
    hours = ", ".join(f"{d / FAST_HOUR:.1f}" for d in delays)
    print(
        f"contact 8: {job.attempts} attempts, retried after {hours} h (fast clock), {job.state};"
        f" {len(job.errors)} errors kept ({job.errors[-1]['message'][:36]}…);"
        f" its update {app.get_job(waiting).state} behind it"
    )
    api.broken = set()


def _outage(app: Conveyor, api: LoyaltyApi) -> None:
    opened = threading.Event()
    app.events.subscribe(lambda e: opened.set(), BreakerOpened)
    api.set_outage("refuse")
    ids = [ContactBuilder(app).create("nl", n, f"c{n}@example.com") for n in range(20, 26)]
    worker = threading.Thread(
        target=lambda: app.run_worker(burst=True, install_signal_handlers=False), daemon=True
    )
    print("outage: Leat refuses connections")
    worker.start()
    opened.wait(10)
    app.alerts.flush()
    api.set_outage(None)
    worker.join(20)
    app.alerts.flush()
    jobs = [app.get_job(i) for i in ids]
    print(
        f"after it: {[j.state for j in jobs]}, attempts {[j.attempts for j in jobs]}"
        " (while the breaker was open they waited without spending any)"
    )


def _schedules(app: Conveyor, api: LoyaltyApi) -> None:
    for view in app.scheduler.views():
        if view.name in ("conveyor.digest", "conveyor.prune"):
            nxt = view.next_run.isoformat(timespec="minutes") if view.next_run else "-"
            print(f"schedule {view.name}: {view.cron} {view.tz}, next {nxt} UTC, {view.status}")
    sent = app.alerts.send_digest()
    time.sleep(0.05)
    print(f"digest sent now: {sent}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
