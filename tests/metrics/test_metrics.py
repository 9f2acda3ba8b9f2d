"""/metrics on a real server, both backends: parsed by prometheus-client's own parser, and the
same totals whichever worker processes ran the jobs (the gauges are read from the store)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests import cli_app as cli_module
from tests.test_cli import TESTS_DIR
from tests.web.conftest import running

cli_app = cli_module.app


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_agree_with_two_worker_processes(database_url: str) -> None:
    app = cli_app  # the tasks the worker processes run (tests/cli_app.py)
    app.use_database(database_url)
    try:
        for n in range(12):
            app.enqueue("record_order", {"customer_id": n, "amount_cents": 100})
        for n in range(5):
            app.enqueue("always_fails", {"why": f"case {n}"})
        environment = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
        environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        command = [
            sys.executable,
            "-m",
            "conveyor.cli",
            "--database-url",
            database_url,
            "--app",
            "cli_app:app",
            "worker",
            "--burst",
            "--concurrency",
            "2",
            "--queues",
            "default",
            "--log-level",
            "error",
        ]
        workers = [subprocess.Popen(command, cwd=TESTS_DIR, env=environment) for _ in range(2)]
        assert [w.wait(60) for w in workers] == [0, 0]
        with running(app) as base:
            samples = scrape(base)
        assert (
            samples[("conveyor_queue_depth", (("queue", "default"), ("state", "succeeded")))] == 12
        )
        assert samples[("conveyor_queue_depth", (("queue", "default"), ("state", "dead")))] == 5
        assert samples[("conveyor_dead_jobs", ())] == 5
        app.ops.retry(filter=app.ops.job_filter(state="dead"))
        with running(app) as base:
            samples = scrape(base)
        assert samples[("conveyor_dead_jobs", ())] == 0
        assert samples[("conveyor_queue_depth", (("queue", "default"), ("state", "queued")))] == 5
    finally:
        app.close()
