"""The last hour's finished jobs, tallied by a server process on both backends: the whole hour
read once, then only its last seconds; the hour again after `FULL_EVERY` or `forget()`; the
shared counts and chart it gives equal the exact reads."""

from __future__ import annotations

import pytest

from conveyor import Conveyor
from conveyor.finish_tally import FULL_EVERY, OVERLAP, WINDOW, FinishTally, finished_counts


@pytest.fixture
def busy(app: Conveyor) -> Conveyor:
    @app.task(max_attempts=1)
    def charge(payload: dict[str, int]) -> None:
        if payload["n"] % 3 == 0:
            raise RuntimeError("declined")

    @app.task(max_attempts=1, queue="mail")
    def mail(payload: dict[str, int]) -> None:
        pass

    return app


def finish(app: Conveyor, charges: int, mails: int = 0) -> None:
    for n in range(charges):
        app.enqueue("charge", {"n": n})
    for n in range(mails):
        app.enqueue("mail", {"n": n})
    app.run_worker(burst=True, install_signal_handlers=False)


class Tallied:
    """A tally over the real store, each read's `since` noted; a settable monotonic clock."""

    def __init__(self, app: Conveyor) -> None:
        self.since: list[float] = []
        self.monotonic = 0.0
        store = app.store

        def read(since: float) -> list[tuple[int, str, str, int]]:
            self.since.append(since)
            return store.finished_per_second(since)

        self.tally = FinishTally(read, store.clock, lambda: self.monotonic)


def total(seconds: object, state: str) -> int:
    counts = finished_counts(seconds, (state,))  # type: ignore[arg-type]
    return sum(by[state] for by in counts.values())


def test_the_hour_is_read_once_then_only_its_last_seconds(busy: Conveyor) -> None:
    finish(busy, 3)
    seen = Tallied(busy)
    first = seen.tally.read()
    assert seen.since[-1] == pytest.approx(int(busy.store.clock() - WINDOW), abs=2)
    assert total(first, "succeeded") == 2 and total(first, "dead") == 1
    finish(busy, 0, mails=2)
    later = seen.tally.read()
    assert seen.since[-1] == max(first) - OVERLAP  # from the newest second seen, less the overlap
    assert total(later, "succeeded") == 4 and total(later, "dead") == 1
    assert finished_counts(later, ("succeeded",)) == {"default": {"succeeded": 2},
                                                     "mail": {"succeeded": 2}}  # fmt: skip
    assert total(first, "succeeded") == 2  # a snapshot handed out does not change


def test_the_hour_is_read_again_after_a_minute_or_when_forgotten(busy: Conveyor) -> None:
    finish(busy, 2, mails=1)
    seen = Tallied(busy)
    hour = lambda: pytest.approx(int(busy.store.clock() - WINDOW), abs=2)  # noqa: E731
    assert total(seen.tally.read(), "succeeded") == 2 and seen.since[-1] == hour()
    [mailed] = busy.ops.list_jobs(queue="mail")
    busy.ops.delete([mailed.id])
    assert total(seen.tally.read(), "succeeded") == 1  # its second was read again
    assert seen.since[-1] != hour()
    seen.monotonic += FULL_EVERY
    assert total(seen.tally.read(), "succeeded") == 1 and seen.since[-1] == hour()
    assert seen.tally.read() and seen.since[-1] != hour()
    seen.tally.forget()
    assert total(seen.tally.read(), "succeeded") == 1 and seen.since[-1] == hour()


def test_shared_counts_and_chart_equal_the_exact_reads(busy: Conveyor) -> None:
    finish(busy, 4, mails=2)
    busy.enqueue("mail", {"n": 9}, delay=600)
    ops = busy.ops
    assert ops.shared.counts() == ops.counts()
    assert ops.shared.throughput(60) == ops.throughput(60)
    assert ops.shared.throughput(5) == ops.throughput(5)
    finish(busy, 3)
    ops.shared.forget()
    assert ops.shared.counts() == ops.counts()
    assert ops.shared.throughput(60) == ops.throughput(60)
