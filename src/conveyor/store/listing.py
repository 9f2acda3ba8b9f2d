"""The job listing's SQL, built for the filter given: only its conditions, so each one meets its
index (0017: state, task, queue and key, each with id for the keyset page; 0015: a batch's
members, by (batch_id, state), sorted by id).

One statement with every condition written `(:x IS NULL OR x = :x)` reads well but SQLite plans
it once for all inputs: it can use no index for any of them, and even `id < :before` became a scan
from the newest row down (45 ms for a page half way down 1,000,000 jobs, 80 ms with a queue). The
`since` window has its own statement (`list_jobs_since`): finished and unfinished jobs apart, each
by its time index. The named blocks hold the SQL; this module only picks the conditions.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..job import JobFilter

# (filter field, condition with `{}` for the placeholder); `since` is the statement's own.
CONDITIONS = (
    ("state", "state = {}"),
    ("task", "{by}task = {}"),
    ("queue", "{by}queue = {}"),
    ("key", "{by}key = {}"),
    ("before_id", "id < {}"),
    ("connection", "connection = {}"),
    # A substring, not a pattern (JobFilter.params escapes %, _ and \); any case: ILIKE on
    # PostgreSQL, and SQLite's LIKE ignores the case of ASCII letters.
    ("error", "last_error {like} {} ESCAPE '\\'"),
    # 0020's conveyor_jobs_batch_id (batch_id, id): a batch's members newest first.
    ("batch_id", "batch_id = {}"),
)
# SQLite: a window part with fewer rows than this in its index is read by that index.
PROBE_BOUND = 5000


def placeholder(dialect: str, name: str) -> str:
    return f":{name}" if dialect == "sqlite" else f"%({name})s"


def where(filters: JobFilter, dialect: str) -> str:
    """The conditions of the fields set, joined by AND (`1 = 1` for none)."""
    like = "LIKE" if dialect == "sqlite" else "ILIKE"
    # SQLite, a batch with a task (queue, key): it walked the task's index newest first to the
    # batch's members (175 ms for an old batch of 100 among 200,000 jobs of its task); `+task`
    # leaves it the batch's index (0.6 ms). PostgreSQL's statistics choose well without.
    by = "+" if dialect == "sqlite" and filters.batch_id is not None else ""
    found = [
        condition.replace("{like}", like).replace("{by}", by).format(placeholder(dialect, field))
        for field, condition in CONDITIONS
        if getattr(filters, field) is not None
    ]
    return " AND ".join(found) or "1 = 1"


def statement(queries: Mapping[str, str], filters: JobFilter, dialect: str) -> str:
    """The listing's SQL without the `since` hints (see `since_hints`)."""
    name = "list_jobs" if filters.since is None else "list_jobs_since"
    return queries[name].replace("{where}", where(filters, dialect))


def since_hints(finished: int, unfinished: int) -> dict[str, str]:
    """SQLite's index choice for each part of a `since` window, from `since_probe`'s counts."""

    def hint(rows: int, index: str) -> str:
        return f"INDEXED BY {index}" if rows < PROBE_BOUND else "NOT INDEXED"

    return {
        "{finished}": hint(finished, "conveyor_jobs_finished"),
        "{unfinished}": hint(unfinished, "conveyor_jobs_unfinished"),
    }
