"""Conveyor: keep an application's data in sync with external APIs, durably and in order."""

from .app import Conveyor
from .breaker import Breaker
from .connections import (
    ApiKey,
    Basic,
    Bearer,
    Bundle,
    Connection,
    ConnectionCheck,
    OAuth2ClientCredentials,
    Secret,
    Timeouts,
)
from .errors import (
    ConfigurationError,
    ConveyorError,
    DeliveryError,
    Discard,
    InvalidStateError,
    JobNotFound,
    PayloadError,
    PermanentStatus,
    Postpone,
    Postponed,
    RemoteUnavailable,
    Retry,
    RetryableStatus,
    StoreError,
    StoreUnavailable,
    TaskNotFound,
    UnknownConnection,
    WebhookRejected,
)
from .inbound import Hmac, StandardWebhooks
from .job import Job
from .middleware import Middleware
from .ratelimit import RateLimit
from .retry import Delays, Exponential, Fixed, Linear
from .task import JobContext, Task, current_job
from .worker import Worker

__all__ = [
    "ApiKey",
    "Basic",
    "Bearer",
    "Breaker",
    "Bundle",
    "ConfigurationError",
    "Connection",
    "ConnectionCheck",
    "Conveyor",
    "ConveyorError",
    "Delays",
    "DeliveryError",
    "Discard",
    "Exponential",
    "Fixed",
    "Hmac",
    "InvalidStateError",
    "Job",
    "JobContext",
    "JobNotFound",
    "Linear",
    "Middleware",
    "OAuth2ClientCredentials",
    "PayloadError",
    "PermanentStatus",
    "Postpone",
    "Postponed",
    "RateLimit",
    "RemoteUnavailable",
    "Retry",
    "RetryableStatus",
    "Secret",
    "StandardWebhooks",
    "StoreError",
    "StoreUnavailable",
    "Task",
    "TaskNotFound",
    "Timeouts",
    "UnknownConnection",
    "WebhookRejected",
    "Worker",
    "current_job",
]
