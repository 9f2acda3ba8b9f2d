"""The records slice: pull syncs' local copies of remote collections, and their runs.

A run's pages are written one transaction each — the records, the processing jobs of what
changed, and the checkpoint of the next page together — so a crash loses at most the page in
flight, and resuming from the checkpoint re-reads it. Deletions happen only in `finish_run` of a
completed scan. Its SQL is `sql/<dialect>/records.sql`; contract tests
`tests/store/test_records.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..job import NewJob

RunState = Literal["running", "succeeded", "failed"]
RunMode = Literal["incremental", "full", "since", "reextract"]
ITEM = ""  # the kind (and parent) of a top-level item: children carry their own kind


@dataclass(frozen=True, slots=True)
class SyncRun:
    id: int
    source: str
    owner: str
    state: RunState
    mode: RunMode
    since: float | None
    started_at: float
    updated_at: float
    finished_at: float | None
    stats: dict[str, int]
    errors: list[dict[str, Any]]
    checkpoint: dict[str, Any] | None
    cursor: Any


@dataclass(frozen=True, slots=True)
class StoredRecord:
    source: str
    owner: str
    kind: str
    parent: str
    external_id: str
    data: Any
    content_hash: str
    first_seen_at: float
    last_seen_at: float
    updated_at: float
    deleted_at: float | None


@dataclass(frozen=True, slots=True)
class RecordWrite:
    """A record to insert or overwrite: an item (kind and parent `ITEM`) or a child."""

    external_id: str
    data_json: str
    content_hash: str
    kind: str = ITEM
    parent: str = ITEM


@dataclass(slots=True)
class PageWrite:
    """Everything one page of a run changes, written in one transaction. `page_key` (the page's
    request), `body_hash` and `ids` (every item id on it) record the page itself: the ids are
    what the run saw, and an unchanged body next time means unchanged items. `body_hash` is None
    for a page whose items could not all be judged (a detail failed): it is processed item by
    item next time."""

    writes: Sequence[RecordWrite] = ()
    rewritten_parents: Sequence[str] = ()  # items whose children were all written again
    jobs: Sequence[NewJob] = ()
    checkpoint: Mapping[str, Any] | None = None
    stats: Mapping[str, int] = field(default_factory=dict)
    page_key: str | None = None
    body_hash: str | None = None
    ids: Sequence[str] = ()


class RecordStore(ABC):
    @abstractmethod
    def open_run(self, source: str, owner: str, mode: RunMode, since: float | None) -> SyncRun:
        """The owner's running run, or its latest run if that failed in the same mode (both
        resume from their checkpoint), else a new one."""

    @abstractmethod
    def get_run(self, run_id: int) -> SyncRun | None: ...

    @abstractmethod
    def known_hashes(
        self, source: str, owner: str, external_ids: Sequence[str]
    ) -> dict[str, tuple[str, bool]]:
        """Stored items among `external_ids`: id → (content hash, marked deleted)."""

    @abstractmethod
    def page_hashes(self, source: str, owner: str) -> dict[str, str]:
        """Page key → body hash, of the pages the owner's scans judged whole (one row per page
        of the collection: small beside the records)."""

    @abstractmethod
    def write_page(self, run_id: int, source: str, owner: str, page: PageWrite) -> list[int]:
        """Write one page's records, jobs and checkpoint; the ids of the jobs (existing ones
        for an idempotency key already stored)."""

    @abstractmethod
    def finish_run(
        self,
        run_id: int,
        source: str,
        owner: str,
        *,
        state: RunState,
        stats: Mapping[str, int],
        errors: Sequence[Mapping[str, Any]],
        cursor: Any,
        delete_unseen: bool,
    ) -> int:
        """End the run; when `delete_unseen` (a completed scan), mark the items on none of the
        pages it saw, and their children, deleted. Returns how many items that marked."""

    @abstractmethod
    def list_runs(
        self, source: str | None = None, owner: str | None = None, limit: int = 50
    ) -> list[SyncRun]: ...

    @abstractmethod
    def run_owners(self, source: str) -> list[str]:
        """Every owner the source was ever synced for."""

    @abstractmethod
    def last_cursor(self, source: str, owner: str) -> Any:
        """The incremental cursor the owner's latest succeeded run with one reached (None: none)."""

    @abstractmethod
    def get_record(
        self, source: str, owner: str, external_id: str, *, kind: str = ITEM, parent: str = ""
    ) -> StoredRecord | None:
        """One record by its key (a deleted one too: `deleted_at` says so), or None."""

    @abstractmethod
    def list_records(
        self,
        source: str,
        *,
        owner: str | None = None,
        kind: str = ITEM,
        deleted: bool | None = False,
        after: tuple[str, str, str] | None = None,
        limit: int = 100,
    ) -> list[StoredRecord]:
        """Records in (owner, parent, external id) order, from after `after` (keyset pages)."""
