"""Request signing in the Standard Webhooks form (HMAC-SHA256).

    webhook-id: <message id>          webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 of HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>

The secret is `whsec_` followed by base64 bytes (as Svix and the spec issue them); a secret without
the prefix is used as raw UTF-8 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ..errors import ConfigurationError
from .secrets import Secret


def secret_bytes(secret: Secret) -> bytes:
    value = secret.reveal()
    if value.startswith("whsec_"):
        try:
            return base64.b64decode(value[len("whsec_") :], validate=True)
        except ValueError:
            raise ConfigurationError(
                "a whsec_ signing secret must be base64 after the prefix"
            ) from None
    return value.encode()


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signature_headers(
    secret: Secret, message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret_bytes(secret), message_id, timestamp, body),
    }
