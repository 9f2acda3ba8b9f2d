"""The JSON log lines of a real worker process carry the running job's context: the lines the
task's own code writes (in its thread, or on the loop), and each HTTP request of a delivery with
its status, latency and idempotency key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conveyor import Conveyor
from conveyor.connections import apply_config
from tests.http_sink import Response, Sink
from tests.metrics.log_app import app as log_app
from tests.test_cli import TESTS_DIR


def run_worker(database_url: str, conf: Path) -> list[dict[str, Any]]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    command = [
        *(sys.executable, "-m", "conveyor.cli", "--database-url", database_url),
        *("--app", "tests.metrics.log_app:app", "--config", str(conf)),
        *("worker", "--burst", "--log-level", "debug"),
    ]
    done = subprocess.run(
        command, cwd=TESTS_DIR.parent, env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stderr.splitlines() if line.strip()]


def test_every_line_written_while_a_job_runs_names_the_job(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'logs.db'}"
    with Sink() as sink:
        sink.script("/fails", [Response(500, json={"error": "down"})])
        conf = tmp_path / "conveyor.toml"
        conf.write_text(f'[connections.sink]\nbase_url = "{sink.url}"\n')
        enqueuer = Conveyor(database_url)
        apply_config(enqueuer, conf)
        try:
            enqueuer.migrate()
            threaded = log_app_enqueue(database_url, "checks_in_a_thread", {"n": 7})
            looped = log_app_enqueue(database_url, "checks_on_the_loop", {"n": 8})
            delivered = enqueuer.deliver("sink", "/ok", {"a": 1}, idempotency_key="idem-ok")
            failing = enqueuer.deliver("sink", "/fails", {"a": 2}, idempotency_key="idem-fails")
            lines = run_worker(database_url, conf)
        finally:
            enqueuer.close()
    by_event: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_event.setdefault(line["event"], []).append(line)

    [thread_line] = by_event["order.checked"]
    assert (thread_line["job_id"], thread_line["task"]) == (threaded, "checks_in_a_thread")
    assert (thread_line["key"], thread_line["attempt"], thread_line["n"]) == ("order:7", 1, 7)
    [loop_line] = by_event["order.checked_async"]
    assert (loop_line["job_id"], loop_line["task"], loop_line["key"]) == (
        looped,
        "checks_on_the_loop",
        None,
    )
    assert loop_line["attempt"] == 1

    requests = {line["job_id"]: line for line in by_event["http.request"]}
    ok, fails = requests[delivered], requests[failing]
    assert (ok["task"], ok["attempt"], ok["status"], ok["idempotency_key"]) == (
        "conveyor.deliver",
        1,
        200,
        "idem-ok",
    )
    assert ok["level"] == "debug" and ok["latency_ms"] > 0 and ok["connection"] == "sink"
    assert (fails["status"], fails["idempotency_key"]) == (500, "idem-fails")
    assert fails["level"] == "info"  # an answer of 400 or more: at info
    [retrying] = by_event["job.retrying"]
    assert (retrying["job_id"], retrying["attempt"]) == (failing, 1)
    # Lines of no job (the worker's life) claim none.
    assert "job_id" not in by_event["worker.started"][0]


def log_app_enqueue(database_url: str, task: str, payload: dict[str, Any]) -> int:
    log_app.use_database(database_url)
    try:
        return log_app.enqueue(task, payload)
    finally:
        log_app.close()
