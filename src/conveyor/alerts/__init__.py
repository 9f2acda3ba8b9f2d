"""Alerts: typed events (breaker opened or closed, connection paused, owner needing
re-authorisation) sent to e-mail and webhook channels, throttled and deduplicated through the
store (`conveyor_alerts`)."""

from .channels import EmailChannel, WebhookChannel
from .core import Alert, alert_for
from .registry import AlertRegistry

__all__ = ["Alert", "AlertRegistry", "EmailChannel", "WebhookChannel", "alert_for"]
