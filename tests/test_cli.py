"""The `conveyor` command line, on both backends, in-process (CliRunner) and as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conveyor.cli import cli
from conveyor.durations import parse_duration

TESTS_DIR = Path(__file__).parent
EXECUTABLE = Path(sys.executable).with_name("conveyor")
APP = "cli_app:app"  # tests/cli_app.py; tests/ is on sys.path here and the cwd of subprocesses

runner = CliRunner(env={"COLUMNS": "200", "CONVEYOR_APP": None, "CONVEYOR_DATABASE_URL": None})


def invoke(url: str, *args: str, app: str | None = APP, stdin: str | None = None) -> Result:
    options = ["--database-url", url] + (["--app", app] if app else [])
    return runner.invoke(cli, [*options, *args], input=stdin)


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    assert result.exception is None
    return result.stdout


def error_line(result: Result, code: int = 2) -> str:
    """The one stderr line of an expected failure (no traceback anywhere)."""
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def enqueue(url: str, task: str, payload: Any = None, *options: str) -> int:
    args = ["enqueue", task, *options]
    if payload is not None:
        args += ["--payload", json.dumps(payload)]
    output = ok(invoke(url, *args))
    assert output.strip().isdigit(), output
    return int(output)


def order(url: str, customer: int, cents: int = 1000, *options: str) -> int:
    return enqueue(url, "record_order", {"customer_id": customer, "amount_cents": cents}, *options)


def list_json(url: str, *filters: str) -> list[dict[str, Any]]:
    output = ok(invoke(url, "jobs", "list", "--json", *filters))
    return [json.loads(line) for line in output.splitlines()]


def show_json(url: str, job_id: int) -> dict[str, Any]:
    document = json.loads(ok(invoke(url, "jobs", "show", str(job_id), "--json")))
    assert isinstance(document, dict)
    return document


def burst(url: str) -> Result:
    result = invoke(url, "worker", "--burst", "--concurrency", "4")
    ok(result)
    return result


@pytest.fixture(autouse=True)
def _in_tests_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """--app modules are imported from the working directory, as from a project's root."""
    monkeypatch.chdir(TESTS_DIR)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database, for tests about input errors (the backend does not matter)."""
    url = f"sqlite:///{tmp_path / 'errors.db'}"
    ok(invoke(url, "migrate", app=None))
    return url


# -- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * 86400),
        ("12h", 43200),
        ("5m", 300),
        ("10s", 10),
        ("250ms", 0.25),
        ("1.5", 1.5),
        ("0", 0),
        ("2w", 14 * 86400),
        ("1h30m", 5400),
        (" 1h 30m ", 5400),
        ("1.5h", 5400),
        (".5s", 0.5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty duration"),
        ("abc", "invalid duration 'abc'"),
        ("5x", "invalid duration '5x'"),
        ("5M", "invalid duration '5M'"),
        ("-5s", "cannot be negative"),
        ("30m1h", "largest first"),
        ("1h1h", "largest first"),
        ("5 minutes", "invalid duration"),
        ("1e3", "invalid duration"),
        ("9" * 400, "too large"),
    ],
)
def test_parse_duration_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


# -- commands -----------------------------------------------------------------------------------


def test_migrate_fresh_then_up_to_date(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    applied = ok(invoke(url, "migrate", app=None)).splitlines()
    assert applied[0] == "Applied migration 0001_initial" and len(applied) >= 2
    assert ok(invoke(url, "migrate", app=None)).strip() == "Database is up to date."
    assert json.loads(ok(invoke(url, "migrate", "--json", app=None))) == {"applied": []}


def test_migrate_on_a_migrated_database(database_url: str) -> None:
    assert json.loads(ok(invoke(database_url, "migrate", "--json"))) == {"applied": []}


def test_enqueue_prints_only_the_id(database_url: str) -> None:
    first = order(database_url, 1)
    second = enqueue(database_url, "ping")
    assert second > first
    job = show_json(database_url, first)
    assert job["task"] == "record_order"
    assert job["payload"] == {"customer_id": 1, "amount_cents": 1000}
    assert job["key"] == "customer:1"
    assert job["state"] == "queued"
    assert show_json(database_url, second)["queue"] == "other"


def test_enqueue_options(database_url: str) -> None:
    options = ["--key", "custom", "--queue", "vip", "--priority", "9", "--delay", "1h"]
    job_id = order(database_url, 7, 500, *options)
    job = show_json(database_url, job_id)
    assert (job["key"], job["queue"], job["priority"]) == ("custom", "vip", 9)
    assert job["run_at"] > job["created_at"]
    # Delayed by an hour: a burst worker finds nothing to run.
    burst(database_url)
    assert show_json(database_url, job_id)["state"] == "queued"


def test_enqueue_payload_from_stdin(database_url: str) -> None:
    result = invoke(
        database_url,
        "enqueue",
        "record_order",
        "--payload",
        "-",
        stdin='{"customer_id": 3, "amount_cents": 1}',
    )
    assert show_json(database_url, int(ok(result)))["payload"]["customer_id"] == 3


def test_idempotency_key_returns_the_same_id(database_url: str) -> None:
    first = order(database_url, 1, 100, "--idempotency-key", "order-42")
    again = order(database_url, 1, 100, "--idempotency-key", "order-42")
    other = order(database_url, 1, 100, "--idempotency-key", "order-43")
    assert first == again != other
    assert len(list_json(database_url)) == 2
    assert show_json(database_url, first)["idempotency_key"] == "order-42"


def test_jobs_list_table_and_json(database_url: str) -> None:
    ids = [order(database_url, 1), order(database_url, 2), enqueue(database_url, "ping")]
    table = ok(invoke(database_url, "jobs", "list"))
    for job_id in ids:
        assert f" {job_id} " in table
    assert "record_order" in table and "ping" in table and "customer:2" in table

    records = list_json(database_url)
    assert [r["id"] for r in records] == sorted(ids, reverse=True)
    required = {
        "id", "task", "queue", "key", "state", "attempts", "max_attempts", "priority",
        "run_at", "created_at", "finished_at", "last_error", "idempotency_key",
    }  # fmt: skip
    for record in records:
        assert required <= record.keys()
    assert [r["id"] for r in list_json(database_url, "--task", "ping")] == [ids[2]]
    assert [r["id"] for r in list_json(database_url, "--queue", "other")] == [ids[2]]
    assert [r["id"] for r in list_json(database_url, "--key", "customer:1")] == [ids[0]]
    assert [r["id"] for r in list_json(database_url, "--state", "queued", "--limit", "2")] == [
        ids[2],
        ids[1],
    ]
    assert list_json(database_url, "--state", "dead") == []
    assert ok(invoke(database_url, "jobs", "list", "--state", "dead")).strip() == "No jobs."


def test_worker_burst_runs_jobs_and_logs_json(database_url: str) -> None:
    orders = [order(database_url, customer, 1250) for customer in (1, 1, 2)]
    failing = enqueue(database_url, "always_fails", {"why": "[bold]markup[/] stays text"})
    pinged = enqueue(database_url, "ping")

    result = burst(database_url)
    assert result.stdout == ""
    events = [json.loads(line)["event"] for line in result.stderr.splitlines()]
    assert events[0] == "worker.started" and events[-1] == "worker.stopped"
    assert "job.dead" in events

    for job_id in orders:
        job = show_json(database_url, job_id)
        assert job["state"] == "succeeded"
        assert job["result"] == {"customer_id": job["payload"]["customer_id"], "points": 12}
    assert show_json(database_url, pinged)["result"] == "pong"
    dead = show_json(database_url, failing)
    assert dead["state"] == "dead" and dead["attempts"] == 1
    assert dead["last_error"] == "boom: [bold]markup[/] stays text"
    [attempt] = dead["errors"]
    assert attempt["type"] == "RuntimeError"
    assert "Traceback" in attempt["traceback"] and "always_fails" in attempt["traceback"]

    text = ok(invoke(database_url, "jobs", "show", str(failing)))
    assert "always_fails" in text and "dead" in text
    assert "[bold]markup[/] stays text" in text  # shown as text, not Rich markup
    assert "Attempt 1 failed" in text and "RuntimeError" in text and "Traceback" in text


def test_worker_queue_selection(database_url: str) -> None:
    in_default = order(database_url, 1)
    in_other = enqueue(database_url, "ping")
    ok(invoke(database_url, "worker", "--burst", "--queues", "other"))
    assert show_json(database_url, in_other)["state"] == "succeeded"
    assert show_json(database_url, in_default)["state"] == "queued"


def test_retry_dead_jobs(database_url: str) -> None:
    failing = enqueue(database_url, "always_fails", {"why": "first"})
    fine = order(database_url, 1)
    burst(database_url)
    assert show_json(database_url, failing)["state"] == "dead"

    nothing = invoke(database_url, "jobs", "retry", "--dead", "--task", "record_order")
    assert ok(nothing).strip() == "No jobs retried."
    retried = invoke(database_url, "jobs", "retry", "--dead")
    assert ok(retried).strip() == f"Retried 1 job: {failing}"
    job = show_json(database_url, failing)
    assert (job["state"], job["attempts"]) == ("queued", 0)

    # It fails again; a retry by id with an edited payload.
    burst(database_url)
    result = invoke(
        database_url, "jobs", "retry", str(failing), "--payload", '{"why": "edited"}', "--json"
    )
    assert json.loads(ok(result)) == {"action": "retry", "done": [failing], "failed": []}
    assert show_json(database_url, failing)["payload"] == {"why": "edited"}

    # A succeeded job does not qualify: reported on stderr, exit status 1.
    refused = invoke(database_url, "jobs", "retry", str(fine))
    line = error_line(refused, code=1)
    assert f"job {fine} not retried: it is succeeded" in line
    assert refused.stdout.strip() == "No jobs retried."


def test_cancel(database_url: str) -> None:
    later = order(database_url, 1, 100, "--delay", "1h")
    result = invoke(database_url, "jobs", "cancel", str(later), "999999")
    assert result.stdout.strip() == f"Cancelled 1 job: {later}"
    assert "job 999999 not cancelled: no such job" in error_line(result, code=1)
    assert show_json(database_url, later)["state"] == "cancelled"

    again = invoke(database_url, "jobs", "cancel", str(later), "--json")
    assert json.loads(again.stdout)["failed"] == [
        {"id": later, "reason": f"job {later} not cancelled: it is cancelled "
         "(succeeded and cancelled jobs cannot be cancelled)"}
    ]  # fmt: skip
    error_line(again, code=1)


def test_cancel_releases_the_key(database_url: str) -> None:
    head = order(database_url, 5, 100, "--delay", "1h")
    behind = order(database_url, 5, 200)
    assert show_json(database_url, behind)["state"] == "waiting"
    ok(invoke(database_url, "jobs", "cancel", str(head)))
    burst(database_url)
    assert show_json(database_url, behind)["state"] == "succeeded"


def test_cancelling_a_running_job_is_reported_as_requested(database_url: str) -> None:
    from conveyor.store import open_store

    head, queued = order(database_url, 5, 100), order(database_url, 6, 100, "--delay", "1h")
    behind = order(database_url, 5, 200)
    store = open_store(database_url)
    try:
        assert [job.id for job in store.claim("elsewhere", None, 1, 60)] == [head]
    finally:
        store.close()
    result = invoke(database_url, "jobs", "cancel", str(head), str(queued))
    assert ok(result).splitlines() == [
        f"Cancelled 1 job: {queued}",
        f"Cancellation requested for 1 job: {head} (running: cancelled when the attempt ends)",
    ]
    shown = show_json(database_url, head)
    assert shown["state"] == "running" and shown["cancel_requested_at"]
    assert "cancel requested" in ok(invoke(database_url, "jobs", "show", str(head)))
    assert show_json(database_url, behind)["state"] == "waiting"
    again = json.loads(ok(invoke(database_url, "jobs", "cancel", str(head), "--json")))
    assert again == {"action": "cancel", "done": [head], "failed": [], "requested": [head]}


def test_delete(database_url: str) -> None:
    first, second = order(database_url, 1), order(database_url, 2)
    result = invoke(database_url, "jobs", "delete", str(first), str(second), str(first))
    assert ok(result).strip() == f"Deleted 2 jobs: {first}, {second}"
    assert list_json(database_url) == []
    assert error_line(invoke(database_url, "jobs", "show", str(first))) == (
        f"Error: no job with id {first}"
    )
    assert "no such job" in error_line(invoke(database_url, "jobs", "delete", str(first)), 1)


def test_stats(database_url: str) -> None:
    empty = json.loads(ok(invoke(database_url, "stats", "--json")))
    assert empty == {"queues": {}, "totals": {}, "workers": [], "no_worker": []}
    assert ok(invoke(database_url, "stats")).startswith("No jobs.")
    order(database_url, 1)
    order(database_url, 1)  # waits behind the first one of its key
    order(database_url, 2)
    enqueue(database_url, "ping")
    document = json.loads(ok(invoke(database_url, "stats", "--json")))
    del document["workers"], document["no_worker"]  # tests/test_cli_workers.py
    assert document == {
        "queues": {"default": {"waiting": 1, "queued": 2}, "other": {"queued": 1}},
        "totals": {"waiting": 1, "queued": 3},
    }
    table = ok(invoke(database_url, "stats"))
    assert "default" in table and "other" in table and "all queues" in table


def test_prune(database_url: str) -> None:
    done = [order(database_url, 1), order(database_url, 2)]
    kept = enqueue(database_url, "always_fails", {})
    burst(database_url)
    assert ok(invoke(database_url, "prune", "--older-than", "1h")).startswith("Pruned 0 jobs")
    result = json.loads(ok(invoke(database_url, "prune", "--older-than", "0s", "--json")))
    assert result == {"pruned": 2, "older_than_seconds": 0.0}
    assert [r["id"] for r in list_json(database_url)] == [kept]  # dead jobs are never pruned
    assert done[0] not in [r["id"] for r in list_json(database_url)]


# -- errors: one line on stderr, exit status 2 ------------------------------------------------


def test_unknown_task(sqlite_url: str) -> None:
    assert "unknown task 'nope' (known: always_fails, ping, record_order)" in error_line(
        invoke(sqlite_url, "enqueue", "nope")
    )
    without_app = error_line(invoke(sqlite_url, "enqueue", "nope", app=None))
    assert "unknown task 'nope'" in without_app and "--app" in without_app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--payload", "{customer_id: 1}"], "invalid JSON payload: Expecting property name"),
        (["--payload", '{"customer_id": "x", "amount_cents": 1}'], "customer_id"),
        (["--payload", '{"customer_id": 1, "amount_cents": -5}'], "amount_cents"),
        (["--payload", '{"customer_id": 1}'], "amount_cents: Field required"),
        (["--payload", "{}", "--delay", "soon"], "--delay: invalid duration 'soon'"),
    ],
)
def test_bad_enqueue_input(sqlite_url: str, args: list[str], message: str) -> None:
    line = error_line(invoke(sqlite_url, "enqueue", "record_order", *args))
    assert message in line
    assert list_json(sqlite_url) == []


def test_payload_validation_message(sqlite_url: str) -> None:
    line = error_line(invoke(sqlite_url, "enqueue", "record_order", "--payload", '{"x": 1}'))
    assert line.startswith("Error: invalid payload for task 'record_order'")
    assert "ping" in error_line(invoke(sqlite_url, "enqueue", "ping", "--payload", "[1]"))


def test_bad_options(sqlite_url: str) -> None:
    assert "unknown state 'broken'" in error_line(
        invoke(sqlite_url, "jobs", "list", "--state", "broken")
    )
    assert "--older-than: invalid duration '30 days'" in error_line(
        invoke(sqlite_url, "prune", "--older-than", "30 days")
    )
    assert "--grace" in error_line(invoke(sqlite_url, "worker", "--burst", "--grace", "x"))
    assert "log level" in error_line(invoke(sqlite_url, "worker", "--log-level", "loud"))
    assert "give job ids or --dead" in error_line(invoke(sqlite_url, "jobs", "retry"))
    assert "give job ids or --dead" in error_line(
        invoke(sqlite_url, "jobs", "retry", "1", "--dead")
    )
    assert "use them with --dead" in error_line(
        invoke(sqlite_url, "jobs", "retry", "1", "--queue", "q")
    )


def test_unknown_job_id(database_url: str) -> None:
    assert error_line(invoke(database_url, "jobs", "show", "424242")) == (
        "Error: no job with id 424242"
    )


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("no_such_module:app", "cannot import module 'no_such_module'"),
        ("cli_app:missing", "module 'cli_app' has no attribute 'missing'"),
        ("cli_app:not_an_app", "'not_an_app' is a str, not a Conveyor application"),
        ("cli_app", "--app must look like module:attribute"),
    ],
)
def test_bad_app(sqlite_url: str, app: str, message: str) -> None:
    assert message in error_line(invoke(sqlite_url, "stats", app=app))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x", "unsupported database URL 'mysql://x'"),
        ("sqlite:///no/such/dir/x.db", "cannot open SQLite database"),
        ("postgresql://nobody@127.0.0.1:1/x", "cannot connect to PostgreSQL"),
    ],
)
def test_bad_database_url(url: str, message: str) -> None:
    assert message in error_line(invoke(url, "jobs", "list", app=None))


def test_typer_usage_errors_exit_2(sqlite_url: str) -> None:
    result = invoke(sqlite_url, "jobs", "list", "--no-such-option")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert invoke(sqlite_url, "jobs", "cancel", "not-a-number").exit_code == 2
    assert invoke(sqlite_url, "prune").exit_code == 2  # --older-than is required


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["worker", "--concurrency", "abc"], "Invalid value for '--concurrency'"),
        (["worker", "--concurrency", "0"], "Invalid value for '--concurrency'"),
        (["jobs", "list", "--no-such-option"], "No such option: --no-such-option"),
        (["--no-such-option", "stats"], "No such option: --no-such-option"),
        (["jobs", "cancel", "not-a-number"], "Invalid value for 'job_ids'"),
        (["prune"], "Missing option '--older-than'"),
        (["enqueue"], "Missing argument 'task'"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_usage_errors_are_one_line(sqlite_url: str, args: list[str], message: str) -> None:
    """Typer's errors used to be a box of several lines on stderr."""
    line = error_line(invoke(sqlite_url, *args))
    assert message in line and "--help" in line
    assert not any(ch in line for ch in "╭│╰")


def test_no_arguments_still_prints_the_help() -> None:
    result = runner.invoke(cli, ["jobs"])
    assert result.exit_code == 2
    assert "Usage: conveyor jobs" in result.output and "retry" in result.output


def test_version() -> None:
    from importlib import metadata

    result = runner.invoke(cli, ["--version"])
    assert ok(result).strip() == f"conveyor {metadata.version('conveyor')}"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def broken(:\n", "SyntaxError: "),
        ("import no_such_dependency_xyz\n", "No module named 'no_such_dependency_xyz'"),
        ("x = 1\nraise RuntimeError('no settings here')\n", "RuntimeError: no settings here"),
        ("import conveyor\napp = conveyor.Conveyor(lease_seconds=-1)\n", "ConfigurationError"),
    ],
)
def test_an_app_that_fails_to_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, message: str
) -> None:
    """A bad --app module is one line naming it and the error, exit 2 (was a traceback, 1)."""
    name = f"bad_app_{abs(hash(source))}"
    (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    line = error_line(invoke(f"sqlite:///{tmp_path / 'x.db'}", "stats", app=f"{name}:app"))
    assert f"--app {name}:app: cannot import module {name!r}" in line
    assert message in line
    if "raise" in source:
        assert f"(at {name}.py:2)" in line


# -- the installed executable -------------------------------------------------------------------


def run_conveyor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real `conveyor` script, from tests/ (so --app finds cli_app through the cwd)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    environment.pop("PYTHONPATH", None)
    environment.update(env or {})
    return subprocess.run(
        [str(EXECUTABLE), *args],
        cwd=TESTS_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_executable_end_to_end(database_url: str) -> None:
    env = {"CONVEYOR_DATABASE_URL": database_url, "CONVEYOR_APP": APP}
    enqueued = run_conveyor(
        "enqueue", "record_order", "--payload", '{"customer_id": 9, "amount_cents": 900}', env=env
    )
    assert enqueued.returncode == 0, enqueued.stderr
    job_id = int(enqueued.stdout)

    worked = run_conveyor("worker", "--burst", env=env)
    assert worked.returncode == 0, worked.stderr
    assert json.loads(worked.stderr.splitlines()[-1])["event"] == "worker.stopped"

    listed = run_conveyor("jobs", "list", "--json", "--state", "succeeded", env=env)
    assert listed.returncode == 0, listed.stderr
    [record] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (record["id"], record["result"]) == (job_id, {"customer_id": 9, "points": 9})


def test_executable_errors_are_one_line() -> None:
    bad_url = run_conveyor("--database-url", "mysql://x", "stats")
    assert bad_url.returncode == 2
    assert bad_url.stderr.strip() == (
        "Error: unsupported database URL 'mysql://x': use sqlite:///path.db or postgresql://..."
    )
    bad_app = run_conveyor("--app", "cli_app:nothing_here", "stats")
    assert bad_app.returncode == 2
    assert bad_app.stderr.strip().splitlines() == [
        "Error: --app cli_app:nothing_here: module 'cli_app' has no attribute 'nothing_here'"
    ]


def test_executable_bad_app_and_bad_option_are_one_line(tmp_path: Path) -> None:
    """As a real process (`python -m conveyor.cli`, this checkout's sources first on the path)."""
    (tmp_path / "needs_dep.py").write_text("import requests_nonexistent_pkg\n", encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "conveyor.cli", *args],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )

    broken = run(
        "--database-url", f"sqlite:///{tmp_path / 'x.db'}", "--app", "needs_dep:app", "stats"
    )
    assert broken.returncode == 2, broken.stderr
    assert broken.stderr.strip().splitlines() == [
        "Error: --app needs_dep:app: cannot import module 'needs_dep': ModuleNotFoundError: "
        "No module named 'requests_nonexistent_pkg' (at needs_dep.py:1)"
    ]
    bad_option = run("worker", "--concurrency", "abc")
    assert bad_option.returncode == 2
    assert len(bad_option.stderr.strip().splitlines()) == 1, bad_option.stderr
    assert bad_option.stderr.startswith("Error: Invalid value for '--concurrency'")


def test_python_dash_m() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert result.returncode == 0, result.stderr
    for command in ("migrate", "enqueue", "worker", "jobs", "stats", "prune"):
        assert command in result.stdout


def test_executable_worker_stops_on_sigterm(sqlite_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    with subprocess.Popen(
        [str(EXECUTABLE), "--database-url", sqlite_url, "--app", APP, "worker"],
        cwd=TESTS_DIR,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        started = json.loads(process.stderr.readline())
        assert started["event"] == "worker.started"
        process.send_signal(signal.SIGTERM)
        remaining = process.stderr.read()
        assert process.wait(timeout=30) == 0
    assert json.loads(remaining.splitlines()[-1])["event"] == "worker.stopped"


def test_jobs_show_says_why_a_postponed_job_waits(database_url: str) -> None:
    from conveyor import Conveyor
    from conveyor.job import Outcome

    job_id = order(database_url, 7)
    app = Conveyor(database_url)
    [job] = app.store.claim("w", None, 1, 30)
    app.store.complete(
        [Outcome(job.id, job.token, "postpone", delay=60, reason="rate limit of 'erp'")]
    )
    app.close()
    text = ok(invoke(database_url, "jobs", "show", str(job_id)))
    assert "Postponed" in text and "rate limit of 'erp'" in text
    document = json.loads(ok(invoke(database_url, "jobs", "show", str(job_id), "--json")))
    assert document["postponed_reason"] == "rate limit of 'erp'"


def test_worker_burst_wait_takes_a_duration(database_url: str) -> None:
    assert "--burst-wait" in error_line(
        invoke(database_url, "worker", "--burst", "--burst-wait", "soon")
    )
    assert "--burst-postponed" in error_line(
        invoke(database_url, "worker", "--burst", "--burst-postponed", "later")
    )


def test_a_burst_worker_says_on_stderr_what_it_left_postponed(database_url: str) -> None:
    """A job postponed for a minute (longer than --burst-postponed) does not hold the worker:
    it exits at once, the job still postponed, and its log says so."""
    from conveyor import Conveyor
    from conveyor.job import Outcome

    job_id = order(database_url, 7)
    app = Conveyor(database_url)
    [job] = app.store.claim("w", None, 1, 30)
    app.store.complete(
        [Outcome(job.id, job.token, "postpone", delay=60, reason="rate limit of 'erp'")]
    )
    due = app.get_job(job_id).run_at
    app.close()
    result = burst(database_url)
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    [left] = [line for line in lines if line["event"] == "worker.left_postponed"]
    assert (left["level"], left["jobs"], left["on_hold"]) == ("warning", 1, 0)
    assert due is not None and left["last_due"] == pytest.approx(due.timestamp(), abs=0.01)
    assert "1 job(s) postponed" in left["hint"]
    assert lines[-1]["event"] == "worker.stopped"
    assert show_json(database_url, job_id)["state"] == "queued"
