"""/metrics on a real server, both backends, parsed by prometheus-client's own parser.

The gauges are read from the store, the counters and histograms are written by real worker
processes into one multiprocess directory (`--metrics-dir`): their sums must be what all the
processes did together: every job's outcome, every HTTP request to a real local server by
status, every rate-limit refusal, every record of a real sync.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conveyor import Conveyor
from conveyor.connections import apply_config
from conveyor.sync.config import apply_sources
from tests import cli_app as cli_module
from tests.http_sink import Response, Sink
from tests.sync.remote import Remote
from tests.test_cli import TESTS_DIR
from tests.web.conftest import running

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(base: str, token: str | None = None) -> tuple[Samples, dict[str, str]]:
    """Every sample by (name, sorted labels), and every family's HELP text."""
    request = urllib.request.Request(base + "/metrics")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    families = list(text_string_to_metric_families(text))
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }
    return samples, {family.name: family.documentation for family in families}


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include these."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


@pytest.fixture
def servers() -> Iterator[tuple[Sink, Remote]]:
    remote = Remote("page")
    remote.start()
    with Sink() as sink:
        try:
            yield sink, remote
        finally:
            remote.stop()


def config(tmp_path: Path, sink: Sink, remote: Remote) -> Path:
    path = tmp_path / "conveyor.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [connections.sink]
            base_url = "{sink.url}"
            rate_limit = "20/s"

            [connections.remote]
            base_url = "{remote.url}"

            [sources.workflows]
            connection = "remote"
            path = "/workflows"
            items = "data"
            paginate.type = "page_number"
            paginate.page = "page"
            paginate.size = "page_length"
            paginate.per_page = 2
            paginate.has_more = "hasMore"
            owner_param = "customer"
            """
        )
    )
    return path


def workers(database_url: str, conf: Path, directory: Path, count: int) -> None:
    """`count` real worker processes at once, in burst mode, until nothing is runnable."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    command = [
        *(sys.executable, "-m", "conveyor.cli", "--database-url", database_url),
        *("--app", "cli_app:app", "--config", str(conf), "worker", "--burst"),
        *("--concurrency", "2", "--log-level", "error", "--metrics-dir", str(directory)),
    ]
    started = [subprocess.Popen(command, cwd=TESTS_DIR, env=environment) for _ in range(count)]
    assert [w.wait(60) for w in started] == [0] * count


@pytest.mark.serial  # worker processes on deadlines
def test_metrics_agree_with_two_worker_processes(
    database_url: str, tmp_path: Path, servers: tuple[Sink, Remote]
) -> None:
    sink, remote = servers
    sink.script("/reject", [Response(422, json={"error": "no"})] * 3)
    for item in ("w1", "w2", "w3"):
        remote.put("acme", item)
    conf = config(tmp_path, sink, remote)
    directory = tmp_path / "metrics"
    app = Conveyor(database_url)  # the test's side: enqueues and serves /metrics
    apply_config(app, conf)
    apply_sources(app, conf)
    app.metrics.use_directory(str(directory))
    tasks = cli_module.app  # the tasks the worker processes run (tests/cli_app.py)
    tasks.use_database(database_url)
    try:
        for n in range(12):
            tasks.enqueue("record_order", {"customer_id": n, "amount_cents": 100})
        for n in range(5):
            tasks.enqueue("always_fails", {"why": f"case {n}"})
        for n in range(6):
            app.deliver("sink", "/accept", {"n": n})
        for n in range(3):
            app.deliver("sink", "/reject", {"n": n})
        app.sync("workflows", "acme")
        workers(database_url, conf, directory, 2)
        with running(app) as base:  # one server for every scrape
            samples, helps = scrape(base)
            two_processes(samples, sink, remote)
            assert all(helps[name] for name in helps)  # every family has its HELP text

            # A third process, alone: the counters of all three are summed, each process's
            # file kept. The sync now sees one changed, one gone, one unchanged.
            remote.put("acme", "w1", name="renamed")
            remote.remove("acme", "w3")
            for n in range(3):
                tasks.enqueue("record_order", {"customer_id": 100 + n, "amount_cents": 100})
            app.sync("workflows", "acme")
            workers(database_url, conf, directory, 1)
            samples, _ = scrape(base)
            jobs, records = "conveyor_jobs_total", "conveyor_sync_records_total"
            assert total(samples, jobs, task="record_order", outcome="succeeded") == 15
            assert total(samples, jobs) - total(samples, jobs, outcome="postponed") == 31
            assert total(samples, records, change="created") == 3
            assert total(samples, records, change="updated") == 1
            assert total(samples, records, change="unchanged") == 1
            assert total(samples, records, change="deleted") == 1
            pids = {name.rsplit("_", 1)[-1] for name in os.listdir(directory)}
            assert len(pids) >= 2  # at least two processes' files were summed

            app.ops.retry(filter=app.ops.job_filter(state="dead"))
            samples, _ = scrape(base)
        assert samples[("conveyor_dead_jobs", ())] == 0
        assert total(samples, "conveyor_queue_depth", queue="default", state="queued") == 5 + 3
    finally:
        tasks.close()
        app.close()


def two_processes(samples: Samples, sink: Sink, remote: Remote) -> None:
    """What the two workers of the first round did, seen in one scrape."""
    assert total(samples, "conveyor_queue_depth", state="succeeded") == 12 + 6 + 1
    assert total(samples, "conveyor_queue_depth", state="dead") == 5 + 3
    assert samples[("conveyor_dead_jobs", ())] == 8
    assert samples[("conveyor_oldest_job_age_seconds", (("queue", "default"),))] == 0
    jobs = "conveyor_jobs_total"
    finished = total(samples, jobs) - total(samples, jobs, outcome="postponed")
    assert finished == 27  # every job once: no retries here, nothing handed back
    assert total(samples, jobs, task="record_order", outcome="succeeded") == 12
    assert total(samples, jobs, task="always_fails", outcome="dead") == 5
    assert total(samples, jobs, task="conveyor.deliver", outcome="succeeded") == 6
    assert total(samples, jobs, task="conveyor.deliver", outcome="dead") == 3
    assert total(samples, jobs, task="conveyor.sync", outcome="succeeded") == 1
    record_times = "conveyor_job_duration_seconds_count"
    assert total(samples, record_times, queue="default", task="record_order") == 12
    # 9 deliveries at 20/s from 4 slots: some wait; every refusal postponed one attempt.
    refusals = total(samples, "conveyor_rate_limit_wait_seconds_count", connection="sink")
    assert refusals >= 1
    assert refusals == total(samples, jobs, task="conveyor.deliver", outcome="postponed")
    assert total(samples, "conveyor_rate_limit_wait_seconds_sum", connection="sink") > 0
    requests = "conveyor_http_requests_total"
    assert total(samples, requests, connection="sink", status="200") == 6
    assert total(samples, requests, connection="sink", status="422") == 3
    assert len(sink.requests) == 9
    assert total(samples, requests, connection="remote", status="200") == len(remote.paths())
    sent = total(samples, "conveyor_http_request_duration_seconds_count", connection="sink")
    assert sent == 9
    records = "conveyor_sync_records_total"
    assert total(samples, records, source="workflows", change="created") == 3
    assert total(samples, "conveyor_sync_runs_total", source="workflows") == 1


def test_counters_of_this_process_without_a_directory(app: Conveyor) -> None:
    """Without a directory (`conveyor serve` alone) the counters are the serving process's."""

    @app.task
    def noop() -> None: ...

    for _ in range(3):
        noop.enqueue()
    app.run_worker(burst=True)
    with running(app) as base:
        samples, helps = scrape(base)
    assert samples[("conveyor_jobs_total", (("outcome", "succeeded"), ("queue", "default"),
                    ("task", "noop")))] == 3  # fmt: skip
    assert "conveyor_http_requests" in helps  # declared, with its HELP, before any request


def test_metrics_token_is_required_when_set(app: Conveyor) -> None:
    app.metrics.token = "scrape-secret"
    with running(app) as base:
        for header in (None, "Bearer wrong", "Basic scrape-secret", "scrape-secret"):
            request = urllib.request.Request(base + "/metrics")
            if header is not None:
                request.add_header("Authorization", header)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 401
            assert b"metrics token" in refused.value.read()
        samples, _ = scrape(base, token="scrape-secret")
    assert ("conveyor_dead_jobs", ()) in samples
    with running(app) as base:
        readiness = urllib.request.urlopen(base + "/healthz", timeout=10)
        assert readiness.status == 200  # the health checks stay open
