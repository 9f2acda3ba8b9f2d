"""Connections to external systems: auth, signing, timeouts, rate limits, circuit breakers."""

from .auth import ApiKey, Auth, Basic, Bearer, OAuth2ClientCredentials
from .bundling import Bundle
from .client import RemoteClient, current_remote
from .config import apply_config, load_config
from .connection import Connection, make_connection
from .http import HttpResponse, Timeouts
from .odoo import OdooLoginRefused, odoo_authenticate, odoo_create
from .registry import ConnectionRegistry
from .rpc import (
    PermanentRpcError,
    RetryableRpcError,
    RpcError,
    RpcProtocolError,
    call_jsonrpc,
    call_xmlrpc,
    odoo_execute_kw,
)
from .rpc_jobs import enqueue_odoo, enqueue_rpc
from .secrets import Secret
from .tester import ConnectionCheck

__all__ = [
    "ApiKey",
    "Auth",
    "Basic",
    "Bearer",
    "Bundle",
    "Connection",
    "ConnectionCheck",
    "ConnectionRegistry",
    "HttpResponse",
    "OAuth2ClientCredentials",
    "OdooLoginRefused",
    "PermanentRpcError",
    "RemoteClient",
    "RetryableRpcError",
    "RpcError",
    "RpcProtocolError",
    "Secret",
    "Timeouts",
    "apply_config",
    "call_jsonrpc",
    "call_xmlrpc",
    "current_remote",
    "enqueue_odoo",
    "enqueue_rpc",
    "load_config",
    "make_connection",
    "odoo_authenticate",
    "odoo_create",
    "odoo_execute_kw",
]
