"""Short ways to make jobs and drive a store in the contract tests."""

from __future__ import annotations

from conveyor.job import ClaimedJob, NewJob, Outcome, OutcomeKind
from conveyor.store import Store

LEASE = 30.0


def new(
    task: str = "t",
    key: str | None = None,
    leads: bool = False,
    ikey: str | None = None,
    priority: int = 0,
    queue: str = "default",
    delay: float = 0.0,
    max_attempts: int = 3,
    payload: str = '{"n": 1}',
) -> NewJob:
    return NewJob(
        task,
        queue,
        payload,
        max_attempts,
        key=key,
        leads_key=leads,
        idempotency_key=ikey,
        priority=priority,
        delay=delay,
    )


def claim(
    store: Store, limit: int = 10, queues: list[str] | None = None, lease: float = LEASE
) -> list[ClaimedJob]:
    return store.claim("w1", queues, limit, lease)


def succeed(store: Store, job: ClaimedJob, result: str | None = None) -> None:
    store.complete([Outcome(job.id, job.token, "succeeded", key=job.key, result=result)])


def fail(store: Store, job: ClaimedJob, kind: OutcomeKind = "dead", message: str = "x") -> None:
    error = {"attempt": job.attempt, "message": message}
    store.complete([Outcome(job.id, job.token, kind, key=job.key, error=error)])
