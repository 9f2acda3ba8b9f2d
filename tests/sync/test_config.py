"""Sources declared in conveyor.toml: every setting of app.source(...), every mistake named at
once with the file and the key, all or none declared; and synced from the CLI with --config."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conveyor import Conveyor, Cursor, PageNumber
from conveyor.cli import cli
from conveyor.errors import ConfigurationError
from conveyor.sync.config import apply_sources
from tests.sync.remote import Remote


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conveyor.toml"
    path.write_text(textwrap.dedent(text))
    return path


FULL = """
    [connections.zuora]
    base_url = "https://zuora.example.com"

    [sources.workflows]
    connection = "zuora"
    path = "/workflows"
    items = "data"
    paginate.type = "page_number"
    paginate.page = "page"
    paginate.size = "page_length"
    paginate.per_page = 2
    paginate.has_more = "hasMore"
    detail = "/workflows/{id}/export"
    children = { tasks = { items = "tasks", id = "id" }, notes = "notes" }
    incremental = { field = "updated_at", param = "updated_since" }
    owner_param = "customer"
    queue = "fetch"
    retry_after = "2m"
    page_retries = 1
    owners = ["acme", "globex"]
    check_owner = true

    [sources.events]
    connection = "zuora"
    path = "/events"
    paginate = { type = "cursor", next = "meta.next", param = "after" }
"""


def test_every_setting_is_read(tmp_path: Path) -> None:
    app = Conveyor(f"sqlite:///{tmp_path / 'c.db'}")
    declared = apply_sources(app, write(tmp_path, FULL))
    assert [s.name for s in declared] == ["workflows", "events"]
    workflows = app.sources["workflows"]
    assert workflows.paginate == PageNumber(
        page="page", size="page_length", per_page=2, has_more="hasMore"
    )
    assert workflows.children["tasks"].items == "tasks" and workflows.children["notes"].id == "id"
    assert workflows.incremental is not None and workflows.incremental.param == "updated_since"
    assert (workflows.queue, workflows.retry_after, workflows.page_retries) == ("fetch", 120.0, 1)
    assert workflows.owners == ("acme", "globex") and workflows.detail is not None
    assert workflows.check_owner is True and app.sources["events"].check_owner is False
    assert app.sources["events"].paginate == Cursor(next="meta.next", param="after")


def test_every_mistake_is_named_at_once_and_nothing_declared(tmp_path: Path) -> None:
    app = Conveyor(f"sqlite:///{tmp_path / 'c.db'}")
    path = write(
        tmp_path,
        """
        [sources.a]
        connection = "zuora"
        paginate = { type = "pages" }
        max_pages = 0
        colour = "blue"
        check_owner = "yes"

        [sources.b]
        connection = "zuora"
        path = "/b"
        paginate = { type = "offset", per_page = "many" }
        owners = "acme"
        """,
    )
    with pytest.raises(ConfigurationError) as caught:
        apply_sources(app, path)
    message = str(caught.value)
    assert "\n" not in message
    for expected in (
        "sources.a.path: required key is missing",
        "sources.a.paginate.type: unknown type 'pages'",
        "sources.a.max_pages: must be at least 1",
        "sources.a.colour: unknown key 'colour'",
        "sources.a.check_owner",
        "sources.b.paginate",
        "sources.b.owners: expected an array",
    ):
        assert expected in message, message
    assert len(app.sources) == 0


def test_a_source_declared_in_python_too_is_refused(tmp_path: Path) -> None:
    app = Conveyor(f"sqlite:///{tmp_path / 'c.db'}")
    app.source("events", connection="zuora", path="/events")
    with pytest.raises(ConfigurationError, match=r"sources\.events: a source of that name"):
        apply_sources(app, write(tmp_path, FULL))
    assert list(app.sources) == ["events"]


def test_synced_from_the_cli_with_a_config_file(
    database_url: str, tmp_path: Path, remote: Remote
) -> None:
    for i in range(3):
        remote.put("acme", f"w{i}")
    path = write(
        tmp_path,
        f"""
        [connections.zuora]
        base_url = "{remote.url}"

        [sources.workflows]
        connection = "zuora"
        path = "/workflows"
        items = "data"
        paginate.type = "page_number"
        paginate.size = "page_length"
        paginate.per_page = 2
        paginate.has_more = "hasMore"
        owner_param = "customer"
        """,
    )
    runner = CliRunner(env={"CONVEYOR_APP": None, "CONVEYOR_DATABASE_URL": None})
    base = ["--database-url", database_url, "--config", str(path)]
    assert runner.invoke(cli, [*base, "migrate"]).exit_code == 0
    result = runner.invoke(cli, [*base, "sync", "workflows", "--owner", "acme", "--now", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stats"]["created"] == 3


def test_the_example_config_file_declares_its_sources(tmp_path: Path) -> None:
    from conveyor.connections.config import apply_config

    example = Path(__file__).parents[2] / "examples" / "conveyor.toml"
    app = Conveyor(f"sqlite:///{tmp_path / 'c.db'}")
    apply_config(app, example)
    assert [s.name for s in apply_sources(app, example)] == ["accounts"]
    assert app.sources["accounts"].owner_credentials is True
