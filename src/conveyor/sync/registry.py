"""The app's sources (`app.sources`), and the built-in task that runs one owner's sync.

Each sync of an owner is one `conveyor.sync` job on the source's queue, keyed
`sync:<source>:<owner>`, so an owner's syncs never overlap while different owners sync in
parallel; `--now` runs the same sync in the caller. The task is made here, bound to this
registry, so no module-level state ties it to one app.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, field_validator

from ..errors import (
    AccountRejected,
    ConfigurationError,
    PermanentStatus,
    Postpone,
    RemoteUnavailable,
    Retry,
    RetryableStatus,
    SyncFailed,
)
from ..job import NewJob
from ..store.records import RecordStore, RunMode, SyncRun
from ..tasks import Blueprint
from ..types import ConnectionLookup, JobBuilder
from ..workers import SYNC_TASK
from .runner import WAIT_IN_PLACE, Fetcher, SyncRunner
from .source import Source, make_source


class SyncRequest(BaseModel):
    """The payload of a `conveyor.sync` job."""

    model_config = ConfigDict(extra="forbid")

    source: str
    owner: str
    mode: Literal["incremental", "full", "since"] = "incremental"
    since: str | None = None

    @field_validator("since")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None:
            datetime.fromisoformat(value)  # a ValueError here is a PayloadError at enqueue
        return value


class OwnerAccounts(Protocol):
    """The owners' own credentials (`app.accounts`), as a sync uses them."""

    def has(self, connection: str, owner: str) -> bool: ...
    def owners(self, connection: str) -> list[str]: ...
    async def check(self, connection: str, owner: str) -> Any: ...


class SourceRegistry(Mapping[str, Source]):
    def __init__(
        self,
        store: Callable[[], RecordStore],
        connections: ConnectionLookup,
        jobs: JobBuilder,
        enqueue: Callable[[NewJob], int],
        client: Callable[[], Fetcher],
        accounts: OwnerAccounts,
    ) -> None:
        self._sources: dict[str, Source] = {}
        self._store = store
        self._connections = connections
        self._jobs = jobs
        self._enqueue = enqueue
        self._client = client
        self.accounts = accounts
        self.tasks = Blueprint()
        self.tasks.task(name=SYNC_TASK, max_attempts=3)(self._run_job)

    # -- the mapping ------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Source:
        return self._sources[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def get_source(self, name: str) -> Source:
        try:
            return self._sources[name]
        except KeyError:
            known = ", ".join(sorted(self._sources)) or "none declared"
            raise ConfigurationError(f"unknown source {name!r} (known: {known})") from None

    # -- declaring --------------------------------------------------------------------------

    def remove(self, name: str) -> None:
        """Forget a declared source (a config file declaring all its sources or none)."""
        self._sources.pop(name, None)

    def declare(self, name: str, **settings: Any) -> Source:
        if name in self._sources:
            raise ConfigurationError(f"source {name!r} is declared twice")
        source = self._sources[name] = make_source(name, **settings)
        return source

    # -- syncing ----------------------------------------------------------------------------

    def enqueue_sync(
        self,
        name: str,
        owner: str,
        *,
        mode: RunMode = "incremental",
        since: str | None = None,
        queue: str | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        """One `conveyor.sync` job for the owner (queue: the source's unless given, so a long
        historical initialisation can run on a pool of its own; key: the owner's, so it never
        overlaps the owner's other syncs)."""
        job = self.sync_job(
            name, owner, mode=mode, since=since, queue=queue, idempotency_key=idempotency_key
        )
        return self._enqueue(job)

    def sync_job(
        self,
        name: str,
        owner: str,
        *,
        mode: RunMode = "incremental",
        since: str | None = None,
        queue: str | None = None,
        idempotency_key: str | None = None,
    ) -> NewJob:
        """The job `enqueue_sync` stores, built and checked but not stored: a job dispatching
        many syncs stores them together, all or none (`app.tasks.store_jobs`)."""
        source = self._checked(name, owner, mode, since)
        payload = {"source": name, "owner": owner, "mode": mode, "since": since}
        job = self._jobs.build_job(
            SYNC_TASK,
            payload,
            queue=queue or source.queue,
            key=_key(name, owner),
            idempotency_key=idempotency_key,
        )
        return dataclasses.replace(job, max_attempts=source.max_attempts)

    async def run(
        self,
        name: str,
        owner: str,
        *,
        mode: RunMode = "incremental",
        since: str | None = None,
        progress: Any = None,
    ) -> SyncRun:
        """Sync the owner now, in the caller's event loop. Raises SyncFailed, and before any
        page AccountRejected when the owner's own credentials are refused."""
        source = self._checked(name, owner, mode, since)
        connection = self._connections.get_connection(source.connection)
        on_behalf = await self._on_behalf(source, owner)
        if on_behalf:
            try:  # no page with a bad credential
                await self.accounts.check(source.connection, owner)
            except (RemoteUnavailable, RetryableStatus) as error:
                raise SyncFailed(
                    f"sync of {source.name!r} for {owner!r}: the check {connection.check}"
                    f" failed: {error}"
                ) from error
        elif source.check_owner:
            await self._check_owner(source, connection.check, owner)
        runner = SyncRunner(
            source,
            store=self._store(),
            client=self._client(),
            jobs=self._jobs,
            base_url=connection.base_url,
            progress=progress,
            on_behalf=on_behalf,
        )
        return await runner.run(owner, mode, since)

    async def _check_owner(self, source: Source, check: str, owner: str) -> None:
        """The connection's check request for this owner (the write-up's "validate the
        customer's credentials before the sync"): AccountRejected on a 401/403, at once."""
        method, _, path = check.partition(" ")
        path = path.strip()
        if source.owner_param:
            sep = "&" if "?" in path else "?"
            path = f"{path}{sep}{urlencode({source.owner_param: owner})}"
        try:
            while True:
                try:
                    await self._client().request(source.connection, method, path)
                    return
                except Postpone as postpone:  # a rate limit's next token: waited out here
                    if postpone.after > WAIT_IN_PLACE:
                        raise
                    await asyncio.sleep(postpone.after)
        except PermanentStatus as error:
            if error.status not in (401, 403):
                raise
            raise AccountRejected(
                f"connection {source.connection!r} refused owner {owner!r} ({error.status} at"
                f" {check}): the sync did not start",
                error.details,
            ) from None
        except (RemoteUnavailable, RetryableStatus) as error:  # the job's tries, as a page
            raise SyncFailed(
                f"sync of {source.name!r} for {owner!r}: the check {check} failed: {error}"
            ) from error

    async def _on_behalf(self, source: Source, owner: str) -> bool:
        """`owner_credentials`: True, the owner's account is required; False, the connection's
        own auth; None, the owner's account when there is one."""
        if source.owner_credentials is False:
            return False
        has = await asyncio.to_thread(self.accounts.has, source.connection, owner)
        if source.owner_credentials and not has:
            raise ConfigurationError(
                f"source {source.name!r} syncs with each owner's own credentials, and owner"
                f" {owner!r} has no account on connection {source.connection!r}:"
                " add one (conveyor accounts add) or authorise over OAuth"
            )
        return has

    async def _run_job(self, payload: SyncRequest) -> dict[str, Any]:
        source = self.get_source(payload.source)
        try:
            run = await self.run(
                payload.source, payload.owner, mode=payload.mode, since=payload.since
            )
        except SyncFailed as error:
            raise Retry(after=source.retry_after, reason=str(error)) from error
        return {"run": run.id, **run.stats}

    def _checked(self, name: str, owner: str, mode: str, since: str | None) -> Source:
        source = self.get_source(name)
        if mode not in ("incremental", "full", "since"):
            raise ConfigurationError(f"mode must be incremental, full or since, not {mode!r}")
        if (mode == "since") != (since is not None):
            raise ConfigurationError("give since= with mode='since' (and only then)")
        if since is not None:
            try:
                datetime.fromisoformat(since)
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"since {since!r} is not an ISO date like 2026-01-31"
                ) from None
        if not isinstance(owner, str) or not owner.strip() or len(owner) > 200:
            raise ConfigurationError(
                f"owner must be a non-empty name of at most 200 characters, not {owner!r}"
            )
        self._connections.get_connection(source.connection)
        return source


def _key(source: str, owner: str) -> str:
    return f"sync:{source}:{owner}"
