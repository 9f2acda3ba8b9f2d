"""Where alerts go: SMTP e-mail and a webhook (Slack-compatible JSON `{"text": ...}`)."""

from __future__ import annotations

import json
import smtplib
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from .core import Alert

TIMEOUT = 10.0


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kinds(self) -> frozenset[str] | None:
        """The alert kinds it receives (None: every one)."""
        ...

    def send(self, alert: Alert) -> None:
        """Deliver, or raise (the registry logs it; an alert never breaks a worker)."""
        ...


@dataclass(frozen=True)
class EmailChannel:
    smtp: str  # smtp://host:port (smtps:// for TLS); user:password@ in the URL if needed
    sender: str
    to: tuple[str, ...]
    name: str = "email"
    kinds: frozenset[str] | None = None  # the alert kinds it receives (None: every one)

    def __post_init__(self) -> None:
        url = urlsplit(self.smtp)
        if url.scheme not in ("smtp", "smtps") or not url.hostname:
            raise ConfigurationError(
                f"alert e-mail: smtp must be smtp://host:port, not {self.smtp!r}"
            )
        if not self.to:
            raise ConfigurationError("alert e-mail: give at least one address in `to`")

    def send(self, alert: Alert) -> None:
        url = urlsplit(self.smtp)
        message = EmailMessage()
        message["Subject"] = f"[conveyor] {alert.title}"
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        message.set_content(alert.text)
        kind = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
        default_port = 465 if url.scheme == "smtps" else 25
        with kind(url.hostname or "", url.port or default_port, timeout=TIMEOUT) as client:
            if url.username:
                client.login(url.username, url.password or "")
            client.send_message(message)

    def describe(self) -> str:
        url = urlsplit(self.smtp)
        where = f"e-mail via {url.scheme}://{url.hostname}:{url.port} to {', '.join(self.to)}"
        return where + _only(self.kinds)


@dataclass(frozen=True)
class WebhookChannel:
    url: str
    name: str = "webhook"
    kinds: frozenset[str] | None = None  # the alert kinds it receives (None: every one)

    def __post_init__(self) -> None:
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ConfigurationError(f"alert webhook: url must be http(s)://..., not {self.url!r}")

    def send(self, alert: Alert) -> None:
        body = json.dumps({"text": f"*{alert.title}*\n{alert.text}"}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            response.read()

    def describe(self) -> str:
        url = urlsplit(self.url)
        return f"webhook to {url.scheme}://{url.netloc}{url.path}" + _only(self.kinds)  # no query


def _only(kinds: frozenset[str] | None) -> str:
    return "" if kinds is None else f" (only {', '.join(sorted(kinds))})"
