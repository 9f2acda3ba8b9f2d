"""conveyor.toml: connections declared in a file, checked with one-line errors naming the key."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

import pytest

from conveyor import ConfigurationError, Conveyor
from conveyor.accounts import OAuth2AuthorizationCode
from conveyor.breaker import Breaker
from conveyor.connections import ApiKey, Basic, Bearer, Bundle, OAuth2ClientCredentials, Secret
from conveyor.connections.config import CONNECTION_KEYS, apply_config, load_config, parse_config
from conveyor.connections.connection import make_connection
from conveyor.ratelimit import RateLimit

EXAMPLE = Path(__file__).parent.parent / "examples" / "conveyor.toml"
BASE = '[connections.shop]\nbase_url = "https://api.example.com"\n'


def write(tmp_path: Path, text: str, name: str = "conveyor.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(text: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        parse_config(textwrap.dedent(text), "conveyor.toml")
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- parsing ------------------------------------------------------------------------------------


def test_every_option(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [connections.shop]
        base_url = "https://api.example.com"
        auth = { type = "bearer", token = "env:SHOP_TOKEN" }
        rate_limit = "5/s"
        burst = 2
        signing_secret = "env:SHOP_SIGNING_SECRET"
        connect_timeout = 5
        read_timeout = 10.5
        headers = { "User-Agent" = "conveyor" }
        breaker = { failures = 3, cool_off = 30, max_cool_off = 600, probe_timeout = 20 }
        check = "GET /me"
        identity = "account.name"
        max_retry_after = 3600
        """,
    )
    [conn] = load_config(path)
    assert conn.name == "shop"
    assert conn.base_url == "https://api.example.com/"
    assert isinstance(conn.auth, Bearer) and conn.auth.token == Secret("env:SHOP_TOKEN")
    assert conn.rate_limit == RateLimit(5.0, 2)
    assert conn.signing_secret == Secret("env:SHOP_SIGNING_SECRET")
    assert (conn.timeouts.connect, conn.timeouts.read) == (5.0, 10.5)
    assert conn.headers == {"User-Agent": "conveyor"}
    assert conn.breaker == Breaker(failures=3, cool_off=30, max_cool_off=600, probe_timeout=20)
    assert conn.check == "GET /me"
    assert conn.identity == "account.name"
    assert conn.max_retry_after == 3600


def test_defaults_match_the_python_api() -> None:
    [spec] = parse_config(BASE)
    conn = spec.build()
    assert spec.options == {}
    assert conn.auth is None and conn.rate_limit is None and conn.signing_secret is None
    assert conn.breaker == Breaker()
    assert (conn.timeouts.connect, conn.timeouts.read) == (5.0, 10.0)
    assert conn.check == "GET /" and conn.identity is None and conn.max_retry_after == 3600


def test_bearer_secret_is_resolved_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    [spec] = parse_config(BASE + 'auth = { type = "bearer", token = "env:SHOP_TOKEN" }\n')
    auth = spec.build().auth
    assert isinstance(auth, Bearer)
    with pytest.raises(ConfigurationError, match="SHOP_TOKEN is not set"):
        auth.token.reveal()
    monkeypatch.setenv("SHOP_TOKEN", "t0ken")
    assert auth.token.reveal() == "t0ken"


def test_basic_auth() -> None:
    [spec] = parse_config(
        BASE + 'auth = { type = "basic", username = "bob", password = "env:SHOP_PASSWORD" }\n'
    )
    auth = spec.build().auth
    assert isinstance(auth, Basic)
    assert auth.username == "bob" and auth.password == Secret("env:SHOP_PASSWORD")


def test_api_key_auth_default_and_custom_header() -> None:
    [default] = parse_config(BASE + 'auth = { type = "api_key", key = "env:SHOP_KEY" }\n')
    auth = default.build().auth
    assert isinstance(auth, ApiKey)
    assert auth.header == "X-API-Key" and auth.key == Secret("env:SHOP_KEY")
    [custom] = parse_config(
        BASE + 'auth = { type = "api_key", key = "literal-key", header = "Api-Token" }\n'
    )
    auth = custom.build().auth
    assert isinstance(auth, ApiKey)
    assert auth.header == "Api-Token" and auth.key.reveal() == "literal-key"


def test_oauth2_auth() -> None:
    [spec] = parse_config(
        BASE
        + """
        [connections.shop.auth]
        type = "oauth2"
        token_url = "https://auth.example.com/oauth/token"
        client_id = "conveyor"
        client_secret = "env:SHOP_CLIENT_SECRET"
        scope = "read write"
        audience = "https://api.example.com"
        in_body = true
        refresh_margin = "1m"
        """
    )
    auth = spec.build().auth
    assert isinstance(auth, OAuth2ClientCredentials)
    assert auth.token_url == "https://auth.example.com/oauth/token"
    assert auth.client_id == "conveyor"
    assert auth.client_secret == Secret("env:SHOP_CLIENT_SECRET")
    assert (auth.scope, auth.audience, auth.in_body, auth.refresh_margin) == (
        "read write",
        "https://api.example.com",
        True,
        60.0,
    )


def test_oauth2_optional_keys() -> None:
    [spec] = parse_config(
        BASE + 'auth = { type = "oauth2", token_url = "https://a.example/token",'
        ' client_id = "id", client_secret = "s3cret" }\n'
    )
    auth = spec.build().auth
    assert isinstance(auth, OAuth2ClientCredentials)
    assert auth.scope is None and auth.audience is None and not auth.in_body


@pytest.mark.parametrize(
    ("line", "breaker"),
    [
        ("breaker = false", None),
        ("breaker = true", Breaker()),
        ("breaker = { failures = 2 }", Breaker(failures=2)),
        ('breaker = { cool_off = "15m" }', Breaker(cool_off=900, max_cool_off=900)),
    ],
)
def test_breaker_forms(line: str, breaker: Breaker | None) -> None:
    [spec] = parse_config(BASE + line + "\n")
    assert spec.build().breaker == breaker


def test_durations_and_rate_limit_units() -> None:
    [spec] = parse_config(
        BASE + 'rate_limit = "300/min"\nconnect_timeout = "250ms"\nread_timeout = "2m"\n'
    )
    conn = spec.build()
    assert conn.rate_limit == RateLimit(5.0, 1)
    assert (conn.timeouts.connect, conn.timeouts.read) == (0.25, 120.0)


def test_several_connections_in_file_order() -> None:
    specs = parse_config(
        """
        [connections.zeta]
        base_url = "https://z.example.com"
        [connections."odoo.prod"]
        base_url = "https://odoo.example.com"
        [connections.alpha]
        base_url = "http://127.0.0.1:8069/api"
        """
    )
    assert [s.name for s in specs] == ["zeta", "odoo.prod", "alpha"]


def test_empty_file_declares_nothing(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing yet\n")) == []
    assert parse_config("[connections]\n") == []


def test_example_file_parses() -> None:
    connections = load_config(EXAMPLE)
    assert {"shop", "loyalty", "crm", "billing", "bank"} <= {c.name for c in connections}
    kinds = {type(c.auth) for c in connections}
    assert {Bearer, Basic, ApiKey, OAuth2ClientCredentials, OAuth2AuthorizationCode} <= kinds


@pytest.mark.parametrize(
    ("line", "bundle"),
    [
        ('bundle = { max_size = 10, max_wait = "20ms" }\n', Bundle(max_size=10, max_wait=0.02)),
        ("bundle = { max_size = 7 }\n", Bundle(max_size=7)),
        ("bundle = { max_wait = 0 }\n", Bundle(max_wait=0.0)),
        ("bundle = true\n", Bundle()),
        ("bundle = false\n", None),
    ],
)
def test_batch_forms(line: str, bundle: Bundle | None) -> None:
    """docs/connections.md documents bundle; the loader used to refuse it as an unknown key."""
    [spec] = parse_config(BASE + line)
    assert spec.build().bundle == bundle


def test_a_number_as_rate_limit_is_per_second() -> None:
    [spec] = parse_config(BASE + "rate_limit = 5\nburst = 2\n")
    assert spec.build().rate_limit == RateLimit(5.0, 2)


def test_every_option_of_the_python_api_is_accepted() -> None:
    """What `app.connection(...)` takes, the file takes (`timeouts` is connect/read_timeout)."""
    keywords = set(inspect.signature(make_connection).parameters) - {"name", "timeouts"}
    assert keywords == set(CONNECTION_KEYS)


# -- errors -------------------------------------------------------------------------------------


def test_every_mistake_is_reported_at_once() -> None:
    text = """
        [connections.shop]
        base_url = "ftp://api.example.com"
        rate_limt = "5/s"
        read_timeout = 0
        auth = { type = "basic" }
        bundle = { max_size = 0, size = 3 }

        [connections.fine]
        base_url = "https://fine.example.com"

        [connections.crm]
        breaker = { failures = 0, cooloff = 5 }
        headers = { "Bad Header" = "x", X-Ok = 1 }

        [extra]
        """
    mistakes = error_of(text).split("; ")
    assert mistakes == [
        "conveyor.toml: extra: unknown key 'extra'"
        " (known top-level keys: connections, webhooks, sources, schedules, alerts, alerting)",
        "conveyor.toml: connections.shop.base_url: must be an http:// or https:// URL with a host",
        "conveyor.toml: connections.shop.auth.username: required key is missing (a string)",
        "conveyor.toml: connections.shop.auth.password: required key is missing (a string)",
        "conveyor.toml: connections.shop.read_timeout: must be more than 0 seconds",
        "conveyor.toml: connections.shop.bundle.max_size: must be at least 1",
        "conveyor.toml: connections.shop.bundle.size: unknown key 'size', did you mean "
        "'max_size'? (known bundle settings: max_size, max_wait)",
        "conveyor.toml: connections.shop.rate_limt: unknown key 'rate_limt', did you mean "
        "'rate_limit'? (known connection settings: " + ", ".join(CONNECTION_KEYS) + ")",
        "conveyor.toml: connections.crm.base_url: required key is missing (a string)",
        'conveyor.toml: connections.crm.headers."Bad Header": not a valid HTTP header name',
        "conveyor.toml: connections.crm.headers.X-Ok: expected a string, got an integer",
        "conveyor.toml: connections.crm.breaker.failures: must be at least 1",
        "conveyor.toml: connections.crm.breaker.cooloff: unknown key 'cooloff', did you mean "
        "'cool_off'? (known breaker settings: failures, cool_off, max_cool_off, probe_timeout)",
    ]


def test_a_file_with_mistakes_declares_nothing_even_its_good_connections(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + '[connections.crm]\nbase_url = "ftp://x"\n')
    app = Conveyor("sqlite:///:memory:")
    with pytest.raises(ConfigurationError, match=r"connections\.crm\.base_url"):
        apply_config(app, path)
    assert app.connections == {}


def test_the_unknown_auth_type_message() -> None:
    assert error_of(BASE + 'auth = { type = "magic" }\n') == (
        "conveyor.toml: connections.shop.auth.type: unknown auth type 'magic' "
        "(bearer, basic, api_key, oauth2, oauth2_code)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # unknown keys, with a suggestion when one is close
        (
            BASE + 'rate_limt = "5/s"\n',
            "connections.shop.rate_limt: unknown key 'rate_limt', did you mean 'rate_limit'?",
        ),
        (BASE + "colour = 1\n", "connections.shop.colour: unknown key 'colour' (known"),
        (
            BASE + 'auth = { type = "bearer", token = "env:T", header = "X" }\n',
            "connections.shop.auth.header: unknown key 'header'",
        ),
        (
            BASE + "breaker = { failures = 1, cooloff = 5 }\n",
            "connections.shop.breaker.cooloff: unknown key 'cooloff', did you mean 'cool_off'?",
        ),
        ('[conections.shop]\nbase_url = "https://x"\n', "conections: unknown key 'conections'"),
        # missing required keys
        ("[connections.shop]\n", "connections.shop.base_url: required key is missing"),
        (BASE + "auth = { token = 'env:T' }\n", "connections.shop.auth.type: required key"),
        (BASE + "auth = { type = 'bearer' }\n", "connections.shop.auth.token: required key"),
        (
            BASE + "auth = { type = 'basic', password = 'env:P' }\n",
            "connections.shop.auth.username: required key",
        ),
        (
            BASE + "auth = { type = 'basic', username = 'bob' }\n",
            "connections.shop.auth.password: required key",
        ),
        (BASE + "auth = { type = 'api_key' }\n", "connections.shop.auth.key: required key"),
        (
            BASE + "auth = { type = 'oauth2', client_id = 'c', client_secret = 's' }\n",
            "connections.shop.auth.token_url: required key",
        ),
        (
            BASE + "auth = { type = 'oauth2', token_url = 'https://a/t', client_secret = 's' }\n",
            "connections.shop.auth.client_id: required key",
        ),
        (
            BASE + "auth = { type = 'oauth2', token_url = 'https://a/t', client_id = 'c' }\n",
            "connections.shop.auth.client_secret: required key",
        ),
        # bad types
        ("[connections.shop]\nbase_url = 5\n", "connections.shop.base_url: expected a string"),
        ("connections = 3\n", "connections: expected a table"),
        ("[connections]\nshop = 'https://x'\n", "connections.shop: expected a [connections.NAME]"),
        (BASE + "auth = 'env:T'\n", "connections.shop.auth: expected a table"),
        (BASE + "auth = { type = 1 }\n", "connections.shop.auth.type: expected a string"),
        (
            BASE + "auth = { type = 'bearer', token = 123 }\n",
            "connections.shop.auth.token: expected a string, got an integer",
        ),
        (BASE + "rate_limit = true\n", "connections.shop.rate_limit: expected a string"),
        (BASE + "rate_limit = '5/s'\nburst = 2.5\n", "connections.shop.burst: expected an integer"),
        (BASE + "rate_limit = '5/s'\nburst = true\n", "connections.shop.burst: expected an int"),
        (BASE + "read_timeout = true\n", "connections.shop.read_timeout: expected a number"),
        (BASE + "connect_timeout = [1]\n", "connections.shop.connect_timeout: expected a number"),
        (BASE + "headers = 'User-Agent: x'\n", "connections.shop.headers: expected a table"),
        (BASE + "headers = { Accept = 1 }\n", "connections.shop.headers.Accept: expected a str"),
        (BASE + "breaker = 5\n", "connections.shop.breaker: expected a table like"),
        (BASE + "breaker = { failures = '5' }\n", "connections.shop.breaker.failures: expected"),
        (BASE + "check = ['GET', '/']\n", "connections.shop.check: expected a string"),
        (BASE + "identity = 1979-05-27\n", "connections.shop.identity: expected a string, got a"),
        (
            BASE + "auth = { type = 'oauth2', token_url = 'https://a/t', client_id = 'c',"
            " client_secret = 's', in_body = 'yes' }\n",
            "connections.shop.auth.in_body: expected true or false",
        ),
        # bad values
        (BASE + "rate_limit = '5/fortnight'\n", "connections.shop.rate_limit: bad rate limit"),
        (BASE + "rate_limit = 'fast'\n", "connections.shop.rate_limit: bad rate limit 'fast'"),
        (BASE + "rate_limit = '0/s'\n", "connections.shop.rate_limit: a rate limit needs rate > 0"),
        (BASE + "rate_limit = '5/s'\nburst = 0\n", "connections.shop.burst: must be at least 1"),
        (BASE + "burst = 3\n", "connections.shop.burst: a burst needs a rate_limit"),
        (
            '[connections.shop]\nbase_url = "ftp://x"\n',
            "connections.shop.base_url: must be an http:// or https:// URL",
        ),
        (
            BASE + "auth = { type = 'oauth2', token_url = 'token', client_id = 'c',"
            " client_secret = 's' }\n",
            "connections.shop.auth.token_url: must be an http:// or https:// URL",
        ),
        (BASE + "read_timeout = 0\n", "connections.shop.read_timeout: must be more than 0 seconds"),
        (BASE + "connect_timeout = -1\n", "connections.shop.connect_timeout: must be more than 0"),
        (BASE + "read_timeout = 'soon'\n", "connections.shop.read_timeout: invalid duration"),
        (BASE + "max_retry_after = -5\n", "connections.shop.max_retry_after: must be >= 0"),
        (BASE + "breaker = { failures = 0 }\n", "connections.shop.breaker.failures: must be at"),
        (
            BASE + "breaker = { cool_off = 60, max_cool_off = 30 }\n",
            "connections.shop.breaker.max_cool_off: must be at least cool_off (60 s)",
        ),
        (BASE + "check = 'DELETE /me'\n", "connections.shop.check: must be a method"),
        (BASE + "check = 'me'\n", "connections.shop.check: must be a method"),
        (BASE + "headers = { 'Bad Header' = 'x' }\n", 'connections.shop.headers."Bad Header": not'),
        (
            BASE + 'headers = { X-Note = "a\\nb" }\n',
            "connections.shop.headers.X-Note: a header value cannot contain a line break",
        ),
        (BASE + "identity = ''\n", "connections.shop.identity: cannot be empty"),
        (
            BASE + "auth = { type = 'bearer', token = '' }\n",
            "connections.shop.auth.token: cannot be empty",
        ),
        (
            BASE + "auth = { type = 'bearer', token = 'env:' }\n",
            "connections.shop.auth.token: env: must be followed by an environment variable name",
        ),
        (
            BASE + "signing_secret = 'env:MY-SECRET'\n",
            "connections.shop.signing_secret: env: must be followed by",
        ),
        (
            BASE + "auth = { type = 'bearer', token = '${SHOP_TOKEN}' }\n",
            "connections.shop.auth.token: $NAME is not expanded here: write env:NAME",
        ),
        (
            BASE + "auth = { type = 'basic', username = 'env:USER', password = 'env:P' }\n",
            "connections.shop.auth.username: env: references are for secrets",
        ),
        ('[connections.""]\nbase_url = "https://x"\n', 'connections."": a connection name cannot'),
        # not TOML at all
        ("[connections.shop\n", "conveyor.toml: invalid TOML: "),
        (BASE + "base_url = 'https://again'\n", "conveyor.toml: invalid TOML: "),
    ],
)
def test_bad_input(text: str, message: str) -> None:
    error = error_of(text)
    assert error.startswith("conveyor.toml: ")
    assert message in error


def test_errors_never_echo_a_literal_secret() -> None:
    error = error_of(BASE + "auth = { type = 'bearer', token = 'hunter2', extra = 1 }\n")
    assert "auth.extra" in error and "hunter2" not in error
    error = error_of(BASE + "auth = { type = 'basic', username = 'bob', password = ['hunter2'] }\n")
    assert "auth.password: expected a string, got an array" in error and "hunter2" not in error


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"nope\.toml: config file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigurationError, match="cannot read the config file"):
        load_config(tmp_path)  # a directory
    (tmp_path / "latin1.toml").write_bytes(b"# caf\xe9\n")
    with pytest.raises(ConfigurationError, match="not UTF-8"):
        load_config(tmp_path / "latin1.toml")


def test_error_names_the_file_as_given(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "burst = 1\n", "other.toml")
    with pytest.raises(
        ConfigurationError, match="^" + re.escape(f"{path}: connections.shop.burst: ")
    ):
        load_config(path)


# -- declaring on an application ----------------------------------------------------------------


def test_apply_config_declares_every_connection(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [connections.shop]
        base_url = "https://api.example.com"
        auth = { type = "bearer", token = "env:SHOP_TOKEN" }
        rate_limit = "5/s"
        [connections.crm]
        base_url = "https://crm.example.com"
        """,
    )
    app = Conveyor("sqlite:///:memory:")
    declared = apply_config(app, path)
    assert [c.name for c in declared] == ["shop", "crm"]
    assert app.get_connection("shop") is declared[0]
    assert app.get_connection("shop").rate_limit == RateLimit(5.0, 1)


def test_a_connection_declared_in_python_and_in_the_file_is_an_error(tmp_path: Path) -> None:
    """The rule: each connection is declared in one place; nothing is registered on a clash."""
    path = write(tmp_path, BASE.replace("shop", "crm") + BASE)
    app = Conveyor("sqlite:///:memory:")
    python_side = app.connection("shop", "https://python.example.com")
    with pytest.raises(ConfigurationError) as caught:
        apply_config(app, path)
    assert str(caught.value) == (
        f"{path}: connections.shop: a connection named 'shop' is already declared in Python "
        "(app.connection); declare it in one place only"
    )
    assert app.connections == {"shop": python_side}  # crm, before shop in the file, was not added


def test_applying_two_files_that_share_a_name(tmp_path: Path) -> None:
    first = write(tmp_path, BASE, "first.toml")
    second = write(tmp_path, BASE, "second.toml")
    app = Conveyor("sqlite:///:memory:")
    apply_config(app, first)
    with pytest.raises(ConfigurationError, match=re.escape(f"already declared by {first}")):
        apply_config(app, second)


def test_a_bad_file_declares_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + '[connections.crm]\nbase_url = "https://x"\nburst = 1\n')
    app = Conveyor("sqlite:///:memory:")
    with pytest.raises(ConfigurationError, match=r"connections\.crm\.burst"):
        apply_config(app, path)
    assert app.connections == {}
