"""What every command shares: the application to act on, and how failures reach the user.

Exit status: 0 done; 1 a bulk action (retry/cancel/delete) that could not act on every id it
was given, or a connection check that failed; 2 bad input or configuration (unknown task, invalid
payload, bad duration, bad --app or --config, unknown connection, unreachable database, unknown job
id for `jobs show`, an unknown option or a bad option value, an --app module that fails to import)
or a database error. Failures that we expect print one line on stderr, never a traceback or a box.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:  # type-checked against the Typer installed, whatever else is
    from typer._click.exceptions import ClickException
else:
    try:
        from typer._click.exceptions import ClickException  # recent Typer vendors Click
    except ImportError:  # pragma: no cover - older Typer, on top of Click
        from click.exceptions import ClickException

from ..alerts.config import apply_alerts
from ..app import Conveyor
from ..connections.config import apply_config
from ..durations import parse_duration
from ..errors import ConveyorError, StoreError
from ..inbound.config import apply_webhooks
from ..job import STATES
from ..schedule.config import apply_schedules
from ..sync.config import apply_sources

USAGE_ERROR = 2
PARTIAL_FAILURE = 1


class CliError(Exception):
    """Bad input found by the CLI itself (as opposed to one Conveyor reports)."""


def fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    typer.echo(f"Error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def one_line(message: str) -> str:
    return " ".join(message.split())


class ConveyorGroup(TyperGroup):
    """The root command group: turns expected errors of any sub-command into one line."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (ConveyorError, CliError) as error:
            fail(describe(error))

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's usage errors (a bad option value, an unknown option, a missing argument) as
        one `Error: ...` line and exit 2, like every other bad input: Typer would draw a box
        of several lines."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except ClickException as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # the help is the message
                if error.format_message().strip():
                    error.show()
            else:
                typer.echo(f"Error: {usage_line(error)}", err=True)
            sys.exit(error.exit_code)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def usage_line(error: ClickException) -> str:
    """`Invalid value for '--concurrency': ... (see 'conveyor worker --help')`."""
    message = one_line(error.format_message())
    ctx = getattr(error, "ctx", None)
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        message += f" (see '{ctx.command_path} {ctx.help_option_names[0]}')"
    return message


def describe(error: Exception) -> str:
    message = str(error) or type(error).__name__
    missing_table = "no such table" in message or "does not exist" in message
    hinted = "migrate" in message
    if isinstance(error, StoreError) and "conveyor_" in message and missing_table and not hinted:
        message += " (has `conveyor migrate` been run on this database?)"
    return message


def quiet_driver_logs() -> None:
    """psycopg's pool logs each failed connection attempt (several lines, to stderr, through the
    logging module's last-resort handler); the error we raise already says what failed."""
    pool_logger = logging.getLogger("psycopg.pool")
    if not any(isinstance(h, logging.NullHandler) for h in pool_logger.handlers):
        pool_logger.addHandler(logging.NullHandler())


@dataclass
class Session:
    """The `--app` / `--database-url` / `--config` choice; the application is loaded on first
    use, then the config file's connections are declared on it."""

    app_path: str | None
    database_url: str | None
    config_path: str | None = None
    _app: Conveyor | None = field(default=None, repr=False)

    @property
    def app(self) -> Conveyor:
        if self._app is None:
            app = load_app(self.app_path) if self.app_path else Conveyor(self.database_url)
            if self.database_url:
                app.use_database(self.database_url)
            if self.config_path:
                apply_config(app, self.config_path)
                apply_webhooks(app, self.config_path)
                apply_sources(app, self.config_path)
                apply_schedules(app, self.config_path)
                apply_alerts(app, self.config_path)
            self._app = app
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None


def session(ctx: typer.Context) -> Session:
    obj = ctx.find_object(Session)
    if obj is None:  # a sub-command invoked without the root callback (not through `conveyor`)
        obj = Session(None, None)
        ctx.obj = obj
        ctx.call_on_close(obj.close)
    return obj


def load_app(path: str) -> Conveyor:
    """Import `module:attribute` (dots allowed in both) from the working directory, like uvicorn.

    A module that fails to import (a syntax error, a missing dependency, an exception raised at
    import time) is one line naming the module, the error and where it happened: the operator
    needs to know which file to fix, and a traceback through importlib tells them no more.
    """
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise CliError(
            f"--app must look like module:attribute (e.g. myproject.jobs:app), not {path!r}"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        if isinstance(error, ModuleNotFoundError) and _is_module_or_parent(error.name, module_name):
            raise CliError(
                f"--app {path}: cannot import module {module_name!r} ({error})"
            ) from None
        raise CliError(
            f"--app {path}: cannot import module {module_name!r}: {_import_failure(error)}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise CliError(
                f"--app {path}: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    if not isinstance(target, Conveyor):
        raise CliError(
            f"--app {path}: {attribute!r} is a {type(target).__name__}, not a Conveyor application"
        )
    return target


def _import_failure(error: Exception) -> str:
    """`ZeroDivisionError: division by zero (at myapp/jobs.py:12)`: the error, and the innermost
    frame it was raised from (a SyntaxError's message already names its file and line)."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, SyntaxError):
        return text
    frames = traceback.extract_tb(error.__traceback__)
    user = [f for f in frames if "importlib" not in f.filename and "<frozen" not in f.filename]
    if user:
        text += f" (at {os.path.relpath(user[-1].filename)}:{user[-1].lineno})"
    return text


def _is_module_or_parent(missing: str | None, module_name: str) -> bool:
    if missing is None:
        return False
    return module_name == missing or module_name.startswith(f"{missing}.")


# -- parsing helpers shared by the commands -----------------------------------------------------


def duration(value: str, option: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as error:
        raise CliError(f"{option}: {error}") from None


def optional_duration(value: str | None, option: str) -> float | None:
    return None if value is None else duration(value, option)


def json_argument(text: str, what: str = "payload") -> Any:
    if text == "-":
        text = sys.stdin.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(
            f"invalid JSON {what}: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None


def state_name(value: str | None) -> str | None:
    if value is not None and value not in STATES:
        raise CliError(f"unknown state {value!r} (choose from {', '.join(STATES)})")
    return value


def queue_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    queues = [name.strip() for name in value.split(",") if name.strip()]
    if not queues:
        raise CliError("--queues needs at least one queue name (e.g. --queues default,emails)")
    return queues
