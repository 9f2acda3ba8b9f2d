"""schemathesis against the operator API's own OpenAPI document (/api/openapi.json), both
backends: every operation, with a valid bearer token, generated parameters and bodies (valid and
invalid ones); no answer is a 500, and every answer conforms to the schema (status code, content
type, body).

The operations are driven from the schema here (hypothesis `given` per operation) rather than
through `schema.parametrize`: the app, and so its schema, comes from the per-backend fixtures.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conveyor import Conveyor
from conveyor.web import create_app

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 4  # per operation: the whole test stays under 40 s on both backends


def test_no_500_and_every_answer_conforms(app: Conveyor) -> None:
    @app.task(name="greet")
    def greet(payload: dict[str, int]) -> None: ...

    app.connection("shop", "http://127.0.0.1:9", connect_timeout=0.5)
    app.schedule("hourly", "0 * * * *", "greet", payload={"n": 1})
    app.enqueue("greet", {"n": 1})
    app.enqueue("greet", {"n": 2}, key="k")
    headers = {"Authorization": f"Bearer {app.ops.tokens.create('fuzz')}"}
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_app(app))
    operations = [
        result.ok() for result in schema.include(path_regex="^/api/").get_all_operations()
    ]
    assert len(operations) >= 20
    for operation in operations:
        valid = operation.as_strategy(GenerationMode.POSITIVE)
        invalid = operation.as_strategy(GenerationMode.NEGATIVE)

        @given(case=valid | invalid)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        fuzz()
