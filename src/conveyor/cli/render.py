"""Output: Rich tables for people, JSON for scripts.

JSON always goes through `emit_json` (plain `print`, no Rich wrapping or highlighting) so it parses.
User data (payloads, errors, tracebacks) is passed to Rich as `Text`, never as markup.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..breaker import BreakerRecord
from ..connections.auth import ApiKey, Auth, Basic, Bearer, OAuth2ClientCredentials
from ..connections.connection import Connection
from ..connections.secrets import Secret
from ..connections.tester import ConnectionCheck
from ..errors import ConveyorError
from ..job import STATES, Job, utc
from ..ratelimit import RateLimit

STATE_STYLES = {
    "waiting": "dim",
    "queued": "cyan",
    "running": "blue",
    "retrying": "yellow",
    "succeeded": "green",
    "dead": "bold red",
    "cancelled": "magenta",
}
# `jobs list --json`: everything but the attempts' tracebacks (`jobs show` has those).
LIST_FIELDS_OMITTED = ("errors",)


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)


def emit_json(value: Any, indent: int | None = None) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, default=str, indent=indent))


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def short_when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%m-%d %H:%M") if value else "-"


def state_text(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


def shorten(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# -- tables that fit the terminal ---------------------------------------------------------------
# Rich fits a table that is too wide by wrapping its cells over several lines, which makes a list
# of jobs unreadable at 80 columns. Here every cell is one line: the columns that may shrink give
# up width in proportion to their slack (cells end in "…"), and when even their narrowest widths
# do not fit, the least useful columns are left out (`jobs show` and `--json` have everything).


@dataclass
class Column:
    """One column of a fitted table. `shrink_to`: the narrowest it may get (None: never
    narrower than its content); `drop`: > 0 may be left out, highest first."""

    header: str | Text
    cells: Sequence[str | Text]
    justify: JustifyMethod = "left"
    shrink_to: int | None = None
    drop: int = 0

    @property
    def natural(self) -> int:
        return max((cell_len(str(cell)) for cell in [self.header, *self.cells]), default=1)

    @property
    def narrowest(self) -> int:
        return self.natural if self.shrink_to is None else min(self.natural, self.shrink_to)


def fitted_table(columns: Sequence[Column], width: int, **options: Any) -> Table:
    """A table of one-line rows, at most `width` cells wide (when its fixed columns allow)."""
    kept = list(columns)
    while True:
        available = width - _overhead(len(kept), options)
        widths = _shrink([c.natural for c in kept], [c.narrowest for c in kept], available)
        droppable = [c for c in kept if c.drop > 0]
        if widths is not None or not droppable:
            break
        kept.remove(max(droppable, key=lambda c: c.drop))
    if widths is None:
        widths = [c.narrowest for c in kept]
    table = Table(**options)
    for column, size in zip(kept, widths, strict=True):
        table.add_column(
            column.header,
            justify=column.justify,
            width=size,
            no_wrap=True,
            overflow="ellipsis",
        )
    for row in range(len(kept[0].cells) if kept else 0):  # every column has one cell per row
        table.add_row(*(column.cells[row] for column in kept))
    return table


def _overhead(count: int, options: Mapping[str, Any]) -> int:
    """What borders and padding add to the cells' widths: measured on a table of 1-wide
    columns with the same options."""
    probe = Table(**options)
    for _ in range(count):
        probe.add_column(width=1)
    out = console()
    return Measurement.get(out, out.options, probe).maximum - count


def _shrink(natural: list[int], narrowest: list[int], available: int) -> list[int] | None:
    """Widths summing to at most `available`, each column giving up width in proportion to
    its slack; None when even the narrowest widths do not fit."""
    excess = sum(natural) - available
    if excess <= 0:
        return natural
    slack = [n - m for n, m in zip(natural, narrowest, strict=True)]
    if sum(slack) < excess:
        return None
    cuts = [excess * s // sum(slack) for s in slack]
    widths = [n - c for n, c in zip(natural, cuts, strict=True)]
    for i in sorted(range(len(widths)), key=lambda i: -(widths[i] - narrowest[i])):
        if sum(widths) <= available:
            break
        if widths[i] > narrowest[i]:
            widths[i] -= 1
    return widths


# -- jobs ---------------------------------------------------------------------------------------


def list_record(job: Job) -> dict[str, Any]:
    record = job.to_dict()
    for name in LIST_FIELDS_OMITTED:
        record.pop(name, None)
    return record


def jobs_table(jobs: Sequence[Job], width: int | None = None) -> Table:
    """One line per job, within the terminal's width: Queue only when the jobs span several
    queues, Key and Last error only when some job has one; long values end in "…", and at
    narrow widths Queue, then Key, then Last error are left out. `jobs show` and `--json`
    have every field."""
    columns = [
        Column("ID", [str(job.id) for job in jobs], justify="right"),
        Column("Task", [Text(job.task) for job in jobs], shrink_to=12),
    ]
    if len({job.queue for job in jobs}) > 1:
        columns.append(Column("Queue", [Text(job.queue) for job in jobs], shrink_to=8, drop=3))
    if any(job.key for job in jobs):
        columns.append(Column("Key", [Text(job.key or "") for job in jobs], shrink_to=10, drop=2))
    columns += [
        Column("State", [state_text(job.state) for job in jobs]),
        Column("Att.", [f"{job.attempts}/{job.max_attempts}" for job in jobs], justify="right"),
        Column("Due/done", [short_when(job.finished_at or job.run_at) for job in jobs]),
    ]
    if any(job.last_error for job in jobs):
        errors = [Text(shorten(job.last_error, 60)) for job in jobs]
        columns.append(Column("Last error", errors, shrink_to=12, drop=1))
    return fitted_table(
        columns,
        width or console().width,
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
        caption="times in UTC",
        caption_justify="right",
    )


def job_detail(job: Job, no_worker: str | None = None, tracebacks: bool = False) -> RenderableType:
    """Every field, then each failed attempt. A failed call to a connection shows what the
    remote answered (status, latency, the response excerpt); its traceback, which only goes
    through Conveyor's own client, only with `tracebacks`. A task's own error keeps its
    traceback, after the summary. `no_worker`: why no live worker can run this queued job
    (`Conveyor.no_worker_reason`)."""
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column(overflow="fold")
    rows: list[tuple[str, str | Text]] = [
        ("ID", str(job.id)),
        ("Task", Text(job.task)),
        ("Queue", Text(job.queue)),
        ("State", _state_detail(job)),
        ("Key", Text(job.key or "-") + (Text(" (leads its key)") if job.leads_key else Text())),
        ("Idempotency key", Text(job.idempotency_key or "-")),
        ("Priority", str(job.priority)),
        ("Attempts", f"{job.attempts} of {job.max_attempts}"),
        ("Created", when(job.created_at)),
        ("Run at", when(job.run_at)),
        *((("Postponed", Text(job.postponed_reason)),) if job.postponed_reason else ()),
        ("Started", when(job.started_at)),
        ("Finished", when(job.finished_at)),
        ("Worker", Text(job.worker_id or "-")),
        ("Lease expires", when(job.lease_expires_at)),
        ("Last error", Text(job.last_error or "-")),
        ("Payload", Text(_pretty(job.payload))),
        ("Result", Text(_pretty(job.result))),
    ]
    if no_worker is not None:
        rows.insert(4, ("Waiting", Text(no_worker, style="yellow")))
    for name, value in rows:
        fields.add_row(name, value)
    parts: list[RenderableType] = [Panel(fields, title=f"Job {job.id} (times in UTC)")]
    for error in job.errors:
        parts.append(_attempt_panel(error, tracebacks))
    if not job.errors:
        parts.append(Text("No failed attempts.", style="dim"))
    return Group(*parts)


def _state_detail(job: Job) -> Text:
    if job.cancel_requested_at is None:
        return state_text(job.state)
    note = f" (cancel requested {when(job.cancel_requested_at)}"
    if job.state == "running":
        note += "; cancelled when its attempt ends"
    return state_text(job.state) + Text(note + ")")


HTTP_DETAIL_KEYS = ("status", "latency_ms", "method", "url", "response")


def _attempt_panel(error: Mapping[str, Any], tracebacks: bool = False) -> Panel:
    at = error.get("at")
    stamp = when(utc(float(at))) if isinstance(at, int | float) else "-"
    heading = f"Attempt {error.get('attempt', '?')} failed at {stamp}"
    lines: list[RenderableType] = [
        Text(f"{error.get('type', 'Error')}: {error.get('message', '')}", style="red")
    ]
    remote = any(key in error for key in HTTP_DETAIL_KEYS)
    if remote:
        lines.extend(_http_lines(error))
    trace = str(error.get("traceback") or "").rstrip()
    if trace and (tracebacks or not remote):
        lines += [Text(""), Text(trace)]
    elif trace:
        lines.append(Text("(traceback hidden: add --traceback to see it)", style="dim"))
    return Panel(Group(*lines), title=heading, title_align="left", border_style="red")


def _http_lines(error: Mapping[str, Any]) -> list[RenderableType]:
    """`HTTP 422 in 12.3 ms: POST https://api.example.com/contacts` and the response excerpt."""
    status = error.get("status")
    latency = error.get("latency_ms")
    request = " ".join(str(error[k]) for k in ("method", "url") if error.get(k))
    text = Text("HTTP ", style="bold")
    text.append(str(status) if status is not None else "no response")
    if isinstance(latency, int | float):
        text.append(f" after {latency:g} ms")
    if request:
        text.append(f": {request}")
    lines: list[RenderableType] = [text]
    response = error.get("response")
    if response:
        lines.append(Text("Response: ", style="bold") + Text(str(response)))
    elif status is not None:
        lines.append(Text("Response: (empty body)", style="dim"))
    return lines


def _pretty(value: Any) -> str:
    if value is None:
        return "-"
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


# -- stats --------------------------------------------------------------------------------------


def stats_document(per_queue: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """{"queues": {queue: {state: n}}, "totals": {state: n}} with states in lifecycle order."""
    queues = {queue: _ordered(counts) for queue, counts in sorted(per_queue.items())}
    totals: dict[str, int] = {}
    for counts in queues.values():
        for state, n in counts.items():
            totals[state] = totals.get(state, 0) + n
    return {"queues": queues, "totals": _ordered(totals)}


def _ordered(counts: Mapping[str, int]) -> dict[str, int]:
    rank = {state: i for i, state in enumerate(STATES)}
    return {s: counts[s] for s in sorted(counts, key=lambda s: (rank.get(s, len(rank)), s))}


def stats_table(document: Mapping[str, Any], width: int | None = None) -> Table:
    """One row per queue, one column per state that any queue has, and a last row of totals
    when there are several queues. Long queue names end in "…" to fit the terminal."""
    queues: Mapping[str, Mapping[str, int]] = document["queues"]
    totals: Mapping[str, int] = document["totals"]
    rows: list[tuple[Text, Mapping[str, int]]] = [(Text(q), c) for q, c in queues.items()]
    if len(queues) > 1:
        rows.append((Text("all queues", style="bold"), totals))
    columns = [Column("Queue", [name for name, _ in rows], shrink_to=6)]
    for state in totals:
        cells = [str(counts.get(state, 0)) for _, counts in rows]
        columns.append(Column(state_text(state), cells, justify="right"))
    columns.append(
        Column("total", [str(sum(counts.values())) for _, counts in rows], justify="right")
    )
    table = fitted_table(
        columns,
        width or console().width,
        title="Jobs per queue and state",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    if len(queues) > 1:
        table.rows[-2].end_section = True  # a rule above the totals
    return table


# -- workers ------------------------------------------------------------------------------------


def workers_view(
    workers: Sequence[Mapping[str, Any]], no_worker: Sequence[Mapping[str, Any]]
) -> RenderableType:
    """The live workers (a table), then one line per task and queue that none of them runs."""
    parts: list[RenderableType] = []
    if workers:
        table = Table(title="Workers", title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("Worker", overflow="fold")
        table.add_column("Queues", overflow="fold")
        table.add_column("Tasks", overflow="fold")
        table.add_column("Last seen (UTC)", no_wrap=True)
        for worker in workers:
            seen = worker["last_seen_at"]
            table.add_row(
                Text(worker["worker_id"]),
                Text(", ".join(worker["queues"]) if worker["queues"] is not None else "all"),
                Text(shorten(", ".join(worker["tasks"]), 40)),
                when(datetime.fromisoformat(seen)) if seen else "-",
            )
        parts.append(table)
    else:
        parts.append(Text("No running workers."))
    for group in no_worker:
        parts.append(
            Text(
                f"No worker for task {group['task']!r} on queue {group['queue']!r}:"
                f" {group['jobs']} queued",
                style="yellow",
            )
        )
    return Group(*parts)


# -- connections and breakers -------------------------------------------------------------------
# Secrets are shown as their `env:NAME` reference or `***`, never resolved. Texts that came back
# from a remote or a failure (check messages, breaker errors) are also scrubbed of every secret
# value the declared connections resolve to, in case something echoed one.

REDACTED = "***"
MIN_REDACTED_LENGTH = 3  # shorter "secrets" would garble every message they appear in
BREAKER_STYLES = {"closed": "green", "half_open": "yellow", "open": "bold red"}


def secret_text(value: Secret | None) -> str | None:
    if value is None:
        return None
    reference = value.reference
    return f"env:{reference}" if reference else REDACTED


def safe_url(url: str) -> str:
    """The URL with any password in it and its query string masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{REDACTED}@{host}" if ":" in userinfo else f"{REDACTED}@{host}"
    query = REDACTED if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def connection_secrets(connection: Connection) -> list[Secret]:
    auth = connection.auth
    found = [connection.signing_secret]
    if isinstance(auth, Bearer):
        found.append(auth.token)
    elif isinstance(auth, Basic):
        found.append(auth.password)
    elif isinstance(auth, ApiKey):
        found.append(auth.key)
    elif isinstance(auth, OAuth2ClientCredentials):
        found.append(auth.client_secret)
    return [value for value in found if value is not None]


def missing_env(connection: Connection) -> list[str]:
    """The environment variables this connection's secrets need that are not set."""
    names = (value.reference for value in connection_secrets(connection))
    return sorted({name for name in names if name and not os.environ.get(name)})


class Redactor:
    """Replaces every resolved secret value of some connections (and the forms they take in
    headers) by `***` in a text."""

    def __init__(self, connections: Iterable[Connection]) -> None:
        values: set[str] = set()
        for connection in connections:
            values.update(_secret_values(connection))
        self.values = sorted(
            (v for v in values if len(v) >= MIN_REDACTED_LENGTH), key=len, reverse=True
        )

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        for value in self.values:
            text = text.replace(value, REDACTED)
        return text


def _secret_values(connection: Connection) -> list[str]:
    values = []
    for value in connection_secrets(connection):
        try:
            values.append(value.reveal())
        except ConveyorError:  # an unset environment variable: nothing to leak
            continue
    auth = connection.auth
    if isinstance(auth, Basic) and values:
        try:
            raw = f"{auth.username}:{auth.password.reveal()}".encode()
            values.append(base64.b64encode(raw).decode())
        except ConveyorError:
            pass
    if isinstance(auth, OAuth2ClientCredentials):
        token = auth.current_token()
        if token:
            values.append(token)
    password = urlsplit(connection.base_url).password
    if password:
        values.append(password)
    return values


def auth_record(auth: Auth | None) -> dict[str, Any] | None:
    if auth is None:
        return None
    if isinstance(auth, Bearer):
        return {"type": "bearer", "token": secret_text(auth.token)}
    if isinstance(auth, Basic):
        return {"type": "basic", "username": auth.username, "password": secret_text(auth.password)}
    if isinstance(auth, ApiKey):
        return {"type": "api_key", "header": auth.header, "key": secret_text(auth.key)}
    if isinstance(auth, OAuth2ClientCredentials):
        return {
            "type": "oauth2",
            "token_url": safe_url(auth.token_url),
            "client_id": auth.client_id,
            "client_secret": secret_text(auth.client_secret),
            "scope": auth.scope,
            "audience": auth.audience,
        }
    return {"type": type(auth).__name__}  # a custom kind: its attributes may be secrets


def rate_text(limit: RateLimit) -> str:
    """'5/s', '300/min' or '1000/h': the first unit that gives a whole count."""
    for unit, seconds in (("s", 1.0), ("min", 60.0), ("h", 3600.0)):
        count = limit.rate * seconds
        if count >= 1 and abs(count - round(count)) < 1e-6 * count:
            return f"{round(count)}/{unit}"
    return f"{limit.rate:.3g}/s"


def seconds_text(value: float) -> str:
    for unit, size in (("h", 3600.0), ("m", 60.0)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


def iso_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def breaker_state(record: BreakerRecord, redact: Redactor | None = None) -> dict[str, Any]:
    error = redact(record.last_error) if redact else record.last_error
    return {
        "name": record.name,
        "state": record.state,
        "failures": record.failures,
        "open_until": iso_time(record.open_until),
        "last_error": error,
    }


def connection_record(
    connection: Connection, record: BreakerRecord | None, redact: Redactor
) -> dict[str, Any]:
    """What `connections list` shows of one connection: no secret values, only references."""
    limit = connection.rate_limit
    settings = connection.breaker
    state: dict[str, Any] | None = None
    if record is not None:
        state = breaker_state(record, redact)
        del state["name"]
    elif settings is not None:
        state = {"state": "closed", "failures": 0, "open_until": None, "last_error": None}
    return {
        "name": connection.name,
        "base_url": safe_url(connection.base_url),
        "auth": auth_record(connection.auth),
        "rate_limit": None
        if limit is None
        else {"spec": rate_text(limit), "per_second": limit.rate, "burst": limit.burst},
        "breaker": None
        if settings is None
        else {
            "failures": settings.failures,
            "cool_off": settings.cool_off,
            "max_cool_off": settings.max_cool_off,
        },
        "breaker_state": state,
        "timeouts": {"connect": connection.timeouts.connect, "read": connection.timeouts.read},
        "headers": sorted(connection.headers),
        "signing_secret": secret_text(connection.signing_secret),
        "check": connection.check,
        "identity": connection.identity,
        "missing_env": missing_env(connection),
    }


def auth_text(auth: Mapping[str, Any] | None) -> Text:
    if auth is None:
        return Text("none", style="dim")
    kind = auth["type"]
    parts: list[str] = [kind]
    if kind == "bearer":
        parts.append(auth["token"])
    elif kind == "basic":
        parts.append(f"{auth['username']} / {auth['password']}")
    elif kind == "api_key":
        parts.append(f"{auth['header']}: {auth['key']}")
    elif kind == "oauth2":
        parts.append(f"{auth['client_id']} / {auth['client_secret']}")
    return Text(" ".join(parts))


def missing_env_text(records: Sequence[Mapping[str, Any]]) -> Text | None:
    """`Not set here: SHOP_TOKEN (shop), ...`: the secrets a check or a job would fail on."""
    missing = [f"{name} ({r['name']})" for r in records for name in r["missing_env"]]
    if not missing:
        return None
    return Text(f"Not set in this environment: {', '.join(missing)}", style="yellow")


def state_cell(state: Mapping[str, Any] | None) -> Text:
    if state is None:
        return Text("-", style="dim")
    name = state["state"]
    text = Text(name, style=BREAKER_STYLES.get(name, ""))
    if name == "open" and state["open_until"]:
        until = datetime.fromisoformat(state["open_until"])
        text.append(f" until {until.astimezone(UTC).strftime('%H:%M:%S')}")
    if state["failures"]:
        noun = "failure" if state["failures"] == 1 else "failures"
        text.append(f" ({state['failures']} {noun})")
    return text


def connections_table(records: Sequence[Mapping[str, Any]], width: int | None = None) -> Table:
    """One line per connection, within the terminal's width: long values end in "…", and at
    narrow widths the breaker's settings, then Last error, then Auth are left out (`--json`
    has them all). Times in UTC."""
    columns = [
        Column("Name", [Text(r["name"]) for r in records], shrink_to=8),
        Column("Base URL", [Text(r["base_url"]) for r in records], shrink_to=16),
        Column("Auth", [auth_text(r["auth"]) for r in records], shrink_to=10, drop=1),
        Column("Rate limit", [_rate_cell(r["rate_limit"]) for r in records]),
        Column("Breaker", [_breaker_cell(r["breaker"]) for r in records], drop=3),
        Column("State", [state_cell(r["breaker_state"]) for r in records], shrink_to=20),
    ]
    errors = [(r["breaker_state"] or {}).get("last_error") for r in records]
    if any(errors):
        cells = [Text(shorten(error, 60)) for error in errors]
        columns.append(Column("Last error", cells, shrink_to=12, drop=2))
    return fitted_table(
        columns,
        width or console().width,
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )


def _rate_cell(limit: Mapping[str, Any] | None) -> str:
    return "-" if limit is None else f"{limit['spec']}, burst {limit['burst']}"


def _breaker_cell(settings: Mapping[str, Any] | None) -> str:
    if settings is None:
        return "off"
    cool_off = f"{seconds_text(settings['cool_off'])}→{seconds_text(settings['max_cool_off'])}"
    return f"{settings['failures']} failures, {cool_off}"


def breakers_table(states: Sequence[Mapping[str, Any]], width: int | None = None) -> Table:
    def until(state: Mapping[str, Any]) -> str:
        value = state["open_until"]
        return short_when(datetime.fromisoformat(value)) if value else "-"

    columns = [
        Column("Connection", [Text(s["name"]) for s in states], shrink_to=10),
        Column(
            "State",
            [Text(s["state"], style=BREAKER_STYLES.get(s["state"], "")) for s in states],
        ),
        Column("Failures", [str(s["failures"]) for s in states], justify="right"),
        Column("Until (UTC)", [until(s) for s in states]),
        Column("Last error", [Text(shorten(s["last_error"], 60)) for s in states], shrink_to=12),
    ]
    return fitted_table(
        columns,
        width or console().width,
        title="Circuit breakers",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )


def check_record(check: ConnectionCheck, redact: Redactor) -> dict[str, Any]:
    record = check.to_dict()
    record["message"] = redact(check.message)
    record["identity"] = redact(check.identity)
    return record


def check_text(record: Mapping[str, Any]) -> Text:
    """One line: `shop: ok, HTTP 200 in 12.3 ms, identity ACME` or `shop: failed, <why>`."""
    text = Text(f"{record['name']}: ")
    latency = record["latency_ms"]
    took = f"{latency:g} ms" if latency is not None else None
    if record["ok"]:
        text.append("ok", style="bold green")
        text.append(f", HTTP {record['status']}" + (f" in {took}" if took else ""))
        if record["identity"] is not None:
            text.append(f", identity {record['identity']}")
        return text
    text.append("failed", style="bold red")
    text.append(f", {record['message']}")
    if record["status"] is not None:
        text.append(f" (HTTP {record['status']}" + (f" in {took})" if took else ")"))
    elif took:
        text.append(f" (after {took})")
    return text
