"""Task registration, blueprints and payload validation (no worker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from conveyor import (
    ConfigurationError,
    Conveyor,
    Fixed,
    PayloadError,
    TaskNotFound,
    UnknownConnection,
)
from conveyor.connections.builtins import builtin_tasks
from conveyor.tasks import Blueprint


class ContactIn(BaseModel):
    customer_id: int
    email: str


@pytest.fixture
def registry() -> Conveyor:
    app = Conveyor("sqlite:///:memory:")

    @app.task(key=lambda p: f"customer:{p['customer_id']}")
    def push_contact(payload: ContactIn) -> None: ...

    @app.task
    def count(payload: list[int]) -> int:
        return sum(payload)

    @app.task
    def anything(payload) -> None: ...  # type: ignore[no-untyped-def]

    @app.task
    def tick() -> None: ...

    return app


def test_a_model_payload_is_validated_and_keyed(registry: Conveyor) -> None:
    job = registry.build_job("push_contact", {"customer_id": "42", "email": "a@b.c"})
    assert job.payload == '{"customer_id":42,"email":"a@b.c"}'
    assert job.key == "customer:42"


def test_a_bad_payload_names_the_field(registry: Conveyor) -> None:
    with pytest.raises(PayloadError, match=r"push_contact.*customer_id: .*integer"):
        registry.build_job("push_contact", {"customer_id": "x", "email": "a@b.c"})
    with pytest.raises(PayloadError, match="email: Field required"):
        registry.build_job("push_contact", {"customer_id": 1})


def test_type_hints_validate_too(registry: Conveyor) -> None:
    assert registry.build_job("count", [1, "2"]).payload == "[1,2]"
    with pytest.raises(PayloadError, match=r"count.*1: "):
        registry.build_job("count", [1, "two"])


def test_untyped_payloads_must_be_json(registry: Conveyor) -> None:
    assert registry.build_job("anything", {"a": [1, None]}).payload == '{"a":[1,null]}'
    with pytest.raises(PayloadError, match="not JSON-serialisable"):
        registry.build_job("anything", {"a": object()})
    with pytest.raises(PayloadError, match="not JSON-serialisable"):
        registry.build_job("anything", float("nan"))


def test_a_task_without_arguments_takes_no_payload(registry: Conveyor) -> None:
    assert registry.build_job("tick").payload == "null"
    with pytest.raises(PayloadError, match="takes no payload"):
        registry.build_job("tick", {"x": 1})


def test_an_unknown_task_is_refused(registry: Conveyor) -> None:
    with pytest.raises(TaskNotFound, match=r"unknown task 'nope' \(known: anything, count"):
        registry.build_job("nope", {})


def test_the_key_argument_overrides_the_key_function(registry: Conveyor) -> None:
    job = registry.build_job("push_contact", {"customer_id": 1, "email": "e"}, key="mine")
    assert job.key == "mine"


def test_a_key_function_that_cannot_read_the_payload_is_a_payload_error() -> None:
    app = Conveyor("sqlite:///:memory:")

    @app.task(key=lambda p: p["customer"])
    def t(payload: dict) -> None: ...

    with pytest.raises(PayloadError, match="ordering key"):
        app.build_job("t", {"other": 1})


def test_registration_errors() -> None:
    app = Conveyor("sqlite:///:memory:")

    @app.task
    def same(payload: dict) -> None: ...

    with pytest.raises(ConfigurationError, match="already registered"):
        app.task(name="same")(lambda p: None)
    with pytest.raises(ConfigurationError, match="max_attempts"):
        app.task(max_attempts=0)(lambda p: None)
    with pytest.raises(ConfigurationError, match="one argument"):

        @app.task
        def two(a: int, b: int) -> None: ...


def test_enqueue_option_errors(registry: Conveyor) -> None:
    from datetime import datetime

    with pytest.raises(ConfigurationError, match="delay"):
        registry.build_job("tick", delay=-1)
    with pytest.raises(ConfigurationError, match="timezone"):
        registry.build_job("tick", run_at=datetime(2030, 1, 1))


def test_the_function_stays_callable(registry: Conveyor) -> None:
    assert registry.tasks["count"]([1, 2, 3]) == 6


# -- the registry and blueprints ---------------------------------------------------------------


def test_the_registry_is_a_read_only_mapping(registry: Conveyor) -> None:
    tasks = registry.tasks
    assert "count" in tasks and "nope" not in tasks
    assert tasks.get("nope") is None
    assert tasks["count"] is tasks.get("count") is registry.get_task("count")
    assert {"push_contact", "count", "anything", "tick", "conveyor.deliver"} <= set(tasks)
    assert len(tasks) == len(list(tasks))
    with pytest.raises(TypeError):
        tasks["count"] = tasks["tick"]  # type: ignore[index]


def test_a_blueprint_is_included_as_copies(tmp_path: Path) -> None:
    """Each app gets its own Task objects: an option changed on one stays with it."""
    shared = Blueprint()

    @shared.task(queue="mail", max_attempts=3)
    def notify(payload: dict[str, str]) -> str:
        return payload["to"]

    assert notify({"to": "a"}) == "a"  # the function, as declared
    first, second = Conveyor("sqlite:///:memory:"), Conveyor("sqlite:///:memory:")
    [task] = first.tasks.include(shared)
    second.tasks.include(shared)
    assert (task.name, task.queue, task.max_attempts) == ("notify", "mail", 3)
    first.tasks["notify"].retry = Fixed(60)
    assert second.tasks["notify"].retry is not first.tasks["notify"].retry
    assert first.tasks["notify"] is not second.tasks["notify"]

    app = Conveyor(f"sqlite:///{tmp_path / 'bp.db'}")
    app.migrate()
    app.tasks.include(shared)
    assert app.get_job(app.enqueue("notify", {"to": "b"})).queue == "mail"
    app.close()


def test_a_blueprint_is_included_whole_or_not_at_all() -> None:
    blueprint = Blueprint()

    @blueprint.task
    def fresh() -> None: ...

    @blueprint.task(name="taken")
    def other() -> None: ...

    app = Conveyor("sqlite:///:memory:")

    @app.task
    def taken() -> None: ...

    with pytest.raises(ConfigurationError, match="'taken' is already registered"):
        app.tasks.include(blueprint)
    assert "fresh" not in app.tasks
    with pytest.raises(ConfigurationError, match="already declared"):
        blueprint.task(name="fresh")(lambda: None)


def test_a_blueprint_check_refuses_payloads_at_enqueue() -> None:
    blueprint = Blueprint()

    @blueprint.task
    def send(payload: dict[str, str]) -> None: ...

    def known_recipient(payload: dict[str, str]) -> None:
        if payload["to"] != "ok":
            raise PayloadError(f"unknown recipient {payload['to']!r}")

    app = Conveyor("sqlite:///:memory:")
    app.tasks.include(blueprint, check=known_recipient)
    assert app.build_job("send", {"to": "ok"}).task == "send"
    with pytest.raises(PayloadError, match="unknown recipient 'x'"):
        app.build_job("send", {"to": "x"})


def test_built_in_tasks_come_from_a_blueprint() -> None:
    app = Conveyor("sqlite:///:memory:")
    assert set(builtin_tasks.declared) == {"conveyor.deliver", "conveyor.rpc"}
    assert app.tasks["conveyor.deliver"].max_attempts == 10
    with pytest.raises(UnknownConnection):  # checked against this app's connections
        app.build_job("conveyor.deliver", {"connection": "shop", "path": "/x"})
    app.connection("shop", "https://shop.example")
    assert app.build_job("conveyor.deliver", {"connection": "shop", "path": "/x"}).task
