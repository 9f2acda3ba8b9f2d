"""A real browser (Playwright driving Debian's chromium) clicks through the dashboard, served by
uvicorn in a thread here, while a `conveyor worker` in another process runs the jobs: log in, see
a dead job, retry it and watch it succeed live (over SSE, no reload), bulk-retry a filtered set,
pause a connection. On SQLite: the HTTP tests (test_pages.py) cover every page, action and the
live stream on both backends; a browser run costs ~10 s more per backend.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor import Bearer, Conveyor

from ...conftest import ON_CI
from ..conftest import running

SECRET = "sk_live_dashboard_secret_123"  # as in dash_app.py (which needs its env to import)

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api")

HERE = Path(__file__).parent
CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists() and not ON_CI:  # .ci/run installs Debian's; never a download
    pytest.skip(f"no browser at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
WAIT_MS = 15_000


def start(database_url: str, gate: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.update(
        DASH_TEST_DATABASE_URL=database_url,
        DASH_TEST_GATE=str(gate),
        PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "conveyor.cli", "--app", "dash_app:app", *args],
        env=env,
        cwd=HERE,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stderr is not None:
        process.stderr.close()


@pytest.fixture
def dead_jobs(app: Conveyor) -> list[int]:
    """Three dead `charge` jobs and one dead `ship` job, made in this process (the tasks fail
    here whatever the gate says)."""

    @app.task(name="charge", max_attempts=1)
    def charge(payload: dict[str, int]) -> None:
        raise RuntimeError(f"card declined for order {payload['order']}")

    @app.task(name="ship", max_attempts=1)
    def ship(payload: dict[str, int]) -> None:
        raise ValueError("no address")

    ids = [app.enqueue("charge", {"order": n}) for n in range(3)]
    ids.append(app.enqueue("ship", {"order": 9}))
    app.run_worker(burst=True, install_signal_handlers=False)
    assert set(app.ops.states(ids).values()) == {"dead"}
    return ids


@pytest.fixture
def server(app: Conveyor, dead_jobs: list[int]) -> Iterator[str]:
    app.connection("shop", "http://127.0.0.1:9", auth=Bearer(SECRET), check="GET /me")
    with running(app) as base:
        yield base


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_dead_job_retried_in_the_browser_succeeds_live(
    app: Conveyor, dead_jobs: list[int], server: str, database_url: str, tmp_path: Path
) -> None:
    base, gate = server, tmp_path / "gate"
    first, second, third, ship = dead_jobs
    token = app.ops.tokens.create("admin")
    worker = start(database_url, gate, "worker")  # `charge` waits for the gate
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(f"{base}/dashboard/dead")
            assert "/dashboard/login" in page.url  # every page asks for the login first
            page.fill("input[name=token]", token)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/dashboard/dead")
            badge = page.locator(f'[data-job="{first}"]').first
            assert badge.inner_text() == "dead"
            assert "card declined for order 0" in page.content()

            page.click(f'a[href="/dashboard/jobs/{first}"]')
            page.click("button:has-text('Retry')")
            page.wait_for_url(f"**/dashboard/jobs/{first}?note=*")
            assert "retried" in page.locator(".note").inner_text()
            badge = page.locator(f'h1 [data-job="{first}"]')
            assert badge.inner_text() in ("queued", "running")  # waiting for the gate
            page.evaluate("window.stillTheSamePage = true")

            gate.touch()  # from now on `charge` succeeds
            page.wait_for_function(
                f"document.querySelector('h1 [data-job=\"{first}\"]').textContent === 'succeeded'"
            )
            assert page.evaluate("window.stillTheSamePage") is True  # updated in place
            assert "s-succeeded" in (badge.get_attribute("class") or "")

            page.goto(f"{base}/dashboard/jobs?state=dead&task=charge")
            rows = page.locator("tbody [data-job]")
            assert sorted(int(r.get_attribute("data-job") or 0) for r in rows.all()) == [
                second,
                third,
            ]
            page.click("button[value=retry-matching]")
            page.wait_for_url("**/dashboard/jobs?state=dead&task=charge&note=*")
            assert "2 jobs retried" in page.locator(".note").inner_text()
            page.goto(f"{base}/dashboard/jobs?task=charge")
            for job_id in (second, third):
                page.wait_for_function(
                    f"document.querySelector('[data-job=\"{job_id}\"]').textContent === 'succeeded'"
                )
            assert app.ops.states([ship]) == {ship: "dead"}  # not in the filtered set

            page.goto(f"{base}/dashboard/connections")
            page.fill("input[name=reason]", "supplier outage")
            page.click("button:has-text('Pause')")
            page.wait_for_url("**/dashboard/connections?note=*")
            assert page.locator('[data-hold="shop"]').inner_text() == "paused"
            [hold] = app.ops.holds()
            assert hold.name == "shop" and "supplier outage" in hold.reason
        finally:
            browser.close()
            stop(worker)
    assert app.ops.states([first, second, third]) == dict.fromkeys(
        [first, second, third], "succeeded"
    )
