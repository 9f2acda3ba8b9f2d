"""Per-owner accounts against the OAuth provider stand-in, on both backends: the code exchange,
refresh before expiry, rotation, a 401 refreshed once, the credential check, the sealed rows."""

from __future__ import annotations

import asyncio
import time

import pytest

from conveyor import (
    AccountRejected,
    ApiKey,
    AuthorizationError,
    Conveyor,
    RetryableStatus,
    SecretKeyError,
    UnknownAccount,
)
from conveyor.accounts import generate_key
from conveyor.events import AccountAuthorized, Event
from tests.http_sink import Response, Sink

from .helpers import authorise, call_me, consent, raw_rows
from .provider import Provider


def test_an_owner_authorises_and_calls_with_its_own_token(
    bank: Conveyor, provider: Provider
) -> None:
    seen: list[Event] = []
    bank.events.subscribe(seen.append, AccountAuthorized)
    account = authorise(bank, "alice")
    assert (account.owner, account.kind, account.state) == ("alice", "oauth", "active")
    assert account.expires_at is not None and account.expires_at > time.time() + 3000
    assert provider.code_exchanges == 1
    provider.user = "bob"
    authorise(bank, "bob")
    assert call_me(bank, "alice") == {"user": "alice"}
    assert call_me(bank, "bob") == {"user": "bob"}
    assert provider.refresh_requests == 0
    assert [(a.owner, a.state) for a in bank.list_accounts("bank")] == [
        ("alice", "active"),
        ("bob", "active"),
    ]
    assert seen == [
        AccountAuthorized("bank", "alice", "oauth"),
        AccountAuthorized("bank", "bob", "oauth"),
    ]


def test_the_stored_rows_hold_no_plaintext_secret(
    bank: Conveyor, provider: Provider, database_url: str
) -> None:
    authorise(bank, "alice")
    bank.add_account("bank", "carol", token="carol-static-token-XYZ")
    rows = raw_rows(database_url)
    [refresh] = provider.live_refresh_tokens("alice")
    stored = bank.accounts.open(bank.accounts.stored("bank", "alice"))
    assert stored["refresh_token"] == refresh
    assert len(rows) == 2
    for secret in (refresh, stored["access_token"], "carol-static-token-XYZ"):
        assert not any(secret in row for row in rows)


def test_the_code_exchange_needs_the_verifier_of_its_own_state(
    bank: Conveyor, provider: Provider
) -> None:
    """A code obtained under one state, presented with another state's verifier: the provider
    checks PKCE and refuses it."""

    async def mixed() -> None:
        callback = "http://127.0.0.1:1/cb"
        first = await bank.accounts.start_authorization("bank", "alice", callback)
        second = await bank.accounts.start_authorization("bank", "alice", callback)
        _, state_one = await consent(first)
        code_two, _ = await consent(second)
        try:
            await bank.accounts.finish_authorization("bank", code_two, state_one)
        finally:
            await bank.close_remote()

    with pytest.raises(AuthorizationError, match="PKCE verifier mismatch"):
        asyncio.run(mixed())
    assert bank.list_accounts() == []


def test_a_state_is_used_once_and_expires(bank: Conveyor, provider: Provider) -> None:
    async def flow(ttl: float, replay: bool, connection: str = "bank") -> None:
        bank.accounts.authorization_ttl = ttl
        url = await bank.accounts.start_authorization("bank", "alice", "http://127.0.0.1:1/cb")
        code, state = await consent(url)
        try:
            if replay:
                await bank.accounts.finish_authorization("bank", code, state)
            await bank.accounts.finish_authorization(connection, code, state)
        finally:
            await bank.close_remote()

    with pytest.raises(AuthorizationError, match="unknown or already used OAuth state"):
        asyncio.run(flow(600, replay=True))
    with pytest.raises(AuthorizationError, match="the authorisation expired"):
        asyncio.run(flow(-1, replay=False))
    bank.connection("other", f"{provider.url}/api/", auth=bank.get_connection("bank").auth)
    with pytest.raises(AuthorizationError, match="issued for another connection"):
        asyncio.run(flow(600, replay=False, connection="other"))


def test_a_token_is_refreshed_before_it_expires_and_the_rotation_is_kept(
    app: Conveyor, provider: Provider, secret_key: str
) -> None:
    from .conftest import bank_auth

    provider.expires_in = 8  # refreshed at half its life: margin 60 s > 8 s / 2
    app.connection("bank", f"{provider.url}/api/", auth=bank_auth(provider))
    created = authorise(app, "alice").created_at
    [first_refresh] = provider.live_refresh_tokens("alice")
    assert call_me(app, "alice") == {"user": "alice"}
    assert provider.refresh_requests == 0
    due = app.accounts.stored("bank", "alice").refresh_at
    assert due is not None
    while time.time() < due:
        time.sleep(0.05)
    assert call_me(app, "alice") == {"user": "alice"}
    assert provider.refresh_requests == 1
    assert provider.api_refusals == 0  # refreshed before the remote refused anything
    row = app.accounts.stored("bank", "alice")
    stored = app.accounts.open(row)
    assert row.created_at == created < row.updated_at  # one row, updated in place
    [rotated] = provider.live_refresh_tokens("alice")
    assert rotated != first_refresh
    assert stored["refresh_token"] == rotated  # the rotated one, stored with its access token
    provider.expire_access("alice")  # the next refresh uses the rotated token
    assert call_me(app, "alice") == {"user": "alice"}
    assert provider.refresh_requests == 2


def test_a_401_refreshes_once_and_resends(bank: Conveyor, provider: Provider) -> None:
    authorise(bank, "alice")
    provider.expire_access("alice")
    assert call_me(bank, "alice") == {"user": "alice"}
    assert (provider.refresh_requests, provider.api_calls, provider.api_refusals) == (1, 2, 1)


def test_a_failed_refresh_stores_nothing(bank: Conveyor, provider: Provider) -> None:
    authorise(bank, "alice")
    before = bank.accounts.stored("bank", "alice")
    provider.expire_access("alice")
    provider.fail_next_refresh = 503
    with pytest.raises(RetryableStatus, match="token endpoint answered 503"):
        call_me(bank, "alice")
    assert bank.accounts.stored("bank", "alice") == before
    assert call_me(bank, "alice") == {"user": "alice"}  # the old refresh token still works


def test_api_key_and_token_accounts_send_their_own_header(app: Conveyor, secret_key: str) -> None:
    with Sink() as sink:
        app.connection("shop", sink.url, auth=ApiKey("env:SHOP_KEY_UNUSED", header="X-Shop-Key"))
        app.connection("crm", sink.url)
        app.add_account("shop", "store-1", api_key="key-of-store-1")
        app.add_account("crm", "store-1", token="crm-token-1")

        async def calls() -> None:
            try:
                await app.remote().request("shop", "GET", "/orders", owner="store-1")
                await app.remote().request("crm", "GET", "/contacts", owner="store-1")
            finally:
                await app.close_remote()

        asyncio.run(calls())
        shop, crm = sink.requests
    assert shop.headers["X-Shop-Key"] == "key-of-store-1"
    assert crm.headers["Authorization"] == "Bearer crm-token-1"


def test_an_unknown_or_removed_owner_is_refused(bank: Conveyor, provider: Provider) -> None:
    with pytest.raises(UnknownAccount, match="owner 'zed' has no account on connection 'bank'"):
        call_me(bank, "zed")
    authorise(bank, "alice")
    assert bank.remove_account("bank", "alice") is True
    assert bank.remove_account("bank", "alice") is False
    with pytest.raises(UnknownAccount):
        call_me(bank, "alice")


def test_the_credential_check(bank: Conveyor, provider: Provider) -> None:
    bank.connections["bank"].identity = "user"
    authorise(bank, "alice")
    check = bank.check_account("bank", "alice")
    assert (check.owner, check.status, check.identity) == ("alice", 200, "alice")
    with Sink() as sink:
        sink.default("*", Response(401, {"error": "bad key"}))
        bank.connection("shop", sink.url, auth=ApiKey("env:UNUSED"), check="GET /account")
        bank.add_account("shop", "store-1", api_key="revoked-key")
        with pytest.raises(AccountRejected) as rejected:
            bank.check_account("shop", "store-1")
        assert [r.path for r in sink.requests] == ["/account"]  # the check, nothing else
    assert str(rejected.value) == (
        "connection 'shop' refused the credentials of owner 'store-1' (401 unauthorised at"
        " GET /account): add them again or re-authorise"
    )


def test_keys_rotate_and_a_missing_key_is_named(
    bank: Conveyor, provider: Provider, monkeypatch: pytest.MonkeyPatch, secret_key: str
) -> None:
    authorise(bank, "alice")
    bank.add_account("bank", "carol", token="carol-token")
    old_id = bank.accounts.keyring.primary
    new = generate_key()
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", f"{new},{secret_key}")
    new_id = bank.accounts.keyring.primary
    assert call_me(bank, "alice") == {"user": "alice"}  # the old key still opens
    assert {a.key_id for a in bank.list_accounts()} == {old_id}
    assert bank.rotate_secret_key() == 2
    assert bank.rotate_secret_key() == 0
    assert {a.key_id for a in bank.list_accounts()} == {new_id}
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", new)
    bank.accounts.forget("bank", "alice")
    assert call_me(bank, "alice") == {"user": "alice"}
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", secret_key)  # the old key alone: a clear error
    bank.accounts.forget("bank", "alice")
    with pytest.raises(SecretKeyError, match=f"sealed with key {new_id}, which"):
        call_me(bank, "alice")
    monkeypatch.delenv("CONVEYOR_SECRET_KEY")
    with pytest.raises(SecretKeyError, match="CONVEYOR_SECRET_KEY is not set"):
        bank.add_account("bank", "dave", token="t")
    assert [a.owner for a in bank.list_accounts()] == ["alice", "carol"]  # nothing lost


def test_bad_input_is_one_clear_error(bank: Conveyor) -> None:
    from conveyor import ConfigurationError

    with pytest.raises(ConfigurationError, match="give one kind of credential"):
        bank.add_account("bank", "alice", token="t", api_key="k")
    with pytest.raises(ConfigurationError, match="an owner is 1 to 200 characters"):
        bank.add_account("bank", " alice", token="t")
    bank.connection("plain", "https://plain.example")
    with pytest.raises(ConfigurationError, match="does not use OAuth2AuthorizationCode"):
        bank.add_account("plain", "alice", refresh_token="r")
    with pytest.raises(ConfigurationError, match="unknown connection 'nope'"):
        bank.add_account("nope", "alice", token="t")


def test_jobs_of_one_process_share_one_refresh_and_a_cancelled_one_does_not_stop_it(
    bank: Conveyor, provider: Provider
) -> None:
    authorise(bank, "alice")
    provider.expire_access("alice")
    provider.refresh_delay = 0.3

    async def calls() -> list[object]:
        client = bank.remote()
        try:
            first = asyncio.create_task(client.request("bank", "GET", "/me", owner="alice"))
            while provider.refresh_requests == 0:  # the first call is refreshing
                await asyncio.sleep(0.01)
            others = [
                asyncio.create_task(client.request("bank", "GET", "/me", owner="alice"))
                for _ in range(10)
            ]
            await asyncio.sleep(0.05)
            first.cancel()  # its job timed out: the others still get the refreshed token
            return [(await task).json() for task in others]
        finally:
            await bank.close_remote()

    assert asyncio.run(calls()) == [{"user": "alice"}] * 10
    assert provider.refresh_requests == 1
    assert bank.accounts.refreshes == 1
