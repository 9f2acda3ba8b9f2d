"""Per-key order against a model: random enqueue/claim/finish/cancel/crash sequences run on the
real store of each backend, the store checked against the model after every step.

The model is the rule in DESIGN.md ("Ordering key", "Suggested mechanics"), written out simply:
per key, one *head* (queued, running, retrying or dead) and a line of waiting jobs behind it; a
released key promotes its next job, leading jobs first, then by id; a leading job enqueued while
the head is queued (and does not lead itself) takes the head's place. So the store must say, for
every job, the state, attempts and cancel request the model says; and, read from the store alone,
a key never has two heads (so never two claimed jobs, and a dead or retrying head holds back the
rest), no waiting job is stranded behind nothing, and claims never hand out a job twice.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conveyor.job import FINAL_STATES, KEY_HOLDING_STATES, JobFilter, NewJob, Outcome
from conveyor.store import Store, open_store

KEYS = ("a", "b", None)
IDEMPOTENCY_KEYS = ("i1", "i2", "i3")
MAX_ATTEMPTS = 2  # small, so a crash can use up the last attempt
LONG_LEASE = 600.0  # never expires during a run
SHORT_LEASE = 0.001  # a worker that crashes: expired by the time `crash_and_recover` looks
EXPIRY_WAIT = 0.01
WORKER_ENDS = ("succeeded", "retry", "dead", "handback", "postpone")
# What `finish` draws from: mostly successes, so keys move on (and shrinking goes there first).
LIKELY_ENDS = ("succeeded", "succeeded", *WORKER_ENDS)
SETTINGS = settings(
    max_examples=50,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(slots=True)
class Spec:
    """One job to enqueue, as drawn."""

    key: str | None
    leads: bool
    idempotency_key: str | None
    priority: int


@dataclass(slots=True)
class ModelJob:
    id: int
    key: str | None
    leads: bool
    priority: int
    state: str = "queued"
    attempts: int = 0
    cancel_requested: bool = False
    token: int | None = None
    short_lease: bool = False
    started: bool = False


@dataclass(slots=True)
class Model:
    jobs: dict[int, ModelJob] = field(default_factory=dict)
    idempotency: dict[str, int] = field(default_factory=dict)
    # Leases that ended (finished, recovered): an outcome sent with one must change nothing.
    stale: list[tuple[int, int, str | None]] = field(default_factory=list)
    # Per key, the ids of the non-leading jobs in the order they first ran: must be FIFO.
    first_runs: dict[str, list[int]] = field(default_factory=dict)

    def head(self, key: str) -> ModelJob | None:
        heads = [j for j in self.jobs.values() if j.key == key and j.state in KEY_HOLDING_STATES]
        assert len(heads) <= 1, f"model: key {key!r} has two heads"
        return heads[0] if heads else None

    def admit(self, job: ModelJob) -> None:
        """Where a new job goes (`plan_enqueue`, stated from the design)."""
        head = None if job.key is None else self.head(job.key)
        if head is None:
            job.state = "queued"
        elif job.leads and head.state == "queued" and not head.leads:
            head.state = "waiting"
            job.state = "queued"
        else:
            job.state = "waiting"
        self.jobs[job.id] = job

    def release(self, key: str | None) -> None:
        """The head of `key` ended: promote the next waiting job, leading jobs first."""
        if key is None or self.head(key) is not None:
            return
        line = [j for j in self.jobs.values() if j.key == key and j.state == "waiting"]
        if line:
            min(line, key=lambda j: (not j.leads, j.id)).state = "queued"

    def end_lease(self, job: ModelJob) -> None:
        assert job.token is not None
        self.stale.append((job.id, job.token, job.key))
        job.token = None
        job.short_lease = False

    def finish(self, job: ModelJob, kind: str) -> None:
        """One outcome written under the job's lease."""
        self.end_lease(job)
        if job.cancel_requested or kind == "cancelled":
            job.state = "cancelled"  # whatever the attempt did: the cancel wins
        elif kind == "succeeded":
            job.state = "succeeded"
        elif kind == "retry":
            job.state = "retrying"
        elif kind == "dead":
            job.state = "dead"
        else:  # handback, postpone: the attempt does not count
            job.attempts -= 1
            job.state = "retrying" if job.attempts >= 1 else "queued"
        if job.state in ("succeeded", "cancelled"):
            self.release(job.key)

    def runnable(self) -> list[ModelJob]:
        """In claim order: by priority, then id."""
        jobs = [j for j in self.jobs.values() if j.state in ("queued", "retrying")]
        return sorted(jobs, key=lambda j: (-j.priority, j.id))

    def unfinished(self) -> list[int]:
        """The ids a cancel acts on (a dead job is final, yet still cancellable)."""
        return sorted(
            j.id for j in self.jobs.values() if j.state not in FINAL_STATES or j.state == "dead"
        )

    def running(self) -> list[ModelJob]:
        return sorted((j for j in self.jobs.values() if j.state == "running"), key=_by_id)


def _by_id(job: ModelJob) -> int:
    return job.id


specs = st.builds(
    Spec,
    key=st.sampled_from(KEYS),
    leads=st.booleans(),
    idempotency_key=st.none() | st.sampled_from(IDEMPOTENCY_KEYS),
    priority=st.sampled_from((0, 1)),
)


class OrderMachine(RuleBasedStateMachine):
    """Bound to a store and a way to empty it by `run_model`."""

    store: Store
    empty: Callable[[], None]

    def __init__(self) -> None:
        super().__init__()
        type(self).empty()
        self.model = Model()

    # -- rules ------------------------------------------------------------------------------

    @rule(batch=st.lists(specs, min_size=1, max_size=3))
    def enqueue(self, batch: list[Spec]) -> None:
        new = [
            NewJob(
                "t",
                "default",
                "{}",
                MAX_ATTEMPTS,
                key=s.key,
                leads_key=s.leads,
                idempotency_key=s.idempotency_key,
                priority=s.priority,
            )
            for s in batch
        ]
        ids = self.store.enqueue(new)
        assert len(ids) == len(batch)
        fresh = [i for i in dict.fromkeys(ids) if i not in self.model.jobs]
        assert fresh == sorted(fresh), "ids out of enqueue order (a key's line runs by id)"
        assert not fresh or not self.model.jobs or min(fresh) > max(self.model.jobs)
        for spec, job_id in zip(batch, ids, strict=True):
            held = self.model.idempotency.get(spec.idempotency_key or "")
            if held is not None:
                assert job_id == held, "a known idempotency key gives the job that holds it"
                continue
            assert job_id not in self.model.jobs, "a job id handed out twice"
            self.model.admit(ModelJob(job_id, spec.key, spec.leads, spec.priority))
            if spec.idempotency_key is not None:
                self.model.idempotency[spec.idempotency_key] = job_id

    @precondition(lambda self: self.model.runnable())
    @rule(limit=st.integers(1, 3), short=st.booleans())
    def claim(self, limit: int, short: bool) -> None:
        expected = [j.id for j in self.model.runnable()[:limit]]
        claimed = self.store.claim("model", None, limit, SHORT_LEASE if short else LONG_LEASE)
        assert [c.id for c in claimed] == expected
        keys = [c.key for c in claimed if c.key is not None]
        assert len(keys) == len(set(keys)), "two jobs of one key claimed together"
        for c in claimed:
            job = self.model.jobs[c.id]
            job.state, job.token, job.short_lease = "running", c.token, short
            job.attempts += 1
            assert c.attempt == job.attempts
            if job.key is not None and not job.leads and not job.started:
                line = self.model.first_runs.setdefault(job.key, [])
                assert not line or line[-1] < job.id, f"key {job.key!r} ran out of order"
                line.append(job.id)
            job.started = True

    @precondition(lambda self: self.model.running())
    @rule(data=st.data())
    def finish(self, data: st.DataObject) -> None:
        """Write the outcomes of one or more running jobs in one batch, as the worker does."""
        running = [j.id for j in self.model.running()]
        chosen = data.draw(st.lists(st.sampled_from(running), min_size=1, unique=True), "jobs")
        outcomes: list[tuple[ModelJob, str]] = []
        for job_id in chosen:
            job = self.model.jobs[job_id]
            ends = (*LIKELY_ENDS, "cancelled") if job.cancel_requested else LIKELY_ENDS
            outcomes.append((job, data.draw(st.sampled_from(ends), f"end of {job_id}")))
        self.store.complete([_outcome(job.id, job.token, job.key, kind) for job, kind in outcomes])
        for job, kind in outcomes:
            self.model.finish(job, kind)

    @precondition(lambda self: self.model.stale)
    @rule(data=st.data(), kind=st.sampled_from((*WORKER_ENDS, "cancelled")))
    def late_outcome(self, data: st.DataObject, kind: str) -> None:
        """A worker that lost its lease (or already wrote it) writes again: nothing changes."""
        job_id, token, key = data.draw(st.sampled_from(self.model.stale), "lease")
        self.store.complete([_outcome(job_id, token, key, kind)])

    @precondition(lambda self: self.model.unfinished())
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        job = self.model.jobs[data.draw(st.sampled_from(self.model.unfinished()), "job")]
        assert self.store.cancel([job.id]) == [job.id]
        if job.state == "running":
            job.cancel_requested = True  # it keeps its key until the attempt ends
        else:
            job.state = "cancelled"
            self.model.release(job.key)

    @precondition(
        lambda self: any(j.state in ("dead", "retrying") for j in self.model.jobs.values())
    )
    @rule(data=st.data())
    def operator_retry(self, data: st.DataObject) -> None:
        failed = sorted(j.id for j in self.model.jobs.values() if j.state in ("dead", "retrying"))
        job = self.model.jobs[data.draw(st.sampled_from(failed), "job")]
        assert self.store.retry([job.id]) == [job.id]
        job.state, job.attempts = "queued", 0

    @precondition(lambda self: any(j.short_lease for j in self.model.running()))
    @rule()
    def crash_and_recover(self) -> None:
        """The workers holding short leases died: their jobs come back (or end) on recovery."""
        doomed = [j for j in self.model.running() if j.short_lease]
        time.sleep(EXPIRY_WAIT)
        assert self.store.recover_expired() == len(doomed)
        for job in doomed:
            self.model.end_lease(job)
            if job.cancel_requested:
                job.state = "cancelled"
                self.model.release(job.key)
            else:
                job.state = "dead" if job.attempts >= MAX_ATTEMPTS else "retrying"

    # -- invariants, read from the store ----------------------------------------------------

    @invariant()
    def store_matches_model(self) -> None:
        stored = self.store.list_jobs(JobFilter(limit=100_000))
        actual = {j.id: (j.state, j.attempts, j.cancel_requested_at is not None) for j in stored}
        expected = {
            j.id: (j.state, j.attempts, j.cancel_requested) for j in self.model.jobs.values()
        }
        assert actual == expected
        heads = Counter(j.key for j in stored if j.key and j.state in KEY_HOLDING_STATES)
        assert all(n == 1 for n in heads.values()), f"a key with two heads: {heads}"
        waiting = Counter(j.key for j in stored if j.state == "waiting")
        assert set(waiting) <= set(heads), "a waiting job with nothing ahead of it"
        for j in stored:
            assert (j.lease_expires_at is not None) == (j.state == "running"), j
        blocked = {(b.key, b.job_id, b.waiting) for b in self.store.blocked_keys()}
        dead = {(j.key, j.id, waiting[j.key]) for j in stored if j.key and j.state == "dead"}
        assert blocked == dead


def _outcome(job_id: int, token: int | None, key: str | None, kind: str) -> Outcome:
    assert token is not None
    error = {"message": "boom"} if kind in ("retry", "dead") else None
    reason = "rate limit" if kind == "postpone" else None
    return Outcome(job_id, token, kind, key=key, error=error, reason=reason)  # type: ignore[arg-type]


def run_model(store: Store, empty: Callable[[], None]) -> None:
    machine = type("BoundOrderMachine", (OrderMachine,), {"store": store, "empty": empty})
    run_state_machine_as_test(machine, settings=SETTINGS)


def test_per_key_order_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'model.db'}"
    store = open_store(url)
    store.migrate()
    admin = sqlite3.connect(tmp_path / "model.db", isolation_level=None)
    tables = [
        name
        for (name,) in admin.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if name.startswith("conveyor_") and name != "conveyor_migrations"
    ]

    def empty() -> None:
        for table in tables:
            admin.execute(f"DELETE FROM {table}")

    try:
        run_model(store, empty)
    finally:
        admin.close()
        store.close()


def test_per_key_order_on_postgres(postgres_database: str) -> None:
    store = open_store(postgres_database)
    admin = psycopg.connect(postgres_database, autocommit=True)
    tables = [
        name
        for (name,) in admin.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        if name.startswith("conveyor_") and name != "conveyor_migrations"
    ]

    def empty() -> None:  # DELETE: a TRUNCATE makes new files for every table (0.4 s a time)
        admin.execute("; ".join(f"DELETE FROM {table}" for table in tables))

    try:
        run_model(store, empty)
    finally:
        admin.close()
        store.close()
