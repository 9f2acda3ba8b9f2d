"""A delivery's `Idempotency-Key` is unique for all time: never derived from a reusable id alone.

A remote that deduplicates on the header drops the second of two requests that share it, so two
different deliveries must never send the same key: not after a prune made SQLite reuse an id, not
from two databases whose ids collide, not for a row stored without a key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conveyor import Conveyor
from tests.connections.conftest import DELIVER, Drain
from tests.http_sink import Response, Sink
from tests.test_unloadable_jobs import insert_raw


@pytest.fixture
def other_app(tmp_path: Path) -> Iterator[Conveyor]:
    """A second application on its own fresh SQLite database: its ids start at 1 too."""
    application = Conveyor(f"sqlite:///{tmp_path / 'other.db'}")
    application.migrate()
    yield application
    application.close()


def keys(sink: Sink, path: str = "/orders") -> list[str]:
    return [r.headers["Idempotency-Key"] for r in sink.requests_to(path)]


def test_a_delivery_after_a_prune_does_not_send_the_pruned_one_s_key(
    app: Conveyor, sink: Sink, drain: Drain
) -> None:
    app.connection("shop", sink.url)
    first = app.deliver("shop", "/orders", {"order": 1})
    drain(app)
    assert app.prune(older_than=0) == 1
    second = app.deliver("shop", "/orders", {"order": 2})
    drain(app)
    assert second > first
    sent = keys(sink)
    assert len(sent) == 2 and sent[0] != sent[1]
    assert all(key.startswith("conveyor-") for key in sent)


def test_two_databases_with_the_same_ids_send_different_keys(
    app: Conveyor, other_app: Conveyor, sink: Sink, drain: Drain
) -> None:
    for application in (app, other_app):
        application.connection("shop", sink.url)
    ids = [application.deliver("shop", "/orders", {"n": 1}) for application in (app, other_app)]
    # Stored without a key, as by an older version or another program: the fallback is unique too.
    ids += [_insert_old_row(application, "/old") for application in (app, other_app)]
    for application in (app, other_app):
        drain(application)
    assert ids[0] == ids[1] and ids[2] == ids[3]  # each database numbers its own jobs
    assert len(set(keys(sink))) == 2
    old = keys(sink, "/old")
    assert len(set(old)) == 2
    assert old[0].startswith(f"conveyor-job-{ids[2]}-")


def test_a_delivery_stored_without_a_key_sends_the_same_key_on_every_attempt(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: Callable[[float], None]
) -> None:
    retry_in(0)
    app.connection("shop", sink.url)
    sink.script("/old", [Response(500), Response(200)])
    job_id = _insert_old_row(app, "/old")
    drain(app)
    sent = keys(sink, "/old")
    assert len(sent) == 2 and sent[0] == sent[1]
    assert sent[0].startswith(f"conveyor-job-{job_id}-")
    assert app.get_job(job_id).state == "succeeded"


def test_each_rpc_call_stores_its_own_key(app: Conveyor, sink: Sink) -> None:
    app.connection("api", sink.url)
    first, second = (app.rpc("api", "echo", [n]) for n in (1, 2))
    stored = [app.get_job(job_id).payload["idempotency_key"] for job_id in (first, second)]
    assert stored[0] != stored[1] and all(key.startswith("conveyor-") for key in stored)
    explicit = app.rpc("api", "echo", [3], idempotency_key="call-3")
    assert app.get_job(explicit).payload["idempotency_key"] == "call-3"


def test_every_enqueue_path_stores_a_key_of_its_own(
    app: Conveyor, sink: Sink, drain: Drain
) -> None:
    app.connection("shop", sink.url)
    delivery = {"connection": "shop", "path": "/bulk", "body": {}}
    ids = app.enqueue_many(DELIVER, [delivery, delivery])
    ids.append(app.enqueue(DELIVER, delivery))
    stored = [app.get_job(job_id).payload["idempotency_key"] for job_id in ids]
    assert len(set(stored)) == 3 and all(key.startswith("conveyor-") for key in stored)
    drain(app)
    assert sorted(keys(sink, "/bulk")) == sorted(stored)


def _insert_old_row(app: Conveyor, path: str) -> int:
    """A delivery stored with no key, by an older version (`null`) or another program (absent)."""
    payload = {"connection": "shop", "path": path, "body": {"old": True}, "idempotency_key": None}
    return insert_raw(app.database_url, DELIVER, json.dumps(payload))
