"""The app's settings: given in Python, else from the environment, else the defaults."""

from __future__ import annotations

import os

from .errors import ConfigurationError

DEFAULT_URL = "sqlite:///conveyor.db"
DEFAULT_LEASE_SECONDS = 30.0


def database_url(given: str | None) -> str:
    return given or os.environ.get("CONVEYOR_DATABASE_URL") or DEFAULT_URL


def lease_seconds(given: float | None) -> float:
    """How long a claimed job is leased (renewed every third of it): > 0 seconds."""
    env_lease = os.environ.get("CONVEYOR_LEASE_SECONDS")
    try:
        seconds = float(given or env_lease or DEFAULT_LEASE_SECONDS)
    except ValueError:
        raise ConfigurationError(
            f"CONVEYOR_LEASE_SECONDS must be a number of seconds, not {env_lease!r}"
        ) from None
    if seconds <= 0:
        raise ConfigurationError("the lease must be longer than 0 seconds")
    return seconds


def secret_key(given: str | None) -> str | None:
    """The keys that seal stored account secrets (comma-separated: the first seals, all open)."""
    return given or os.environ.get("CONVEYOR_SECRET_KEY")


def metrics_dir(given: str | None) -> str | None:
    """The prometheus-client multiprocess directory the counters are written to, if any."""
    return (
        given
        or os.environ.get("CONVEYOR_METRICS_DIR")
        or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        or None
    )


def counts_max_age(given: float | None = None) -> float | None:
    """How old the server's shared counts may be, in seconds (`shared_reads.py`); None: the
    default."""
    if given is not None:
        return given
    text = os.environ.get("CONVEYOR_COUNTS_MAX_AGE")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(
            f"CONVEYOR_COUNTS_MAX_AGE must be a number of seconds, not {text!r}"
        ) from None
    if not value >= 0 or value == float("inf"):
        raise ConfigurationError(f"CONVEYOR_COUNTS_MAX_AGE must be >= 0 seconds, not {text!r}")
    return value


def metrics_token(given: str | None) -> str | None:
    """The bearer token `/metrics` requires, if any."""
    return given or os.environ.get("CONVEYOR_METRICS_TOKEN") or None
