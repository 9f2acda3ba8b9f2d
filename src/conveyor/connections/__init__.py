"""Connections to external systems: auth, signing, timeouts, rate limits, circuit breakers."""

from .auth import ApiKey, Auth, Basic, Bearer, OAuth2ClientCredentials
from .batching import Batch
from .connection import Connection, RemoteClient, make_connection
from .http import HttpResponse, Timeouts
from .secrets import Secret
from .tester import ConnectionCheck

__all__ = [
    "ApiKey",
    "Auth",
    "Basic",
    "Batch",
    "Bearer",
    "Connection",
    "ConnectionCheck",
    "HttpResponse",
    "OAuth2ClientCredentials",
    "RemoteClient",
    "Secret",
    "Timeouts",
    "make_connection",
]
