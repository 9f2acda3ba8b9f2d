"""What the CLI prints: tables that fit 80 columns, failed deliveries shown with what the remote
answered, and ISO-8601 times in every JSON document. Both backends, a real HTTP sink."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from conveyor import Conveyor
from conveyor.breaker import Breaker, on_failure
from conveyor.cli import cli
from tests.http_sink import Response, Sink, sink_fixture  # noqa: F401  (the fixture: "sink")

LONG_TASK = "synchronise_customer_contact_with_the_crm_system"
LONG_QUEUE = "notifications-high-priority-europe"
LONG_ERROR = "the remote CRM refused the contact because its e-mail address is invalid " * 3


def invoke(url: str, *args: str, columns: int = 200, config: Path | None = None) -> Result:
    runner = CliRunner(env={"COLUMNS": str(columns), "CONVEYOR_APP": None, "CONVEYOR_CONFIG": None})
    options = ["--database-url", url] + (["--config", str(config)] if config else [])
    result = runner.invoke(cli, [*options, *args])
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def burst(app: Conveyor) -> None:
    app.run_worker(burst=True, install_signal_handlers=False, middleware=[])


def jobs_with_long_values(url: str) -> list[int]:
    app = Conveyor(url)

    @app.task(name=LONG_TASK, queue=LONG_QUEUE, key=lambda p: p["key"], max_attempts=1)
    def failing(payload: dict[str, Any]) -> None:
        raise RuntimeError(LONG_ERROR)

    @app.task
    def ping() -> str:
        return "pong"

    ids = [
        failing.enqueue({"key": f"customer:{n}-with-a-rather-long-ordering-key"}) for n in (1, 2)
    ]
    ids.append(ping.enqueue())
    burst(app)
    settings = Breaker(failures=1, cool_off=30)
    name = "shop-production-europe-west-with-a-long-name"
    app.store.change_breaker(
        name, lambda cur, now: on_failure(cur, name, now, settings, "HTTP 503 " + LONG_ERROR)
    )
    app.close()
    return ids


def config_with_long_values(tmp_path: Path) -> Path:
    path = tmp_path / "conveyor.toml"
    path.write_text(
        textwrap.dedent(
            """
            [connections.shop-production-europe-west-with-a-long-name]
            base_url = "https://api.shop.example.com/v2/integrations/conveyor/endpoint"
            auth = { type = "bearer", token = "env:SHOP_TOKEN_FOR_PRODUCTION_IN_EUROPE" }
            rate_limit = "300/min"
            burst = 10

            [connections.erp]
            base_url = "https://erp.example.com/api"
            [connections.erp.auth]
            type = "oauth2"
            token_url = "https://erp.example.com/oauth/token"
            client_id = "conveyor-sync-client-with-a-long-name"
            client_secret = "env:ERP_CLIENT_SECRET_WITH_A_LONG_NAME"
            """
        ),
        encoding="utf-8",
    )
    return path


def test_tables_fit_80_columns(database_url: str, tmp_path: Path) -> None:
    """Rich used to wrap every long cell over several lines (a job took 4 lines at 80)."""
    ids = jobs_with_long_values(database_url)
    config = config_with_long_values(tmp_path)
    outputs = {
        "jobs list": invoke(database_url, "jobs", "list", columns=80).stdout,
        "stats": invoke(database_url, "stats", columns=80).stdout,
        "connections list": invoke(
            database_url, "connections", "list", columns=80, config=config
        ).stdout,
    }
    for command, output in outputs.items():
        too_long = [line for line in output.splitlines() if len(line.rstrip()) > 80]
        assert not too_long, f"{command}:\n{output}"
    lines = outputs["jobs list"].splitlines()
    below_the_rule = lines[next(i for i, line in enumerate(lines) if "───" in line) + 1 :]
    rows = [line for line in below_the_rule if line.strip() and "times in UTC" not in line]
    assert len(rows) == len(ids)  # one line per job, no continuation lines
    assert all(line.strip()[:1].isdigit() for line in rows), outputs["jobs list"]
    long_rows = [line for line in rows if "synchron" in line]  # the two long task names, cut
    assert len(long_rows) == 2 and all("…" in line for line in long_rows), outputs["jobs list"]
    connection_rows = [
        line for line in outputs["connections list"].splitlines() if "https://" in line
    ]
    assert len(connection_rows) == 2
    breaker_rows = [line for line in outputs["stats"].splitlines() if "shop-production" in line]
    assert len(breaker_rows) == 1 and "open" in breaker_rows[0]


def test_wide_terminals_show_every_column(database_url: str) -> None:
    jobs_with_long_values(database_url)
    table = invoke(database_url, "jobs", "list", columns=250).stdout
    for header in ("ID", "Task", "Queue", "Key", "State", "Att.", "Due/done", "Last error"):
        assert header in table
    assert LONG_TASK in table and LONG_QUEUE in table


def test_jobs_show_of_a_failed_delivery_shows_what_the_remote_answered(
    database_url: str, sink: Sink
) -> None:
    sink.script("/contacts", [Response(422, json={"error": "email is not valid"})])
    app = Conveyor(database_url)
    app.connection("shop", sink.url)
    job_id = app.deliver("shop", "/contacts", {"id": 42})
    burst(app)
    assert app.get_job(job_id).state == "dead"
    app.close()

    shown = invoke(database_url, "jobs", "show", str(job_id)).stdout
    assert "PermanentStatus: HTTP 422 from POST" in shown
    assert "HTTP 422 after " in shown and f"POST {sink.url}/contacts" in shown
    assert 'Response: {"error": "email is not valid"}' in shown
    assert "Traceback" not in shown and "(traceback hidden: add --traceback" in shown
    assert (
        "Traceback (most recent call last)"
        in invoke(database_url, "jobs", "show", str(job_id), "--traceback").stdout
    )


def test_jobs_show_keeps_a_task_errors_traceback(database_url: str) -> None:
    [failing, *_] = jobs_with_long_values(database_url)
    shown = invoke(database_url, "jobs", "show", str(failing)).stdout
    assert "RuntimeError: the remote CRM" in shown and "Traceback" in shown


def _is_iso(value: Any) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None


def test_times_in_json_are_iso_8601(database_url: str) -> None:
    [failing, _, pinged] = jobs_with_long_values(database_url)
    document = json.loads(invoke(database_url, "jobs", "show", str(failing), "--json").stdout)
    [attempt] = document["errors"]
    assert _is_iso(attempt["at"]), attempt["at"]  # was epoch seconds
    for name in ("run_at", "created_at", "started_at", "finished_at"):
        assert _is_iso(document[name]), (name, document[name])
    assert "lease_expires_at" in document and document["lease_expires_at"] is None
    listed = [
        json.loads(line)
        for line in invoke(database_url, "jobs", "list", "--json").stdout.splitlines()
    ]
    assert {job["id"] for job in listed} >= {failing, pinged}
    assert all(_is_iso(job["created_at"]) for job in listed)
    stats = json.loads(invoke(database_url, "stats", "--json").stdout)
    assert _is_iso(stats["breakers"][0]["open_until"])
