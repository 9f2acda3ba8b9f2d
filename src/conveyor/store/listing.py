"""The job listing's SQL, built for the filter given: only its conditions, so each one meets its
index (0017: state, task, queue and key, each with id for the keyset page; 0015: a batch's
members, by (batch_id, state), sorted by id).

One statement with every condition written `(:x IS NULL OR x = :x)` reads well but SQLite plans
it once for all inputs: it can use no index for any of them, and even `id < :before` became a scan
from the newest row down (45 ms for a page half way down 1,000,000 jobs, 80 ms with a queue). A
`since` window is read first from the newest `WALK` jobs of the filter's own walk, then, if that
did not fill the page, by its time indexes (`since_statements`). The named blocks hold the SQL;
this module only picks the conditions.
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
# A `since` listing looks for its page among this many of the filter's newest jobs (below
# `before`) first: bounded work however the window and the ids fall.
WALK = 1000


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
    """The listing's SQL; for a `since` window, the read by its indexes (`since_statements`)."""
    name = "list_jobs" if filters.since is None else "list_jobs_since"
    return queries[name].replace("{where}", where(filters, dialect))


def since_statements(
    queries: Mapping[str, str], filters: JobFilter, dialect: str
) -> tuple[str, str, str]:
    """A `since` listing's three reads, in the order tried: the page among the newest `WALK`
    jobs of the filter (`walk` parameter), how many jobs that walk saw (fewer than `WALK`: the
    answer is whole), and the window by its time indexes (the page when the walk fell short)."""
    conditions = where(filters, dialect)
    return tuple(  # type: ignore[return-value]
        queries[name].replace("{where}", conditions)
        for name in ("list_jobs_since_recent", "list_jobs_since_walked", "list_jobs_since")
    )
