"""examples/shop_products (003) against its stand-in products API, on both backends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from conveyor.events import BreakerClosed, BreakerOpened
from examples.shop_products.integration import make_app, product_created
from examples.shop_products.remote import ProductsApi

ROOT = Path(__file__).parents[2]
APP = "examples.shop_products.integration:app"


@pytest.fixture
def api() -> Iterator[ProductsApi]:
    remote = ProductsApi()
    remote.start()
    yield remote
    remote.stop()


def product(n: int, **changes: object) -> dict[str, object]:
    return {"id": n, "name": f"Product {n}", "price": 9.5 + n, "stock": n, **changes}


@pytest.mark.serial  # a worker on 5-10 s deadlines
def test_shop_products_end_to_end(database_url: str, api: ProductsApi) -> None:
    app = make_app(database_url, api.url)
    app.migrate()
    events: list[str] = []
    app.events.subscribe(lambda e: events.append(e.name), BreakerOpened, BreakerClosed)

    # The hook validates and enqueues; it returns before any remote call.
    ids = [product_created(app, product(n)) for n in range(1, 13)]
    assert api.requests == [] and app.get_job(ids[0]).state == "queued"
    for bad in ({"id": "x1"}, {"price": "cheap"}, {"stock": -1}):
        with pytest.raises(ValidationError):
            product_created(app, product(50, **bad))

    # A 429 with Retry-After first, then bundles; bearer, signature and key verified remotely.
    api.throttle = 1
    deadline = time.monotonic() + 10
    while len(api.products) < 12 and time.monotonic() < deadline:
        app.run_worker(burst=True)
        time.sleep(0.2)
    assert sorted(api.products) == list(range(1, 13))
    assert api.requests[0]["status"] == 429
    assert max(r["size"] for r in api.requests) > 1  # batched
    assert api.products[3] == {
        "version": 1,
        "id": 3,
        "name": "Product 3",
        "price": 12.5,
        "stock": 3,
    }
    assert all(app.get_job(i).state == "succeeded" for i in ids)

    # The same product enqueued again is the same job; a replayed key is deduped remotely.
    assert product_created(app, product(1)) == ids[0]

    # Outage: the breaker opens; after it, it closes and the jobs go through.
    api.outage = True
    down = [product_created(app, product(n)) for n in range(21, 25)]
    deadline = time.monotonic() + 5
    while "breaker.opened" not in events and time.monotonic() < deadline:
        app.run_worker(burst=True)
        time.sleep(0.2)
    assert "breaker.opened" in events and 21 not in api.products
    api.outage = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        app.run_worker(burst=True)
        if all(app.get_job(i).state == "succeeded" for i in down):
            break
        time.sleep(0.3)
    assert all(app.get_job(i).state == "succeeded" for i in down)
    assert events[-1] == "breaker.closed"

    # A remote 422 is a dead letter at once; reviewed, fixed and replayed.
    bad = product_created(app, product(99, name=" "))
    app.run_worker(burst=True)
    dead = app.list_jobs(state="dead")
    assert [j.id for j in dead] == [bad] and "422" in (dead[0].last_error or "")
    job = app.get_job(bad)
    app.retry_jobs([bad], payload={**job.payload, "body": {**job.payload["body"], "name": "Ok"}})
    app.run_worker(burst=True)
    assert app.get_job(bad).state == "succeeded" and api.products[99]["name"] == "Ok"


def test_remote_rejects_unsigned_and_bad_token(api: ProductsApi) -> None:
    request = urllib.request.Request(
        f"{api.url}/products",
        data=json.dumps(product(1)).encode(),
        headers={"Idempotency-Key": "k", "Authorization": "Bearer wrong"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=5)
    assert error.value.code == 401 and api.products == {}


@pytest.mark.serial  # worker processes on deadlines
def test_graceful_shutdown_finishes_the_delivery_in_flight(
    database_url: str, api: ProductsApi
) -> None:
    """SIGTERM while a delivery waits for the slow remote: the worker stops claiming, lets the
    request finish, records it, and exits 0; the product arrives once."""
    app = make_app(database_url, api.url)
    app.migrate()
    job = product_created(app, product(7))
    api.delay = 1.5
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "PRODUCTS_"))}
    env.update(CONVEYOR_DATABASE_URL=database_url, PRODUCTS_API_URL=api.url)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    command = [sys.executable, "-m", "conveyor.cli", "--app", APP, "worker"]
    with subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL) as worker:
        deadline = time.monotonic() + 20
        while api.received == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert api.received == 1, "the worker never called the remote"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    assert app.get_job(job).state == "succeeded"
    assert list(api.products) == [7] and len(api.requests) == 1
    app.close()


def test_prometheus_metrics_count_the_queue_and_the_dead_letters(
    database_url: str, api: ProductsApi
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from tests.web.conftest import running

    app = make_app(database_url, api.url)
    app.migrate()
    bad = product_created(app, product(3, name=" "))  # alone: a 422 fails its whole bundle
    app.run_worker(burst=True)
    for n in (1, 2):
        product_created(app, product(n))
    app.run_worker(burst=True)
    assert app.get_job(bad).state == "dead" and sorted(api.products) == [1, 2]
    product_created(app, product(4))  # still queued
    with running(app) as base, urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("conveyor_dead_jobs", ())] == 1
    depth = {labels: value for (name, labels), value in samples.items()
             if name == "conveyor_queue_depth"}  # fmt: skip
    assert depth[(("queue", "default"), ("state", "queued"))] == 1
    app.close()


def test_dead_letters_reviewed_and_replayed_from_the_dashboard(
    database_url: str, api: ProductsApi
) -> None:
    """The write-up's DLQ admin page: the dead delivery listed with its 422 on the dashboard's
    dead-letter page, its payload fixed in the job page's editor, replayed, delivered."""
    from tests.web.conftest import running
    from tests.web.dashboard.client import Client

    app = make_app(database_url, api.url)
    app.migrate()
    bad = product_created(app, product(5, name=" "))
    app.run_worker(burst=True)
    assert app.get_job(bad).state == "dead"
    token = app.ops.tokens.create("shop-admin")
    with running(app) as base:
        client = Client(base)
        assert client.login(token).status == 303
        dead = client.get("/dashboard/dead")
        assert dead.status == 200 and f'data-job="{bad}"' in dead.text and "422" in dead.text
        fixed = {**app.get_job(bad).payload}
        fixed["body"] = {**fixed["body"], "name": "Fixed in the dashboard"}
        replay = {"csrf": dead.csrf(), "edit": "1", "payload": json.dumps(fixed)}
        assert client.post(f"/dashboard/jobs/{bad}/retry", replay).status == 303
    app.run_worker(burst=True)
    assert app.get_job(bad).state == "succeeded"
    assert api.products[5]["name"] == "Fixed in the dashboard"
    app.close()
