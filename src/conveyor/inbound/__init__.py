"""Inbound webhooks: `app.webhook(name, verify=..., split=..., task=...)` and `POST /hooks/<name>`.

    verify.py    StandardWebhooks, Hmac: signature and timestamp checks (pure, `now` passed in)
    paths.py     the JSON paths of `event_id=` and `split=` (pure)
    webhook.py   a declaration, and what it makes of one request: event id, (task, item) jobs
    registry.py  `app.webhooks`: declare; receive (verify, build jobs, store them with the event)
    records.py   NewEvent / ReceivedEvent / Receipt

The HTTP side is `conveyor.web` (FastAPI, the `web` extra); nothing here needs it.
"""

from __future__ import annotations

from .records import NewEvent, Receipt, ReceivedEvent
from .registry import WebhookRegistry
from .verify import Hmac, StandardWebhooks, Verifier
from .webhook import DEFAULT_MAX_BODY, Webhook, make_webhook

__all__ = [
    "DEFAULT_MAX_BODY",
    "Hmac",
    "NewEvent",
    "Receipt",
    "ReceivedEvent",
    "StandardWebhooks",
    "Verifier",
    "Webhook",
    "WebhookRegistry",
    "make_webhook",
]
