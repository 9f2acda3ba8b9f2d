"""The application the operations benchmark serves (`conveyor --app bench.ops_app:app serve`):
the filled store's tasks declared (so the listings show tasks a worker would run) and one
schedule, beside the core benchmark's `noop` the workers run."""

from __future__ import annotations

from bench.conveyor_app import app
from bench.ops_fill import TASKS, task_name


def _declare(name: str) -> None:
    @app.task(name=name)
    def filled(payload: dict[str, int]) -> None:
        """A task of the filled store (never run by the benchmark)."""


for _i in range(TASKS):
    _declare(task_name(_i))

app.schedule("bench-digest", "0 10 * * MON", task_name(0), payload={})

__all__ = ["app"]
