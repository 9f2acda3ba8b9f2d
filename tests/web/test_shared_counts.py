"""`/api/stats` and `/metrics` answer the shared counts (one store read per max age for every
client, `shared_reads.py`), and an action through the API is seen by the next request."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conveyor import Conveyor

from .conftest import running
from .test_api import call


@pytest.fixture
def served(app: Conveyor) -> Iterator[tuple[Conveyor, str, str]]:
    @app.task(name="greet")
    def greet(payload: dict[str, int]) -> None: ...

    app.ops.shared.max_age = 60.0  # nothing goes stale during the test
    token = app.ops.tokens.create("tests")
    with running(app) as base:
        yield app, base, token


def queued_in_metrics(base: str) -> float:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "conveyor_queue_depth" and sample.labels["state"] == "queued":
                return sample.value
    return 0.0


def test_stats_and_metrics_share_one_read_until_an_action(
    served: tuple[Conveyor, str, str],
) -> None:
    app, base, token = served
    app.enqueue("greet", {"n": 1})
    assert call(base, "GET", "/api/stats", token=token)[1] == {"queues": {"default": {"queued": 1}}}
    assert queued_in_metrics(base) == 1
    app.enqueue("greet", {"n": 2})  # by the application, not through the server
    assert call(base, "GET", "/api/stats", token=token)[1] == {"queues": {"default": {"queued": 1}}}
    assert queued_in_metrics(base) == 1
    status, body, _ = call(base, "POST", "/api/jobs", {"task": "greet", "payload": {"n": 3}}, token)
    assert status == 201, body
    assert call(base, "GET", "/api/stats", token=token)[1] == {"queues": {"default": {"queued": 3}}}
    assert queued_in_metrics(base) == 3


def test_max_age_zero_reads_per_request(served: tuple[Conveyor, str, str]) -> None:
    app, base, token = served
    app.ops.shared.max_age = 0
    app.enqueue("greet", {"n": 1})
    assert call(base, "GET", "/api/stats", token=token)[1] == {"queues": {"default": {"queued": 1}}}
    app.enqueue("greet", {"n": 2})
    assert call(base, "GET", "/api/stats", token=token)[1] == {"queues": {"default": {"queued": 2}}}
