"""One scheduler process for the exactly-once test: ticks every 20 ms on a clock the test moves
(the epoch seconds in the file CLOCK), until the file STOP exists."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from conveyor import Conveyor
from conveyor.schedule.scheduler import Scheduler


def main(url: str, clock_file: str, stop_file: str) -> None:
    app = Conveyor(url)

    @app.task(name="report")
    def report(payload: object = None) -> None: ...

    app.schedule("minutely", "* * * * *", "report")
    clock = Path(clock_file)
    scheduler = Scheduler(
        app.schedules, lambda: app.store, app.tasks.enqueue, lambda: float(clock.read_text())
    )
    while not Path(stop_file).exists():
        scheduler.tick()
        time.sleep(0.02)
    app.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
