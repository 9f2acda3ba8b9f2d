"""Conveyor's exception tree. Users catch these, never a driver's exception.

ConveyorError
├── ConfigurationError      bad settings or usage: URL, app path, option values, a sync call
│   │                       (run_worker, run_now, test_connection) inside a running event loop
│   ├── UnknownConnection   a connection name nobody declared: refused at enqueue; a built-in
│   │                       delivery or RPC job whose connection this worker lacks waits for
│   │                       one that has it (postponed); in a task's own code, a Discard
│   ├── UnknownAccount      no stored account for this owner of the connection (also a Discard)
│   └── SecretKeyError      CONVEYOR_SECRET_KEY missing, malformed, or without the key that
│                           sealed a stored secret
├── TaskNotFound            a task name nobody registered
├── PayloadError            a payload that fails its task's schema (nothing is stored)
├── JobNotFound             an id the store does not hold
│   └── BatchNotFound       a batch id the store does not hold
├── InvalidStateError       an operator action that the job's state does not allow
├── StoreError              the database failed or could not be reached
│   └── StoreUnavailable    the database could not be reached at all
├── AuthorizationError      an OAuth callback that cannot be honoured: unknown, expired or replayed
│                           state, or the provider refused the code
├── AccountRejected         the remote refused an owner's credentials at the credential check
│                           (401/403): a sync fails at once, no page fetched (also a Discard)
├── NeedsReauth             the owner's refresh token was refused (`invalid_grant`): its jobs
│                           wait, their attempts not counted, until it is authorised again
│                           (also a Postpone)
├── WebhookRejected         an inbound webhook request refused (`.status`: 401 bad or missing
│                           signature or stale timestamp, 400 malformed, 404 unknown hook,
│                           413 too large, 422 does not fit the declaration); nothing stored
├── Postponed               run_now could not run the task yet (rate limit, open breaker);
│                           `.after` says in how many seconds it may (also a Postpone)
├── PagingError             a page a sync cannot go on from (a has-more flag missing, a cursor
│                           that repeats, a next link off the connection): the scan fails
└── DeliveryError           a call to a connection failed; `.details` has status, latency, excerpt
    ├── RemoteUnavailable   network error or timeout: retried (also a Retry)
    ├── RetryableStatus     408, 425, 429 or 5xx: retried after Retry-After if given (also a Retry)
    ├── PermanentStatus     any other 4xx: dead at once (also a Discard)
    └── SyncFailed          a sync's page could not be fetched or read: the run failed, deleting
                            nothing; the next sync of the owner resumes from that page

Control flow raised by task code (not errors, and not subclasses of ConveyorError):
    Retry(after=...)        try again later, counting the attempt
    Discard(reason)         give up now: the job goes dead
    Postpone(after=...)     not now, and it does not count as an attempt (rate limit, open breaker,
                            a slowed or paused connection)
"""

from __future__ import annotations

from typing import Any


class ConveyorError(Exception):
    """Root of every error Conveyor raises."""


class ConfigurationError(ConveyorError):
    pass


class TaskNotFound(ConveyorError):
    pass


class PayloadError(ConveyorError):
    pass


class JobNotFound(ConveyorError):
    pass


class BatchNotFound(JobNotFound):
    pass


class InvalidStateError(ConveyorError):
    pass


class StoreError(ConveyorError):
    pass


class StoreUnavailable(StoreError):
    pass


class WebhookRejected(ConveyorError):
    """An inbound webhook request that is refused, with the HTTP status it is answered with.
    The message names the problem, never a secret or the signature expected."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Retry(Exception):
    """Raised by task code to be retried after `after` seconds (the policy's delay if None)."""

    def __init__(self, after: float | None = None, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.after = after
        self.reason = reason


class Discard(Exception):
    """Raised by task code when the job can never succeed: it goes dead at once."""

    def __init__(self, reason: str = "discarded") -> None:
        super().__init__(reason)
        self.reason = reason


class Postpone(Exception):
    """Raised when a job cannot run yet through no fault of its own (a rate limit has no token,
    a circuit breaker is open): it goes back to the queue for `after` seconds, its attempt not
    counted."""

    def __init__(self, after: float, reason: str = "postponed") -> None:
        super().__init__(reason)
        self.after = max(0.0, float(after))
        self.reason = reason


class UnknownConnection(ConfigurationError, Discard):
    """Refused at enqueue. A built-in delivery or RPC job that meets it in a worker is postponed
    instead (another worker may declare the connection); raised from a task's own code, the job
    goes dead at once."""

    def __init__(self, message: str) -> None:
        Discard.__init__(self, message)


class UnknownAccount(ConfigurationError, Discard):
    """A call on behalf of an owner that has no account on the connection: no retry adds one."""

    def __init__(self, message: str) -> None:
        Discard.__init__(self, message)


class SecretKeyError(ConfigurationError):
    pass


class AuthorizationError(ConveyorError):
    pass


class AccountRejected(ConveyorError, Discard):
    """The remote refused the owner's credentials (401 or 403) at the credential check."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        Discard.__init__(self, message)
        self.details: dict[str, Any] = details or {}


class NeedsReauth(ConveyorError, Postpone):
    """The owner must authorise the connection again; until then its jobs are postponed."""

    def __init__(self, after: float, reason: str) -> None:
        Postpone.__init__(self, after, reason)


class Postponed(ConveyorError, Postpone):
    """`run_now` found the connection's rate limit empty or its breaker open: nothing ran.
    `after` is the seconds until it may run. Also a `Postpone`, so a task that calls
    `run_now_async` is itself postponed (its attempt not counted) when it lets this through."""

    def __init__(self, after: float, reason: str = "postponed") -> None:
        Postpone.__init__(self, after, reason)
        self.args = (f"{reason}: not run, it may run in {self.after:.3g} s",)


class DeliveryError(ConveyorError):
    """A call to an external system failed. `details` is what the job's attempt record keeps."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        # Not super(): in RemoteUnavailable and RetryableStatus the MRO continues to
        # Retry.__init__, whose first parameter is `after`.
        Exception.__init__(self, message)
        self.details: dict[str, Any] = details or {}

    @property
    def status(self) -> int | None:
        value = self.details.get("status")
        return int(value) if value is not None else None


class RemoteUnavailable(DeliveryError, Retry):
    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        DeliveryError.__init__(self, message, details)
        self.after = None
        self.reason = message


class RetryableStatus(DeliveryError, Retry):
    def __init__(
        self, message: str, details: dict[str, Any] | None = None, after: float | None = None
    ) -> None:
        DeliveryError.__init__(self, message, details)
        self.after = after
        self.reason = message


class PermanentStatus(DeliveryError, Discard):
    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        DeliveryError.__init__(self, message, details)
        self.reason = message


class PagingError(ConveyorError):
    """A page the paginator cannot continue from: the scan fails, so it deletes nothing."""


class SyncFailed(DeliveryError):
    """A page could not be fetched or read: the run failed, deleting nothing; the next sync of
    the owner resumes from the failed page."""
