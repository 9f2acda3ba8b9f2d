"""Every enqueue option is checked (type and range) before anything is stored, on both backends.

Before: a text priority was stored as text on SQLite and crashed every worker that claimed it; a
delay of 100,000,000 weeks was stored and then `jobs list` failed with "year 1918561 is out of
range"; integers past 64 bits gave OverflowError tracebacks (SQLite) or a database error.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from conveyor import ConfigurationError, Conveyor, JobNotFound
from conveyor.cli import cli

WEEK = 7 * 86400
HUGE = 10**20  # past 64 bits


@pytest.fixture
def task_app(app: Conveyor) -> Conveyor:
    @app.task
    def record(payload: dict) -> None: ...

    return app


BAD_OPTIONS: list[tuple[dict[str, Any], str]] = [
    ({"priority": "high"}, "priority must be an integer, not 'high'"),
    ({"priority": True}, "priority must be an integer"),
    ({"priority": 1.5}, "priority must be an integer"),
    ({"priority": 2**31}, "priority must be from -2147483648 to 2147483647, not 2147483648"),
    ({"priority": HUGE}, "priority must be from"),
    ({"priority": 10**5000}, "priority must be from -2147483648 to 2147483647, not an integer"),
    ({"delay": 100_000_000 * WEEK}, "delay must be at most 100 years"),
    ({"delay": HUGE}, "delay must be at most 100 years"),
    ({"delay": "100000000w"}, "delay must be at most 100 years"),
    ({"delay": timedelta(days=999_999_999)}, "delay must be at most 100 years"),
    ({"delay": -1}, "delay must be >= 0 seconds"),
    ({"delay": float("nan")}, "delay must be >= 0 seconds"),
    ({"delay": float("inf")}, "delay must be at most 100 years"),
    ({"delay": "soon"}, "delay: invalid duration 'soon'"),
    ({"delay": True}, "delay must be seconds, a timedelta or a duration like '5m'"),
    ({"delay": [5]}, "delay must be seconds"),
    ({"run_at": datetime(2030, 1, 1)}, "run_at must be timezone-aware"),
    ({"run_at": datetime(9999, 12, 31, tzinfo=UTC)}, "run_at must be between 1970 and 100 years"),
    ({"run_at": datetime(1, 1, 1, tzinfo=UTC)}, "run_at must be between 1970"),
    ({"run_at": "2030-01-01T00:00:00Z"}, "run_at must be a datetime"),
    ({"run_at": HUGE}, "run_at must be a datetime, not 100000000000000000000"),
    ({"queue": ""}, "queue must not be empty"),
    ({"queue": 5}, "queue must be a string, not 5"),
    ({"queue": "q" * 201}, "queue must be at most 200 characters, not 201"),
    ({"queue": "a\x00b"}, "queue must not contain NUL characters"),
    ({"key": 42}, "key must be a string, not 42"),
    ({"key": "k" * 501}, "key must be at most 500 characters"),
    ({"idempotency_key": HUGE}, "idempotency_key must be a string"),
    ({"idempotency_key": "i" * 501}, "idempotency_key must be at most 500 characters"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS)
def test_a_bad_option_is_refused_with_one_line_and_nothing_is_stored(
    task_app: Conveyor, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        task_app.enqueue("record", {"n": 1}, **options)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 200
    assert task_app.list_jobs() == []  # and listing still works


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"priority": "high"}, "priority"),
        ({"delay": 100_000_000 * WEEK}, "delay"),
        ({"queue": ""}, "queue"),
    ],
)
def test_every_enqueue_path_checks_the_options(
    task_app: Conveyor, options: dict[str, Any], message: str
) -> None:
    task = task_app.tasks["record"]
    task_app.connection("shop", "http://127.0.0.1:9")
    paths = [
        lambda: task.enqueue({"n": 1}, **options),
        lambda: task_app.enqueue_many("record", [{"n": 1}, {"n": 2}], **options),
        lambda: task.enqueue_many([{"n": 1}], **options),
        lambda: task_app.deliver("shop", "/orders", {"n": 1}, **options),
        lambda: task_app.rpc("shop", "echo", [1], **options),
    ]
    for enqueue in paths:
        with pytest.raises(ConfigurationError, match=message):
            enqueue()
    assert task_app.list_jobs() == []


def test_a_key_function_s_key_is_checked_too(app: Conveyor) -> None:
    @app.task(key=lambda payload: "k" * payload["n"])
    def keyed(payload: dict) -> None: ...

    keyed.enqueue({"n": 500})
    with pytest.raises(ConfigurationError, match=r"key function.* at most 500 characters"):
        keyed.enqueue({"n": 501})
    assert len(app.list_jobs()) == 1


@pytest.mark.parametrize(
    ("delay", "seconds"),
    [(90, 90), (1.5, 1.5), (timedelta(minutes=5), 300), ("5m", 300), ("2h", 7200), ("0", 0)],
)
def test_accepted_delays(task_app: Conveyor, delay: Any, seconds: float) -> None:
    before = time.time()
    job = task_app.get_job(task_app.enqueue("record", {"n": 1}, delay=delay))
    assert job.run_at is not None
    assert before + seconds - 1 <= job.run_at.timestamp() <= time.time() + seconds + 1


def test_accepted_run_at_and_priority_bounds(task_app: Conveyor) -> None:
    when = datetime.now(UTC) + timedelta(days=365 * 50)
    low = task_app.enqueue("record", {"n": 1}, run_at=when, priority=-(2**31))
    high = task_app.enqueue("record", {"n": 2}, priority=2**31 - 1, key="k" * 500, queue="q" * 200)
    first, second = task_app.get_job(low), task_app.get_job(high)
    assert first.run_at is not None and abs(first.run_at.timestamp() - when.timestamp()) < 0.01
    assert (first.priority, second.priority) == (-(2**31), 2**31 - 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_attempts": 0}, "task t: max_attempts must be from 1 to 2147483647, not 0"),
        ({"max_attempts": "3"}, "task t: max_attempts must be an integer, not '3'"),
        ({"max_attempts": 2**31}, "task t: max_attempts must be from 1"),
        ({"max_attempts": True}, "task t: max_attempts must be an integer"),
        ({"priority": "high"}, "task t: priority must be an integer, not 'high'"),
        ({"priority": HUGE}, "task t: priority must be from"),
        ({"timeout": 0}, "task t: timeout must be > 0 seconds"),
        ({"timeout": -1}, "task t: timeout must be >= 0 seconds"),
        ({"timeout": HUGE}, "task t: timeout must be at most 100 years"),
        ({"timeout": "5m"}, "task t: timeout must be a number of seconds, not '5m'"),
        ({"queue": "q" * 201}, "task t: queue must be at most 200 characters"),
    ],
)
def test_task_options_are_checked_at_declaration(
    app: Conveyor, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:

        @app.task(name="t", **options)
        def t() -> None: ...

    assert message in str(refused.value)


# -- ids past 64 bits ---------------------------------------------------------------------------


def test_ids_past_64_bits_match_no_job(task_app: Conveyor) -> None:
    job_id = task_app.enqueue("record", {"n": 1})
    with pytest.raises(JobNotFound, match=f"no job with id {HUGE}"):
        task_app.get_job(HUGE)
    with pytest.raises(JobNotFound):
        task_app.get_job(0)
    assert task_app.cancel_jobs([HUGE, -HUGE]) == []
    assert task_app.delete_jobs([HUGE]) == []
    assert task_app.retry_jobs([HUGE]) == []
    with pytest.raises(JobNotFound):
        task_app.retry_jobs([HUGE], payload={"n": 2})
    with pytest.raises(ConfigurationError, match="job ids are integers, not '1'"):
        task_app.cancel_jobs(["1"])  # type: ignore[list-item]
    assert task_app.get_job(job_id).state == "queued"


runner = CliRunner(env={"COLUMNS": "200", "CONVEYOR_APP": None, "CONVEYOR_DATABASE_URL": None})


def _cli(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["--database-url", url, *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stderr.strip()


def test_cli_big_ids_and_out_of_range_options_are_one_line_errors(database_url: str) -> None:
    big = "99999999999999999999"
    assert _cli(database_url, "jobs", "show", big) == (2, f"Error: no job with id {big}")
    assert _cli(database_url, "jobs", "cancel", big) == (
        1,
        f"Error: job {big} not cancelled: no such job",
    )
    order = '{"customer_id": 1, "amount_cents": 5}'
    delivery = ["--app", "tests.cli_app:app", "enqueue", "record_order", "--payload", order]
    code, error = _cli(database_url, *delivery, "--delay", "100000000w")
    assert (code, error.startswith("Error: delay must be at most 100 years")) == (2, True)
    code, error = _cli(database_url, *delivery, "--priority", big)
    assert (code, error.startswith("Error: priority must be from")) == (2, True)
    assert _cli(database_url, "jobs", "list") == (0, "")
