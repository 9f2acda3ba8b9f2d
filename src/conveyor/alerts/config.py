"""Alert channels declared in `conveyor.toml`, one `[[alerts]]` entry per channel:

    [[alerts]]
    kind = "email"
    smtp = "smtp://mail.example.com:25"   # smtps:// for TLS; user:password@ in the URL if needed
    from = "conveyor@example.com"
    to = ["ops@example.com", "shop-manager@example.com"]   # or one address as a string

    [[alerts]]
    kind = "webhook"
    url = "https://hooks.slack.com/services/..."
    kinds = ["breaker_opened", "digest"]   # only these alerts (leave it out: every alert)

    [alerting]   # what raises alerts besides the events (a table: [[alerts]] is taken)
    dead_letter_threshold = { count = 50, window = "15m" }   # more than 50 dead in 15 min

Checked like the other sections: every mistake named at once, with the file and the entry
(`conveyor.toml: alerts[1].url: ...`), then every channel added, or none on any mistake.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..connections.tables import Table, kind
from ..errors import ConfigurationError
from .channels import Channel, EmailChannel, WebhookChannel
from .core import alert_kinds
from .registry import AlertRegistry

KINDS = ("email", "webhook")
EMAIL_KEYS = ("kind", "smtp", "from", "to", "kinds")
WEBHOOK_KEYS = ("kind", "url", "kinds")
ALERTING_KEYS = ("dead_letter_threshold",)
THRESHOLD_KEYS = ("count", "window")


class HasAlerts(Protocol):
    @property
    def alerts(self) -> AlertRegistry: ...


class _Entry(Table):
    """One `[[alerts]]` entry: its errors say `alerts[N].key`."""

    def __init__(self, source: str, index: int, data: dict[str, Any], mistakes: list[str]) -> None:
        super().__init__(source, (), data, mistakes)
        self.index = index

    def error(self, key: str | None, message: str) -> ConfigurationError:
        where = f"alerts[{self.index}]" + (f".{key}" if key else "")
        return ConfigurationError(f"{self.source}: {where}: {' '.join(message.split())}")


@dataclass(frozen=True)
class AlertsConfig:
    """A config file's alerting, checked: its channels and its dead-letter threshold."""

    channels: list[Channel]
    dead_letters: tuple[int, float] | None = None  # (more than N, within s)


def apply_alerts(app: HasAlerts, path: str | os.PathLike[str]) -> list[Channel]:
    """Add a config file's alert channels (and dead-letter threshold) to `app.alerts`: all of
    them, or none on any mistake. A threshold set in Python too is refused: one place only."""
    config = read_alerts(path)
    if config.dead_letters is not None and app.alerts.dead_letters is not None:
        raise ConfigurationError(
            f"{os.fspath(path)}: alerting.dead_letter_threshold: the threshold is already set in "
            "Python (app.alerts.dead_letter_threshold); set it in one place only"
        )
    if config.dead_letters is not None:
        app.alerts.dead_letter_threshold(*config.dead_letters)
    added: list[Channel] = []
    for channel in config.channels:
        if isinstance(channel, EmailChannel):
            to = list(channel.to)
            added.append(app.alerts.email(channel.smtp, channel.sender, to, channel.kinds))
        elif isinstance(channel, WebhookChannel):
            added.append(app.alerts.webhook(channel.url, channel.kinds))
    return added


def read_alerts(path: str | os.PathLike[str]) -> AlertsConfig:
    """The checked `[[alerts]]` channels and `[alerting]` settings of a config file."""
    source = os.fspath(path)
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"{source}: cannot read the config file ({error})") from None
    mistakes: list[str] = []
    root = Table(source, (), document, mistakes)
    dead_letters = _alerting(root)
    entries = document.get("alerts")
    if entries is not None and not isinstance(entries, list):
        hint = (
            " (the dead-letter threshold goes in [alerting])" if isinstance(entries, dict) else ""
        )
        mistakes.append(
            f"{source}: alerts: expected [[alerts]] entries (an array of tables), "
            f"got {kind(entries)}{hint}"
        )
    channels: list[Channel] = []
    for index, data in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(data, dict):
            mistakes.append(f"{source}: alerts[{index}]: expected a table, got {kind(data)}")
            continue
        channel = _channel(_Entry(source, index, data, mistakes))
        if channel is not None:
            channels.append(channel)
    if mistakes:
        raise ConfigurationError("; ".join(mistakes))
    return AlertsConfig(channels, dead_letters)


def _alerting(root: Table) -> tuple[int, float] | None:
    """`[alerting]`: `dead_letter_threshold = { count = N, window = "15m" }`, checked."""
    alerting = root.guard(lambda: root.table("alerting"))
    if alerting is None:
        return None
    threshold = alerting.guard(
        lambda: alerting.table(
            "dead_letter_threshold", expected='a table like { count = 50, window = "15m" }'
        )
    )
    alerting.finish("[alerting] keys", ALERTING_KEYS)
    if threshold is None:
        return None
    before = len(threshold.mistakes)
    count = threshold.guard(lambda: threshold.integer("count", minimum=1))
    window = threshold.guard(lambda: threshold.seconds("window", positive=True))
    missing = {"count": "more than how many dead jobs", "window": "within how long, like '15m'"}
    for key, what in missing.items():
        if key not in threshold.data:
            threshold.mistakes.append(
                str(threshold.error(key, f"required key is missing ({what})"))
            )
    threshold.finish("dead-letter threshold keys", THRESHOLD_KEYS)
    if len(threshold.mistakes) > before or count is None or window is None:
        return None
    return count, window


def _channel(entry: _Entry) -> Channel | None:
    before = len(entry.mistakes)
    what = entry.guard(lambda: entry.string("kind", required=True, plain=True))
    if what is not None and what not in KINDS:
        entry.mistakes.append(
            str(entry.error("kind", f"unknown alert kind {what!r} (email or webhook)"))
        )
        return None
    if what == "webhook":
        url = entry.guard(lambda: entry.url("url", required=True))
        kinds = entry.guard(lambda: _kinds(entry))
        entry.finish("webhook alert keys", WEBHOOK_KEYS)
        return _built(entry, before, lambda: WebhookChannel(str(url), kinds=kinds))
    if what == "email":
        smtp = entry.guard(lambda: entry.string("smtp", required=True, plain=True))
        sender = entry.guard(lambda: entry.string("from", required=True, plain=True))
        to = entry.guard(lambda: _addresses(entry))
        kinds = entry.guard(lambda: _kinds(entry))
        entry.finish("e-mail alert keys", EMAIL_KEYS)
        return _built(
            entry,
            before,
            lambda: EmailChannel(str(smtp), str(sender), tuple(to or ()), kinds=kinds),
        )
    return None


def _built(entry: _Entry, before: int, build: Any) -> Channel | None:
    if len(entry.mistakes) > before:
        return None
    channel: Channel | None = entry.guard(lambda: entry.convert(None, build))
    return channel


def _kinds(entry: _Entry) -> frozenset[str] | None:
    """`kinds = ["breaker_opened", "digest"]`: the alerts this channel receives."""
    value = entry.take("kinds")
    return None if value is None else entry.convert("kinds", lambda: alert_kinds(value))


def _addresses(entry: _Entry) -> list[str]:
    value = entry.take("to")
    if value is None:
        raise entry.error("to", "required key is missing (an address, or a list of them)")
    addresses = [value] if isinstance(value, str) else value
    if not isinstance(addresses, list) or not addresses:
        raise entry.error("to", f"expected an address or a list of them, got {kind(value)}")
    for address in addresses:
        if not isinstance(address, str) or "@" not in address:
            raise entry.error("to", f"not an e-mail address: {address!r}")
    return addresses
