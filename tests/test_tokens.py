"""API tokens through the operator service and `conveyor tokens`, on both backends."""

from __future__ import annotations

import json

import pytest
from click.testing import Result

from conveyor import Conveyor
from conveyor.tokens import PREFIX, TokenError
from tests.test_cli import error_line, ok
from tests.test_cli import invoke as invoke_cli


def invoke(url: str, *args: str) -> Result:
    return invoke_cli(url, *args, app=None)


def test_a_token_checks_until_revoked(app: Conveyor) -> None:
    tokens = app.ops.tokens
    token = tokens.create("ci")
    assert token.startswith(PREFIX) and len(token) > 40
    assert tokens.check(token) == "ci"
    assert tokens.check(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert tokens.check("Bearer " + token) is None
    [listed] = tokens.list()
    assert listed.name == "ci" and listed.last_used_at is not None
    assert token not in repr(listed)
    tokens.revoke("ci")
    assert tokens.check(token) is None
    assert tokens.list() == []


def test_bad_and_taken_names_are_refused_and_keep_the_first(app: Conveyor) -> None:
    tokens = app.ops.tokens
    first = tokens.create("ops")
    with pytest.raises(TokenError, match="exists"):
        tokens.create("ops")
    for bad in ("", "two words", "x" * 65, "-dash"):
        with pytest.raises(TokenError, match="bad token name"):
            tokens.create(bad)
    with pytest.raises(TokenError, match="no token named 'nobody'"):
        tokens.revoke("nobody")
    assert tokens.check(first) == "ops"


def test_cli_prints_the_token_alone_once(database_url: str) -> None:
    assert ok(invoke(database_url, "migrate")) is not None
    out = ok(invoke(database_url, "tokens", "create", "deploy"))
    assert out.count("\n") == 1 and out.strip().startswith(PREFIX)
    token = out.strip()
    listed = ok(invoke(database_url, "tokens", "list"))
    assert "deploy" in listed and token not in listed
    [row] = [
        json.loads(line)
        for line in ok(invoke(database_url, "tokens", "list", "--json")).splitlines()
    ]
    assert row == {"name": "deploy", "created_at": row["created_at"], "last_used_at": None}
    assert "exists" in error_line(invoke(database_url, "tokens", "create", "deploy"))
    ok(invoke(database_url, "tokens", "revoke", "deploy"))
    assert "no token named 'deploy'" in error_line(
        invoke(database_url, "tokens", "revoke", "deploy")
    )
    assert "No tokens." in ok(invoke(database_url, "tokens", "list"))


def test_a_good_check_is_remembered_for_a_second_and_a_revocation_here_forgets_it(
    app: Conveyor,
) -> None:
    from conveyor.tokens import ApiTokens

    now = [100.0]
    reads: list[str] = []
    store = app.ops.tokens._slice

    class Counted:
        """The tokens slice, its checks counted."""

        def __getattr__(self, name: str) -> object:
            return getattr(store(), name)

        def check_token(self, token: str, at: float) -> str | None:
            reads.append(token)
            return store().check_token(token, at)

    here = ApiTokens(lambda: Counted(), clock=lambda: now[0])  # type: ignore[arg-type, return-value]
    elsewhere = app.ops.tokens  # another process, as far as `here` knows
    token = elsewhere.create("poller")
    assert [here.check(token) for _ in range(5)] == ["poller"] * 5
    assert len(reads) == 1  # one store read for five requests within the second
    elsewhere.revoke("poller")
    assert here.check(token) == "poller"  # revoked by another process: up to a second late
    now[0] += 1.0
    assert here.check(token) is None  # then refused
    assert here.check(token) is None and len(reads) == 3  # a refusal is never remembered
    again = here.create("poller")
    assert here.check(again) == "poller"
    here.revoke("poller")
    assert here.check(again) is None  # revoked through this process: refused at once
    assert here.digest("poller") is None  # and its sessions' key is gone with it


def test_the_remembered_answers_read_no_store_and_expire_with_the_check(app: Conveyor) -> None:
    """What the event loop may ask (the API's and the dashboard's auth dependencies): only what
    a check in this process remembered, gone when the check's second is over or on revoke."""
    from conveyor.tokens import ApiTokens

    now = [100.0]
    here = ApiTokens(lambda: app.ops.tokens._slice(), clock=lambda: now[0])
    token = here.create("poller")
    assert here.remembered_holder(token) is None  # never checked here: the caller reads
    assert here.remembered_digest("poller") is None
    assert here.check(token) == "poller" and here.digest("poller") is not None
    assert here.remembered_holder(token) == "poller"
    assert here.remembered_digest("poller") == here.digest("poller")
    assert here.remembered_holder("cv_unknown") is None
    now[0] += 1.0
    assert here.remembered_holder(token) is None and here.remembered_digest("poller") is None
    assert here.check(token) == "poller"
    here.revoke("poller")
    assert here.remembered_holder(token) is None
