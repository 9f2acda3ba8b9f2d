"""The jobs slice, every backend: a job's connection (stored at enqueue) and the error text,
as listing filters, alone and with state and time ("everything dead for X since T")."""

from __future__ import annotations

from dataclasses import replace

from conveyor.job import JobFilter
from conveyor.store import Store

from .helpers import claim, fail, new


def test_the_connection_is_stored_by_every_enqueue_path(store: Store) -> None:
    one = store.enqueue([replace(new(), connection="shop")])  # the single, unkeyed enqueue
    keyed = store.enqueue([replace(new(key="k"), connection="shop")])
    many = store.enqueue(
        [replace(new(), connection="crm"), new(), replace(new(), connection="shop")]
    )
    plain = store.enqueue([new()])
    shop = [j.id for j in store.list_jobs(JobFilter(connection="shop"))]
    assert shop == sorted([*one, *keyed, many[2]], reverse=True)
    assert [j.id for j in store.list_jobs(JobFilter(connection="crm"))] == [many[0]]
    assert store.get(plain[0]).connection is None
    assert store.get(one[0]).connection == "shop"
    assert store.list_jobs(JobFilter(connection="nobody")) == []


def test_error_text_is_a_substring_in_any_case_never_a_pattern(store: Store) -> None:
    messages = ["HTTP 503 Service Unavailable", "50% done_ish", "path C:\\tmp", "timeout"]
    ids = store.enqueue([new(task="e") for _ in messages])
    for message in messages:
        [job] = claim(store, limit=1)
        fail(store, job, "dead", message)
    by_id = dict(zip(ids, messages, strict=True))

    def found(text: str) -> list[str]:
        return [by_id[j.id] for j in store.list_jobs(JobFilter(error=text))]

    assert found("service unavailable") == ["HTTP 503 Service Unavailable"]
    assert found("TIMEOUT") == ["timeout"]
    assert found("%") == ["50% done_ish"]  # a literal percent, not "anything"
    assert found("0%") == ["50% done_ish"]
    assert found("_") == ["50% done_ish"]
    assert found("e_i") == ["50% done_ish"]
    assert found("done ish") == []  # `_` is not "any one character"
    assert found("C:\\tmp") == ["path C:\\tmp"]
    assert found("\\") == ["path C:\\tmp"]
    assert found("nothing like it") == []


def test_everything_dead_for_a_connection_since_a_time(store: Store) -> None:
    shop = [replace(new(task="d"), connection="shop") for _ in range(3)]
    ids = store.enqueue([*shop, replace(new(task="d"), connection="crm")])
    for job in claim(store):
        fail(store, job, "dead", "HTTP 401 unauthorised")
    alive = store.enqueue([replace(new(task="d"), connection="shop")])
    finished = store.get(ids[0]).finished_at
    assert finished is not None
    chosen = JobFilter(state="dead", connection="shop", since=finished.timestamp() - 60)
    assert [j.id for j in store.list_jobs(chosen)] == sorted(ids[:3], reverse=True)
    assert store.list_jobs(replace(chosen, since=finished.timestamp() + 3600)) == []
    assert [j.id for j in store.list_jobs(replace(chosen, state="queued"))] == alive
    both = replace(chosen, error="UNAUTHORISED")
    assert len(store.list_jobs(both)) == 3
    assert store.list_jobs(replace(both, error="forbidden")) == []
