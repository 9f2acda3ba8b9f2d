"""`make demo` runs every example, one after the other; `make demo EXAMPLE=<name>` runs one.

Each example is a folder (`examples/<name>/`) whose `demo.py` has `main(database_url) -> None`:
it starts the example's stand-in of its remote API, runs the integration against it with a
worker, and prints a few lines of what happened. The database is a fresh SQLite file in a
temporary directory unless `--database-url` (or `CONVEYOR_DATABASE_URL`) names one.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

from conveyor.logs import configure_logging

# In the order of the write-ups they come from (../shared/seeds/000 … 004).
EXAMPLES = ("loyalty", "integrations", "pos_erp", "shop_products", "workflows")


def available() -> list[str]:
    here = Path(__file__).parent
    return [name for name in EXAMPLES if (here / name / "demo.py").exists()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples", description=__doc__)
    parser.add_argument("example", nargs="?", help=f"one of: {', '.join(EXAMPLES)}")
    parser.add_argument("--database-url", default=os.environ.get("CONVEYOR_DATABASE_URL"))
    args = parser.parse_args(argv)
    names = available()
    if args.example:
        if args.example not in EXAMPLES:
            print(
                f"error: unknown example {args.example!r}: choose one of {', '.join(EXAMPLES)}",
                file=sys.stderr,
            )
            return 2
        if args.example not in names:
            print(f"error: example {args.example!r} is not written yet", file=sys.stderr)
            return 2
        names = [args.example]
    configure_logging("critical")  # the demos print their own few lines, not JSON job logs
    started = time.monotonic()
    for name in names:
        print(f"\n== examples/{name} ==", flush=True)
        demo = importlib.import_module(f"examples.{name}.demo")
        with tempfile.TemporaryDirectory(prefix=f"conveyor-{name}-") as workdir:
            url = args.database_url or f"sqlite:///{Path(workdir) / 'conveyor.db'}"
            demo.main(url)
    print(f"\n{len(names)} example(s) in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
