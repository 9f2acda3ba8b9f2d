"""The `conveyor` command line (Typer + Rich): a thin layer over the `Conveyor` object.

It parses, calls the application, and renders: tables for people, `--json` for scripts. Exit
status: 0 done, 1 a bulk action that could not act on every id, 2 bad input or configuration.
"""

from __future__ import annotations

from .commands import cli


def main() -> None:
    """Entry point of the `conveyor` executable."""
    cli(prog_name="conveyor")


__all__ = ["cli", "main"]
