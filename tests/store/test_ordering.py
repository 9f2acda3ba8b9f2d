"""The enqueue planner, without a database."""

from conveyor.job import NewJob
from conveyor.store.ordering import Head, assemble_ids, fresh_indexes, plan_enqueue


def job(key: str | None = None, leads: bool = False, ikey: str | None = None) -> NewJob:
    return NewJob("t", "default", "{}", 3, key=key, leads_key=leads, idempotency_key=ikey)


def test_unkeyed_jobs_are_queued() -> None:
    assert plan_enqueue([job(), job()], {}).states == ["queued", "queued"]


def test_only_the_first_job_of_a_free_key_is_queued() -> None:
    plan = plan_enqueue([job("a"), job("b"), job("a"), job("a")], {})
    assert plan.states == ["queued", "queued", "waiting", "waiting"]


def test_a_held_key_makes_new_jobs_wait() -> None:
    for state in ("queued", "running", "retrying", "dead"):
        plan = plan_enqueue([job("a")], {"a": Head(state, False, job_id=1)})
        assert plan.states == ["waiting"]


def test_a_leader_replaces_a_queued_head() -> None:
    plan = plan_enqueue([job("a", leads=True)], {"a": Head("queued", False, job_id=7)})
    assert plan.states == ["queued"] and plan.demote == [(7, 0)]


def test_a_leader_waits_behind_a_running_head() -> None:
    plan = plan_enqueue([job("a", leads=True)], {"a": Head("running", False, job_id=7)})
    assert plan.states == ["waiting"] and plan.demote == []


def test_a_leader_waits_behind_another_leader() -> None:
    plan = plan_enqueue([job("a", leads=True)], {"a": Head("queued", True, job_id=7)})
    assert plan.states == ["waiting"]


def test_a_leader_in_the_same_batch_takes_the_head() -> None:
    plan = plan_enqueue([job("a"), job("a"), job("a", leads=True)], {})
    assert plan.states == ["waiting", "waiting", "queued"] and plan.demote == []


def test_idempotent_duplicates_are_inserted_once() -> None:
    jobs = [job(ikey="x"), job(ikey="x"), job(), job(ikey="y")]
    fresh = fresh_indexes(jobs, known={"y": 99})
    assert fresh == [0, 2]
    assert assemble_ids(jobs, fresh, [10, 11], {"y": 99}) == [10, 10, 11, 99]
