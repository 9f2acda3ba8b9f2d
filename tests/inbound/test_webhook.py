"""Declaring a webhook (every mistake refused at once) and what a declaration makes of a
request: event id, split, routes. Pure: `Webhook.accept` with a clock passed in."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from conveyor import Conveyor, Hmac, StandardWebhooks
from conveyor.errors import ConfigurationError, WebhookRejected
from conveyor.inbound.paths import parse_path
from tests.inbound.test_verify import NOW, SECRET, signed


@pytest.fixture
def app(tmp_path: Path) -> Conveyor:
    """Declarations never open the store."""
    app = Conveyor(f"sqlite:///{tmp_path / 'never-opened.db'}")

    @app.task
    def process_workout(payload: dict) -> None: ...

    @app.task
    def process_metric(payload: dict) -> None: ...

    return app


def accept(hook, document: object, headers: dict | None = None):
    body = json.dumps(document).encode()
    return hook.accept(headers if headers is not None else signed(body), body, NOW)


def test_one_job_per_split_item_routed_by_type(app: Conveyor) -> None:
    hook = app.webhook(
        "health",
        verify=StandardWebhooks(SECRET),
        split="$.data",
        route=("type", {"workout": "process_workout", "metric": app.tasks["process_metric"]}),
    )
    items = [{"type": "workout", "n": 1}, {"type": "metric", "n": 2}, {"type": "sleep", "n": 3}]
    intake = accept(hook, {"data": items})
    assert intake.event_id == "msg_1"
    assert intake.jobs == [("process_workout", items[0]), ("process_metric", items[1])]
    assert intake.ignored == 1


def test_a_catch_all_route(app: Conveyor) -> None:
    hook = app.webhook(
        "h",
        verify=StandardWebhooks(SECRET),
        split="$.data[*]",
        route=("$.kind", {"workout": "process_workout", "*": "process_metric"}),
    )
    intake = accept(hook, {"data": [{"kind": "workout"}, {"kind": 3}, {}]})
    assert [task for task, _ in intake.jobs] == ["process_workout", *["process_metric"] * 2]


def test_without_split_the_event_is_one_job(app: Conveyor) -> None:
    hook = app.webhook("h", verify=StandardWebhooks(SECRET), task="process_metric")
    assert accept(hook, {"a": 1}).jobs == [("process_metric", {"a": 1})]


def test_event_id_from_a_json_path_or_a_header(app: Conveyor) -> None:
    by_path = app.webhook(
        "p", verify=StandardWebhooks(SECRET), event_id="$.event.id", task="process_metric"
    )
    assert accept(by_path, {"event": {"id": 42}}).event_id == "42"
    gh = Hmac(header="X-Sig", secret="k")
    by_header = app.webhook("g", verify=gh, event_id="X-GitHub-Delivery", task="process_metric")
    body = b"{}"
    headers = {"x-sig": hmac.new(b"k", body, hashlib.sha256).hexdigest(), "x-github-delivery": "d1"}
    assert by_header.accept(headers, body, NOW).event_id == "d1"
    del headers["x-github-delivery"]
    with pytest.raises(WebhookRejected, match="missing x-github-delivery") as raised:
        by_header.accept(headers, body, NOW)
    assert raised.value.status == 400
    body_id = app.webhook("b", verify=gh, task="process_metric")
    assert (
        body_id.accept(headers, body, NOW).event_id == "sha256:" + hashlib.sha256(body).hexdigest()
    )


def test_the_signature_is_checked_before_the_json(app: Conveyor) -> None:
    hook = app.webhook("h", verify=StandardWebhooks(SECRET), task="process_metric")
    with pytest.raises(WebhookRejected) as raised:
        hook.accept(signed(b"{}"), b"not json", NOW)
    assert raised.value.status == 401
    with pytest.raises(WebhookRejected, match="not JSON") as raised:
        hook.accept(signed(b"not json"), b"not json", NOW)
    assert raised.value.status == 400


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"items": {"a": 1}}, r"\$.items is a dict, not a list"),
        ({}, r"\$.items is not in the body"),
    ],
)
def test_a_split_that_does_not_fit_is_422(app: Conveyor, document: dict, message: str) -> None:
    hook = app.webhook("h", verify=StandardWebhooks(SECRET), split="$.items", task="process_metric")
    with pytest.raises(WebhookRejected, match=message) as raised:
        accept(hook, document)
    assert raised.value.status == 422


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"task": "nope"}, "unknown task 'nope'"),
        ({"route": ("type", {"w": "nope"})}, "unknown task 'nope'"),
        ({}, "give task= .* or route=, exactly one"),
        ({"task": "process_metric", "route": ("t", {"a": "process_metric"})}, "exactly one"),
        ({"task": "process_metric", "split": "data"}, "starts with \\$"),
        ({"task": "process_metric", "split": "$.a[?(@.x)]"}, "bad JSON path"),
        ({"task": "process_metric", "event_id": "$..id"}, "bad JSON path"),
        ({"task": "process_metric", "event_id": "bad header"}, "not a header name"),
        ({"task": "process_metric", "max_body": 0}, "max_body"),
        ({"route": ("type", {})}, "maps no value"),
        ({"route": "type"}, "route= is \\(field"),
        ({"task": "process_metric", "verify": "whsec_x"}, "verify= takes"),
        ({"task": "process_metric", "verify": StandardWebhooks("env:NOT_SET_ANYWHERE")}, "NOT_SET"),
    ],
)
def test_bad_declarations_are_refused(app: Conveyor, options: dict, message: str) -> None:
    arguments = {"verify": StandardWebhooks(SECRET), **options}
    with pytest.raises(ConfigurationError, match=message):
        app.webhook("h", **arguments)
    assert "h" not in app.webhooks


def test_names_are_url_segments_and_unique(app: Conveyor) -> None:
    with pytest.raises(ConfigurationError, match="it is the URL"):
        app.webhook("a/b", verify=StandardWebhooks(SECRET), task="process_metric")
    app.webhook("a", verify=StandardWebhooks(SECRET), task="process_metric")
    with pytest.raises(ConfigurationError, match="already declared"):
        app.webhook("a", verify=StandardWebhooks(SECRET), task="process_metric")


def test_paths() -> None:
    path = parse_path('$.a[0]["odd key"].b')
    assert path.steps == ("a", 0, "odd key", "b")
    assert path.find({"a": [{"odd key": {"b": 5}}]}) == 5
    with pytest.raises(LookupError, match=r"\$.a\[0\] is not in the body"):
        path.find({"a": []})
    assert parse_path("$").find([1]) == [1]
