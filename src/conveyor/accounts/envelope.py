"""The encryption envelope of stored secrets: AES-256-GCM, a key id, and the row as context.

An envelope reads `cv1:<key id>:<base64url(nonce + ciphertext + tag)>`. The key id (the first
8 hex digits of the key's SHA-256) names the key that sealed it, so that opening picks that key
at once, `rotate-key` knows which rows still use an old one, and a missing key is reported by
name instead of as a failed decryption. The associated data is the account's connection, owner
and kind: an envelope copied into another owner's row does not open.

Why AES-GCM over Fernet/MultiFernet: MultiFernet finds the key by trying each one and has no
associated data; GCM (from `cryptography`, the same library) authenticates the context with the
secret, and the key id makes rotation an explicit, countable step. Nonces are 96 random bits,
safe for far more secrets than an account table holds under one key.

CONVEYOR_SECRET_KEY holds one key or several, comma-separated: the first seals, every one
opens. A key is 32 random bytes in URL-safe base64 (`conveyor accounts generate-key`; a Fernet
key is the same format).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import SecretKeyError

SECRET_KEY_ENV = "CONVEYOR_SECRET_KEY"
VERSION = "cv1"
NONCE_BYTES = 12


def generate_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class Keyring:
    """The keys of CONVEYOR_SECRET_KEY: the first seals, any opens."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise SecretKeyError(f"{SECRET_KEY_ENV} holds no key")
        self._keys = {key_id(key): AESGCM(key) for key in keys}
        self.primary = key_id(keys[0])

    @classmethod
    def parse(cls, text: str | None) -> Keyring:
        """From the setting's text; one clear line when it is missing or malformed."""
        if not text or not text.strip():
            raise SecretKeyError(
                f"{SECRET_KEY_ENV} is not set: it is needed to store and read account secrets"
                " (make one with `conveyor accounts generate-key`)"
            )
        keys = []
        for number, part in enumerate(text.split(","), start=1):
            try:
                key = base64.urlsafe_b64decode(part.strip().encode("ascii"))
            except (binascii.Error, ValueError):
                key = b""
            if len(key) != 32:
                raise SecretKeyError(
                    f"{SECRET_KEY_ENV}: key {number} is not 32 bytes in URL-safe base64"
                    " (make one with `conveyor accounts generate-key`)"
                )
            keys.append(key)
        return cls(keys)

    @property
    def ids(self) -> list[str]:
        return list(self._keys)

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.primary].encrypt(nonce, plaintext.encode(), context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{VERSION}:{self.primary}:{body}"

    def open(self, envelope: str, context: str) -> str:
        """The plaintext; SecretKeyError when no key here sealed it or it was tampered with.
        The messages name keys by id and the secret by context, never by content."""
        version, _, rest = envelope.partition(":")
        kid, _, body = rest.partition(":")
        if version != VERSION or not body:
            raise SecretKeyError(f"the stored secret of {context_name(context)} is not an envelope")
        aead = self._keys.get(kid)
        if aead is None:
            raise SecretKeyError(
                f"the stored secret of {context_name(context)} was sealed with key {kid}, which"
                f" {SECRET_KEY_ENV} does not hold (it holds {', '.join(self._keys)})"
            )
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretKeyError(
                f"the stored secret of {context_name(context)} does not open with key {kid}:"
                " it was altered, or belongs to another account"
            ) from None

    @staticmethod
    def key_of(envelope: str) -> str:
        return envelope.split(":", 2)[1] if envelope.count(":") >= 2 else ""


def context_name(context: str) -> str:
    """`connection/owner` for messages (the context is `connection\\0owner\\0kind`)."""
    parts = context.split("\0")
    return f"account {parts[0]!r}/{parts[1]!r}" if len(parts) >= 2 else "an account"
