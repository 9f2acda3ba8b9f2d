"""Batches, fan-out and progress.

`app.batch([...], on_complete=..., on_failure=..., payload=..., name=...)` stores a group of jobs
in one transaction and returns a `Batch` (its id, its jobs' ids). A member is a task or its name
(no payload), `(task, payload)`, `(task, payload, {options})` with the options of `app.enqueue`,
or a job built with `app.build_job(task, payload, key=..., ...)`.

When the last member reaches a final state (succeeded, dead or cancelled; children that members
enqueued count as members), the batch ends `failed` if a member died, else `succeeded`, and
exactly one callback job is enqueued: `on_failure` for a failed batch when it is given, otherwise
`on_complete` (which so also runs for a failed batch without `on_failure`, like Sidekiq's
`on_complete`). The callback's payload is `{"batch_id", "name", "state", "payload"}`.

Inside a task, `current_job().enqueue(task, payload, **options)` fans out (children stored with
the parent's success, in the same transaction) and `current_job().progress(done, total)`
reports progress, written about once a second.
"""

from __future__ import annotations

from .core import BatchView, JobSpec

__all__ = ["BatchView", "JobSpec"]
