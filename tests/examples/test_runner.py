"""`make demo` is `python -m examples [NAME]`: one example by name, a bad name in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return subprocess.run(
        [sys.executable, "-m", "examples", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_unknown_example_is_one_line_and_exit_2() -> None:
    result = run("nope")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown example 'nope': choose one of loyalty, integrations, pos_erp,"
        " shop_products, workflows"
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["loyalty", "integrations", "pos_erp", "shop_products", "workflows"]
)
def test_each_example_runs_and_points_at_the_dashboard(name: str) -> None:
    """Every `make demo` example to its end: a demo's own lines (its /metrics scrape, say) are
    covered by no other test."""
    result = run(name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"== examples/{name} ==" in result.stdout
    assert f"conveyor --app examples.{name}.integration:app serve" in result.stdout
    assert "Traceback" not in result.stderr
