"""`invalid_grant`: the owner is marked needs_reauth, an event says so, its jobs wait without
using attempts, and authorising again lets them run. Both backends, a real in-process worker."""

from __future__ import annotations

import pytest

from conveyor import Conveyor, NeedsReauth
from conveyor.connections import current_remote
from conveyor.events import AccountAuthorized, AccountNeedsReauth, Event

from ..connections.conftest import run_until
from .helpers import authorise
from .provider import Provider


def test_a_refused_refresh_token_postpones_the_owners_jobs_until_it_authorises_again(
    bank: Conveyor, provider: Provider
) -> None:
    @bank.task(max_attempts=2)
    async def balance(payload: dict[str, str]) -> str:
        response = await current_remote().request("bank", "GET", "/me", owner=payload["owner"])
        return str(response.json()["user"])

    seen: list[Event] = []
    bank.events.subscribe(seen.append, AccountNeedsReauth, AccountAuthorized)
    authorise(bank, "alice")
    provider.revoke("alice")  # consent withdrawn at the provider
    provider.expire_access("alice")
    bank.accounts.reauth_wait = 0.2
    job_ids = [bank.enqueue(balance, {"owner": "alice"}) for _ in range(3)]

    def all_postponed() -> bool:
        jobs = [bank.get_job(job_id) for job_id in job_ids]
        return all(job.postponed_reason is not None for job in jobs)

    run_until(bank, all_postponed)
    jobs = [bank.get_job(job_id) for job_id in job_ids]
    assert {job.state for job in jobs} == {"queued"}
    assert [job.attempts for job in jobs] == [0, 0, 0]  # none used
    reason = jobs[0].postponed_reason or ""
    assert "owner 'alice' of connection 'bank' must authorise it again" in reason
    assert "invalid_grant" in reason
    [account] = bank.list_accounts("bank")
    assert (account.state, account.reason) == (
        "needs_reauth",
        "the provider refused the refresh token (invalid_grant: refresh token revoked)",
    )
    assert provider.refresh_requests == 1  # asked once; waiting jobs do not ask again
    assert [type(e) for e in seen] == [AccountAuthorized, AccountNeedsReauth]
    assert seen[1] == AccountNeedsReauth("bank", "alice", account.reason or "")
    with pytest.raises(NeedsReauth):
        bank.check_account("bank", "alice")

    authorise(bank, "alice")  # through the callback, as the owner would
    assert bank.list_accounts("bank")[0].state == "active"
    run_until(bank, lambda: all(bank.get_job(i).state == "succeeded" for i in job_ids))
    jobs = [bank.get_job(job_id) for job_id in job_ids]
    assert [(job.result, job.attempts) for job in jobs] == [("alice", 1)] * 3
    assert provider.refresh_requests == 1
    assert isinstance(seen[-1], AccountAuthorized)


def test_adding_the_account_again_also_clears_needs_reauth(
    bank: Conveyor, provider: Provider
) -> None:
    authorise(bank, "alice")
    provider.revoke("alice")
    provider.expire_access("alice")
    with pytest.raises(NeedsReauth):
        bank.check_account("bank", "alice")
    assert bank.list_accounts()[0].state == "needs_reauth"
    access, refresh = provider.issue("alice")
    bank.add_account("bank", "alice", access_token=access, refresh_token=refresh, expires_in=3600)
    assert bank.list_accounts()[0].state == "active"
    assert bank.check_account("bank", "alice").status == 200
