"""The accounts slice, every backend: accounts by (connection, owner), the locked change that
makes a refresh single-flight across processes, and authorisations taken once."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from conveyor.store import Store
from conveyor.store.accounts import PendingAuthorization, StoredAccount


def account(owner: str = "alice", connection: str = "bank", **fields: object) -> StoredAccount:
    now = time.time()
    base = StoredAccount(
        connection,
        owner,
        "oauth",
        "sealed-1",
        "k1",
        "active",
        None,
        now + 60,
        now + 30,
        "read",
        now,
        now,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def test_accounts_are_put_listed_and_removed(store: Store) -> None:
    store.put_account(account("bob"))
    store.put_account(account("alice"))
    store.put_account(account("alice", connection="shop", kind="api_key", expires_at=None))
    assert [(a.connection, a.owner) for a in store.list_accounts()] == [
        ("bank", "alice"),
        ("bank", "bob"),
        ("shop", "alice"),
    ]
    assert [a.owner for a in store.list_accounts("shop")] == ["alice"]
    got = store.get_account("shop", "alice")
    assert got is not None and got.kind == "api_key" and got.expires_at is None
    assert store.remove_account("bank", "bob") is True
    assert store.remove_account("bank", "bob") is False
    assert store.get_account("bank", "bob") is None


def test_putting_again_replaces_all_but_created_at(store: Store) -> None:
    first = account(created_at=1000.0, updated_at=1000.0)
    store.put_account(first)
    store.put_account(
        account(secret="sealed-2", state="active", created_at=2000.0, updated_at=2000.0)
    )
    got = store.get_account("bank", "alice")
    assert got is not None
    assert (got.secret, got.created_at, got.updated_at) == ("sealed-2", 1000.0, 2000.0)


def test_change_account_stores_what_the_change_returns(store: Store) -> None:
    store.put_account(account())
    after = store.change_account(
        "bank", "alice", lambda current: replace(current, secret="sealed-2", key_id="k2")
    )
    assert after is not None and after.secret == "sealed-2"
    got = store.get_account("bank", "alice")
    assert got is not None and (got.secret, got.key_id) == ("sealed-2", "k2")
    unchanged = store.change_account("bank", "alice", lambda current: None)
    assert unchanged == got
    assert store.change_account("bank", "nobody", lambda current: current) is None


def test_a_waiting_change_sees_what_the_holder_stored(store: Store) -> None:
    """Two threads change one account at once: the second one's change runs after the first
    committed and reads its secret (the lock, then the read), so it does not refresh again."""
    store.put_account(account())
    seen: list[str] = []
    inside = threading.Event()

    def slow(current: StoredAccount) -> StoredAccount | None:
        seen.append(current.secret)
        inside.set()
        time.sleep(0.3)  # hold the lock while the other thread asks for it
        return replace(current, secret="sealed-2")

    def after(current: StoredAccount) -> StoredAccount | None:
        seen.append(current.secret)
        return None

    first = threading.Thread(target=store.change_account, args=("bank", "alice", slow))
    first.start()
    inside.wait(5)
    store.change_account("bank", "alice", after)
    first.join(5)
    assert seen == ["sealed-1", "sealed-2"]


def test_a_change_that_raises_stores_nothing(store: Store) -> None:
    store.put_account(account())

    def failing(current: StoredAccount) -> StoredAccount | None:
        raise RuntimeError("the provider did not answer")

    with pytest.raises(RuntimeError):
        store.change_account("bank", "alice", failing)
    got = store.get_account("bank", "alice")
    assert got is not None and got.secret == "sealed-1"


def test_an_authorization_is_taken_once(store: Store) -> None:
    now = time.time()
    pending = PendingAuthorization("st-1", "bank", "alice", "sealed-v", "http://x/cb", now + 600)
    store.put_authorization(pending, now)
    assert store.take_authorization("st-1") == pending
    assert store.take_authorization("st-1") is None
    assert store.take_authorization("unknown") is None


def test_expired_authorizations_are_dropped_when_another_starts(store: Store) -> None:
    now = time.time()
    store.put_authorization(PendingAuthorization("old", "bank", "a", "v", "u", now - 1), now - 700)
    store.put_authorization(PendingAuthorization("new", "bank", "b", "v", "u", now + 600), now)
    assert store.take_authorization("old") is None
    assert store.take_authorization("new") is not None
