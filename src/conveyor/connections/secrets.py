"""Secrets: literal values or `env:NAME` references, resolved when used and never shown."""

from __future__ import annotations

import os

from ..errors import ConfigurationError


class Secret:
    """A credential. `str()` and `repr()` never reveal it; `reveal()` is the one way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        self._value: str = value.reveal_raw() if isinstance(value, Secret) else str(value)
        if not self._value:
            raise ConfigurationError("a secret cannot be empty")

    def reveal_raw(self) -> str:
        """The value as given (an `env:` reference stays a reference)."""
        return self._value

    @property
    def reference(self) -> str | None:
        """The environment variable it comes from, if any."""
        return self._value[4:] if self._value.startswith("env:") else None

    def reveal(self) -> str:
        name = self.reference
        if name is None:
            return self._value
        value = os.environ.get(name)
        if not value:
            raise ConfigurationError(f"environment variable {name} is not set (a secret)")
        return value

    def __repr__(self) -> str:
        return f"Secret('env:{self.reference}')" if self.reference else "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def secret(value: str | Secret | None) -> Secret | None:
    return None if value is None else Secret(value)
