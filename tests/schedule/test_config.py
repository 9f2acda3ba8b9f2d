"""`[schedules.NAME]` in conveyor.toml: declared all or none, mistakes named with their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.errors import ConfigurationError
from conveyor.schedule.config import apply_schedules


@pytest.fixture
def app(tmp_path: Path) -> Conveyor:
    application = Conveyor(f"sqlite:///{tmp_path / 'c.db'}")

    @application.task(name="send_report")
    def send_report(payload: dict[str, str]) -> None: ...

    return application


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conveyor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_schedules_from_the_file(app: Conveyor, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[schedules.report]
cron = "0 10 * * MON"
task = "send_report"
tz = "Europe/Amsterdam"
catch_up = "all"
payload = { team = "ops" }
queue = "reports"

[schedules."conveyor.prune"]
cron = "0 4 2 * *"

[schedules."conveyor.idempotency"]
enabled = false
""",
    )
    apply_schedules(app, path)
    report = app.schedules.get("report")
    assert (report.cron, report.tz, report.catch_up, report.payload) == (
        "0 10 * * MON",
        "Europe/Amsterdam",
        "all",
        {"team": "ops"},
    )
    assert report.options == {"queue": "reports"}
    assert app.schedules.get("conveyor.prune").cron == "0 4 2 * *"
    assert "conveyor.idempotency" not in [s.name for s in app.schedules]


def test_mistakes_are_named_and_nothing_is_declared(app: Conveyor, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[schedules.good]
cron = "0 * * * *"
task = "send_report"

[schedules.bad]
task = "send_report"
colour = "red"
""",
    )
    with pytest.raises(ConfigurationError) as caught:
        apply_schedules(app, path)
    message = str(caught.value)
    assert "cron" in message and "colour" in message and "\n" not in message
    assert "good" not in app.schedules
    path = write(tmp_path, '[schedules.x]\ncron = "61 * * * *"\ntask = "send_report"\n')
    with pytest.raises(ConfigurationError, match="bad cron expression"):
        apply_schedules(app, path)
    assert "x" not in app.schedules
