"""Alert channels declared in `conveyor.toml`, one `[[alerts]]` entry per channel:

    [[alerts]]
    kind = "email"
    smtp = "smtp://mail.example.com:25"   # smtps:// for TLS; user:password@ in the URL if needed
    from = "conveyor@example.com"
    to = ["ops@example.com", "shop-manager@example.com"]   # or one address as a string

    [[alerts]]
    kind = "webhook"
    url = "https://hooks.slack.com/services/..."

Checked like the other sections: every mistake named at once, with the file and the entry
(`conveyor.toml: alerts[1].url: ...`), then every channel added, or none on any mistake.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Protocol

from ..connections.tables import Table, kind
from ..errors import ConfigurationError
from .channels import Channel, EmailChannel, WebhookChannel
from .registry import AlertRegistry

KINDS = ("email", "webhook")
EMAIL_KEYS = ("kind", "smtp", "from", "to")
WEBHOOK_KEYS = ("kind", "url")


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


def apply_alerts(app: HasAlerts, path: str | os.PathLike[str]) -> list[Channel]:
    """Add a config file's alert channels to `app.alerts`: all of them, or none on any mistake."""
    channels = read_alerts(path)
    added: list[Channel] = []
    for channel in channels:
        if isinstance(channel, EmailChannel):
            added.append(app.alerts.email(channel.smtp, channel.sender, list(channel.to)))
        elif isinstance(channel, WebhookChannel):
            added.append(app.alerts.webhook(channel.url))
    return added


def read_alerts(path: str | os.PathLike[str]) -> list[Channel]:
    """The checked channels of a config file's `[[alerts]]` entries (none: an empty list)."""
    source = os.fspath(path)
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"{source}: cannot read the config file ({error})") from None
    entries = document.get("alerts")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ConfigurationError(
            f"{source}: alerts: expected [[alerts]] entries (an array of tables), "
            f"got {kind(entries)}"
        )
    mistakes: list[str] = []
    channels: list[Channel] = []
    for index, data in enumerate(entries):
        if not isinstance(data, dict):
            mistakes.append(f"{source}: alerts[{index}]: expected a table, got {kind(data)}")
            continue
        channel = _channel(_Entry(source, index, data, mistakes))
        if channel is not None:
            channels.append(channel)
    if mistakes:
        raise ConfigurationError("; ".join(mistakes))
    return channels


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
        entry.finish("webhook alert keys", WEBHOOK_KEYS)
        return _built(entry, before, lambda: WebhookChannel(str(url)))
    if what == "email":
        smtp = entry.guard(lambda: entry.string("smtp", required=True, plain=True))
        sender = entry.guard(lambda: entry.string("from", required=True, plain=True))
        to = entry.guard(lambda: _addresses(entry))
        entry.finish("e-mail alert keys", EMAIL_KEYS)
        return _built(entry, before, lambda: EmailChannel(str(smtp), str(sender), tuple(to or ())))
    return None


def _built(entry: _Entry, before: int, build: Any) -> Channel | None:
    if len(entry.mistakes) > before:
        return None
    channel: Channel | None = entry.guard(lambda: entry.convert(None, build))
    return channel


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
