"""The tokens slice, every backend: created once by name, checked by hash, listed without the
token, revoked."""

from __future__ import annotations

from conveyor.store import Store


def test_tokens_are_created_checked_listed_and_revoked(store: Store) -> None:
    assert store.create_token("ci", "secret-1", 100.0)
    assert not store.create_token("ci", "secret-2", 101.0)  # the name is taken
    assert store.check_token("wrong", 102.0) is None
    assert store.check_token("secret-1", 103.0) == "ci"
    [record] = store.list_tokens()
    assert (record.name, record.created_at, record.last_used_at) == ("ci", 100.0, 103.0)
    # The last use is recorded to the minute: a check within it reads only.
    assert store.check_token("secret-1", 150.0) == "ci"
    assert store.list_tokens()[0].last_used_at == 103.0
    assert store.check_token("secret-1", 163.0) == "ci"
    assert store.list_tokens()[0].last_used_at == 163.0
    assert store.revoke_token("ci")
    assert store.check_token("secret-1", 104.0) is None
    assert not store.revoke_token("ci")


def test_a_tokens_digest_is_its_stored_hash_until_revoked(store: Store) -> None:
    assert store.token_digest("ci") is None
    assert store.create_token("ci", "secret-1", 100.0)
    digest = store.token_digest("ci")
    assert digest is not None and len(digest) == 64 and "secret-1" not in digest
    assert store.check_token("secret-1", 101.0) == "ci"
    assert store.token_digest("ci") == digest  # a read: no last use noted, nothing changed
    assert store.revoke_token("ci")
    assert store.token_digest("ci") is None
