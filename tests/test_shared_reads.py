"""The server's shared aggregates: one store read per max age for every caller, answered stale
(and refreshed behind) for a while after, read in the request past that, forgotten by an
action. A settable clock stands for time; the reads are counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from conveyor import Conveyor
from conveyor.errors import ConfigurationError
from conveyor.settings import counts_max_age
from conveyor.shared_reads import COST_RATIO, STALE_FOR, SharedRead


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Reads:
    """A read returning how many times it ran; `gate`, when set, holds each read until opened."""

    def __init__(self) -> None:
        self.count = 0
        self.gate: threading.Event | None = None
        self.fail = False
        self.started = threading.Event()

    def __call__(self) -> int:
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10), "the gate was never opened"
        if self.fail:
            raise RuntimeError("store away")
        self.count += 1
        return self.count


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.005)


def shared(reads: Reads, clock: Clock, max_age: float = 1.0) -> SharedRead[int]:
    return SharedRead(reads, lambda: max_age, clock)


def test_a_fresh_value_is_answered_without_a_read() -> None:
    reads, clock = Reads(), Clock()
    read = shared(reads, clock)
    assert read.get() == 1
    clock.now += 0.9
    assert [read.get() for _ in range(5)] == [1] * 5
    assert reads.count == 1


def test_a_stale_value_is_answered_and_read_again_behind() -> None:
    reads, clock = Reads(), Clock()
    read = shared(reads, clock)
    assert read.get() == 1
    clock.now += 1.5  # past max age, within STALE_FOR max ages
    assert read.get() == 1  # not waited for
    wait_for(lambda: reads.count == 2)
    wait_for(lambda: read.get() == 2)
    assert reads.count == 2


def test_a_value_past_the_stale_window_is_read_in_the_request() -> None:
    reads, clock = Reads(), Clock()
    read = shared(reads, clock)
    read.get()
    clock.now += STALE_FOR + 0.01
    assert read.get() == 2
    assert reads.count == 2


def test_forget_makes_the_next_caller_read() -> None:
    reads, clock = Reads(), Clock()
    read = shared(reads, clock)
    read.get()
    read.forget()
    assert read.get() == 2


def test_a_read_started_before_forget_is_not_kept() -> None:
    reads, clock = Reads(), Clock()
    read = shared(reads, clock)
    reads.gate = threading.Event()
    answers: list[int] = []
    caller = threading.Thread(target=lambda: answers.append(read.get()))
    caller.start()
    assert reads.started.wait(10)
    read.forget()  # an action lands while the read is under way
    reads.gate.set()
    caller.join(10)
    assert answers == [1]
    assert read.get() == 2  # the value read before the action was not kept


def test_a_costly_read_is_kept_cost_ratio_times_what_it_took() -> None:
    clock = Clock()
    took = [0.004]

    def counted() -> float:
        clock.now += took[0]  # the read's own time passing
        return clock.now

    read = SharedRead(counted, lambda: 1.0, clock)
    first = read.get()
    assert read.max_age() == 1.0  # 4 ms x 50 is under the setting
    clock.now += 0.99
    assert read.get() == first
    took[0] = 0.1  # the backlog grew: a read now takes 100 ms
    clock.now += 10 * STALE_FOR  # past any stale window: read in the request
    costly = read.get()
    assert costly != first and read.max_age() == pytest.approx(COST_RATIO * 0.1)
    clock.now += COST_RATIO * 0.1 - 0.2  # 4.8 s later: still the same value, no read
    assert read.get() == costly
    assert SharedRead(counted, lambda: 0.0, clock).max_age() == 0.0  # 0: every call reads


def test_max_age_zero_reads_every_time() -> None:
    reads, clock = Reads(), Clock()
    read = shared(reads, clock, max_age=0)
    assert [read.get() for _ in range(3)] == [1, 2, 3]


def test_callers_waiting_together_share_one_read() -> None:
    reads, clock = Reads(), Clock()
    read = shared(reads, clock)
    reads.gate = threading.Event()
    answers: list[int] = []
    callers = [threading.Thread(target=lambda: answers.append(read.get())) for _ in range(4)]
    for caller in callers:
        caller.start()
    assert reads.started.wait(10)
    reads.gate.set()
    for caller in callers:
        caller.join(10)
    assert answers == [1, 1, 1, 1]
    assert reads.count == 1


def test_a_failed_refresh_keeps_the_value_until_the_window_ends() -> None:
    reads, clock = Reads(), Clock()
    read = shared(reads, clock)
    read.get()
    reads.fail = True
    clock.now += 1.5
    assert read.get() == 1
    wait_for(lambda: not read._refreshing)
    assert read.get() == 1  # still within the window: the failure is not the caller's
    clock.now += STALE_FOR
    with pytest.raises(RuntimeError, match="store away"):
        read.get()


def test_the_max_age_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVEYOR_COUNTS_MAX_AGE", raising=False)
    assert counts_max_age() is None
    assert counts_max_age(2.5) == 2.5
    monkeypatch.setenv("CONVEYOR_COUNTS_MAX_AGE", "0.5")
    assert counts_max_age() == 0.5
    for bad in ("soon", "-1", "inf", "nan"):
        monkeypatch.setenv("CONVEYOR_COUNTS_MAX_AGE", bad)
        with pytest.raises(ConfigurationError, match="CONVEYOR_COUNTS_MAX_AGE"):
            counts_max_age()


def test_ops_shared_counts_follow_actions_not_every_write(app: Conveyor) -> None:
    @app.task(name="greet")
    def greet(payload: dict[str, int]) -> None: ...

    app.ops.shared.max_age = 60.0
    app.enqueue("greet", {"n": 1})
    assert app.ops.shared.counts() == {"default": {"queued": 1}}
    app.enqueue("greet", {"n": 2})  # not through the operator service: not seen for 60 s
    assert app.ops.shared.counts() == {"default": {"queued": 1}}
    assert app.ops.counts() == {"default": {"queued": 2}}  # the exact read
    app.ops.enqueue("greet", {"n": 3})  # an operator's enqueue forgets the shared values
    assert app.ops.shared.counts() == {"default": {"queued": 3}}
    job_id = app.ops.list_jobs(limit=1)[0].id
    app.ops.cancel([job_id])
    assert app.ops.shared.counts() == {"default": {"queued": 2, "cancelled": 1}}


def test_the_dead_letter_groups_are_shared_and_forgotten_by_a_retry(app: Conveyor) -> None:
    @app.task(name="fails", max_attempts=1)
    def fails(payload: dict[str, int]) -> None:
        raise RuntimeError("boom")

    app.ops.shared.max_age = 60.0
    first = app.enqueue("fails", {"n": 1})
    app.run_worker(burst=True)
    assert [g.count for g in app.ops.shared.dead_groups()] == [1]
    app.enqueue("fails", {"n": 2})
    app.run_worker(burst=True)  # a worker's death is not an action of this operator service
    assert [g.count for g in app.ops.shared.dead_groups()] == [1]
    assert [g.count for g in app.ops.dead_groups()] == [2]
    app.ops.retry([first])
    assert [g.count for g in app.ops.shared.dead_groups()] == [1]  # read again: one left


def test_the_shared_runnable_read_answers_oldest_due_and_jobs_without_worker(
    app: Conveyor,
) -> None:
    """One read of the backlog for both: the same answers as the exact reads."""

    @app.task(name="unserved")
    def task(payload: dict[str, int]) -> None: ...

    app.enqueue_many("unserved", [{}] * 3, queue="nowhere")
    due, unserved = app.ops.runnable_now()
    assert unserved == app.ops.jobs_without_worker()
    assert [(u.task, u.queue, u.jobs) for u in unserved] == [("unserved", "nowhere", 3)]
    assert due.keys() == app.store.oldest_due().keys() == {"nowhere"}
    assert app.ops.shared.oldest_due().keys() == {"nowhere"}
    assert app.ops.shared.jobs_without_worker() == unserved
