"""`--metrics-dir` on the command line: a directory that cannot be one is refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import error_line, invoke


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_a_metrics_dir_that_is_a_file_is_refused(tmp_path: Path, command: str) -> None:
    database_url = f"sqlite:///{tmp_path / 'c.db'}"  # refused before the store is used
    taken = tmp_path / "not-a-directory"
    taken.write_text("")
    result = invoke(database_url, command, "--metrics-dir", str(taken), app="tests.cli_app:app")
    line = error_line(result)
    assert "metrics directory" in line and "not-a-directory" in line


def test_a_metrics_dir_from_the_environment_is_checked_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = tmp_path / "not-a-directory"
    taken.write_text("")
    monkeypatch.setenv("CONVEYOR_METRICS_DIR", str(taken))
    database_url = f"sqlite:///{tmp_path / 'c.db'}"
    line = error_line(invoke(database_url, "worker", "--burst", app="tests.cli_app:app"))
    assert "metrics directory" in line
