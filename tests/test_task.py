"""Task registration and payload validation (no worker)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from conveyor import ConfigurationError, Conveyor, PayloadError, TaskNotFound


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
