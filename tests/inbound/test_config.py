"""Webhooks declared in conveyor.toml: declared as from Python, every mistake named at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor import Conveyor, Hmac, StandardWebhooks
from conveyor.connections.config import read_config
from conveyor.errors import ConfigurationError
from conveyor.inbound.config import apply_webhooks
from tests.inbound.test_verify import SECRET

GOOD = f"""
[connections.shop]
base_url = "https://api.example.com"

[webhooks.health]
verify = {{ type = "standard_webhooks", secret = "{SECRET}", tolerance = "2m" }}
split = "$.data"
route = {{ field = "type", tasks = {{ workout = "process_workout", "*" = "process_metric" }} }}

[webhooks.github]
verify.type = "hmac"
verify.header = "X-Hub-Signature-256"
verify.secret = "env:GH_SECRET"
verify.prefix = "sha256="
event_id = "X-GitHub-Delivery"
task = "process_metric"
max_body = 5000
"""


@pytest.fixture
def app(tmp_path: Path) -> Conveyor:
    app = Conveyor(f"sqlite:///{tmp_path / 'never-opened.db'}")

    @app.task
    def process_workout(payload: dict) -> None: ...

    @app.task
    def process_metric(payload: dict) -> None: ...

    return app


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conveyor.toml"
    path.write_text(text)
    return path


def test_webhooks_from_the_file(
    app: Conveyor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GH_SECRET", "g")
    path = write(tmp_path, GOOD)
    assert [c.name for c in read_config(path)] == ["shop"]  # the connections' reader skips them
    hooks = apply_webhooks(app, path)
    assert [h.name for h in hooks] == ["health", "github"]
    health, github = app.webhooks["health"], app.webhooks["github"]
    assert isinstance(health.verifier, StandardWebhooks) and health.verifier.tolerance == 120
    assert health.route is not None and health.route.tasks["*"] == "process_metric"
    assert isinstance(github.verifier, Hmac) and github.verifier.prefix == "sha256="
    assert github.event_id.header == "x-github-delivery" and github.max_body == 5000


def test_every_mistake_is_named_and_nothing_declared(app: Conveyor, tmp_path: Path) -> None:
    text = """
[webhooks.a]
verify = { type = "svix", secret = "s" }
task = "process_metric"

[webhooks.b]
verify = { type = "hmac", secret = "s" }
task = "process_metric"
spilt = "$.x"

[webhooks.c]
verify = { type = "standard_webhooks", secret = "whsec_c2VjcmV0" }
task = "nope"
"""
    with pytest.raises(ConfigurationError) as raised:
        apply_webhooks(app, write(tmp_path, text))
    message = str(raised.value)
    assert "webhooks.a.verify.type: unknown type 'svix'" in message
    assert "webhooks.b.spilt: unknown key 'spilt', did you mean 'split'?" in message
    assert "webhooks.b" in message and "header" in message
    assert len(app.webhooks) == 0


def test_an_unknown_task_declares_none(app: Conveyor, tmp_path: Path) -> None:
    text = """
[webhooks.ok]
verify = { type = "standard_webhooks", secret = "whsec_c2VjcmV0" }
task = "process_metric"

[webhooks.bad]
verify = { type = "standard_webhooks", secret = "whsec_c2VjcmV0" }
task = "nope"
"""
    with pytest.raises(ConfigurationError, match=r"webhooks.bad: .*unknown task 'nope'"):
        apply_webhooks(app, write(tmp_path, text))
    assert len(app.webhooks) == 0


def test_the_cli_declares_the_files_webhooks_on_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conveyor.cli.session import Session

    (tmp_path / "cfg_hooks_app.py").write_text(
        "from conveyor import Conveyor\n"
        f"app = Conveyor('sqlite:///{tmp_path / 'x.db'}')\n"
        "@app.task\ndef process_metric(payload: dict) -> None: ...\n"
    )
    path = write(
        tmp_path,
        '[webhooks.m]\nverify = { type = "standard_webhooks", secret = "whsec_c2VjcmV0" }\n'
        'task = "process_metric"\n',
    )
    monkeypatch.chdir(tmp_path)
    session = Session(app_path="cfg_hooks_app:app", database_url=None, config_path=str(path))
    assert list(session.app.webhooks) == ["m"]
