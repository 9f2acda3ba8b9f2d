"""What a response means for the job: pure functions of (status, headers, now)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from ..errors import DeliveryError, PermanentStatus, RetryableStatus
from .http import HttpResponse

RETRYABLE_STATUSES = frozenset({408, 425, 429})


def is_retryable(status: int) -> bool:
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def classify(response: HttpResponse, now: float, max_retry_after: float) -> DeliveryError | None:
    """None for a success (1xx-3xx), else the error that decides the job's fate."""
    status = response.status
    if status < 400:
        return None
    message = f"HTTP {status} from {response.method} {response.url}"
    if is_retryable(status):
        after = parse_retry_after(response.headers.get("retry-after"), now)
        if after is not None:
            after = min(after, max_retry_after)
        return RetryableStatus(message, response.details(), after=after)
    return PermanentStatus(message, response.details())
