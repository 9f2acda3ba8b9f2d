"""The worker's side tasks, each a loop on the worker's event loop until it is cancelled.

Lease renewal (with the registry heartbeat), recovery of expired leases, the cancel watcher and,
for stores without notifications, the change poller. They reach the worker only through `Host`,
so a coming feature's side task (a scheduler, a pull sync) is one more function here.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from typing import Protocol

from .errors import StoreError
from .events import (
    CancelCheckFailed,
    Event,
    JobsCancelling,
    JobsRecovered,
    RecoverFailed,
    RenewFailed,
)
from .outage import STORE_RETRY_MAX, StoreLink
from .store import Store


class Host(Protocol):
    """What the side tasks need of their worker."""

    worker_id: str
    queues: list[str] | None
    tasks: list[str]
    lease_seconds: float
    cancel_poll_interval: float
    store: Store
    link: StoreLink

    def held_leases(self) -> list[tuple[int, int]]:
        """(job id, token) of every job running or with its outcome not written yet."""
        ...

    def leases_lost(self, job_ids: list[int]) -> None: ...

    def uncancelled_jobs(self) -> list[int]:
        """Running jobs not known to be cancelled."""
        ...

    def cancel_running(self, job_id: int) -> bool:
        """Tell a running job it was cancelled; False if it ended meanwhile."""
        ...

    def busy(self) -> bool: ...

    def wake_soon(self) -> None: ...

    def publish(self, event: Event) -> None: ...


def register(host: Host) -> None:
    """Make the worker visible to operators: its tasks and queues (`conveyor stats`)."""
    host.store.register_worker(
        host.worker_id,
        socket.gethostname(),
        os.getpid(),
        host.queues,
        host.tasks,
        host.lease_seconds,
    )


def heartbeat(host: Host) -> None:
    if not host.store.heartbeat_worker(host.worker_id):  # pruned while this worker stalled
        register(host)


async def renew_leases(host: Host) -> None:
    """Every lease/3: renew the leases of running and unwritten jobs, and the heartbeat."""
    interval = host.lease_seconds / 3
    wait = interval
    while True:
        await asyncio.sleep(wait)
        wait = interval
        try:
            lost = await host.link.tracked(host.store.renew, host.held_leases(), host.lease_seconds)
            await host.link.tracked(heartbeat, host)  # idle or not: operators see it alive
        except StoreError:
            # Try again soon: once the store answers, the leases are renewed within about a
            # second, before anyone recovers them (the token still matches until then).
            wait = min(interval, STORE_RETRY_MAX)
            continue
        except Exception as error:
            host.publish(RenewFailed(host.worker_id, str(error)))
            continue
        if lost:
            host.leases_lost(sorted(lost))


async def recover_expired(host: Host) -> None:
    """Every lease/2: put the jobs of leases that ran out (crashed workers) back in the queue."""
    interval = max(host.lease_seconds / 2, 0.5)
    while True:
        try:
            recovered = await host.link.tracked(host.store.recover_expired)
        except StoreError:
            recovered = 0
        except Exception as error:
            host.publish(RecoverFailed(host.worker_id, str(error)))
            recovered = 0
        if recovered:
            host.publish(JobsRecovered(host.worker_id, recovered))
            host.wake_soon()
        await asyncio.sleep(interval)
        # After an outage, leases that ran out only because the store was unreachable get
        # `interval` to be renewed by their workers before any of them is recovered.
        while not host.link.settled(interval):
            await asyncio.sleep(min(interval, STORE_RETRY_MAX))


async def watch_cancels(host: Host) -> None:
    """Learn within about `cancel_poll_interval` that a running job was cancelled.

    The store is asked only while jobs run. An async task gets `CancelledError`; a sync
    task's thread cannot be interrupted, so it only sees `current_job().cancelled` turn true
    (and the worker waits for it as for any running job: it is never handed back).
    """
    while True:
        await asyncio.sleep(host.cancel_poll_interval)
        watched = host.uncancelled_jobs()
        if not watched:
            continue
        try:
            requested = await host.link.call(host.store.cancel_requested, watched)
        except Exception as error:
            host.publish(CancelCheckFailed(host.worker_id, str(error)))
            continue
        cancelling = [job_id for job_id in sorted(requested) if host.cancel_running(job_id)]
        if cancelling:
            host.publish(JobsCancelling(host.worker_id, cancelling))


async def poll_changes(host: Host) -> None:
    """Backends without notifications: watch a cheap change counter, a few ms apart."""
    counter: Callable[[], int] | None = getattr(host.store, "change_counter", None)
    if counter is None:
        return
    last = -1
    while True:
        await asyncio.sleep(0.002 if host.busy() else 0.005)
        try:  # not `tracked`: a read that works while writes are locked out ends no outage
            current = await host.link.call(counter)
        except StoreError:
            await asyncio.sleep(STORE_RETRY_MAX)
            continue
        if current != last:
            last = current
            host.wake_soon()
