"""A task bound to a connection (`@app.task(connection=...)`): its jobs carry the connection,
by every enqueue path, so operators filter them like deliveries; both backends."""

from __future__ import annotations

import pytest

from conveyor import Conveyor
from conveyor.errors import ConfigurationError
from conveyor.job import JobFilter


def test_bound_tasks_store_their_connection(app: Conveyor) -> None:
    @app.task(connection="shop")
    def push_stock(payload: dict[str, int]) -> None: ...

    @app.task(connection=lambda payload: payload["system"])
    def push_anywhere(payload: dict[str, str]) -> None: ...

    @app.task
    def unbound(payload: dict[str, int]) -> None: ...

    one = app.enqueue("push_stock", {"n": 1})
    many = app.enqueue_many("push_stock", [{"n": 2}, {"n": 3}])
    keyed = app.enqueue("push_stock", {"n": 4}, key="sku-1")
    erp = app.enqueue("push_anywhere", {"system": "erp"})
    app.enqueue("unbound", {"n": 5})
    app.connection("crm", "http://127.0.0.1:9")
    delivery = app.deliver("crm", "/contacts", {"id": 1})
    shop = [job.id for job in app.ops.list_jobs(JobFilter(connection="shop"))]
    assert shop == sorted([one, *many, keyed], reverse=True)
    assert [j.id for j in app.ops.list_jobs(JobFilter(connection="erp"))] == [erp]
    assert [j.id for j in app.ops.list_jobs(JobFilter(connection="crm"))] == [delivery]
    assert app.get_job(delivery).to_dict()["connection"] == "crm"
    assert [j.connection for j in app.ops.list_jobs(JobFilter(task="unbound"))] == [None]


def test_a_bad_connection_option_is_refused(app: Conveyor) -> None:
    with pytest.raises(ConfigurationError, match="connection must be a string"):

        @app.task(connection=5)  # type: ignore[arg-type]
        def wrong() -> None: ...

    with pytest.raises(ConfigurationError, match="connection must not be empty"):

        @app.task(connection="")
        def empty() -> None: ...
