"""What operators see and do with pull syncs: runs, records, owners, re-extraction.

Part of the operator service (`app.ops.sync`), so the CLI, the HTTP API and the dashboard share
it; none of them calls the store. Re-extraction rebuilds every stored item's children from its
stored data without calling the remote (after a change to `children=`, or a fix in the data): it
is a run of its own (mode `reextract`), so it shows in `sync runs` and never overlaps a sync of
the same owner.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol

from ..errors import ConfigurationError
from ..store.records import ITEM, PageWrite, RecordStore, RecordWrite, StoredRecord, SyncRun
from .records import content_hash
from .source import Source

PAGE = 500


class SourceLookup(Protocol):
    def get_source(self, name: str) -> Source: ...

    @property
    def accounts(self) -> AccountOwners: ...


class AccountOwners(Protocol):
    def owners(self, connection: str) -> list[str]: ...


class SyncOperations:
    def __init__(self, store: Callable[[], RecordStore], sources: SourceLookup) -> None:
        self._store = store
        self._sources = sources

    def runs(
        self, source: str | None = None, owner: str | None = None, limit: int = 50
    ) -> list[SyncRun]:
        return self._store().list_runs(source, owner, _limit(limit))

    def records(
        self,
        source: str,
        *,
        owner: str | None = None,
        kind: str = ITEM,
        deleted: bool | None = False,
        after: tuple[str, str, str] | None = None,
        limit: int = 100,
    ) -> list[StoredRecord]:
        self._sources.get_source(source)
        return self._store().list_records(
            source, owner=owner, kind=kind, deleted=deleted, after=after, limit=_limit(limit)
        )

    def record(
        self, source: str, owner: str, external_id: str, *, kind: str = ITEM, parent: str = ""
    ) -> StoredRecord | None:
        """One stored record: what a `process=` job (`{"source", "owner", "id", "change"}`)
        reads to do its work."""
        self._sources.get_source(source)
        return self._store().get_record(source, owner, external_id, kind=kind, parent=parent)

    def owners(self, source: str) -> list[str]:
        """The owners `--all` syncs: those the source declares, those with an account on its
        connection, and every one synced before."""
        spec = self._sources.get_source(source)
        declared = spec.owners
        named = list(declared() if callable(declared) else declared)
        for owner in named:
            if not isinstance(owner, str) or not owner:
                raise ConfigurationError(f"source {source!r}: owners gave {owner!r}, not a name")
        with_accounts = (
            []
            if spec.owner_credentials is False
            else (self._sources.accounts.owners(spec.connection))
        )
        return sorted(set(named) | set(with_accounts) | set(self._store().run_owners(source)))

    def reextract(self, source: str, owner: str | None = None) -> list[SyncRun]:
        """Rebuild the children of every stored item of the owner (of every owner when None)."""
        spec = self._sources.get_source(source)
        if not spec.children:
            raise ConfigurationError(f"source {source!r} declares no children to re-extract")
        store = self._store()
        owners = [owner] if owner is not None else store.run_owners(source)
        return [self._reextract_owner(store, spec, name) for name in owners]

    def _reextract_owner(self, store: RecordStore, spec: Source, owner: str) -> SyncRun:
        run = store.open_run(spec.name, owner, "reextract", None)
        if run.mode != "reextract":
            raise ConfigurationError(
                f"a sync of {spec.name!r} for {owner!r} is running (run {run.id}); try again later"
            )
        items = children = 0
        after: tuple[str, str, str] | None = None
        while True:
            page = store.list_records(spec.name, owner=owner, after=after, limit=PAGE)
            if not page:
                break
            writes: list[RecordWrite] = []
            for record in page:
                for kind, rule in spec.children.items():
                    for child_id, child in rule.extract(record.data):
                        child_json = json.dumps(child)
                        writes.append(
                            RecordWrite(
                                child_id, child_json, content_hash(child), kind, record.external_id
                            )
                        )
            items += len(page)
            children += len(writes)
            stats = {"updated": items, "total": children}
            parents = [r.external_id for r in page]
            store.write_page(
                run.id,
                spec.name,
                owner,
                PageWrite(writes=writes, rewritten_parents=parents, stats=stats),
            )
            last = page[-1]
            after = (last.owner, last.parent, last.external_id)
        store.finish_run(
            run.id,
            spec.name,
            owner,
            state="succeeded",
            stats={"updated": items, "total": children},
            errors=[],
            cursor=None,
            delete_unseen=False,
        )
        final = store.get_run(run.id)
        assert final is not None
        return final


def _limit(limit: int) -> int:
    if type(limit) is not int or not 1 <= limit <= 10_000:
        raise ConfigurationError(f"limit must be a whole number from 1 to 10000, not {limit!r}")
    return limit
