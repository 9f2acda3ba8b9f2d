"""`conveyor jobs list|retry|cancel --connection --error`, both backends: deliveries to a real
HTTP sink die with a 401, then are listed, retried and cancelled by connection and error text."""

from __future__ import annotations

import json

from typer.testing import Result

from conveyor import Conveyor
from tests.http_sink import Response, Sink
from tests.test_cli import error_line, ok
from tests.test_cli import invoke as invoke_with_app


def invoke(url: str, *args: str) -> Result:
    return invoke_with_app(url, *args, app=None)  # no tasks needed: the store holds the jobs


def test_list_retry_and_cancel_by_connection_and_error(app: Conveyor) -> None:
    with Sink() as sink:
        _by_connection_and_error(app, sink)


def _by_connection_and_error(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url)
    app.connection("crm", sink.url)
    sink.default("/refused", Response(401))
    shop = [app.deliver("shop", "/refused", {"n": n}) for n in range(2)]
    crm = app.deliver("crm", "/refused", {"n": 3})
    app.run_worker(burst=True, install_signal_handlers=False)
    later = app.deliver("shop", "/refused", {"n": 4}, delay=3600)
    url = app.database_url

    listed = ok(invoke(url, "jobs", "list", "--connection", "shop", "--json")).splitlines()
    assert [json.loads(line)["id"] for line in listed] == sorted([*shop, later], reverse=True)
    dead = ok(invoke(url, "jobs", "list", "--error", "http 401", "--json")).splitlines()
    assert [json.loads(line)["id"] for line in dead] == sorted([*shop, crm], reverse=True)
    assert ok(invoke(url, "jobs", "list", "--error", "503")).strip() == "No jobs."

    retried = ok(invoke(url, "jobs", "retry", "--dead", "--connection", "shop", "--json"))
    assert json.loads(retried)["done"] == sorted(shop)
    assert app.ops.states([crm]) == {crm: "dead"}
    line = error_line(invoke(url, "jobs", "retry", "--connection", "shop"))
    assert "--connection" in line and "--dead" in line

    cancelled = invoke(url, "jobs", "cancel", "--connection", "shop", "--state", "queued")
    assert ok(cancelled).strip().startswith("Cancelled 3 jobs")
    assert set(app.ops.states([*shop, later]).values()) == {"cancelled"}
    assert "not both" in error_line(invoke(url, "jobs", "cancel", str(crm), "--error", "401"))
    assert "not both" in error_line(invoke(url, "jobs", "cancel"))
    assert "state" in error_line(invoke(url, "jobs", "cancel", "--error", "x", "--state", "gone"))
