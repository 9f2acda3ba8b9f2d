import random

import pytest

from conveyor import ConfigurationError, Delays, Discard, Exponential, Fixed, Linear, Retry
from conveyor.retry import decide


def test_fixed_is_the_same_every_time() -> None:
    assert [Fixed(7).delay(n) for n in range(1, 5)] == [7, 7, 7, 7]


def test_linear_matches_the_loyalty_write_up() -> None:
    # 7 attempts: the first at once, then 6 retries from 2 h to 24 h in equal steps.
    policy = Linear(first=2 * 3600, last=24 * 3600, steps=6)
    hours = [policy.delay(n) / 3600 for n in range(1, 7)]
    assert hours == pytest.approx([2, 6.4, 10.8, 15.2, 19.6, 24])
    assert policy.delay(99) == 24 * 3600


def test_linear_takes_its_steps_from_max_attempts_when_registered() -> None:
    from conveyor import Conveyor

    app = Conveyor("sqlite:///:memory:")

    @app.task(max_attempts=7, retry=Linear(first=10, last=60))
    def sync(payload: dict) -> None: ...

    assert [sync.retry.delay(n) for n in range(1, 7)] == [10, 20, 30, 40, 50, 60]


def test_exponential_grows_and_caps() -> None:
    policy = Exponential(base=1, factor=2, cap=10)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_exponential_jitter_stays_within_bounds() -> None:
    policy = Exponential(base=100, factor=1, cap=1000, jitter=0.25, rng=random.Random(4))
    delays = [policy.delay(1) for _ in range(500)]
    assert min(delays) >= 75 and max(delays) <= 125
    assert max(delays) - min(delays) > 20  # it does spread


def test_schedule_repeats_its_last_delay() -> None:
    assert [Delays([1, 5, 30]).delay(n) for n in range(1, 6)] == [1, 5, 30, 30, 30]


@pytest.mark.parametrize(
    "make",
    [
        lambda: Fixed(-1),
        lambda: Linear(-1, 5),
        lambda: Linear(1, 5, steps=0),
        lambda: Exponential(factor=0.5),
        lambda: Exponential(jitter=2),
        lambda: Delays([]),
        lambda: Delays([1, -2]),
    ],
)
def test_bad_policies_are_refused(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError):
        make()


def test_decide_retries_with_the_policy_delay() -> None:
    decision = decide(ValueError("boom"), attempt=2, max_attempts=5, policy=Fixed(9))
    assert decision.retry and decision.delay == 9 and decision.reason == "ValueError: boom"


def test_decide_goes_dead_when_attempts_are_used_up() -> None:
    assert not decide(ValueError(), attempt=5, max_attempts=5, policy=Fixed(9)).retry


def test_retry_after_overrides_the_policy() -> None:
    decision = decide(Retry(after=42), attempt=1, max_attempts=5, policy=Fixed(9))
    assert decision.retry and decision.delay == 42


def test_retry_without_after_uses_the_policy() -> None:
    assert decide(Retry(), attempt=1, max_attempts=5, policy=Fixed(3)).delay == 3


def test_retry_still_counts_the_attempt() -> None:
    assert not decide(Retry(after=1), attempt=3, max_attempts=3, policy=Fixed(0)).retry


def test_discard_is_dead_at_once() -> None:
    decision = decide(Discard("gone"), attempt=1, max_attempts=5, policy=Fixed(0))
    assert not decision.retry and "gone" in decision.reason
