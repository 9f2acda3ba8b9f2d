"""`conveyor sync ...` and `conveyor records ...` against a real paginated server, both backends."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conveyor.cli import cli
from tests.sync.remote import Remote

runner = CliRunner(env={"COLUMNS": "200", "CONVEYOR_APP": None, "CONVEYOR_DATABASE_URL": None})


@pytest.fixture
def app_path(tmp_path: Path, remote: Remote, monkeypatch: pytest.MonkeyPatch) -> str:
    """An --app module with a connection to this test's remote and a `workflows` source."""
    name = f"sync_cli_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            f"""
            from conveyor import Children, Conveyor, PageNumber

            app = Conveyor()
            app.connection("zuora", {remote.url!r})

            @app.task(name="process_workflow")
            def process(payload: dict) -> None:
                pass

            app.source(
                "workflows",
                connection="zuora",
                path="/workflows",
                items="data",
                paginate=PageNumber(
                    page="page", size="page_length", per_page=2, has_more="hasMore"
                ),
                detail="/workflows/{{id}}/export",
                children={{"tasks": Children("tasks")}},
                owner_param="customer",
                process="process_workflow",
                owners=["acme"],
                page_retries=0,
            )
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield f"{name}:app"
    sys.modules.pop(name, None)


def invoke(url: str, app: str, *args: str) -> Result:
    return runner.invoke(cli, ["--database-url", url, "--app", app, *args])


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def error_line(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def fill(remote: Remote, owner: str, count: int) -> None:
    for i in range(count):
        remote.put(owner, f"w{i}", tasks=[{"id": f"t{i}"}])


def test_sync_now_prints_the_stats_and_runs_lists_them(
    database_url: str, app_path: str, remote: Remote
) -> None:
    ok(invoke(database_url, app_path, "migrate"))
    fill(remote, "acme", 3)
    out = ok(invoke(database_url, app_path, "sync", "workflows", "--owner", "acme", "--now"))
    assert "workflows · acme" in out and "created" in out
    runs = json_lines(ok(invoke(database_url, app_path, "sync", "runs", "--json")))
    assert runs[0]["stats"]["created"] == 3 and runs[0]["state"] == "succeeded"
    assert "succeeded" in ok(invoke(database_url, app_path, "sync", "runs"))
    records = json_lines(
        ok(invoke(database_url, app_path, "records", "list", "workflows", "--json"))
    )
    assert [r["id"] for r in records] == ["w0", "w1", "w2"]
    tasks = json_lines(
        ok(
            invoke(
                database_url, app_path, "records", "list", "workflows", "--kind", "tasks", "--json"
            )
        )
    )
    assert [(t["parent"], t["id"]) for t in tasks] == [("w0", "t0"), ("w1", "t1"), ("w2", "t2")]
    remote.remove("acme", "w2")
    ok(invoke(database_url, app_path, "sync", "workflows", "--all", "--now", "--full"))
    gone = json_lines(
        ok(invoke(database_url, app_path, "records", "list", "workflows", "--deleted", "--json"))
    )
    assert [r["id"] for r in gone] == ["w2"]


def test_sync_without_now_enqueues_one_job_per_owner(
    database_url: str, app_path: str, remote: Remote
) -> None:
    ok(invoke(database_url, app_path, "migrate"))
    out = json_lines(
        ok(
            invoke(
                database_url,
                app_path,
                "sync",
                "workflows",
                "--owner",
                "a",
                "--owner",
                "b",
                "--json",
            )
        )
    )
    assert [o["owner"] for o in out] == ["a", "b"]
    jobs = json_lines(ok(invoke(database_url, app_path, "jobs", "list", "--json")))
    assert sorted(j["key"] for j in jobs) == ["sync:workflows:a", "sync:workflows:b"]
    ok(invoke(database_url, app_path, "worker", "--burst", "--queues", "sync"))
    runs = json_lines(ok(invoke(database_url, app_path, "sync", "runs", "--json")))
    assert sorted(r["owner"] for r in runs) == ["a", "b"]


def test_reextract_rebuilds_children_without_the_remote(
    database_url: str, app_path: str, remote: Remote
) -> None:
    ok(invoke(database_url, app_path, "migrate"))
    fill(remote, "acme", 2)
    ok(invoke(database_url, app_path, "sync", "workflows", "--owner", "acme", "--now"))
    remote.hits.clear()
    out = ok(invoke(database_url, app_path, "records", "reextract", "workflows"))
    assert "acme: 2 records, 2 children" in out
    assert remote.hits == []


def test_a_failed_sync_is_exit_1_with_one_line(
    database_url: str, app_path: str, remote: Remote
) -> None:
    ok(invoke(database_url, app_path, "migrate"))
    fill(remote, "acme", 3)
    remote.fail("page=2&", 500)
    line = error_line(
        invoke(database_url, app_path, "sync", "workflows", "--owner", "acme", "--now"), 1
    )
    assert "HTTP 500" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sync", "nope", "--owner", "a"], "unknown source 'nope'"),
        (["sync", "workflows"], "--owner"),
        (["sync", "workflows", "--owner", "a", "--all"], "not both"),
        (["sync", "workflows", "--owner", "a", "--since", "yesterday"], "ISO date"),
        (["sync", "workflows", "--owner", "a", "--full", "--since", "2026-01-01"], "not both"),
        (["records", "list", "nope"], "unknown source"),
        (["sync", "runs", "--limit", "0"], "--limit"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    database_url: str, app_path: str, args: list[str], message: str
) -> None:
    ok(invoke(database_url, app_path, "migrate"))
    assert message in error_line(invoke(database_url, app_path, *args))
