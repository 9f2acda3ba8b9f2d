"""A worker process for the shared rate-limit test:
`python rate_runner.py <db url> <sink url> <folder> <rate, e.g. 5/s>`. It declares the connection
"shop" at the sink with that rate limit, tags its requests with its pid, touches
`<folder>/ready-<pid>` once its store is open, and works until SIGTERM."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from conveyor import Conveyor


def main(url: str, sink_url: str, folder: str, rate: str) -> int:
    app = Conveyor(url)
    app.connection("shop", sink_url, rate_limit=rate, headers={"X-Worker-Pid": str(os.getpid())})
    app.store.breakers()  # open the store before reporting ready
    (Path(folder) / f"ready-{os.getpid()}").touch()
    app.run_worker(concurrency=4, middleware=[], grace=5, poll_interval=0.2)
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
