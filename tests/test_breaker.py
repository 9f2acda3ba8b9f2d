"""Circuit breaker transitions and rate-limit specs, without a clock or a store."""

import pytest

from conveyor import ConfigurationError
from conveyor.breaker import Breaker, BreakerRecord, admit, on_failure, on_success, take_probe
from conveyor.ratelimit import RateLimit, wait_after_denial

SETTINGS = Breaker(failures=3, cool_off=10, max_cool_off=25, probe_timeout=5)


def fail(record: BreakerRecord | None, now: float) -> BreakerRecord:
    return on_failure(record, "api", now, SETTINGS, "HTTP 503")


def test_opens_after_n_consecutive_failures() -> None:
    record = fail(fail(None, 0), 1)
    assert record.state == "closed" and admit(record, 1) == 0
    record = fail(record, 2)
    assert record.state == "open" and record.open_until == 12
    assert admit(record, 5) == 7


def test_a_success_resets_the_count() -> None:
    record = fail(fail(None, 0), 1)
    record = on_success(record, 2, SETTINGS) or record
    assert record.failures == 0
    assert on_success(record, 3, SETTINGS) is None  # nothing to write on the hot path


def test_one_probe_after_the_cool_off() -> None:
    opened = fail(fail(fail(None, 0), 0), 0)
    assert take_probe(opened, 5, SETTINGS) is None
    assert admit(opened, 10) == -1
    probing = take_probe(opened, 10, SETTINGS)
    assert probing is not None and probing.state == "half_open"
    assert take_probe(probing, 11, SETTINGS) is None  # the slot is taken
    assert 0 < admit(probing, 11) <= 1
    assert take_probe(probing, 15, SETTINGS) is not None  # its worker vanished: free again


def test_a_failed_probe_doubles_the_cool_off_up_to_the_cap() -> None:
    record = fail(fail(fail(None, 0), 0), 0)
    for now, expected in ((10, 20), (30, 25), (55, 25)):
        probing = take_probe(record, now, SETTINGS)
        assert probing is not None
        record = fail(probing, now)
        assert (record.state, record.cool_off, record.open_until) == (
            "open",
            expected,
            now + expected,
        )


def test_a_successful_probe_closes_it() -> None:
    record = fail(fail(fail(None, 0), 0), 0)
    probing = take_probe(record, 10, SETTINGS)
    closed = on_success(probing, 10.5, SETTINGS)
    assert closed is not None and (closed.state, closed.failures) == ("closed", 0)


@pytest.mark.parametrize(
    ("spec", "rate"),
    [("5/s", 5), ("300/min", 5), ("1000/h", 1000 / 3600), ("10/2s", 5), (" 2 / second ", 2)],
)
def test_rate_specs(spec: str, rate: float) -> None:
    assert RateLimit.parse(spec).rate == pytest.approx(rate)


@pytest.mark.parametrize("spec", ["5", "five/s", "5/fortnight", "0/s", "-1/s"])
def test_bad_rate_specs(spec: str) -> None:
    with pytest.raises(ConfigurationError):
        RateLimit.parse(spec)


def test_the_wait_after_a_denial() -> None:
    limit = RateLimit(rate=5, burst=2)  # 0.2 s apart, 2 back to back
    # a request conforms once tat + interval - now <= burst * interval, i.e. at 100.2
    assert wait_after_denial(tat=100.4, now=100.0, limit=limit) == pytest.approx(0.2)
