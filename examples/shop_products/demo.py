"""The shop → products API demo (003): hook, bundles, a throttle, an outage, a dead letter."""

from __future__ import annotations

import time

from conveyor.events import BreakerClosed, BreakerOpened

from .integration import make_app, product_created
from .remote import ProductsApi


def main(database_url: str) -> None:
    api = ProductsApi()
    url = api.start()
    app = make_app(database_url, url)
    app.migrate()
    breaker: list[str] = []
    app.events.subscribe(lambda e: breaker.append(e.name), BreakerOpened, BreakerClosed)
    try:
        started = time.monotonic()
        ids = [product_created(app, _product(n)) for n in range(1, 21)]
        took = (time.monotonic() - started) * 1000
        print(f"hook: 20 products enqueued in {took:.0f} ms, {len(api.requests)} remote calls")
        api.throttle = 1
        app.run_worker(burst=True)
        sizes = [r["size"] for r in api.requests if r["status"] == 201]
        print(
            f"delivered {len(api.products)} products in {len(sizes)} bundle(s) {sizes};"
            f" a 429 first, Retry-After honoured"
        )
        api.outage = True
        down = [product_created(app, _product(n)) for n in range(21, 25)]
        deadline = time.monotonic() + 8
        while "breaker.opened" not in breaker and time.monotonic() < deadline:
            app.run_worker(burst=True)
            time.sleep(0.2)
        print(f"outage: breaker events {breaker}")
        api.outage = False
        _drain(app, down, seconds=6)
        print(f"after the outage: {breaker}, {len(api.products)} products at the remote")
        bad = product_created(app, {**_product(99), "name": " "})
        app.run_worker(burst=True)
        dead = app.list_jobs(state="dead")
        print(f"dead letters: {[(j.id, j.last_error) for j in dead]}"[:160])
        job = app.get_job(bad)
        fixed = {**job.payload, "body": {**job.payload["body"], "name": "Fixed name"}}
        app.retry_jobs([bad], payload=fixed)
        app.run_worker(burst=True)
        print(f"replayed: {app.get_job(bad).state}; {len(ids) + len(down) + 1} jobs")
    finally:
        api.stop()
    print("look at it: conveyor --app examples.shop_products.integration:app serve")


def _product(n: int) -> dict[str, object]:
    return {"id": n, "name": f"Product {n}", "price": 9.9 + n, "stock": n}


def _drain(app: object, ids: list[int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.run_worker(burst=True)  # type: ignore[attr-defined]
        if all(app.get_job(i).state == "succeeded" for i in ids):  # type: ignore[attr-defined]
            return
        time.sleep(0.3)
