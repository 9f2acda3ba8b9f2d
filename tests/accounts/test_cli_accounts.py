"""`conveyor accounts add|list|remove|rotate-key`, on both backends: secrets come from the
environment or stdin, never argv, and never reach the output; bad input is one line, exit 2."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from conveyor import Conveyor, NeedsReauth
from conveyor.accounts import generate_key
from conveyor.cli import cli

from .conftest import bank_auth
from .helpers import authorise
from .provider import Provider

runner = CliRunner(env={"COLUMNS": "200", "CONVEYOR_APP": None, "CONVEYOR_CONFIG": None})
SHOP_KEY = "shop-key-4f1c-do-not-print"
CRM_TOKEN = "crm-token-9a2e-do-not-print"


@pytest.fixture
def cli_args(
    database_url: str,
    provider: Provider,
    secret_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[list[str]]:
    module = f"accounts_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        "from conveyor import ApiKey, Conveyor, OAuth2AuthorizationCode\n"
        "app = Conveyor()\n"
        "app.connection('shop', 'https://shop.example', auth=ApiKey('env:UNUSED'))\n"
        "app.connection('crm', 'https://crm.example')\n"
        f"app.connection('bank', '{provider.url}/api/', auth=OAuth2AuthorizationCode("
        f"'{provider.url}/authorize', '{provider.url}/token', 'conveyor-app', 'app-secret'))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield ["--database-url", database_url, "--app", f"{module}:app"]
    sys.modules.pop(module, None)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_add_list_remove(cli_args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_KEY", SHOP_KEY)
    out = ok(
        runner.invoke(
            cli, [*cli_args, "accounts", "add", "shop", "store-1", "--api-key-env", "SHOP_KEY"]
        )
    )
    assert out == "Stored the api_key account of 'store-1' on 'shop'.\n"
    stdin = runner.invoke(
        cli,
        [*cli_args, "accounts", "add", "crm", "store-1", "--stdin", "token"],
        input=CRM_TOKEN + "\n",
    )
    assert ok(stdin) == "Stored the token account of 'store-1' on 'crm'.\n"
    table = ok(runner.invoke(cli, [*cli_args, "accounts", "list"]))
    lines = table.splitlines()
    assert lines[0].split() == ["CONNECTION", "OWNER", "KIND", "STATE", "EXPIRES", "KEY"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["crm", "store-1", "token", "active"],
        ["shop", "store-1", "api_key", "active"],
    ]
    records = [
        json.loads(line)
        for line in ok(
            runner.invoke(cli, [*cli_args, "accounts", "list", "--json", "--connection", "shop"])
        ).splitlines()
    ]
    assert [(r["connection"], r["owner"], r["kind"], r["state"]) for r in records] == [
        ("shop", "store-1", "api_key", "active")
    ]
    assert "secret" not in records[0]
    for output in (table, json.dumps(records)):
        assert SHOP_KEY not in output and CRM_TOKEN not in output
    out = ok(runner.invoke(cli, [*cli_args, "accounts", "remove", "shop", "store-1"]))
    assert out == "Removed the account of 'store-1' on 'shop'.\n"
    message = error_line(runner.invoke(cli, [*cli_args, "accounts", "remove", "shop", "store-1"]))
    assert message == "Error: owner 'store-1' has no account on connection 'shop'"


def test_bad_input_is_one_line_and_exit_2(
    cli_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    add = [*cli_args, "accounts", "add"]
    assert error_line(runner.invoke(cli, [*add, "shop", "s1"])).startswith(
        "Error: give the secret: --api-key-env VAR"
    )
    monkeypatch.delenv("NOT_SET", raising=False)
    assert error_line(runner.invoke(cli, [*add, "shop", "s1", "--api-key-env", "NOT_SET"])) == (
        "Error: --api-key-env: environment variable NOT_SET is not set or empty"
    )
    assert "unknown connection 'nope'" in error_line(
        runner.invoke(cli, [*add, "nope", "s1", "--stdin", "api-key"], input="k\n")
    )
    assert error_line(runner.invoke(cli, [*add, "shop", "s1", "--stdin", "api-key"], input="")) == (
        "Error: --stdin api-key: nothing was read from standard input"
    )
    monkeypatch.delenv("CONVEYOR_SECRET_KEY")
    message = error_line(
        runner.invoke(cli, [*add, "shop", "s1", "--stdin", "api-key"], input="k\n")
    )
    assert message.startswith("Error: CONVEYOR_SECRET_KEY is not set")
    assert ok(runner.invoke(cli, [*cli_args, "accounts", "list"])) == "No accounts.\n"


def test_list_shows_an_owner_that_needs_reauthorisation(
    cli_args: list[str], database_url: str, provider: Provider
) -> None:
    app = Conveyor(database_url)
    app.connection("bank", f"{provider.url}/api/", auth=bank_auth(provider), check="GET /me")
    authorise(app, "alice")
    provider.revoke("alice")
    provider.expire_access("alice")
    with pytest.raises(NeedsReauth):
        app.check_account("bank", "alice")
    app.close()
    [line] = ok(runner.invoke(cli, [*cli_args, "accounts", "list"])).splitlines()[1:]
    assert line.split()[:4] == ["bank", "alice", "oauth", "needs_reauth"]
    assert "invalid_grant" in line
    [record] = ok(runner.invoke(cli, [*cli_args, "accounts", "list", "--json"])).splitlines()
    assert json.loads(record)["state"] == "needs_reauth"


def test_rotate_key(cli_args: list[str], monkeypatch: pytest.MonkeyPatch, secret_key: str) -> None:
    monkeypatch.setenv("CRM", CRM_TOKEN)
    ok(runner.invoke(cli, [*cli_args, "accounts", "add", "crm", "a", "--token-env", "CRM"]))
    ok(runner.invoke(cli, [*cli_args, "accounts", "add", "crm", "b", "--token-env", "CRM"]))
    new = ok(runner.invoke(cli, ["accounts", "generate-key"])).strip()
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", f"{new},{secret_key}")
    out = ok(runner.invoke(cli, [*cli_args, "accounts", "rotate-key"]))
    assert out == "Re-sealed 2 account secrets with the first key.\n"
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", new)
    out = ok(runner.invoke(cli, [*cli_args, "accounts", "rotate-key"]))
    assert out == "Re-sealed 0 account secrets with the first key.\n"
    assert new != generate_key()


def test_a_config_file_declares_an_authorization_code_connection(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "cs-code-flow-do-not-print"
    monkeypatch.setenv("BANK_CLIENT_SECRET", secret)
    config = tmp_path / "conveyor.toml"
    config.write_text(
        "[connections.bank]\n"
        'base_url = "https://api.bank.example"\n'
        'auth = { type = "oauth2_code", authorize_url = "https://bank.example/authorize",'
        ' token_url = "https://bank.example/token", client_id = "app",'
        ' client_secret = "env:BANK_CLIENT_SECRET", scope = "read write",'
        ' redirect_url = "https://me.example/oauth/bank/callback" }\n'
    )
    args = ["--database-url", database_url, "--config", str(config)]
    [line] = ok(runner.invoke(cli, [*args, "connections", "list", "--json"])).splitlines()
    auth = json.loads(line)["auth"]
    assert auth == {
        "type": "oauth2_code",
        "authorize_url": "https://bank.example/authorize",
        "token_url": "https://bank.example/token",
        "client_id": "app",
        "client_secret": "env:BANK_CLIENT_SECRET",
        "scope": "read write",
        "redirect_url": "https://me.example/oauth/bank/callback",
    }
    table = ok(runner.invoke(cli, [*args, "connections", "list"]))
    assert "oauth2_code app / env:BANK_CLIENT_SECRET (per owner)" in table
    assert secret not in table
    config.write_text(
        "[connections.bank]\n"
        'base_url = "https://api.bank.example"\n'
        'auth = { type = "oauth2_code", token_url = "https://bank.example/token" }\n'
    )
    message = error_line(runner.invoke(cli, [*args, "connections", "list"]))
    assert "connections.bank.auth.authorize_url" in message and "client_id" in message


def test_add_oauth_tokens_from_the_environment(
    cli_args: list[str], database_url: str, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    access, refresh = provider.issue("alice")
    monkeypatch.setenv("BANK_REFRESH", refresh)
    monkeypatch.setenv("BANK_ACCESS", access)
    args = [*cli_args, "accounts", "add", "bank", "alice", "--refresh-token-env", "BANK_REFRESH"]
    out = ok(
        runner.invoke(cli, [*args, "--access-token-env", "BANK_ACCESS", "--expires-in", "600"])
    )
    assert out == "Stored the oauth account of 'alice' on 'bank'.\n"
    [record] = ok(runner.invoke(cli, [*cli_args, "accounts", "list", "--json"])).splitlines()
    account = json.loads(record)
    assert (account["kind"], account["state"]) == ("oauth", "active")
    assert 0 < account["expires_at"] - time.time() <= 600
    assert refresh not in record and access not in record
    app = Conveyor(database_url)
    app.connection("bank", f"{provider.url}/api/", auth=bank_auth(provider), check="GET /me")
    assert app.check_account("bank", "alice").status == 200  # the stored tokens work
    assert provider.refresh_requests == 0
    app.close()
