"""Conveyor: keep an application's data in sync with external APIs, durably and in order."""

from .app import Conveyor
from .errors import (
    ConfigurationError,
    ConveyorError,
    Discard,
    InvalidStateError,
    JobNotFound,
    PayloadError,
    Postpone,
    Retry,
    StoreError,
    StoreUnavailable,
    TaskNotFound,
)
from .job import Job
from .middleware import Middleware
from .retry import Exponential, Fixed, Linear, Schedule
from .task import JobContext, Task, current_job
from .worker import Worker

__all__ = [
    "ConfigurationError",
    "Conveyor",
    "ConveyorError",
    "Discard",
    "Exponential",
    "Fixed",
    "InvalidStateError",
    "Job",
    "JobContext",
    "JobNotFound",
    "Linear",
    "Middleware",
    "PayloadError",
    "Postpone",
    "Retry",
    "Schedule",
    "StoreError",
    "StoreUnavailable",
    "Task",
    "TaskNotFound",
    "Worker",
    "current_job",
]
