"""The task registry: tasks declared on an app (or on a Blueprint it includes), by name, and the
way their jobs are stored.

`app.tasks` is a `TaskRegistry`: a read-only mapping of name to `Task` that also enqueues (it is
the `TaskHost` of its tasks). A `Blueprint` declares tasks apart from any app, like
procrastinate's: the built-in deliveries and RPC calls are declared on one
(`conveyor.connections.builtins`) that every app includes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypedDict, TypeVar, Unpack, overload

from .enqueueing import new_job
from .errors import ConfigurationError, TaskNotFound
from .job import NewJob
from .retry import DEFAULT_RETRY, RetryPolicy
from .task import ConnectionOf, KeyFunction, Task
from .types import JobOptions, JobWriter
from .workers import BUILTIN_PREFIX

F = TypeVar("F", bound=Callable[..., Any])
PayloadCheck = Callable[[Any], object]


class TaskOptions(TypedDict, total=False):
    """The options of `@app.task(...)`; a job may override queue and priority."""

    name: str | None
    queue: str | None
    max_attempts: int
    retry: RetryPolicy
    key: KeyFunction | None
    leads_key: bool
    timeout: float | None
    priority: int
    connection: ConnectionOf | None


class Blueprint:
    """Tasks declared apart from any app, for apps to include (`app.tasks.include(blueprint)`).

    Including copies the declarations: each app gets its own `Task` objects, so an option changed
    on one app's task (its retry policy, in a test) stays with that app. The decorator returns
    the function as it is; enqueue its jobs by name once the blueprint is included.
    """

    def __init__(self) -> None:
        self.declared: dict[str, tuple[Callable[..., Any], TaskOptions]] = {}

    @overload
    def task(self, fn: F, /) -> F: ...

    @overload
    def task(self, fn: None = None, /, **options: Unpack[TaskOptions]) -> Callable[[F], F]: ...

    def task(self, fn: F | None = None, /, **options: Unpack[TaskOptions]) -> F | Callable[[F], F]:
        """Declare a task: `@blueprint.task` or `@blueprint.task(name=..., queue=...)`."""

        def declare(function: F) -> F:
            name = options.get("name") or function.__name__
            if name in self.declared:
                raise ConfigurationError(f"a task named {name!r} is already declared here")
            self.declared[name] = (function, {**options, "name": name})
            return function

        return declare(fn) if fn is not None else declare


class TaskRegistry(Mapping[str, Task]):
    """The app's tasks by name, and the enqueue path: validate, store, wake this process's
    workers.

    `store` gives the store (opened on first use); `wake` tells local workers a job may be
    runnable; `on_call` is given to every task (see `Task`).
    """

    def __init__(
        self,
        store: Callable[[], JobWriter],
        *,
        default_queue: str = "default",
        wake: Callable[[], None] | None = None,
        on_call: Callable[[], object] | None = None,
    ) -> None:
        self._tasks: dict[str, Task] = {}
        self._store = store
        self._wake = wake
        self.default_queue = default_queue
        self.on_call = on_call

    # -- the mapping ------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Task:
        return self._tasks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __repr__(self) -> str:
        return f"<TaskRegistry {sorted(self._tasks)}>"

    def get_task(self, name: str) -> Task:
        try:
            return self._tasks[name]
        except KeyError:
            mine = sorted(n for n in self._tasks if not n.startswith(BUILTIN_PREFIX))
            known = ", ".join(mine) or "none registered"
            raise TaskNotFound(f"unknown task {name!r} (known: {known})") from None

    # -- declaring --------------------------------------------------------------------------

    @overload
    def task(self, fn: Callable[..., Any], /) -> Task: ...

    @overload
    def task(
        self, fn: None = None, /, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[..., Any]], Task]: ...

    def task(
        self, fn: Callable[..., Any] | None = None, /, **options: Unpack[TaskOptions]
    ) -> Task | Callable[[Callable[..., Any]], Task]:
        """Register a function as a task: `@app.task` or `@app.task(queue=..., key=...)`."""

        def register(function: Callable[..., Any]) -> Task:
            return self.register(function, **options)

        return register(fn) if fn is not None else register

    def register(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        queue: str | None = None,
        max_attempts: int = 5,
        retry: RetryPolicy = DEFAULT_RETRY,
        key: KeyFunction | None = None,
        leads_key: bool = False,
        timeout: float | None = None,
        priority: int = 0,
        connection: ConnectionOf | None = None,
        check: PayloadCheck | None = None,
    ) -> Task:
        """`connection`: the connection its jobs call (a name, or a function of the validated
        payload), stored with each job so operators can filter by it and alerts name it.
        `check`: refuses a validated payload at enqueue (raise a ConveyorError) for what its
        type alone cannot know, like a built-in delivery's connection name."""
        task_name = name or fn.__name__
        if task_name in self._tasks:
            raise ConfigurationError(f"a task named {task_name!r} is already registered")
        task = Task(
            self,
            fn,
            name=task_name,
            queue=queue or self.default_queue,
            max_attempts=max_attempts,
            retry=retry,
            key=key,
            leads_key=leads_key,
            timeout=timeout,
            priority=priority,
            on_call=self.on_call,
            connection=connection,
        )
        task.check = check
        self._tasks[task_name] = task
        return task

    def include(self, blueprint: Blueprint, *, check: PayloadCheck | None = None) -> list[Task]:
        """Register every task of `blueprint` (all or none: a name already taken is refused
        first). `check` is given to each of them (see `register`)."""
        taken = sorted(name for name in blueprint.declared if name in self._tasks)
        if taken:
            raise ConfigurationError(f"a task named {taken[0]!r} is already registered")
        return [
            self.register(fn, **options, check=check) for fn, options in blueprint.declared.values()
        ]

    # -- enqueueing -------------------------------------------------------------------------

    def build_job(
        self, task: str | Task, payload: Any = None, **options: Unpack[JobOptions]
    ) -> NewJob:
        """Validate and serialise a job without storing it. Raises PayloadError, TaskNotFound,
        ConfigurationError (an option of the wrong type or out of range, named)."""
        spec = self.get_task(task if isinstance(task, str) else task.name)
        return new_job(spec, payload, **options)

    def enqueue(
        self,
        task: str | Task,
        payload: Any = None,
        *,
        db: Any = None,
        **options: Unpack[JobOptions],
    ) -> int:
        """Store one job and return its id (the existing job's id for a known idempotency key).

        With `db=` (the application's own open database connection) the job is written in the
        caller's transaction: it exists if and only if that transaction commits.
        """
        return self.store_jobs([self.build_job(task, payload, **options)], db=db)[0]

    def enqueue_many(
        self,
        task: str | Task,
        payloads: Sequence[Any],
        *,
        idempotency_keys: Sequence[str | None] | None = None,
        db: Any = None,
        **options: Any,
    ) -> list[int]:
        """Store many jobs of one task in one transaction (all or none).

        The options apply to every job; `idempotency_keys` gives each job its own key.
        """
        if "idempotency_key" in options:
            raise ConfigurationError("enqueue_many takes idempotency_keys=[...], one per payload")
        unknown = sorted(set(options) - set(JobOptions.__annotations__))
        if unknown:
            raise ConfigurationError(f"unknown enqueue option: {', '.join(unknown)}")
        if idempotency_keys is not None and len(idempotency_keys) != len(payloads):
            raise ConfigurationError("idempotency_keys needs exactly one entry per payload")
        ikeys = idempotency_keys or [None] * len(payloads)
        jobs = [
            self.build_job(task, payload, idempotency_key=ikey, **options)
            for payload, ikey in zip(payloads, ikeys, strict=True)
        ]
        return self.store_jobs(jobs, db=db)

    def store_jobs(self, jobs: Sequence[NewJob], *, db: Any = None) -> list[int]:
        """Store jobs already built (`build_job`), in one transaction, and wake local workers."""
        ids = self._store().enqueue(jobs, connection=db) if jobs else []
        self.wake()
        return ids

    def wake(self) -> None:
        """Tell this process's workers that a job may be runnable (they also poll or listen)."""
        if self._wake is not None:
            self._wake()
