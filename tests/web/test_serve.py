"""`conveyor serve` as a user runs it: a subprocess with uvicorn and a worker in one process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor import Conveyor
from tests.inbound.test_verify import SECRET

from .test_hooks import post, sign

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def conveyor(
    database_url: str, *args: str, extra_env: dict[str, str] | None = None, **popen: object
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.update(extra_env or {})
    env.update(
        SERVE_TEST_DATABASE_URL=database_url,
        SERVE_TEST_SECRET=SECRET,
        PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "conveyor.cli", "--app", "serve_app:app", *args],
        env=env,
        cwd=HERE,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,  # type: ignore[arg-type]
    )


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    process = conveyor(database_url, "serve", "--port", str(port), "--log-level", "warning")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, process.communicate()[1]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "conveyor serve did not listen"
            time.sleep(0.05)
    try:
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_serve_stores_runs_and_stops_on_sigterm(
    served: tuple[subprocess.Popen[str], str], app: Conveyor
) -> None:
    process, url = served
    body = json.dumps({"orders": [{"id": 1}, {"id": 2}]}).encode()
    status, answer = post(f"{url}/hooks/orders", body, sign(body, "evt_serve"))
    assert status == 202 and len(answer["jobs"]) == 2
    deadline = time.monotonic() + 20
    while {app.get_job(i).state for i in answer["jobs"]} != {"succeeded"}:
        assert time.monotonic() < deadline, [app.get_job(i) for i in answer["jobs"]]
        time.sleep(0.05)
    assert sorted(app.get_job(i).result["seen"] for i in answer["jobs"]) == [
        '{"id": 1}',
        '{"id": 2}',
    ]
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert app.workers() == []  # the worker unregistered: a clean stop


def test_serve_on_a_port_in_use_is_one_line_exit_2(database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = conveyor(database_url, "serve", "--port", str(port), "--no-worker")
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert (
        stderr.strip().startswith("Error: cannot listen on 127.0.0.1:")
        and len(stderr.strip().splitlines()) == 1
    )


def test_without_the_web_extra_conveyor_imports_and_serve_says_how_to_install_it(
    database_url: str, tmp_path: Path
) -> None:
    """A `fastapi` that cannot be imported stands in for the extra not being installed."""
    (tmp_path / "fastapi").mkdir()
    (tmp_path / "fastapi" / "__init__.py").write_text("raise ImportError('no', name='fastapi')")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.update(
        SERVE_TEST_DATABASE_URL=database_url,
        SERVE_TEST_SECRET=SECRET,
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(HERE), *sys.path]),
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], env=env, cwd=HERE, capture_output=True, text=True, timeout=30
        )

    imported = run("-c", "import serve_app, conveyor.cli; print(len(serve_app.app.webhooks))")
    assert (imported.returncode, imported.stdout.strip()) == (0, "1"), imported.stderr
    result = run("-m", "conveyor.cli", "--app", "serve_app:app", "serve")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Error: conveyor serve needs the web extra (fastapi is missing): "
        "pip install 'conveyor[web]'"
    )


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--counts-max-age", "-1"], {}, "--counts-max-age"),
        ([], {"CONVEYOR_COUNTS_MAX_AGE": "soon"}, "CONVEYOR_COUNTS_MAX_AGE"),
    ],
)
def test_a_bad_counts_max_age_is_refused_in_one_line(
    database_url: str, args: list[str], env: dict[str, str], says: str
) -> None:
    process = conveyor(database_url, "serve", "--no-worker", *args, extra_env=env)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2, stderr
    assert says in stderr and len(stderr.strip().splitlines()) == 1, stderr
