"""The operations benchmark's fill helper, every backend: N rows the store reads back as jobs,
in every state, with blocked keys, and the table's indexes all there again after the load."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from typing import Any

import psycopg

from bench import ops_fill
from conveyor.job import STATES, JobFilter
from conveyor.store import Store, open_store


def _indexes(url: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("sqlite:///", 1)[1]) as conn:
            sql = "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'conveyor_jobs'"
            return sorted(conn.execute(sql).fetchall(), key=str)
    with psycopg.connect(url) as pg:
        sql = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'conveyor_jobs'"
        return sorted(pg.execute(sql).fetchall())


def test_fill_writes_jobs_the_store_reads_in_every_state(database_url: str) -> None:
    before = _indexes(database_url)
    ops_fill.fill(database_url, 3000)
    assert _indexes(database_url) == before
    store = open_store(database_url)
    try:
        _check(store)
    finally:
        store.close()


def _check(store: Store) -> None:
    jobs = store.list_jobs(JobFilter(limit=5000))
    assert len(jobs) == 3000
    states = Counter(job.state for job in jobs)
    assert set(states) == set(STATES)
    assert states["succeeded"] > 2500
    dead = [job for job in jobs if job.state == "dead"]
    assert all(job.last_error and job.errors[0]["attempt"] == 5 for job in dead)
    held = {job.key for job in dead if job.key}
    assert {job.key for job in jobs if job.state == "waiting"} <= held
    assert store.blocked_keys()
    assert [job.id for job in jobs] == sorted((job.id for job in jobs), reverse=True)
    assert len({job.task for job in jobs}) > 5 and len({job.queue for job in jobs}) > 2
    stats = {(q, s) for q, s, _ in store.stats()}
    assert ("default", "dead") in stats


def test_the_full_pages_mix_fills_every_measured_page_at_a_thousand_jobs(
    database_url: str,
) -> None:
    """The small store the 2x comparison uses: each page the benchmark measures holds as much
    as at 1,000,000 organic jobs (a listing's 50 rows per filter, 20 dead-letter groups of about
    5 jobs for a connection, a page of blocked keys, the last hour's window)."""
    ops_fill.fill(database_url, 1000, mix=ops_fill.FULL_PAGES)
    store = open_store(database_url)
    try:
        page = 50
        for one in ({"state": "dead"}, {"task": "task_07"}, {"queue": "queue_5"}):
            assert len(store.list_jobs(JobFilter(limit=page, **one))) == page, one
        hour_ago = time.time() - 3600
        assert len(store.list_jobs(JobFilter(limit=1000, since=hour_ago))) == 1000
        assert len(store.blocked_keys(limit=100)) == 100
        shop = store.dead_groups(None, 100, "shop")
        assert len(shop) >= 20 and sum(g.count for g in shop[:20]) >= 100
    finally:
        store.close()
