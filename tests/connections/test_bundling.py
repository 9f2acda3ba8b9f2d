"""Bundled deliveries against a real HTTP server, on both backends."""

from __future__ import annotations

from typing import Any

from conveyor import Conveyor, Fixed
from conveyor.connections import Bundle
from tests.http_sink import Response, Sink, sink_fixture  # noqa: F401


def drain(app: Conveyor, **options: Any) -> Any:
    return app.run_worker(burst=True, middleware=[], install_signal_handlers=False, **options)


def test_payloads_travel_together_and_keep_their_own_jobs(app: Conveyor, sink: Sink) -> None:
    app.connection("erp", sink.url, bundle=Bundle(max_size=5, max_wait=0.2), breaker=False)
    ids = [app.deliver("erp", "/orders", {"order": n}) for n in range(12)]
    drain(app, concurrency=20)
    requests = sink.requests_to("/orders")
    sizes = sorted(len(r.json) for r in requests)
    assert sum(sizes) == 12 and max(sizes) <= 5 and len(requests) < 12
    received = sorted(item["order"] for r in requests for item in r.json)
    assert received == list(range(12))
    assert all(r.headers["Idempotency-Key"].startswith("bundle-") for r in requests)
    assert {app.get_job(i).state for i in ids} == {"succeeded"}
    assert all(app.get_job(i).result["status"] == 200 for i in ids)


def test_a_failed_bundle_fails_each_member(app: Conveyor, sink: Sink) -> None:
    app.tasks["conveyor.deliver"].retry = Fixed(60)
    app.connection("erp", sink.url, bundle=Bundle(max_size=3, max_wait=0.2), breaker=False)
    sink.default("/orders", Response(500))
    ids = [app.deliver("erp", "/orders", {"order": n}) for n in range(3)]
    drain(app, concurrency=5)
    assert len(sink.requests_to("/orders")) == 1
    for job_id in ids:
        job = app.get_job(job_id)
        assert (job.state, job.attempts, job.errors[-1]["status"]) == ("retrying", 1, 500)
