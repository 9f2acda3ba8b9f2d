"""The records of inbound events: one to store, one as stored (plain values, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class NewEvent:
    """A verified request, about to be stored with its jobs."""

    webhook: str
    event_id: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # the verifier's kept headers


@dataclass(frozen=True)
class ReceivedEvent:
    """A stored event: the raw body as received, and the ids of the jobs it made."""

    id: int
    webhook: str
    event_id: str
    received_at: datetime | None
    headers: dict[str, str]
    body: bytes
    job_ids: list[int]


@dataclass(frozen=True)
class Receipt:
    """What receiving one request did: `duplicate` (an event id seen before: nothing stored,
    `job_ids` are the first delivery's), the job ids, and the items no route took."""

    webhook: str
    event_id: str
    duplicate: bool
    job_ids: list[int]
    ignored: int = 0
