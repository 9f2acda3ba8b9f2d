"""Per-key ordering, decided at enqueue time (the "promotion" design in DESIGN.md).

Only one job of a key is ever claimable: its *head* (queued, running, retrying or dead). Every
other unfinished job of the key is stored as `waiting`. When the head succeeds or is cancelled,
the store promotes the next waiting job (leading jobs first, then by id). So the claim query
never has to look at the other rows of a key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..job import NewJob


@dataclass(slots=True)
class Head:
    """The job currently holding a key: a stored one (`job_id`) or one of this batch (`index`)."""

    state: str
    leads_key: bool
    job_id: int | None = None
    index: int | None = None


@dataclass(slots=True)
class EnqueuePlan:
    """`states[i]` for each new job; `demote` pairs a stored head with the index of the leader
    taking its place (if the head was claimed meanwhile, that leader must wait instead)."""

    states: list[str]
    demote: list[tuple[int, int]]


def plan_enqueue(jobs: Sequence[NewJob], heads: dict[str, Head]) -> EnqueuePlan:
    """Choose `queued` or `waiting` for each new job, in order; `heads` is updated in place.

    A leading job takes the place of a head that is still `queued` and does not lead itself: the
    old head goes back to `waiting` (`demote` lists stored ones to update).
    """
    states: list[str] = []
    demote: list[tuple[int, int]] = []
    for index, job in enumerate(jobs):
        if job.key is None:
            states.append("queued")
            continue
        head = heads.get(job.key)
        if head is None:
            states.append("queued")
            heads[job.key] = Head("queued", job.leads_key, index=index)
        elif job.leads_key and head.state == "queued" and not head.leads_key:
            if head.job_id is not None:
                demote.append((head.job_id, index))
            elif head.index is not None:
                states[head.index] = "waiting"
            states.append("queued")
            heads[job.key] = Head("queued", True, index=index)
        else:
            states.append("waiting")
    return EnqueuePlan(states, demote)


def fresh_indexes(jobs: Sequence[NewJob], known: dict[str, int]) -> list[int]:
    """Indexes of the jobs to insert: those without an idempotency key, and the first job of each
    key that is not `known` (already held by a stored job)."""
    fresh: list[int] = []
    seen: set[str] = set()
    for index, job in enumerate(jobs):
        ikey = job.idempotency_key
        if ikey is not None:
            if ikey in known or ikey in seen:
                continue
            seen.add(ikey)
        fresh.append(index)
    return fresh


def assemble_ids(
    jobs: Sequence[NewJob], fresh: Sequence[int], new_ids: Sequence[int], known: dict[str, int]
) -> list[int]:
    """The id each enqueued job maps to: its own, or the job that holds its idempotency key."""
    holders = dict(known)
    ids = [0] * len(jobs)
    for index, job_id in zip(fresh, new_ids, strict=True):
        ids[index] = job_id
        ikey = jobs[index].idempotency_key
        if ikey is not None:
            holders[ikey] = job_id
    return [ids[i] or holders[str(job.idempotency_key)] for i, job in enumerate(jobs)]
