"""Tasks: registered functions, their options, and payload validation."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Unpack, get_type_hints

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from . import options as check
from .errors import ConfigurationError, PayloadError
from .options import MAX_QUEUE_LENGTH
from .retry import Linear, RetryPolicy

if TYPE_CHECKING:
    from .batches.fanout import AttemptExtras
    from .types import Enqueuer, JobOptions

KeyFunction = Callable[[Any], str | None]
# The validation context of a payload being enqueued (not of one loaded to run): a validator can
# fill in what must be made once and stored, like a delivery's idempotency key.
ENQUEUING = {"conveyor": "enqueue"}


class CancelFlag:
    """Set from the worker's event loop when an operator cancels the running job, read from
    the task (its thread, for a sync task). Nothing waits on it, so a plain attribute does: a
    `threading.Event` per attempt cost ~3.5 us on the hot path."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


@dataclass(frozen=True, slots=True)
class JobContext:
    """The job a task is running for; `current_job()` returns it inside task code.

    `cancelled` turns true when an operator cancels the running job. An async task also gets
    `asyncio.CancelledError`; a sync task cannot be interrupted, so a long one should check it
    now and then and return early. Either way the job ends `cancelled`.
    """

    id: int
    task: str
    key: str | None
    attempt: int
    max_attempts: int
    queue: str
    # Set from the worker's event loop, read from the task's thread.
    cancel_signal: CancelFlag = field(default_factory=CancelFlag, repr=False, compare=False)
    batch_id: int | None = None
    # The runner's children and progress of its attempts (None: a context made by hand).
    extras: AttemptExtras | None = field(default=None, repr=False, compare=False)

    @property
    def cancelled(self) -> bool:
        """True once a cancel of this job was requested."""
        return self.cancel_signal.is_set()

    def enqueue(self, task: str | Task, payload: Any = None, **options: Unpack[JobOptions]) -> None:
        """Fan out: a child job, validated now and stored with this job's success, in the same
        transaction (never if this attempt fails, retries or is cancelled). It gets this job as
        its parent and joins this job's batch, if any: the batch then waits for it too."""
        if self.extras is None:
            raise ConfigurationError("current_job().enqueue() needs a worker's attempt")
        self.extras.child(self.id, task, payload, dict(options))

    def progress(self, done: int, total: int | None = None) -> None:
        """Report progress (`done` of `total`): kept in memory, written by the worker at most
        about once a second, and the last report with the job's outcome."""
        if self.extras is not None:
            self.extras.report(self.id, done, total)


_current: ContextVar[JobContext | None] = ContextVar("conveyor_current_job", default=None)


def current_job() -> JobContext | None:
    return _current.get()


class Task:
    """A registered unit of work. Call it to run the function directly; `.enqueue` to queue it.

    `host` stores its jobs (the registry that holds it); `on_call` is run, in the attempt's own
    context, each time a worker or `run_now` calls it: the host binds there what an attempt may
    use besides its payload (`conveyor.connections.current_remote()`).
    """

    def __init__(
        self,
        host: Enqueuer,
        fn: Callable[..., Any],
        *,
        name: str,
        queue: str,
        max_attempts: int,
        retry: RetryPolicy,
        key: KeyFunction | None,
        leads_key: bool,
        timeout: float | None,
        priority: int,
        on_call: Callable[[], object] | None = None,
    ) -> None:
        try:  # stored with every job: refused here rather than by the database, job after job
            check.integer(max_attempts, "max_attempts", 1)
            check.integer(priority, "priority")
            check.text(queue, "queue", MAX_QUEUE_LENGTH, empty=False)
            if timeout is not None and not isinstance(timeout, int | float):
                raise ConfigurationError(
                    f"timeout must be a number of seconds, not {check.show(timeout)}"
                )
            seconds = None if timeout is None else check.seconds(timeout, "timeout")
            if seconds == 0:
                raise ConfigurationError("timeout must be > 0 seconds")
        except ConfigurationError as error:
            raise ConfigurationError(f"task {name}: {error}") from None
        self.host = host
        self.on_call = on_call
        self.fn = fn
        self.name = name
        self.queue = queue
        self.max_attempts = max_attempts
        self.retry = retry.with_steps(max_attempts - 1) if isinstance(retry, Linear) else retry
        self.key_function = key
        self.leads_key = leads_key
        self.timeout = seconds
        self.priority = priority
        self.is_async = inspect.iscoroutinefunction(fn)
        self.takes_payload, self.payload_type = _payload_type(fn)
        self._adapter: TypeAdapter[Any] | None = (
            TypeAdapter(self.payload_type) if self.payload_type is not None else None
        )
        # Checks a validated payload against the app (a built-in delivery's connection name):
        # what the payload's type alone cannot know. Raises a ConveyorError to refuse it.
        self.check: Callable[[Any], object] | None = None
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.queue}>"

    # -- payloads -------------------------------------------------------------------------

    def serialize(self, payload: Any) -> tuple[str, Any]:
        """Validate a payload for storage: (JSON text, validated value). Raises PayloadError."""
        if self._adapter is not None:
            try:
                value = self._adapter.validate_python(payload, context=ENQUEUING)
            except ValidationError as error:
                raise PayloadError(
                    f"invalid payload for task {self.name!r}: {_first(error)}"
                ) from None
            if self.check is not None:
                self.check(value)
            try:
                return self._adapter.dump_json(value).decode(), value
            except PydanticSerializationError as error:  # an `Any` field holding an object
                raise PayloadError(
                    f"payload for task {self.name!r} is not JSON-serialisable: {error}"
                ) from None
        if not self.takes_payload and payload not in (None, {}):
            raise PayloadError(f"task {self.name!r} takes no payload")
        try:
            return json.dumps(payload, separators=(",", ":"), allow_nan=False), payload
        except (TypeError, ValueError) as error:
            raise PayloadError(
                f"payload for task {self.name!r} is not JSON-serialisable: {error}"
            ) from None

    def load(self, text: str) -> Any:
        """The argument the function receives for a stored payload."""
        raw = json.loads(text)
        if self._adapter is not None:
            if isinstance(self.payload_type, type) and issubclass(self.payload_type, BaseModel):
                return self.payload_type.model_validate(raw)
            return self._adapter.validate_python(raw)
        return raw

    def call(self, argument: Any) -> Any:
        """The function applied to a loaded payload (or to nothing, if it takes none)."""
        if self.on_call is not None:
            self.on_call()
        return self.fn(argument) if self.takes_payload else self.fn()

    def key_for(self, value: Any) -> str | None:
        """The ordering key of a validated payload; the key function sees plain JSON data."""
        if self.key_function is None:
            return None
        plain = self._adapter.dump_python(value, mode="json") if self._adapter else value
        try:
            key = self.key_function(plain)
        except (KeyError, TypeError, AttributeError, IndexError) as error:
            raise PayloadError(
                f"task {self.name!r}: cannot compute its ordering key from the payload: {error!r}"
            ) from None
        return None if key is None else str(key)

    # -- enqueue --------------------------------------------------------------------------

    def enqueue(
        self,
        payload: Any = None,
        *,
        db: Any = None,
        **options: Unpack[JobOptions],
    ) -> int:
        return self.host.enqueue(self.name, payload, db=db, **options)

    def enqueue_many(self, payloads: list[Any], **options: Any) -> list[int]:
        return self.host.enqueue_many(self.name, payloads, **options)

    def result_json(self, result: Any) -> str | None:
        if result is None:
            return None
        return json.dumps(to_jsonable_python(result, fallback=repr), separators=(",", ":"))


def _payload_type(fn: Callable[..., Any]) -> tuple[bool, Any]:
    parameters = list(inspect.signature(fn).parameters.values())
    if not parameters:
        return False, None
    if len([p for p in parameters if p.default is inspect.Parameter.empty]) > 1:
        raise ConfigurationError(
            f"task function {fn.__name__} must take one argument (the payload), not several"
        )
    try:
        hints = get_type_hints(fn)
    except (NameError, TypeError):  # annotations that cannot be resolved: no validation
        hints = {}
    return True, hints.get(parameters[0].name)


def _first(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "payload"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{where}: {problem['msg']}{more}"


def bind_current(context: JobContext) -> Token[JobContext | None]:
    """Make `context` what `current_job()` returns, in this task's context (and the threads
    started with a copy of it), until `unbind_current` with the returned token."""
    return _current.set(context)


def unbind_current(token: Token[JobContext | None]) -> None:
    _current.reset(token)
