"""Signature checks of inbound webhooks: pure functions of (headers, body, now), no clock, no I/O.

Two verifiers, the shapes senders use:

    StandardWebhooks(secret)   webhook-id / webhook-timestamp / webhook-signature headers,
                               `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, several
                               space-separated (a sender rotating its secret signs with both);
                               the secret is `whsec_<base64>` (Svix, the spec) or raw text
    Hmac(header=, secret=)     one header carrying an HMAC of the body (GitHub's
                               `X-Hub-Signature-256: sha256=<hex>`, Shopify's base64 one), with
                               an optional timestamp header signed along (Slack, Stripe-like)

Signatures are compared with `hmac.compare_digest` on the decoded bytes (constant time), and a
timestamp more than `tolerance` seconds (5 minutes) off `now`, either way, is refused: a captured
request cannot be replayed later, and one dated ahead cannot be kept for later. `headers` must be
a mapping with lower-case names (ASGI gives them so). A refusal raises `WebhookRejected(401)`,
whose message names the problem, never the secret or the expected signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Protocol

from ..connections.secrets import Secret
from ..connections.signing import secret_bytes
from ..errors import ConfigurationError, WebhookRejected

TOLERANCE = 300.0  # seconds a timestamp may be off, either way
MAX_SIGNATURES = 10  # entries of one signature header tried: a longer list is not a rotation
ALGORITHMS = ("sha256", "sha1", "sha512")
ENCODINGS = ("hex", "base64")
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class Verifier(Protocol):
    """Checks a request's signature; names the headers it needs (kept with the stored event)."""

    @property
    def event_id_header(self) -> str | None:
        """The header that carries the event id by default, if the scheme has one."""

    @property
    def kept_headers(self) -> tuple[str, ...]:
        """The headers worth storing with the event (never the signature: it proves nothing
        once checked)."""

    def check(self) -> None:
        """Resolve the secret now (an `env:` reference that is not set): at declare time."""

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Return if the request is signed by the secret and on time; else raise
        `WebhookRejected(401, ...)`."""


def refuse(message: str) -> WebhookRejected:
    return WebhookRejected(401, message)


def check_timestamp(value: str | None, header: str, now: float, tolerance: float) -> int:
    if not value:
        raise refuse(f"missing {header} header")
    try:
        timestamp = int(value.strip())
    except ValueError:
        raise refuse(f"{header} is not a Unix timestamp in seconds") from None
    off = now - timestamp
    if abs(off) > tolerance:
        when = "old" if off > 0 else "in the future"
        raise refuse(
            f"{header} is {abs(off):.0f} s {when}: more than {tolerance:g} s off (a replay?)"
        )
    return timestamp


def _tolerance(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(f"tolerance must be a positive number of seconds, not {value!r}")
    return float(value)


class StandardWebhooks:
    """The Standard Webhooks scheme (what Svix, Clerk, Resend... send, and what Conveyor's own
    deliveries sign with). The event id defaults to the `webhook-id` header."""

    event_id_header = "webhook-id"
    kept_headers = ("webhook-id", "webhook-timestamp", "content-type", "user-agent")

    def __init__(self, secret: str | Secret, *, tolerance: float = TOLERANCE) -> None:
        if not isinstance(secret, str | Secret):
            raise ConfigurationError("StandardWebhooks(secret): the secret must be a string")
        self.secret = Secret(secret)
        self.tolerance = _tolerance(tolerance)
        self._key: bytes | None = None

    def __repr__(self) -> str:
        return f"StandardWebhooks({self.secret!r})"

    def key(self) -> bytes:
        if self._key is None:
            self._key = secret_bytes(self.secret)
        return self._key

    def check(self) -> None:
        self.key()

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        missing = [name for name in STANDARD_HEADERS if not headers.get(name)]
        if missing:
            raise refuse(f"missing {', '.join(missing)} header{'s' if len(missing) > 1 else ''}")
        message_id = headers["webhook-id"]
        timestamp = check_timestamp(
            headers["webhook-timestamp"], "webhook-timestamp", now, self.tolerance
        )
        signed = f"{message_id}.{timestamp}.".encode() + body
        expected = hmac.new(self.key(), signed, hashlib.sha256).digest()
        for entry in headers["webhook-signature"].split()[:MAX_SIGNATURES]:
            version, _, encoded = entry.partition(",")
            if version != "v1":
                continue
            try:
                given = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                continue
            if hmac.compare_digest(expected, given):
                return
        raise refuse("webhook-signature does not match (no v1 signature made with this secret)")


class Hmac:
    """An HMAC of the body in one header. `prefix` is what precedes the digest in it (GitHub:
    `sha256=`); with `timestamp_header` the signed text is `signed` with `{timestamp}` and
    `{body}` filled in (default `{timestamp}.{body}`; Slack: `v0:{timestamp}:{body}`), and the
    timestamp must be within `tolerance`. The secret is used as its UTF-8 bytes (`whsec_`
    secrets are base64-decoded, as everywhere). No event id header by default: give
    `event_id=` to the webhook (else the body's SHA-256 is the id)."""

    event_id_header: str | None = None

    def __init__(
        self,
        *,
        header: str,
        secret: str | Secret,
        algorithm: str = "sha256",
        encoding: str = "hex",
        prefix: str = "",
        timestamp_header: str | None = None,
        signed: str | None = None,
        tolerance: float = TOLERANCE,
    ) -> None:
        if not isinstance(header, str) or not header.strip():
            raise ConfigurationError("Hmac(header=): the signature header's name is required")
        if not isinstance(secret, str | Secret):
            raise ConfigurationError("Hmac(secret=): the secret must be a string")
        if algorithm not in ALGORITHMS:
            raise ConfigurationError(
                f"Hmac(algorithm=): unknown algorithm {algorithm!r} (choose from "
                f"{', '.join(ALGORITHMS)})"
            )
        if encoding not in ENCODINGS:
            raise ConfigurationError(
                f"Hmac(encoding=): unknown encoding {encoding!r} (choose from "
                f"{', '.join(ENCODINGS)})"
            )
        template = signed or ("{timestamp}.{body}" if timestamp_header else "{body}")
        if template.count("{body}") != 1:
            raise ConfigurationError("Hmac(signed=): the template needs {body} exactly once")
        if "{timestamp}" in template and not timestamp_header:
            raise ConfigurationError("Hmac(signed=): {timestamp} needs timestamp_header=")
        self.header = header.strip().lower()
        self.secret = Secret(secret)
        self.algorithm = algorithm
        self.encoding = encoding
        self.prefix = prefix
        self.timestamp_header = timestamp_header.strip().lower() if timestamp_header else None
        self.tolerance = _tolerance(tolerance)
        self._before, self._after = template.split("{body}")
        kept = [self.timestamp_header] if self.timestamp_header else []
        self.kept_headers = (*kept, "content-type", "user-agent")
        self._key: bytes | None = None

    def __repr__(self) -> str:
        return f"Hmac(header={self.header!r}, secret={self.secret!r}, algorithm={self.algorithm!r})"

    def key(self) -> bytes:
        if self._key is None:
            self._key = secret_bytes(self.secret)
        return self._key

    def check(self) -> None:
        self.key()

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        value = headers.get(self.header)
        if not value:
            raise refuse(f"missing {self.header} header")
        before, after = self._before, self._after
        if self.timestamp_header is not None:
            name = self.timestamp_header
            timestamp = check_timestamp(headers.get(name), name, now, self.tolerance)
            before = before.replace("{timestamp}", str(timestamp))
            after = after.replace("{timestamp}", str(timestamp))
        value = value.strip()
        if self.prefix:
            if not value.startswith(self.prefix):
                raise refuse(f"{self.header} does not start with {self.prefix!r}")
            value = value[len(self.prefix) :]
        given = self._decode(value)
        mac = hmac.new(self.key(), before.encode(), self.algorithm)
        mac.update(body)
        mac.update(after.encode())
        if given is None or not hmac.compare_digest(mac.digest(), given):
            raise refuse(
                f"{self.header} does not match (not an HMAC-{self.algorithm} of this body)"
            )

    def _decode(self, value: str) -> bytes | None:
        try:
            if self.encoding == "hex":
                return bytes.fromhex(value)
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
